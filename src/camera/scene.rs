//! The static scene of the simulated camera: a seated person in front of a wall and floor.
//!
//! Rendered once at construction into per-pixel layers (body depth at its nominal position, how
//! much each body pixel moves with breathing, background depth). Per frame the camera only shifts
//! the body layer, displaces it and adds noise (see `simulated.rs`).
//!
//! Geometry is in metres in camera coordinates (x right, y down, z forward); the body is described
//! relative to the front of the chest at mid-sternum, which sits `subject_m` in front of the
//! camera, centred horizontally and `chest_below_axis_m` below the optical axis.

use crate::types::Roi;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Pinhole intrinsics, pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Intrinsics {
    pub fx: f32,
    pub fy: f32,
    pub cx: f32,
    pub cy: f32,
}

impl Intrinsics {
    /// A D435-like camera: 87 degrees horizontal field of view, square pixels, centred.
    pub(crate) fn d435_like(width: u32, height: u32) -> Self {
        let fx = 0.5 * width as f32 / 43.5f32.to_radians().tan();
        Self {
            fx,
            fy: fx,
            cx: 0.5 * (width as f32 - 1.0),
            cy: 0.5 * (height as f32 - 1.0),
        }
    }
}

/// Where things are, metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Layout {
    pub width: u32,
    pub height: u32,
    pub subject_m: f32,
    pub background_m: f32,
    pub camera_height_m: f32,
    pub chest_below_axis_m: f32,
    pub baseline_m: f32,
    /// Fraction of the torso's pixels without depth from dark clothing (0 = none).
    pub clothing_holes: f32,
    /// How the person is turned relative to the camera (zero: facing it squarely).
    pub pose: Pose,
}

/// Value of [`StaticScene::body_mm`] for a pixel that never has depth (stereo shadow, hole).
pub(crate) const INVALID: f32 = -1.0;

/// The pre-rendered layers, `width * height` values each, row-major.
#[derive(Debug, Clone)]
pub(crate) struct StaticScene {
    /// Body depth at the nominal position, mm; 0 where no body; [`INVALID`] for shadow and holes.
    pub body_mm: Vec<f32>,
    /// Fraction (0..=1) of the breathing displacement applied to each body pixel.
    pub weight: Vec<f32>,
    /// Wall or floor depth, mm.
    pub background_mm: Vec<f32>,
    /// Torso (shoulder line to waist, full width without arms) at the nominal position, pixels.
    pub torso_box: Roi,
    /// Image width, pixels (the row length of every layer).
    pub width: usize,
}

// Body dimensions, metres, relative to mid-sternum (y down).
const SHOULDER_Y: f32 = -0.22;
const WAIST_Y: f32 = 0.32;
const TORSO_HALF_W: f32 = 0.20;
const TORSO_DEPTH: f32 = 0.11;
const ARM_X: f32 = 0.245;
const ARM_R: f32 = 0.045;

/// Half-width of the torso at height `y`, metres (`None` outside shoulder line..waist).
fn torso_half_width(y: f32) -> Option<f32> {
    if !(SHOULDER_Y..=WAIST_Y).contains(&y) {
        return None;
    }
    let round_end = SHOULDER_Y + 0.06;
    Some(if y < round_end {
        // Rounded shoulders: from the neck base (0.13) out to the full width over 6 cm.
        let u = (round_end - y) / 0.06;
        0.13 + 0.07 * (1.0 - u * u).max(0.0).sqrt()
    } else if y > 0.05 {
        TORSO_HALF_W - 0.03 * (y - 0.05) / (WAIST_Y - 0.05)
    } else {
        TORSO_HALF_W
    })
}

/// Breathing weight of the torso surface at (x, y): 1 at mid-chest, 0 at the torso's outline.
fn breathing_weight(x: f32, y: f32, hw: f32) -> f32 {
    let wx = (std::f32::consts::FRAC_PI_2 * (x / hw).clamp(-1.0, 1.0))
        .cos()
        .powi(2);
    let (top, peak, bottom) = (SHOULDER_Y + 0.04, -0.02, WAIST_Y);
    let wy = if y <= top || y >= bottom {
        0.0
    } else if y < peak {
        (std::f32::consts::FRAC_PI_2 * (y - top) / (peak - top))
            .sin()
            .powi(2)
    } else {
        (std::f32::consts::FRAC_PI_2 * (y - peak) / (bottom - peak))
            .cos()
            .powi(2)
    };
    wx * wy
}

