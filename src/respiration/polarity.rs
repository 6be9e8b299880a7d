//! Polarity of a breathing signal of unknown origin (a depth-camera distance falls on inhalation, a
//! belt or impedance signal rises), estimated from breath shape.
//!
//! The chest rests at the end-expiratory level and turns over smoothly at the end of inspiration, so
//! with inspiration upward each breath cycle spends more time near its bottom than near its top
//! (real belt/impedance records: about 35 % of the cycle in the bottom 15 % of the breath's range,
//! 17 % in the top 15 %). For every cycle between two consecutive peaks (found with a hysteresis of
//! 30 % of the robust amplitude) the score is `(bottom − top) / (bottom + top)` of those dwell
//! counts; the polarity score is their mean, bounded per cycle so that motion artefacts cannot
//! dominate. Positive = inspiration upward, negative = inverted, near 0 = undecided.

/// Fraction of a cycle's range that counts as "near" its bottom or top.
const DWELL_BAND: f32 = 0.15;

fn robust_amplitude(x: &[f32]) -> f32 {
    let mut v = x.to_vec();
    v.sort_by(f32::total_cmp);
    let at = |p: f64| {
        v.get(((v.len().saturating_sub(1)) as f64 * p) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    at(0.95) - at(0.05)
}

/// Indices of the peaks of `x` (turns by at least `h`).
fn peaks(x: &[f32], h: f32) -> Vec<usize> {
    let mut out = Vec::new();
    let (mut hi, mut hi_i, mut lo) = (f32::MIN, 0usize, f32::MAX);
    let mut rising = true;
    for (i, &v) in x.iter().enumerate() {
        if rising {
            if v > hi {
                (hi, hi_i) = (v, i);
            }
            if v < hi - h {
                out.push(hi_i);
                rising = false;
                lo = v;
            }
        } else {
            lo = lo.min(v);
            if v > lo + h {
                rising = true;
                (hi, hi_i) = (v, i);
            }
        }
    }
    out
}

/// Polarity score of a band-passed breathing signal in -1..=1 (see the module doc).
pub fn polarity_score(band: &[f32]) -> f64 {
    let h = 0.3 * robust_amplitude(band);
    if h.is_nan() || h <= 0.0 {
        return 0.0;
    }
    let pk = peaks(band, h);
    let (mut sum, mut n) = (0.0f64, 0usize);
    for w in pk.windows(2) {
        let Some(seg) = band.get(w[0]..=w[1]) else {
            continue;
        };
        let (lo, hi) = seg
            .iter()
            .fold((f32::MAX, f32::MIN), |a, &v| (a.0.min(v), a.1.max(v)));
        let band_w = DWELL_BAND * (hi - lo);
        let bottom = seg.iter().filter(|v| **v < lo + band_w).count() as f64;
        let top = seg.iter().filter(|v| **v > hi - band_w).count() as f64;
        if bottom + top > 0.0 {
            sum += (bottom - top) / (bottom + top);
            n += 1;
        }
    }
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Breaths with a 1.5 s inspiration, a 2.5 s expiration and a 1 s rest, at 10 Hz.
    fn asymmetric() -> Vec<f32> {
        (0..1200)
            .map(|i| {
                let t = (i as f64 / 10.0) % 5.0;
                let v = if t < 1.5 {
                    0.5 - 0.5 * (std::f64::consts::PI * t / 1.5).cos()
                } else if t < 4.0 {
                    0.5 + 0.5 * (std::f64::consts::PI * (t - 1.5) / 2.5).cos()
                } else {
                    0.0
                };
                v as f32
            })
            .collect()
    }

    #[test]
    fn upright_breaths_score_positive_and_inverted_negative() {
        let x = asymmetric();
        let inv: Vec<f32> = x.iter().map(|v| -v).collect();
        assert!(polarity_score(&x) > 0.2, "{}", polarity_score(&x));
        assert!(polarity_score(&inv) < -0.2);
        let sine: Vec<f32> = (0..1200).map(|i| (i as f32 * 0.1571).sin()).collect();
        assert!(polarity_score(&sine).abs() < 0.1);
    }
}
