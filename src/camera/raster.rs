//! The simulated camera's per-frame kernel, in fixed point.
//!
//! The static scene is converted once into integer layers in the frame's own raw depth units
//! times 16 (so breathing moves the surface in 1/16-unit steps): body depth, background depth and
//! each pixel's noise sigma. Per pixel a frame then costs a few integer operations: displace the
//! body, add `sigma * g` from the noise table, round to a raw value, and zero it for a dropout or
//! when out of range. No floating point and no branches on random data.

use super::scene::{StaticScene, INVALID};
use crate::types::Roi;

/// Fixed-point scale: layer values are raw depth units times this.
const Q: f32 = 16.0;
/// Body layer value where there is no body (the background shows).
pub(crate) const NONE_Q: i32 = 0;
/// Body or background value that can never give a valid pixel.
pub(crate) const INVALID_Q: i32 = -(1 << 28);

/// Integer layers, `width * height` values each, row-major.
#[derive(Debug, Clone)]
pub(crate) struct Layers {
    /// Body depth at the nominal position (raw units x 16), [`NONE_Q`] or [`INVALID_Q`].
    pub body: Vec<i32>,
    /// Body depth-noise sigma (raw units x 16), see `Units::sigma_q`.
    pub body_sigma: Vec<i32>,
    /// Breathing weight, 256 for 1 (0..=1 facing the camera; up to 4 on a turned chest, whose
    /// depth moves more than the chest does along its normal).
    pub weight: Vec<i16>,
    /// Background depth (raw units x 16), or [`INVALID_Q`] out of range.
    pub background: Vec<i32>,
    /// Background depth-noise sigma, as `body_sigma`.
    pub background_sigma: Vec<i32>,
    /// Per row, the columns from the first to the last body (or shadow) pixel.
    pub spans: Vec<std::ops::Range<usize>>,
    /// Torso box at the nominal position, see [`StaticScene::torso_box`].
    pub torso_box: Roi,
}

/// Conversion from millimetres to the layers' units.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Units {
    /// Raw depth units per mm (1 for a 1 mm depth unit).
    pub raw_per_mm: f32,
    /// Depth-noise sigma (mm) = `sigma_per_mm2 * z_mm^2`.
    pub sigma_per_mm2: f32,
    /// Nearest and farthest reported depth, mm.
    pub min_mm: f32,
    pub max_mm: f32,
}

impl Units {
    pub(crate) fn depth_q(&self, z_mm: f32) -> i32 {
        let raw = z_mm * self.raw_per_mm;
        if (self.min_mm..=self.max_mm).contains(&z_mm) && raw < 65_535.0 {
            (raw * Q).round() as i32
        } else {
            INVALID_Q
        }
    }

    /// Sigma in layer units, scaled so that `(sigma_q * g) >> 5` is the noise for a table draw
    /// `g` in steps of 1/32 sigma.
    pub(crate) fn sigma_q(&self, z_mm: f32) -> i32 {
        let s = self.sigma_per_mm2 * z_mm * z_mm * self.raw_per_mm * Q;
        s.round().clamp(0.0, 1.0e6) as i32
    }
}

impl Layers {
    /// Convert `scene` to integer layers in `u`'s units.
    pub(crate) fn new(scene: &StaticScene, u: &Units) -> Self {
        let body: Vec<i32> = scene
            .body_mm
            .iter()
            .map(|&z| match z {
                z if z == INVALID => INVALID_Q,
                z if z > 0.0 => u.depth_q(z).max(1),
                _ => NONE_Q,
            })
            .collect();
        let spans = body
            .chunks_exact(scene.width.max(1))
            .map(|row| {
                let first = row.iter().position(|&v| v != NONE_Q).unwrap_or(0);
                let last = row.iter().rposition(|&v| v != NONE_Q).map_or(0, |i| i + 1);
                first..last.max(first)
            })
            .collect();
        Self {
            spans,
            body,
            body_sigma: scene
                .body_mm
                .iter()
                .map(|&z| u.sigma_q(z.max(0.0)))
                .collect(),
            weight: scene
                .weight
                .iter()
                .map(|&w| (w.clamp(0.0, 4.0) * 256.0).round() as i16)
                .collect(),
            background: scene.background_mm.iter().map(|&z| u.depth_q(z)).collect(),
            background_sigma: scene.background_mm.iter().map(|&z| u.sigma_q(z)).collect(),
            torso_box: scene.torso_box,
        }
    }
}