/// Depth behind the chest front (metres) and breathing weight of the nearest body surface at
/// (x, y), or `None` where the ray misses the person.
pub(crate) fn body_surface(x: f32, y: f32) -> Option<(f32, f32)> {
    let mut best: Option<(f32, f32)> = None;
    let mut take = |off: f32, w: f32| {
        if best.map_or(true, |(b, _)| off < b) {
            best = Some((off, w));
        }
    };
    // Head: an ellipsoid, face 3 cm behind the chest front.
    let (hx, hy) = (x / 0.085, (y + 0.46) / 0.115);
    let r2 = hx * hx + hy * hy;
    if r2 <= 1.0 {
        take(0.03 + 0.09 * (1.0 - (1.0 - r2).sqrt()), 0.0);
    }
    // Neck.
    if x.abs() <= 0.06 && (-0.36..=SHOULDER_Y + 0.02).contains(&y) {
        take(0.06 + 0.04 * (x / 0.06).powi(2), 0.0);
    }
    // Torso: elliptical cross-section, nearest at the centre line and at mid-chest height.
    if let Some(hw) = torso_half_width(y) {
        if x.abs() <= hw {
            let u = x / hw;
            let off = TORSO_DEPTH * (1.0 - (1.0 - u * u).sqrt()) + 0.03 * (y / 0.3).powi(2);
            take(off, breathing_weight(x, y, hw));
        }
    }
    // Upper arms hanging at the sides.
    let ax = (x.abs() - ARM_X) / ARM_R;
    if ax.abs() <= 1.0 && (SHOULDER_Y + 0.03..=0.27).contains(&y) {
        take(0.04 + ARM_R * (1.0 - (1.0 - ax * ax).sqrt()), 0.0);
    }
    best
}

impl StaticScene {
    /// Render the layers for `layout` seen through `k`; hole positions are drawn from `seed`.
    pub(crate) fn render(layout: &Layout, k: &Intrinsics, seed: u64) -> Self {
        let (w, h) = (layout.width as usize, layout.height as usize);
        let mut scene = Self {
            body_mm: vec![0.0; w * h],
            weight: vec![0.0; w * h],
            background_mm: vec![0.0; w * h],
            torso_box: posed_torso_box(layout, k),
            width: w,
        };
        for v in 0..h {
            let ry = (v as f32 - k.cy) / k.fy;
            for u in 0..w {
                let rx = (u as f32 - k.cx) / k.fx;
                let i = v * w + u;
                scene.background_mm[i] = 1000.0 * background_depth(layout, ry);
                if let Some((z, wt)) = cast_posed(layout, rx, ry) {
                    scene.body_mm[i] = 1000.0 * z;
                    scene.weight[i] = wt;
                }
            }
        }
        scene.add_stereo_shadow(layout, k);
        scene.add_holes(w, h, seed);
        scene.add_clothing_holes(layout.clothing_holes, seed);
        scene
    }

    /// The left imager is the depth origin: background just left of the person is seen by one
    /// imager only and has no depth, a band `fx * baseline * (1/z_near - 1/z_far)` pixels wide.
    fn add_stereo_shadow(&mut self, layout: &Layout, k: &Intrinsics) {
        let w = layout.width as usize;
        for row in 0..layout.height as usize {
            let base = row * w;
            for x in 1..w {
                let (near, far) = (self.body_mm[base + x], self.background_mm[base + x - 1]);
                if near > 0.0 && self.body_mm[base + x - 1] == 0.0 {
                    let px = k.fx * layout.baseline_m * 1000.0 * (1.0 / near - 1.0 / far);
                    let band = px.round().max(0.0) as usize;
                    for s in x.saturating_sub(band)..x {
                        if self.body_mm[base + s] == 0.0 {
                            self.body_mm[base + s] = INVALID;
                        }
                    }
                }
            }
        }
    }

