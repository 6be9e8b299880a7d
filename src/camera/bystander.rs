//! A second person in the simulated camera's view: someone standing behind or beside the seated
//! person, swaying and possibly walking slowly back and forth, breathing at their own rate.
//!
//! The model, plainly: the same body as the seated person (head, neck, torso, arms; see
//! `scene.rs`) plus legs (a band 0.34 m wide from the waist to the floor), standing, so the
//! middle of the chest is 1.3 m above the floor. It is rendered once into its own layer, wider
//! than the image by the farthest it can move sideways, with its stereo-shadow band (against the
//! wall) on its left. Per frame the layer is shifted sideways by the person's movement (a pure
//! image translation: the body is taken as fronto-parallel), moved in depth, its chest pushed by
//! its own breathing (a sine, 4 mm at mid-chest), and drawn over the frame wherever it is nearer
//! than what the frame shows there (wall, floor or the seated person, compared without noise),
//! with the same noise and dropout as every other pixel. Where the seated person's own shadow or
//! holes are, nothing is drawn.
//!
//! Movement: sway of ±40 mm sideways (0.2 Hz and 0.07 Hz components) and ±15 mm in depth
//! (0.1 Hz), plus, when `walk_m` is set, slow walking back and forth over `offset_m ± walk_m` at
//! `walk_speed_m_s` (a triangle wave starting at `offset_m`, heading right).

use super::raster::{pixel, RowInputs, Units, INVALID_Q, NONE_Q};
use super::scene::{body_surface, Intrinsics};
use crate::types::Roi;

/// A second person in view, see the module documentation. Checked by
/// [`super::simulated::SimCamera::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct Bystander {
    /// Camera to the front of this person's chest, metres (0.5 ..= wall − 0.2).
    pub distance_m: f32,
    /// Sideways position of this person's centre line at rest, metres, positive to the image's
    /// right (−3 ..= 3).
    pub offset_m: f32,
    /// Half the range of slow walking back and forth about `offset_m`, metres (0 = standing,
    /// only swaying; 0 ..= 2).
    pub walk_m: f32,
    /// Walking speed, metres per second (0.02 ..= 1.5).
    pub walk_speed_m_s: f32,
    /// This person's breathing rate, breaths per minute (4 ..= 60).
    pub rate_bpm: f32,
}

impl Bystander {
    /// Standing 0.8 m behind a person seated `subject_m` from the camera, a little to the right
    /// of them, walking slowly (0.1 m/s) back and forth over ±0.5 m: part of the time hidden
    /// behind the seated person, part of the time beside them; breathing at 22/min.
    pub fn behind(subject_m: f32) -> Self {
        Self {
            distance_m: subject_m + 0.8,
            offset_m: 0.3,
            walk_m: 0.5,
            walk_speed_m_s: 0.1,
            rate_bpm: 22.0,
        }
    }

    /// Standing beside a person seated `subject_m` from the camera (5 cm farther), 0.95 m to the
    /// right, at the edge of the image (at 1.1 m about 85 % of the torso in view), swaying
    /// and shuffling ±0.15 m at 0.05 m/s; breathing at 22/min.
    pub fn beside(subject_m: f32) -> Self {
        Self {
            distance_m: subject_m + 0.05,
            offset_m: 0.95,
            walk_m: 0.15,
            walk_speed_m_s: 0.05,
            rate_bpm: 22.0,
        }
    }

    /// Sideways (mm, + right) and toward-camera (mm) movement from the rest position at `t_s`.
    fn movement_mm(&self, t_s: f64) -> (f32, f32) {
        use std::f64::consts::TAU;
        let sway = 25.0 * (TAU * 0.2 * t_s).sin() + 15.0 * (TAU * 0.07 * t_s + 1.0).sin();
        let depth = 15.0 * (TAU * 0.1 * t_s).sin();
        let walk = if self.walk_m > 0.0 {
            // Triangle wave of amplitude walk_m and speed walk_speed_m_s, 0 at t = 0, rising.
            let a = f64::from(self.walk_m);
            let period = 4.0 * a / f64::from(self.walk_speed_m_s);
            let p = (t_s / period).rem_euclid(1.0);
            let tri = if p < 0.25 {
                4.0 * p
            } else if p < 0.75 {
                2.0 - 4.0 * p
            } else {
                4.0 * p - 4.0
            };
            1000.0 * a * tri
        } else {
            0.0
        };
        ((sway + walk) as f32, depth as f32)
    }

    /// The farthest this person moves sideways from `offset_m`, metres.
    fn reach_m(&self) -> f32 {
        self.walk_m + 0.045
    }
}

/// Height of a standing person's mid-chest above the floor, metres.
const CHEST_HEIGHT_M: f32 = 1.3;
/// Torso of the body model relative to mid-sternum (as in `scene.rs`), metres.
const TORSO: (f32, f32, f32) = (0.20, -0.22, 0.32);
/// Breathing amplitude at mid-chest, mm.
const BREATH_MM: f32 = 4.0;

