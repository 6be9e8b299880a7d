//! Polarity of a breathing signal of unknown origin (a depth-camera distance falls on inhalation, a
//! belt or impedance signal rises), estimated from breath shape.
//!
//! With inspiration upward: inspiration is shorter and steeper than expiration, so the derivative has
//! brief large positive values and long small negative ones (positive skewness); and the chest rests
//! at the end-expiratory level, so the signal spends more time near its bottom than its top (positive
//! skewness of the signal). The score is the sum of both skewnesses; a negative score means inverted.

fn skewness(it: impl Iterator<Item = f64> + Clone) -> f64 {
    let (n, s) = it.clone().fold((0.0, 0.0), |a, v| (a.0 + 1.0, a.1 + v));
    if n < 3.0 {
        return 0.0;
    }
    let mean = s / n;
    let (m2, m3) = it.fold((0.0, 0.0), |a, v| {
        let d = v - mean;
        (a.0 + d * d, a.1 + d * d * d)
    });
    let (m2, m3) = (m2 / n, m3 / n);
    if m2 <= 0.0 {
        0.0
    } else {
        m3 / m2.powf(1.5)
    }
}

/// Polarity score of a band-passed breathing signal: positive = inspiration upward, negative =
/// inverted, near 0 = undecided (symmetric breaths).
pub fn polarity_score(band: &[f32]) -> f64 {
    let x = band.iter().map(|v| *v as f64);
    let dx = band.windows(2).map(|w| (w[1] - w[0]) as f64);
    skewness(dx) + skewness(x)
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
        assert!(polarity_score(&x) > 0.5, "{}", polarity_score(&x));
        assert!(polarity_score(&inv) < -0.5);
        let sine: Vec<f32> = (0..1200).map(|i| (i as f32 * 0.1571).sin()).collect();
        assert!(polarity_score(&sine).abs() < 0.05);
    }
}