    /// Dark clothing: blobs (radius 1/16 to 1/8 of the torso's width) without depth on the torso
    /// until `fraction` of its body pixels have none. Own random stream, so a scene without them
    /// is unchanged.
    fn add_clothing_holes(&mut self, fraction: f32, seed: u64) {
        if fraction <= 0.0 {
            return;
        }
        let (b, w) = (self.torso_box, self.width);
        let in_box = |x: i64, y: i64| {
            (i64::from(b.x0)..i64::from(b.x1)).contains(&x)
                && (i64::from(b.y0)..i64::from(b.y1)).contains(&y)
        };
        let torso: Vec<(i64, i64)> = (b.y0..b.y1)
            .flat_map(|y| (b.x0..b.x1).map(move |x| (i64::from(x), i64::from(y))))
            .filter(|&(x, y)| self.body_mm.get(y as usize * w + x as usize) > Some(&0.0))
            .collect();
        if torso.is_empty() {
            return;
        }
        let target = (fraction * torso.len() as f32).round() as usize;
        let r_max = (i64::from(b.x1 - b.x0) / 8).max(2);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x636c_6f74_6865);
        let mut cleared = 0;
        // Each blob clears at least its centre until the torso is nearly all holes; the bound on
        // attempts only guards against a pathological scene.
        for _ in 0..100_000 {
            if cleared >= target {
                break;
            }
            let (cx, cy) = torso[rng.gen_range(0..torso.len())];
            let r = rng.gen_range(r_max / 2..=r_max);
            for y in cy - r..=cy + r {
                for x in cx - r..=cx + r {
                    if !in_box(x, y) || (x - cx).pow(2) + (y - cy).pow(2) > r * r {
                        continue;
                    }
                    if let Some(z) = self.body_mm.get_mut(y as usize * w + x as usize) {
                        if *z > 0.0 {
                            *z = INVALID;
                            cleared += 1;
                        }
                    }
                }
            }
        }
    }

    /// A few holes on the body (dark fabric, hair) and ragged outline pixels.
    fn add_holes(&mut self, w: usize, h: usize, seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x686f_6c65);
        let body: Vec<usize> = (0..w * h).filter(|&i| self.body_mm[i] > 0.0).collect();
        if body.is_empty() {
            return;
        }
        for _ in 0..8 {
            let c = body[rng.gen_range(0..body.len())];
            let (cx, cy) = ((c % w) as i64, (c / w) as i64);
            let r = rng.gen_range(2..7i64);
            for y in (cy - r).max(0)..(cy + r + 1).min(h as i64) {
                for x in (cx - r).max(0)..(cx + r + 1).min(w as i64) {
                    let i = y as usize * w + x as usize;
                    if (x - cx).pow(2) + (y - cy).pow(2) <= r * r && self.body_mm[i] > 0.0 {
                        self.body_mm[i] = INVALID;
                    }
                }
            }
        }
        // Ragged outline: half of the body pixels that touch background on the right lose depth.
        for row in 0..h {
            for x in 0..w.saturating_sub(1) {
                let i = row * w + x;
                if self.body_mm[i] > 0.0 && self.body_mm[i + 1] == 0.0 && rng.gen_bool(0.5) {
                    self.body_mm[i] = INVALID;
                }
            }
        }
    }
}

/// Depth of the body along the ray (rx, ry), metres, refined for the surface's own depth, and
/// its breathing weight; the lap (see [`cast_lap`]) hides what is behind it.
fn cast_body(layout: &Layout, rx: f32, ry: f32) -> Option<(f32, f32)> {
    let mut z = layout.subject_m;
    let mut hit = None;
    for _ in 0..3 {
        match body_surface(rx * z, ry * z - layout.chest_below_axis_m) {
            Some((off, wt)) => {
                z = layout.subject_m + off;
                hit = Some((z, wt));
            }
            None => break,
        }
    }
    match (hit, cast_lap(layout, rx, ry)) {
        (Some((zb, wt)), Some(zl)) => Some(if zl < zb { (zl, 0.0) } else { (zb, wt) }),
        (None, Some(zl)) => Some((zl, 0.0)),
        (h, None) => h,
    }
}

/// The seated person's thighs: a horizontal band 0.36 m wide at hip height, from the hips (12 cm
/// behind the chest front) to the knees (45 cm in front of it), seen from above at a grazing angle.
fn cast_lap(layout: &Layout, rx: f32, ry: f32) -> Option<f32> {
    const LAP_Y: f32 = 0.34;
    if ry <= 0.0 {
        return None;
    }
    let z = (LAP_Y + layout.chest_below_axis_m) / ry;
    let in_depth = (layout.subject_m - 0.45..=layout.subject_m + 0.12).contains(&z);
    (in_depth && (rx * z).abs() <= 0.18).then_some(z)
}