/// Per-frame placement of the second person.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct BystanderFrame {
    /// Output column x shows layer column `x + margin - dx`.
    pub dx: i64,
    /// Movement away from the camera, layer units.
    pub away_q: i32,
    /// Breathing displacement toward the camera at weight 1, layer units.
    pub chest_q: i32,
}

/// The seated person's body in the output row being drawn, as the row kernel saw it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MainRow<'a> {
    /// Body layer row (source columns), see `raster::Layers::body`.
    pub depth: &'a [i32],
    /// Output column x shows body column `x - dx`.
    pub dx: i64,
    /// Movement away from the camera, layer units.
    pub away_q: i32,
}

/// The second person's pre-rendered layer (in the frame's layer units, see `raster.rs`).
#[derive(Debug, Clone)]
pub(crate) struct BystanderLayer {
    person: Bystander,
    width: usize,
    margin: usize,
    layer_w: usize,
    depth: Vec<i32>,
    sigma: Vec<i32>,
    weight: Vec<i16>,
    spans: Vec<std::ops::Range<usize>>,
    /// Torso box at rest, output columns with dx = 0.
    torso: (i64, i64, i64, i64),
    fx: f32,
    q_per_mm: f32,
}

impl BystanderLayer {
    /// Render `person` for a `width x height` camera `k` at `camera_height_m`, in `units`, with
    /// the wall at `wall_m` and a stereo baseline of `baseline_m`.
    pub(crate) fn new(
        person: &Bystander,
        k: &Intrinsics,
        size: (u32, u32),
        camera_height_m: f32,
        wall_m: f32,
        baseline_m: f32,
        units: &Units,
    ) -> Self {
        let (w, h) = (size.0 as usize, size.1 as usize);
        let d = person.distance_m;
        let margin = (k.fx * person.reach_m() / d).ceil().max(0.0) as usize + 2;
        let layer_w = w + 2 * margin;
        let below = camera_height_m - CHEST_HEIGHT_M;
        let mut mm = vec![0.0f32; layer_w * h];
        let mut weight = vec![0i16; layer_w * h];
        for v in 0..h {
            let ry = (v as f32 - k.cy) / k.fy;
            for lu in 0..layer_w {
                let rx = (lu as f32 - margin as f32 - k.cx) / k.fx;
                if let Some((z, wt)) = cast(d, person.offset_m, below, camera_height_m, rx, ry) {
                    mm[v * layer_w + lu] = 1000.0 * z;
                    weight[v * layer_w + lu] = (wt.clamp(0.0, 1.0) * 256.0).round() as i16;
                }
            }
        }
        let mut depth: Vec<i32> = mm
            .iter()
            .map(|&z| {
                if z > 0.0 {
                    units.depth_q(z).max(1)
                } else {
                    NONE_Q
                }
            })
            .collect();
        // Stereo shadow on the left of the person, against the wall.
        for row in 0..h {
            let base = row * layer_w;
            for x in 1..layer_w {
                let near = mm[base + x];
                if near > 0.0 && mm[base + x - 1] == 0.0 {
                    let px = k.fx * baseline_m * 1000.0 * (1.0 / near - 1.0 / (1000.0 * wall_m));
                    let band = px.round().max(0.0) as usize;
                    for s in x.saturating_sub(band)..x {
                        if depth[base + s] == NONE_Q {
                            depth[base + s] = INVALID_Q;
                        }
                    }
                }
            }
        }
        let spans = depth
            .chunks_exact(layer_w.max(1))
            .map(|row| {
                let first = row.iter().position(|&v| v != NONE_Q).unwrap_or(0);
                let last = row.iter().rposition(|&v| v != NONE_Q).map_or(0, |i| i + 1);
                first..last.max(first)
            })
            .collect();
        let px = |x: f32| (k.cx + k.fx * (x + person.offset_m) / d).round() as i64;
        let py = |y: f32| (k.cy + k.fy * (y + below) / d).round() as i64;
        Self {
            person: person.clone(),
            width: w,
            margin,
            layer_w,
            sigma: mm.iter().map(|&z| units.sigma_q(z.max(0.0))).collect(),
            depth,
            weight,
            spans,
            torso: (px(-TORSO.0), py(TORSO.1), px(TORSO.0), py(TORSO.2)),
            fx: k.fx,
            q_per_mm: 16.0 * units.raw_per_mm,
        }
    }