/// Per-frame constants.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameParams {
    /// Whole-body displacement away from the camera, layer units (negative = closer).
    pub away_q: i32,
    /// Breathing displacement toward the camera at weight 1, layer units.
    pub chest_q: i32,
    /// Largest `|d|` (table steps) that is not a dropout.
    pub dropout: i16,
}

/// The slices one output row is made from; all at least as long as the row.
pub(crate) struct RowInputs<'a> {
    pub gauss: &'a [i8],
    pub drop: &'a [i8],
    pub background: &'a [i32],
    pub background_sigma: &'a [i32],
}

/// The body's source row and its column shift (output column x shows body column x - dx).
pub(crate) struct BodyRow<'a> {
    pub depth: &'a [i32],
    pub sigma: &'a [i32],
    pub weight: &'a [i16],
    /// Columns of this row that hold body (or shadow) pixels; background elsewhere.
    pub span: std::ops::Range<usize>,
    pub dx: i64,
}

/// One pixel: base depth plus noise, rounded to raw units; 0 when invalid, out of range or
/// dropped. Wrapping arithmetic (values are bounded far below overflow; this keeps the dev
/// profile's overflow checks out of the hot loop).
#[inline]
pub(crate) fn pixel(base_q: i32, sigma_q: i32, g: i8, d: i8, dropout: i16) -> u16 {
    let noise = sigma_q.wrapping_mul(i32::from(g)) >> 5;
    let raw = base_q.wrapping_add(noise).wrapping_add(8) >> 4;
    // `raw` in 1..=65535, as one unsigned comparison.
    let in_range = (raw.wrapping_sub(1) as u32) < 65_535;
    let ok = in_range & (i16::from(d.unsigned_abs()) <= dropout);
    (raw as u16).wrapping_mul(u16::from(ok))
}

impl FrameParams {
    fn background(&self, out: &mut [u16], r: &RowInputs, cols: std::ops::Range<usize>) {
        let (g, d) = (&r.gauss[cols.clone()], &r.drop[cols.clone()]);
        let (bg, bs) = (&r.background[cols.clone()], &r.background_sigma[cols]);
        for ((((o, &g), &d), &b), &s) in out.iter_mut().zip(g).zip(d).zip(bg).zip(bs) {
            *o = pixel(b, s, g, d, self.dropout);
        }
    }