/// Wall at `background_m`, or the floor where the ray meets it first.
fn background_depth(layout: &Layout, ry: f32) -> f32 {
    if ry > 0.0 {
        (layout.camera_height_m / ry).min(layout.background_m)
    } else {
        layout.background_m
    }
}

/// The torso box (shoulder line to waist, ± full half-width) in pixels at the nominal position.
fn torso_box(layout: &Layout, k: &Intrinsics) -> Roi {
    let z = layout.subject_m;
    let px = |x: f32| (k.cx + k.fx * x / z).clamp(0.0, layout.width as f32) as u32;
    let py = |y: f32| {
        (k.cy + k.fy * (y + layout.chest_below_axis_m) / z).clamp(0.0, layout.height as f32) as u32
    };
    Roi {
        x0: px(-TORSO_HALF_W),
        y0: py(SHOULDER_Y),
        x1: px(TORSO_HALF_W),
        y1: py(WAIST_Y),
    }
}

/// The seated person's body turned relative to the camera, degrees, about the front of the chest
/// at mid-sternum: `yaw_deg` about the vertical axis (positive: the person's left side, on the
/// image's right, comes toward the camera), then `pitch_deg` about the horizontal axis (positive:
/// the torso leans back, as a camera mounted above the chest and looking down sees it). The
/// floor, the wall and the thighs stay where they are.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Pose {
    pub yaw_deg: f32,
    pub pitch_deg: f32,
}

impl Pose {
    /// Whether the body is turned at all (a zero pose renders exactly as before poses existed).
    pub(crate) fn is_turned(&self) -> bool {
        self.yaw_deg != 0.0 || self.pitch_deg != 0.0
    }

    /// Rotation from body to camera axes, row-major.
    fn rotation(&self) -> [[f32; 3]; 3] {
        let (sy, cy) = self.yaw_deg.to_radians().sin_cos();
        let (sp, cp) = self.pitch_deg.to_radians().sin_cos();
        // R_yaw(about y) * R_pitch(about x); the body's y axis (down) goes to (0, cp, -sp)
        // before the yaw, so the lower torso comes closer when leaning back.
        [
            [cy, -sy * sp, sy * cp],
            [0.0, cp, sp],
            [-sy, -cy * sp, cy * cp],
        ]
    }
}

fn mul(r: &[[f32; 3]; 3], v: [f32; 3]) -> [f32; 3] {
    r.map(|row| row[0] * v[0] + row[1] * v[1] + row[2] * v[2])
}

fn mul_transposed(r: &[[f32; 3]; 3], v: [f32; 3]) -> [f32; 3] {
    [0, 1, 2].map(|c| r[0][c] * v[0] + r[1][c] * v[1] + r[2][c] * v[2])
}

/// [`cast_body`] for the layout's pose: unchanged for a zero pose. A turned body is found by
/// marching the ray (4 mm steps) through the body's depth range and bisecting the entry; its
/// breathing weight is scaled by `1 / (n . d)` (n the chest's unit normal, d the ray with unit
/// z), the depth change a pixel sees when the chest moves 1 mm along its normal.
fn cast_posed(layout: &Layout, rx: f32, ry: f32) -> Option<(f32, f32)> {
    if !layout.pose.is_turned() {
        return cast_body(layout, rx, ry);
    }
    const STEP_M: f32 = 0.004;
    const BODY_DEPTH_M: f32 = 0.2;
    let r = layout.pose.rotation();
    let d = [rx, ry, 1.0];
    let a = mul_transposed(&r, d);
    let b = mul_transposed(&r, [0.0, layout.chest_below_axis_m, layout.subject_m]);
    let inside = |t: f32| {
        let p = [t * a[0] - b[0], t * a[1] - b[1], t * a[2] - b[2]];
        body_surface(p[0], p[1]).filter(|&(off, _)| p[2] >= off)
    };
    let hit = (a[2] > 0.05).then(|| {
        let t_front = b[2] / a[2];
        let steps = (BODY_DEPTH_M / a[2] / STEP_M).ceil() as usize;
        let (mut out, mut t) = (t_front, t_front);
        for _ in 0..=steps {
            if inside(t).is_some() {
                let mut t_in = t;
                for _ in 0..12 {
                    let mid = 0.5 * (out + t_in);
                    if inside(mid).is_some() {
                        t_in = mid;
                    } else {
                        out = mid;
                    }
                }
                return inside(t_in).map(|(_, w)| (t_in, w));
            }
            out = t;
            t += STEP_M;
        }
        None
    });
    let hit = hit.flatten().map(|(z, w)| {
        let n = mul(&r, [0.0, 0.0, 1.0]);
        let facing = n[0] * d[0] + n[1] * d[1] + n[2] * d[2];
        let gain = if facing > 0.25 { 1.0 / facing } else { 4.0 };
        (z, w * gain)
    });
    match (hit, cast_lap(layout, rx, ry)) {
        (Some((zb, wt)), Some(zl)) => Some(if zl < zb { (zl, 0.0) } else { (zb, wt) }),
        (None, Some(zl)) => Some((zl, 0.0)),
        (h, None) => h,
    }
}