    /// Placement at time `t_s`.
    pub(crate) fn frame(&self, t_s: f64) -> BystanderFrame {
        let (side_mm, toward_mm) = self.person.movement_mm(t_s);
        let phase = std::f64::consts::TAU * f64::from(self.person.rate_bpm) / 60.0 * t_s;
        let chest_mm = BREATH_MM * phase.sin() as f32;
        let d_mm = 1000.0 * self.person.distance_m;
        BystanderFrame {
            dx: (side_mm * self.fx / d_mm).round() as i64,
            away_q: (-toward_mm * self.q_per_mm).round() as i32,
            chest_q: (chest_mm * self.q_per_mm).round() as i32,
        }
    }

    /// The torso box (shoulder line to waist, full width) of the person placed by `f`, clipped to
    /// a `width x height` image; `None` when it is wholly outside.
    pub(crate) fn torso_box(&self, f: &BystanderFrame, height: u32) -> Option<Roi> {
        let (x0, y0, x1, y1) = self.torso;
        let clip = |v: i64, max: u32| v.clamp(0, i64::from(max)) as u32;
        let w = self.width as u32;
        let r = Roi {
            x0: clip(x0 + f.dx, w),
            y0: clip(y0, height),
            x1: clip(x1 + f.dx, w),
            y1: clip(y1, height),
        };
        (r.x1 > r.x0 && r.y1 > r.y0).then_some(r)
    }

    /// Draw row `y` of the person placed by `f` over `out` (the row as rendered so far from
    /// `rows`, with the seated person `main`, if present in this row).
    pub(crate) fn overlay_row(
        &self,
        out: &mut [u16],
        y: usize,
        rows: &RowInputs,
        main: Option<MainRow>,
        f: &BystanderFrame,
        dropout: i16,
    ) {
        let w = out.len().min(self.width);
        let base = y * self.layer_w;
        let Some(span) = self.spans.get(y) else {
            return;
        };
        let shift = f.dx - self.margin as i64;
        let lo = (span.start as i64 + shift).clamp(0, w as i64) as usize;
        let hi = (span.end as i64 + shift).clamp(0, w as i64) as usize;
        for (x, o) in out.iter_mut().enumerate().take(hi).skip(lo) {
            let src = base + (x as i64 - shift) as usize;
            let (Some(&zb), Some(&sb), Some(&wb)) = (
                self.depth.get(src),
                self.sigma.get(src),
                self.weight.get(src),
            ) else {
                continue;
            };
            if zb == NONE_Q {
                continue;
            }
            let main_q = main.map_or(NONE_Q, |m| {
                usize::try_from(x as i64 - m.dx)
                    .ok()
                    .and_then(|s| m.depth.get(s))
                    .map_or(NONE_Q, |&z| if z > 0 { z + m.away_q } else { z })
            });
            let (Some(&g), Some(&d), Some(&bg)) =
                (rows.gauss.get(x), rows.drop.get(x), rows.background.get(x))
            else {
                continue;
            };
            if zb == INVALID_Q {
                // Own shadow: only where the wall or floor showed.
                if main_q == NONE_Q {
                    *o = 0;
                }
                continue;
            }
            let z = zb + f.away_q - ((f.chest_q * i32::from(wb)) >> 8);
            let nearer = match main_q {
                NONE_Q => bg == INVALID_Q || z < bg,
                INVALID_Q => false,
                m => z < m,
            };
            if nearer {
                *o = pixel(z, sb, g, d, dropout);
            }
        }
    }
}

/// Depth (metres) and breathing weight of a standing person at `d` (chest front), `offset`
/// sideways, mid-chest `below` the optical axis, along the ray (rx, ry); legs reach the floor
/// `floor_m` below the axis.
fn cast(d: f32, offset: f32, below: f32, floor_m: f32, rx: f32, ry: f32) -> Option<(f32, f32)> {
    let mut z = d;
    let mut hit = None;
    for _ in 0..3 {
        let (x, y) = (rx * z - offset, ry * z - below);
        let legs = (0.30..=floor_m - below).contains(&y) && x.abs() <= 0.17;
        let surface = body_surface(x, y).or(legs.then(|| (0.05 + 0.04 * (x / 0.17).powi(2), 0.0)));
        match surface {
            Some((off, wt)) => {
                z = d + off;
                hit = Some((z, wt));
            }
            None => break,
        }
    }
    hit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units() -> Units {
        Units {
            raw_per_mm: 1.0,
            sigma_per_mm2: 0.0,
            min_mm: 200.0,
            max_mm: 10_000.0,
        }
    }

    #[test]
    fn walking_is_a_triangle_wave_within_its_range() {
        let p = Bystander::behind(1.1);
        let (mut lo, mut hi) = (f32::MAX, f32::MIN);
        for i in 0..4000 {
            let (side, toward) = p.movement_mm(f64::from(i) * 0.05);
            lo = lo.min(side);
            hi = hi.max(side);
            assert!(toward.abs() <= 15.0);
        }
        // ±500 mm walking plus up to ±40 mm sway.
        assert!(
            hi > 480.0 && hi <= 540.0 && (-540.0..-480.0).contains(&lo),
            "{lo} {hi}"
        );
        // 0.1 m/s: a quarter period (0 → 0.5 m) takes 5 s.
        let (at5, _) = p.movement_mm(5.0);
        assert!((at5 - 500.0).abs() <= 40.0, "{at5}");
    }

    #[test]
    fn the_layer_holds_a_standing_person_where_placed() {
        let k = Intrinsics::d435_like(424, 240);
        let p = Bystander {
            walk_m: 0.0,
            ..Bystander::behind(1.1)
        };
        let l = BystanderLayer::new(&p, &k, (424, 240), 1.2, 3.0, 0.05, &units());
        let f = BystanderFrame::default();
        let b = l.torso_box(&f, 240).expect("in view");
        // Centre at 0.3 m right at 1.9 m: cx + fx * 0.3 / 1.9.
        let centre = (b.x0 + b.x1) as f32 / 2.0;
        let want = k.cx + k.fx * 0.3 / 1.9;
        assert!((centre - want).abs() <= 1.0, "{centre} vs {want}");
        // The mid-chest pixel is at 1.9 m (layer units: mm x 16), rows above it (head) are nearer
        // the top of the image than the seated person's would be.
        let (u, v) = (
            want.round() as i64,
            (k.cy + k.fy * (1.2 - 1.3) / 1.9).round() as i64,
        );
        let i = v as usize * l.layer_w + (u + l.margin as i64) as usize;
        assert!((l.depth[i] - 1900 * 16).abs() <= 16, "{}", l.depth[i]);
        assert!(l.weight[i] > 250);
    }
}

