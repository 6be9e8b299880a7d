//! Signal-quality index (SQI) of one analysis window, in 0..=1.
//!
//! `quality = q_snr × max(0, 1 − 3 · flat_fraction) × (1 − invalid_fraction)` where
//! * `q_snr = 1 − exp(−snr / 4)` and `snr = std(band-passed window) / σ_noise`: breathing-band power
//!   against the noise band. `σ_noise` is the white-noise level estimated robustly from second
//!   differences of the unfiltered signal (`1.4826 · median|Δ²x| / √6`); breathing has almost no power
//!   at that scale, so this measures what lies above the band. `snr` 10 gives 0.92, 3 gives 0.53,
//!   noise alone (snr ≈ 0.4) about 0.1.
//! * `flat_fraction`: share of samples in runs of at least 1 s of exactly repeated values
//!   (clipping, saturation, a frozen sensor); weighted three times because clipping also distorts
//!   the breaths it cuts: a third of the window clipped leaves nothing to trust;
//! * `invalid_fraction`: share of samples that were invalid input (no chest found, long gaps).

/// Breakdown of the quality index.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Quality {
    /// The index, 0..=1.
    pub index: f32,
    /// Breathing-band standard deviation over noise σ.
    pub snr: f32,
    /// Noise σ in signal units.
    pub noise_sigma: f32,
    /// Share of flat (repeated-value) samples.
    pub flat_fraction: f32,
    /// Share of invalid samples.
    pub invalid_fraction: f32,
}

/// Robust white-noise σ of `raw` from second differences; `scratch` is reused.
pub fn noise_sigma(raw: &[f32], scratch: &mut Vec<f32>) -> f32 {
    scratch.clear();
    scratch.extend(raw.windows(3).map(|w| (w[0] - 2.0 * w[1] + w[2]).abs()));
    if scratch.is_empty() {
        return 0.0;
    }
    let mid = scratch.len() / 2;
    let (_, m, _) = scratch.select_nth_unstable_by(mid, f32::total_cmp);
    1.4826 * *m / 6f32.sqrt()
}

/// Compute the quality of a window: `raw` unfiltered (invalid samples held), `band` band-passed,
/// `valid` flags, all the same length, sampled at `hz`.
pub fn assess(
    raw: &[f32],
    band: &[f32],
    valid: &[bool],
    hz: f64,
    scratch: &mut Vec<f32>,
) -> Quality {
    let n = raw.len().min(band.len()).min(valid.len());
    if n < 3 {
        return Quality::default();
    }
    let invalid = valid[..n].iter().filter(|v| !**v).count() as f32 / n as f32;
    let min_run = (hz as usize).max(2);
    let mut flat = 0usize;
    let mut run = 1usize;
    for i in 1..=n {
        // Held invalid samples repeat too; they are counted as invalid, not as flat.
        if i < n && raw[i] == raw[i - 1] && valid[i] && valid[i - 1] {
            run += 1;
        } else {
            if run >= min_run {
                flat += run;
            }
            run = 1;
        }
    }
    let flat = flat as f32 / n as f32;
    let mean = band[..n].iter().sum::<f32>() / n as f32;
    let std = (band[..n].iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n as f32).sqrt();
    let sigma = noise_sigma(&raw[..n], scratch);
    let snr = if sigma > 0.0 {
        std / sigma
    } else if std > 0.0 {
        100.0
    } else {
        0.0
    };
    let q_snr = 1.0 - (-snr / 4.0).exp();
    Quality {
        index: (q_snr * (1.0 - 3.0 * flat).max(0.0) * (1.0 - invalid)).clamp(0.0, 1.0),
        snr,
        noise_sigma: sigma,
        flat_fraction: flat,
        invalid_fraction: invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Normal};

    #[test]
    fn noise_sigma_recovers_gaussian_noise_under_a_slow_sine() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let noise = Normal::new(0.0f32, 0.2).expect("valid");
        let x: Vec<f32> = (0..1200)
            .map(|i| 3.0 * (i as f32 * 0.157).sin() + noise.sample(&mut rng))
            .collect();
        let s = noise_sigma(&x, &mut Vec::new());
        assert!((s - 0.2).abs() < 0.03, "{s}");
    }

    #[test]
    fn clean_breathing_scores_high_noise_and_clipping_low() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let noise = Normal::new(0.0f32, 0.1).expect("valid");
        let band: Vec<f32> = (0..1200).map(|i| 3.0 * (i as f32 * 0.157).sin()).collect();
        let raw: Vec<f32> = band.iter().map(|v| v + noise.sample(&mut rng)).collect();
        let valid = vec![true; 1200];
        let mut s = Vec::new();
        let good = assess(&raw, &band, &valid, 10.0, &mut s);
        assert!(good.index > 0.95, "{good:?}");
        let pure_noise: Vec<f32> = (0..1200).map(|_| noise.sample(&mut rng)).collect();
        let lp: Vec<f32> = pure_noise.iter().map(|v| v * 0.4).collect();
        assert!(assess(&pure_noise, &lp, &valid, 10.0, &mut s).index < 0.15);
        let clipped: Vec<f32> = raw.iter().map(|v| v.clamp(-1.0, 1.0)).collect();
        let q = assess(&clipped, &band, &valid, 10.0, &mut s);
        assert!(q.flat_fraction > 0.4 && q.index < 0.6, "{q:?}");
        let half_invalid: Vec<bool> = (0..1200).map(|i| i % 2 == 0).collect();
        assert!(
            (assess(&raw, &band, &half_invalid, 10.0, &mut s).invalid_fraction - 0.5).abs() < 1e-6
        );
    }
}