    /// Render one output row (`out.len()` pixels) from the background and, if given, the body.
    pub(crate) fn render_row(&self, out: &mut [u16], r: &RowInputs, body: Option<BodyRow>) {
        let w = out.len();
        let short = |n: usize| n < w;
        if short(r.gauss.len())
            || short(r.drop.len())
            || short(r.background.len())
            || short(r.background_sigma.len())
        {
            out.fill(0);
            return;
        }
        let Some(b) = body else {
            return self.background(out, r, 0..w);
        };
        // Output columns lo..hi show the row's body span, shifted by dx; the rest is background.
        let wi = w as i64;
        let (s0, s1) = (b.span.start as i64, b.span.end.max(b.span.start) as i64);
        let (lo, hi) = ((s0 + b.dx).clamp(0, wi), (s1 + b.dx).clamp(0, wi));
        let src = (lo - b.dx).clamp(0, wi) as usize..(hi - b.dx).clamp(0, wi) as usize;
        let (lo, hi) = (lo as usize, hi as usize);
        let (Some(bd), Some(bs), Some(bw)) = (
            b.depth.get(src.clone()),
            b.sigma.get(src.clone()),
            b.weight.get(src),
        ) else {
            return self.background(out, r, 0..w);
        };
        let (left, rest) = out.split_at_mut(lo);
        let (mid, right) = rest.split_at_mut(hi - lo);
        self.background(left, r, 0..lo);
        self.background(right, r, hi..w);
        let inputs = r.gauss[lo..hi].iter().zip(&r.drop[lo..hi]);
        let bg = r.background[lo..hi].iter().zip(&r.background_sigma[lo..hi]);
        let body = bd.iter().zip(bs).zip(bw);
        for (o, (((&g, &d), (&bgq, &bgs)), ((&zb, &sb), &wb))) in
            mid.iter_mut().zip(inputs.zip(bg).zip(body))
        {
            let moved = zb
                .wrapping_add(self.away_q)
                .wrapping_sub(self.chest_q.wrapping_mul(i32::from(wb)) >> 8);
            let (z, s) = if zb == NONE_Q {
                (bgq, bgs)
            } else {
                (moved, sb)
            };
            *o = pixel(z, s, g, d, self.dropout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Naive reference: every output column looks up its body column and picks body or
    /// background, with no spans or segments.
    fn naive_row(p: &FrameParams, r: &RowInputs, b: &BodyRow) -> Vec<u16> {
        (0..r.gauss.len())
            .map(|x| {
                let xs = x as i64 - b.dx;
                let body = usize::try_from(xs)
                    .ok()
                    .and_then(|s| b.depth.get(s).map(|&z| (s, z)));
                let (z, sig) = match body {
                    Some((s, zb)) if zb != NONE_Q => {
                        let w = i32::from(b.weight[s]);
                        (zb + p.away_q - ((p.chest_q * w) >> 8), b.sigma[s])
                    }
                    _ => (r.background[x], r.background_sigma[x]),
                };
                pixel(z, sig, r.gauss[x], r.drop[x], p.dropout)
            })
            .collect()
    }

    #[test]
    fn row_kernel_matches_naive_reference() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..300 {
            let w = rng.gen_range(1..64usize);
            let gauss: Vec<i8> = (0..w).map(|_| rng.gen()).collect();
            let drop: Vec<i8> = (0..w).map(|_| rng.gen()).collect();
            let background: Vec<i32> = (0..w).map(|_| rng.gen_range(0..60_000 * 16)).collect();
            let background_sigma: Vec<i32> = (0..w).map(|_| rng.gen_range(0..2000)).collect();
            // A body run with a shadow pixel inside a row of background.
            let (a, z) = (rng.gen_range(0..w), rng.gen_range(0..=w));
            let span = a.min(z)..a.max(z);
            let depth: Vec<i32> = (0..w)
                .map(|x| match x {
                    x if !span.contains(&x) => NONE_Q,
                    x if x == span.start + 1 => INVALID_Q,
                    _ => rng.gen_range(8000..30_000),
                })
                .collect();
            let sigma: Vec<i32> = (0..w).map(|_| rng.gen_range(0..500)).collect();
            let weight: Vec<i16> = (0..w).map(|_| rng.gen_range(0..=256)).collect();
            let p = FrameParams {
                away_q: rng.gen_range(-800..800),
                chest_q: rng.gen_range(-300..300),
                dropout: rng.gen_range(90..129),
            };
            let r = RowInputs {
                gauss: &gauss,
                drop: &drop,
                background: &background,
                background_sigma: &background_sigma,
            };
            let dx = rng.gen_range(-(w as i64) - 2..w as i64 + 2);
            let b = BodyRow {
                depth: &depth,
                sigma: &sigma,
                weight: &weight,
                span,
                dx,
            };
            let mut out = vec![7u16; w];
            let expect = naive_row(&p, &r, &b);
            p.render_row(&mut out, &r, Some(b));
            assert_eq!(out, expect);
        }
    }

    #[test]
    fn pixel_rounds_adds_noise_and_drops() {
        // 1100.4 mm at 1 mm units: 17606.4 q -> raw 1100.
        assert_eq!(pixel(17_606, 0, 0, 0, 10), 1100);
        // Sigma of 2 raw units (32 q) and a +1 sigma draw (g = 32) adds 2 raw units.
        assert_eq!(pixel(1100 * 16, 32, 32, 0, 10), 1102);
        assert_eq!(pixel(1100 * 16, 32, -32, 0, 10), 1098);
        // A dropout draw beyond the threshold, an invalid base and an overflow give 0.
        assert_eq!(pixel(1100 * 16, 0, 0, 11, 10), 0);
        assert_eq!(pixel(INVALID_Q, 1000, 127, 0, 10), 0);
        assert_eq!(pixel(70_000 * 16, 0, 0, 0, 10), 0);
    }

    #[test]
    fn units_convert_depth_and_sigma() {
        let u = Units {
            raw_per_mm: 1.0,
            sigma_per_mm2: 3.58e-6,
            min_mm: 200.0,
            max_mm: 10_000.0,
        };
        assert_eq!(u.depth_q(1000.0), 16_000);
        assert_eq!(u.depth_q(100.0), INVALID_Q);
        // 3.58 mm at 1 m: 3.58 * 16 = 57.3 q.
        assert_eq!(u.sigma_q(1000.0), 57);
    }
}
