//! Signal-quality index (SQI) of one analysis window, in 0..=1.
//!
//! `quality = max(q_snr, q_line) × max(0, 1 − clipped − 3 · frozen) × (1 − invalid_fraction)` where
//! * `q_snr = 1 − exp(−snr / 4)` and `snr = std(band-passed window) / σ_noise`: breathing-band power
//!   against the noise band. `σ_noise` is the white-noise level estimated robustly from second
//!   differences of the unfiltered signal (`1.4826 · median|Δ²x| / √6`); breathing has almost no power
//!   at that scale, so this measures what lies above the band. `snr` 10 gives 0.92, 3 gives 0.53,
//!   noise alone (snr ≈ 0.4) about 0.1.
//! * `q_line` ([`line_quality`]): how far the spectral peak stands above what noise alone puts
//!   there. A weak but steady rhythm (a chest 2-3 m from a depth camera) has a low `snr` but a clear
//!   line; noise alone has neither.
//! * `clipped`: share of samples in runs of 1 s up to [`FROZEN_RUN_S`] of exactly repeated values
//!   (an impedance lead saturating at a rail for part of each breath: the breaths stay countable,
//!   so the index falls only in proportion); `frozen`: share in longer runs (a frozen or
//!   disconnected sensor), weighted three times: a third of the window frozen leaves nothing to
//!   trust;
//! * `invalid_fraction`: share of samples that were invalid input (no chest found, long gaps).
//!
//! The window analysis then multiplies the index by `1 − artefact_fraction`, the share of samples
//! inside movement artefacts ([`super::artefact`]: coughs, jolts), which show no breathing.

use super::spectrum::RATE_BAND_BPM;

/// Breakdown of the quality index.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Quality {
    /// The index, 0..=1.
    pub index: f32,
    /// Breathing-band standard deviation over noise σ.
    pub snr: f32,
    /// Noise σ in signal units.
    pub noise_sigma: f32,
    /// Share of flat (repeated-value) samples: clipped and frozen together.
    pub flat_fraction: f32,
    /// Share of invalid samples.
    pub invalid_fraction: f32,
    /// Share of samples inside movement artefacts ([`super::artefact`]); the index is multiplied
    /// by one minus it after [`assess`].
    pub artefact_fraction: f32,
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

/// Flat runs at least this long are a frozen or disconnected sensor, not clipped breaths, s: no
/// breath of the searched band lasts this long at a rail.
pub const FROZEN_RUN_S: f64 = 8.0;

/// Where a window shows the chest, from one pass over its samples ([`coverage`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Coverage {
    /// Share of invalid samples (no input: no chest found, holes).
    pub invalid: f32,
    /// Share of valid samples in runs of exactly repeated values lasting 1 s up to
    /// [`FROZEN_RUN_S`]: a lead at a rail for part of each breath.
    pub clipped: f32,
    /// Share in longer such runs: a frozen or disconnected sensor.
    pub frozen: f32,
}

/// One pass over a window's `raw` values and `valid` flags (sampled at `hz`): the [`Coverage`]
/// shares, and into `seen` (cleared first) for each sample whether it shows the chest: valid, and
/// not in a run of at least 1 s of exactly the same value (clipped or frozen). Stillness there is
/// the sensor's, not the chest's: an impedance lead clipped at 0 and 1 for a third of each slow
/// breath showed "apneas" of 10 s between breaths a person counts plainly (BIDMC record 5). Held
/// invalid samples repeat too; they are counted as invalid, not as flat, and end a flat run.
pub fn coverage(raw: &[f32], valid: &[bool], hz: f64, seen: &mut Vec<bool>) -> Coverage {
    let n = raw.len().min(valid.len());
    seen.clear();
    seen.extend_from_slice(&valid[..n]);
    if n == 0 {
        return Coverage::default();
    }
    let min_run = (hz.round() as usize).max(2);
    let frozen_run = ((FROZEN_RUN_S * hz) as usize).max(min_run + 1);
    let (mut invalid, mut clipped, mut frozen, mut start) = (0usize, 0usize, 0usize, 0usize);
    for i in 1..=n {
        if !valid[i - 1] {
            invalid += 1;
        }
        if i < n && raw[i] == raw[i - 1] && valid[i] && valid[i - 1] {
            continue;
        }
        let run = i - start;
        if run >= min_run {
            if run >= frozen_run {
                frozen += run;
            } else {
                clipped += run;
            }
            seen[start..i].iter_mut().for_each(|v| *v = false);
        }
        start = i;
    }
    let share = |k: usize| k as f32 / n as f32;
    Coverage {
        invalid: share(invalid),
        clipped: share(clipped),
        frozen: share(frozen),
    }
}

