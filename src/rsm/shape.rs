//! The waveform of one breath, normalised to 0 (end-expiratory rest) .. 1 (end of inspiration).
//!
//! Inspiration is a raised half-cosine (sinusoidal flow: smooth start, rounded peak). Expiration is
//! passive: an exponential-like emptying with a rounded start (no corner at the peak) that reaches the
//! resting level exactly at the end of the breath, leaving an end-expiratory plateau. The shape was
//! matched to the real recordings (see `src/rsm/README.md`): about a third of each cycle lies in the
//! bottom 15 % of the amplitude and about a sixth in the top 15 %.

use std::f64::consts::PI;

/// Fraction of the expiration over which the emptying accelerates (rounds the peak).
const ROUND: f64 = 0.15;

/// Normalised chest displacement at time `tau_s` after the onset of a breath with inspiration
/// time `ti_s` and expiration time `te_s` (both > 0), with expiration sharpness `k` (> 0).
/// Returns a value in `[0, 1]`; 0 outside the breath.
pub fn breath_shape(tau_s: f64, ti_s: f64, te_s: f64, k: f64) -> f64 {
    if tau_s.is_nan() || tau_s <= 0.0 || ti_s <= 0.0 || te_s <= 0.0 {
        return 0.0;
    }
    if tau_s < ti_s {
        return 0.5 * (1.0 - (PI * tau_s / ti_s).cos());
    }
    let v = (tau_s - ti_s) / te_s;
    if v >= 1.0 {
        return 0.0;
    }
    expiration(v, k)
}

/// Expiration curve on `v` in `[0, 1]`: 1 at `v = 0` with zero slope, exactly 0 at `v = 1`.
fn expiration(v: f64, k: f64) -> f64 {
    // Warped time: quadratic over the first ROUND of expiration, linear afterwards (C1).
    let r = if v < ROUND {
        v * v / (2.0 * ROUND)
    } else {
        v - ROUND / 2.0
    } / (1.0 - ROUND / 2.0);
    let floor = (-k).exp();
    (((-k * r).exp() - floor) / (1.0 - floor)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_peak() {
        let (ti, te, k) = (1.5, 2.5, 4.5);
        assert_eq!(breath_shape(0.0, ti, te, k), 0.0);
        assert!((breath_shape(ti, ti, te, k) - 1.0).abs() < 1e-12);
        assert!(breath_shape(ti + te - 1e-9, ti, te, k) < 1e-6);
        assert_eq!(breath_shape(ti + te + 0.1, ti, te, k), 0.0);
        assert!((breath_shape(ti / 2.0, ti, te, k) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn continuous_and_rounded_at_peak() {
        let (ti, te, k) = (1.2, 2.8, 5.0);
        let h = 1e-5;
        let mut prev = 0.0;
        let mut t = 0.0;
        while t < ti + te {
            let y = breath_shape(t, ti, te, k);
            assert!((y - prev).abs() < 1e-3, "jump at {t}");
            prev = y;
            t += h * 10.0;
        }
        // Zero slope on both sides of the peak (rounded, no cusp).
        let left = (breath_shape(ti, ti, te, k) - breath_shape(ti - h, ti, te, k)) / h;
        let right = (breath_shape(ti + h, ti, te, k) - breath_shape(ti, ti, te, k)) / h;
        assert!(left.abs() < 1e-3 && right.abs() < 1e-2, "{left} {right}");
    }

    #[test]
    fn expiration_is_exponential_like_with_plateau() {
        // Reference: after the rounding, log(shape + floor) falls linearly with slope -k / (1 - ROUND/2).
        let (ti, te, k) = (1.0, 3.0, 4.5f64);
        let floor = (-k).exp();
        let g = |v: f64| (breath_shape(ti + v * te, ti, te, k) * (1.0 - floor) + floor).ln();
        let slope = (g(0.6) - g(0.3)) / 0.3;
        assert!((slope + k / (1.0 - ROUND / 2.0)).abs() < 1e-6, "{slope}");
        // Most of the emptying happens in the first half of expiration; the end is a plateau.
        assert!(breath_shape(ti + 0.5 * te, ti, te, k) < 0.15);
        assert!(breath_shape(ti + 0.8 * te, ti, te, k) < 0.03);
    }
}