/// [`torso_box`] for the layout's pose: unchanged for a zero pose, else the box around the
/// torso's outline (shoulder line, mid-chest and waist, both sides and the centre line) turned.
fn posed_torso_box(layout: &Layout, k: &Intrinsics) -> Roi {
    if !layout.pose.is_turned() {
        return torso_box(layout, k);
    }
    let r = layout.pose.rotation();
    let (mut u0, mut v0, mut u1, mut v1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for y in [SHOULDER_Y, 0.0, WAIST_Y] {
        let hw = torso_half_width(y).unwrap_or(TORSO_HALF_W);
        for x in [-hw, 0.0, hw] {
            let off = body_surface(x, y).map_or(TORSO_DEPTH, |(o, _)| o);
            let p = mul(&r, [x, y, off]);
            let (px, py, pz) = (
                p[0],
                p[1] + layout.chest_below_axis_m,
                p[2] + layout.subject_m,
            );
            if pz > 0.05 {
                let (u, v) = (k.cx + k.fx * px / pz, k.cy + k.fy * py / pz);
                (u0, u1, v0, v1) = (u0.min(u), u1.max(u), v0.min(v), v1.max(v));
            }
        }
    }
    let to = |v: f32, max: u32| v.clamp(0.0, max as f32) as u32;
    Roi {
        x0: to(u0, layout.width),
        y0: to(v0, layout.height),
        x1: to(u1, layout.width),
        y1: to(v1, layout.height),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(d: f32) -> Layout {
        Layout {
            width: 848,
            height: 480,
            subject_m: d,
            background_m: 3.0,
            camera_height_m: 1.2,
            chest_below_axis_m: 0.05,
            baseline_m: 0.05,
            clothing_holes: 0.0,
            pose: Pose::default(),
        }
    }

    #[test]
    fn focal_length_gives_87_degree_fov() {
        let k = Intrinsics::d435_like(848, 480);
        let half = (0.5 * 848.0 / k.fx).atan().to_degrees();
        assert!(
            (half - 43.5).abs() < 1e-3 && (k.fx - 446.8).abs() < 0.5,
            "fx {}",
            k.fx
        );
    }

    #[test]
    fn chest_is_nearest_and_moves_most_at_mid_chest() {
        let (off, w) = body_surface(0.0, -0.02).unwrap_or((1.0, 0.0));
        assert!(
            off.abs() < 1e-3 && (w - 1.0).abs() < 1e-3,
            "off {off} w {w}"
        );
        let (off_side, w_side) = body_surface(0.19, -0.02).unwrap_or((0.0, 1.0));
        assert!(
            off_side > 0.05 && w_side < 0.02,
            "side off {off_side} w {w_side}"
        );
        assert!(body_surface(0.5, 0.0).is_none());
    }

    #[test]
    fn centre_pixel_hits_chest_at_subject_distance() {
        let l = layout(1.1);
        let k = Intrinsics::d435_like(848, 480);
        let s = StaticScene::render(&l, &k, 1);
        let b = s.torso_box;
        let (cx, cy) = ((b.x0 + b.x1) / 2, b.y0 + b.height() * 2 / 5);
        let z = s.body_mm[(cy * 848 + cx) as usize];
        assert!(
            (z - 1100.0).abs() < 15.0 || z == INVALID,
            "centre depth {z}"
        );
        // Torso of 0.4 m at 1.1 m spans about 0.4 * 446.8 / 1.1 = 162 px.
        assert!(
            (b.width() as i32 - 162).abs() <= 2,
            "torso width {}",
            b.width()
        );
        // A shadow band exists left of the person.
        assert!(s.body_mm.iter().filter(|&&v| v == INVALID).count() > 1000);
    }

    #[test]
    fn dark_clothing_clears_the_asked_share_of_the_torso_and_nothing_else() {
        let l = layout(1.1);
        let k = Intrinsics::d435_like(l.width, l.height);
        let plain = StaticScene::render(&l, &k, 5);
        let dark = StaticScene::render(
            &Layout {
                clothing_holes: 0.4,
                ..l
            },
            &k,
            5,
        );
        let b = plain.torso_box;
        let (mut torso, mut cleared) = (0usize, 0usize);
        for (i, (p, d)) in plain.body_mm.iter().zip(&dark.body_mm).enumerate() {
            let (x, y) = ((i % plain.width) as u32, (i / plain.width) as u32);
            let inside = (b.x0..b.x1).contains(&x) && (b.y0..b.y1).contains(&y);
            if !inside {
                assert_eq!(p, d, "pixel ({x}, {y}) outside the torso changed");
            } else if *p > 0.0 {
                torso += 1;
                cleared += usize::from(*d == INVALID);
            }
        }
        let share = cleared as f64 / torso as f64;
        // The last blob may overshoot the target by at most its own area (< 5% of the torso).
        assert!(
            (0.4..0.45).contains(&share),
            "{cleared} of {torso}: {share:.3}"
        );
    }

    #[test]
    fn a_turned_chest_faces_its_yaw_and_breathes_along_its_normal() {
        use crate::respiration::plane::{deproject, fit_plane};
        let k = Intrinsics::d435_like(848, 480);
        let tk = crate::types::Intrinsics {
            fx: k.fx,
            fy: k.fy,
            cx: k.cx,
            cy: k.cy,
        };
        for (yaw, pitch) in [(30.0f32, 0.0f32), (50.0, 0.0), (-30.0, 15.0)] {
            let l = Layout {
                pose: Pose {
                    yaw_deg: yaw,
                    pitch_deg: pitch,
                },
                ..layout(1.1)
            };
            let s = StaticScene::render(&l, &k, 2);
            // Mid-sternum is on the axes of rotation: it projects where it did facing the camera.
            let (u0, v0) = (
                k.cx.round() as i64,
                (k.cy + k.fy * 0.05 / 1.1).round() as i64,
            );
            let at = |u: i64, v: i64| (v * 848 + u) as usize;
            let mut points = Vec::new();
            for v in v0 - 20..=v0 + 20 {
                for u in u0 - 20..=u0 + 20 {
                    let z = s.body_mm[at(u, v)];
                    if z > 0.0 {
                        points.push(deproject(&tk, u as f64, v as f64, f64::from(z)));
                    }
                }
            }
            let fit = fit_plane(points).expect("a plane");
            let r = Pose {
                yaw_deg: yaw,
                pitch_deg: pitch,
            }
            .rotation();
            let n = mul(&r, [0.0, 0.0, 1.0]);
            let expect = nalgebra::Vector3::new(f64::from(n[0]), f64::from(n[1]), f64::from(n[2]));
            let off = fit.normal.dot(&expect).clamp(-1.0, 1.0).acos().to_degrees();
            // The weight at mid-sternum: its breathing weight over the cosine between the chest's
            // normal and the pixel's ray.
            let ray = [0.0, (v0 as f32 - k.cy) / k.fy, 1.0];
            let facing = n[0] * ray[0] + n[1] * ray[1] + n[2] * ray[2];
            let (_, w_body) = body_surface(0.0, 0.0).unwrap_or((0.0, 0.0));
            let w = s.weight[at(u0, v0)];
            let z = s.body_mm[at(u0, v0)];
            println!("yaw {yaw} pitch {pitch}: normal off by {off:.2} deg, weight {w:.3}, depth {z:.1} mm");
            assert!(
                off < 2.0,
                "yaw {yaw} pitch {pitch}: normal off by {off:.2} deg"
            );
            assert!(
                (w - w_body / facing).abs() < 0.03,
                "weight {w} vs {}",
                w_body / facing
            );
            assert!((z - 1100.0).abs() < 3.0, "mid-sternum depth {z}");
        }
    }
}