/// Compute the quality of a window: `raw` unfiltered (invalid samples held), `band` band-passed,
/// both the same length, sampled at `hz`, with the window's [`coverage`]; `prominence` is the
/// share of the band's power in its spectral peak
/// ([`super::spectrum::SpectralPeak::prominence`], 0 when none).
pub fn assess(
    raw: &[f32],
    band: &[f32],
    cover: Coverage,
    hz: f64,
    prominence: f32,
    scratch: &mut Vec<f32>,
) -> Quality {
    let n = raw.len().min(band.len());
    if n < 3 {
        return Quality::default();
    }
    let Coverage {
        invalid,
        clipped,
        frozen,
    } = cover;
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
    let q_line = line_quality(prominence, n as f64 / hz);
    let q_flat = (1.0 - clipped - 3.0 * frozen).max(0.0);
    Quality {
        index: (q_snr.max(q_line) * q_flat * (1.0 - invalid)).clamp(0.0, 1.0),
        snr,
        noise_sigma: sigma,
        flat_fraction: clipped + frozen,
        invalid_fraction: invalid,
        artefact_fraction: 0.0,
    }
}

/// Share of the band's power that noise alone puts in the ±0.03 Hz around a spectral peak of a
/// `duration_s` window: the peak's width (0.06 Hz plus the Hann main lobe, 2 / duration) over the
/// band searched ([`super::spectrum::RATE_BAND_BPM`], 0.93 Hz).
pub fn noise_prominence(duration_s: f64) -> f32 {
    let band_hz = (RATE_BAND_BPM.1 - RATE_BAND_BPM.0) as f64 / 60.0;
    ((0.06 + 2.0 / duration_s.max(1.0)) / band_hz).min(1.0) as f32
}

/// Quality of a weak but steady rhythm, from how far the spectral peak's share of the band power
/// stands above what noise alone gives ([`noise_prominence`]): 0 up to [`LINE_NOISE_RATIO`] times
/// the noise share, 0.3 (the rate gate) at one more, rising toward 1. A depth camera at 2-3 m sees
/// a chest breath of a few tenths of a mm under a millimetre of sample noise: the band-power SNR is
/// near 1, yet the breathing line stands clear of the noise floor.
pub fn line_quality(prominence: f32, duration_s: f64) -> f32 {
    if duration_s < MIN_LINE_S {
        return 0.0;
    }
    let ratio = prominence / noise_prominence(duration_s);
    1.0 - (-LINE_SLOPE * (ratio - LINE_NOISE_RATIO).max(0.0)).exp()
}

/// Peak share over the noise share that noise alone does not reach (calibrated on white noise and
/// on the RSM's noise-only scenes: see the tests).
pub const LINE_NOISE_RATIO: f32 = 3.0;
/// Shortest window whose spectral line counts, s: a shorter window resolves the band into too few
/// bins to tell a breath from a chance peak (or a periodic artefact) on the line alone.
pub const MIN_LINE_S: f64 = 50.0;
/// Slope of [`line_quality`] above [`LINE_NOISE_RATIO`]: one unit more gives 0.3.
const LINE_SLOPE: f32 = 0.357;

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
    fn coverage_tells_clipped_from_frozen_and_held_samples_from_both() {
        // 10 Hz, 60 s: a rail of 2 s (clipped), a sensor stuck for 9 s (frozen, over 8 s), a
        // repeat of 0.9 s (too short to count), and 3 s without input holding the last value.
        let mut raw: Vec<f32> = (0..600).map(|i| (i as f32 * 0.21).sin()).collect();
        raw[50..70].iter_mut().for_each(|v| *v = 1.0);
        raw[200..290].iter_mut().for_each(|v| *v = -0.4);
        raw[350..359].iter_mut().for_each(|v| *v = 0.3);
        let mut valid = vec![true; 600];
        let held = raw[499];
        raw[500..530].iter_mut().for_each(|v| *v = held);
        valid[500..530].iter_mut().for_each(|v| *v = false);
        let mut seen = Vec::new();
        let c = coverage(&raw, &valid, 10.0, &mut seen);
        assert_eq!(c.clipped, 20.0 / 600.0);
        assert_eq!(c.frozen, 90.0 / 600.0);
        assert_eq!(c.invalid, 30.0 / 600.0);
        let unseen: Vec<usize> = (0..600).filter(|&i| !seen[i]).collect();
        let want: Vec<usize> = (50..70).chain(200..290).chain(500..530).collect();
        assert_eq!(unseen, want);
        // A flat window is all frozen and unseen; an empty one is nothing.
        let c = coverage(&[0.5; 100], &[true; 100], 10.0, &mut seen);
        assert_eq!((c.frozen, c.clipped), (1.0, 0.0));
        assert!(seen.iter().all(|s| !s));
        assert_eq!(coverage(&[], &[], 10.0, &mut seen), Coverage::default());
    }

    #[test]
    fn clean_breathing_scores_high_noise_and_clipping_low() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let noise = Normal::new(0.0f32, 0.1).expect("valid");
        let band: Vec<f32> = (0..1200).map(|i| 3.0 * (i as f32 * 0.157).sin()).collect();
        let raw: Vec<f32> = band.iter().map(|v| v + noise.sample(&mut rng)).collect();
        let valid = vec![true; 1200];
        let (mut s, mut seen) = (Vec::new(), Vec::new());
        let cover =
            |raw: &[f32], valid: &[bool], seen: &mut Vec<bool>| coverage(raw, valid, 10.0, seen);
        let all = cover(&raw, &valid, &mut seen);
        let good = assess(&raw, &band, all, 10.0, 0.0, &mut s);
        assert!(good.index > 0.95, "{good:?}");
        let pure_noise: Vec<f32> = (0..1200).map(|_| noise.sample(&mut rng)).collect();
        let lp: Vec<f32> = pure_noise.iter().map(|v| v * 0.4).collect();
        let c = cover(&pure_noise, &valid, &mut seen);
        assert!(assess(&pure_noise, &lp, c, 10.0, 0.0, &mut s).index < 0.15);
        let clipped: Vec<f32> = raw.iter().map(|v| v.clamp(-1.0, 1.0)).collect();
        let c = cover(&clipped, &valid, &mut seen);
        let q = assess(&clipped, &band, c, 10.0, 0.0, &mut s);
        assert!(q.flat_fraction > 0.4 && q.index < 0.6, "{q:?}");
        let half_invalid: Vec<bool> = (0..1200).map(|i| i % 2 == 0).collect();
        let c = cover(&raw, &half_invalid, &mut seen);
        assert!((assess(&raw, &band, c, 10.0, 0.0, &mut s).invalid_fraction - 0.5).abs() < 1e-6);
    }
}