#[cfg(test)]
mod camera_tests {
    use super::Bystander;
    use crate::camera::simulated::{SimCamera, SimCameraSettings};
    use crate::camera::FrameSource;
    use crate::rsm::{Rsm, RsmParams};
    use crate::types::{DepthFrame, Pattern, Roi};

    fn frame(bystander: Option<Bystander>) -> (DepthFrame, Roi, Option<Roi>) {
        let s = SimCameraSettings {
            width: 424,
            height: 240,
            sway: false,
            invalid_fraction: 0.0,
            bystander,
            ..SimCameraSettings::default()
        };
        let rsm = Rsm::new(RsmParams::typical(Pattern::Eupnea), 2);
        let mut cam = SimCamera::new(s, rsm, 2).expect("camera");
        let mut f = DepthFrame::new(0, 0, 0.001);
        cam.read_frame(&mut f).expect("frame");
        (f, cam.torso_box(), cam.bystander_box())
    }

    /// Pixels of `r` in `f` with depth in `lo..hi` mm.
    fn count(f: &DepthFrame, r: Roi, lo: u16, hi: u16) -> usize {
        (r.y0..r.y1)
            .flat_map(|y| (r.x0..r.x1).map(move |x| (x, y)))
            .filter(|&(x, y)| (lo..hi).contains(&f.data[(y * f.width + x) as usize]))
            .count()
    }

    #[test]
    fn a_person_behind_shows_around_the_seated_one_and_never_in_front() {
        let still = Bystander {
            walk_m: 0.0,
            offset_m: 0.7,
            ..Bystander::behind(1.1)
        };
        let (plain, torso, none) = frame(None);
        let (with, torso2, b) = frame(Some(still));
        assert_eq!((torso, none), (torso2, None));
        let b = b.expect("the second person is in view");
        // Their torso box is mostly wall without them and mostly their body (1.9-2.1 m) with.
        let area = b.area() as usize;
        let before = count(&plain, b, 1850, 2100);
        let after = count(&with, b, 1850, 2100);
        assert!(
            before < area / 20 && after > area / 3,
            "{before} -> {after} of {area}"
        );
        // The seated person's torso is unchanged where it was body (nearer than 1.5 m).
        for y in torso.y0..torso.y1 {
            for x in torso.x0..torso.x1 {
                let i = (y * plain.width + x) as usize;
                if (1..1500).contains(&plain.data[i]) {
                    assert_eq!(plain.data[i], with.data[i], "({x}, {y})");
                }
            }
        }
    }

    #[test]
    fn a_person_beside_is_at_the_image_edge_at_their_distance() {
        let (plain, _, _) = frame(None);
        let (with, _, b) = frame(Some(Bystander::beside(1.1)));
        let b = b.expect("in view");
        // Torso from 0.75 to 1.15 m right at 1.15 m: the image ends at 1.09 m.
        assert_eq!(b.x1, 424, "reaches the right edge: {b:?}");
        assert!((60..72).contains(&b.width()), "{b:?}");
        let area = b.area() as usize;
        let near = count(&with, b, 1050, 1350);
        assert!(
            count(&plain, b, 1050, 1350) == 0 && near > area / 2,
            "{near} of {area}"
        );
    }
}