#[cfg(test)]
mod line_tests {
    use super::*;
    use crate::respiration::filter::BandPass;
    use crate::respiration::spectrum::SpectralRate;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Normal};

    /// Band-passed white noise of `seconds` at 10 Hz (filter settled on 60 s first), as the
    /// analyser's windows see it.
    fn noise_window(seed: u64, seconds: f64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let noise = Normal::new(0.0f64, 1.0).expect("valid");
        let mut bp = BandPass::new(0.05, 1.0, 10.0);
        let n = (seconds * 10.0) as usize;
        let x: Vec<f32> = (0..600 + n)
            .map(|_| bp.process(noise.sample(&mut rng)) as f32)
            .collect();
        x[600..].to_vec()
    }

    /// Calibration of [`LINE_NOISE_RATIO`]: over 400 noise windows of each length, the peak's share
    /// reaches at most 3.9 times [`noise_prominence`] (99th percentile about 3), so no noise window
    /// passes the rate gate on its line alone; a breath whose band power matches the noise's (sine amplitude 1.5 σ)
    /// (the 2-3 m camera recordings) passes in every window.
    #[test]
    fn noise_alone_never_passes_the_gate_and_a_weak_steady_breath_does() {
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        for seconds in [50.0, 60.0, 120.0] {
            let mut sr = SpectralRate::new(1200, 10.0);
            let worst = (0..400)
                .map(|s| {
                    sr.peak(&noise_window(s, seconds))
                        .map_or(0.0, |p| p.prominence)
                })
                .map(|p| line_quality(p, seconds))
                .fold(0.0f32, f32::max);
            assert!(worst < 0.3, "{seconds} s: noise reached {worst}");
            assert_eq!(line_quality(0.9, MIN_LINE_S - 1.0), 0.0);
            for s in 0..40u64 {
                let noise = noise_window(1000 + s, seconds);
                let std = (noise.iter().map(|v| v * v).sum::<f32>() / noise.len() as f32).sqrt();
                let rate_hz = rand::Rng::gen_range(&mut rng, 0.15..0.35f32);
                let x: Vec<f32> = noise
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        v + 1.5 * std * (std::f32::consts::TAU * rate_hz * i as f32 / 10.0).sin()
                    })
                    .collect();
                let p = sr.peak(&x).expect("a peak");
                let q = line_quality(p.prominence, seconds);
                assert!(
                    (p.rate_bpm - 60.0 * rate_hz).abs() < 1.0,
                    "{seconds} s: {p:?}"
                );
                assert!(q >= 0.3, "{seconds} s, seed {s}: {p:?} gives {q}");
            }
        }
    }
}
