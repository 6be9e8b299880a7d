//! Offline analysis of a whole recording already resampled to `settings.resample_hz`, in any units,
//! offset and polarity: validate, normalise, fix the polarity, then run the live chain over it and
//! combine the windows into one verdict.
//!
//! Steps: (1) reject bad input with an [`AnalysisError`]; (2) subtract the median and band-pass;
//! (3) estimate polarity ([`super::polarity`]) and flip if inverted; (4) scale so the band-passed
//! signal's robust peak-to-trough amplitude (95th − 5th percentile) is [`NORMALISED_AMPLITUDE`]
//! (about a chest breath in mm, so the live thresholds apply); (5) settle the filters on the first
//! 60 s played backwards ([`LEAD_IN_S`]), then feed the samples through the same [`SignalChain`] as live and analyse every full `window_s` window at a hop of
//! `max(update_interval_s, 10 s)` plus the final one (or one window over the whole recording when
//! 60 s ≤ length < `window_s`); (6) session verdict ([`SessionVerdict`]): mean scores, median rate.
//!
//! `rate_bpm` is `None` when fewer than half of the windows have a rate (each window has none below
//! quality 0.3 or with fewer than 4 breaths) or the median quality is below 0.3. Apneas are the union
//! of the windows' pauses, merged where they overlap, of at least `apnea_min_s`.

use super::analyzer::temper_scores;
use super::chain::SignalChain;
use super::filter::BandPass;
use super::polarity::polarity_score;
use super::window::MIN_RATE_QUALITY;
use super::RespirationSettings;
use crate::breathing::session::SessionVerdict;
use crate::breathing::PatternClassifier;
use crate::types::{ApneaInterval, Pattern, PatternScores};

/// Shortest recording analysed, s.
pub const MIN_RECORDING_S: f64 = 60.0;
/// Lowest and highest fixed rate accepted, Hz (the breathing band needs ≥ 2 Hz sampling; more than
/// 100 Hz is pointless for breathing and would make the windows needlessly large).
pub const MIN_RATE_HZ: f64 = 2.0;
/// See [`MIN_RATE_HZ`].
pub const MAX_RATE_HZ: f64 = 100.0;
/// Length of the mirrored lead-in that settles the filters before the first sample, s.
pub const LEAD_IN_S: f64 = 60.0;
/// Robust breath amplitude after normalisation (signal units ≈ mm).
pub const NORMALISED_AMPLITUDE: f32 = 8.0;

/// Why a recording cannot be analysed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalysisError {
    /// The sample rate is outside 2-100 Hz or differs from `settings.resample_hz`.
    #[error(
        "sample rate {hz} Hz is invalid (expected {expected} Hz, the configured resample rate, within 2-100 Hz)"
    )]
    BadRate {
        /// Rate given, Hz.
        hz: f64,
        /// Rate expected, Hz.
        expected: f64,
    },
    /// A sample is NaN or infinite.
    #[error("sample {index} is not a finite number")]
    NonFinite {
        /// Index of the first bad sample.
        index: usize,
    },
    /// Shorter than [`MIN_RECORDING_S`].
    #[error("recording is {seconds:.1} s long; at least 60 s are needed")]
    TooShort {
        /// Length, s.
        seconds: f64,
    },
    /// No variation at all (or only in a handful of samples).
    #[error("signal is constant: no breathing movement to analyse")]
    Constant,
}

/// The verdict on a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingAnalysis {
    /// Most likely pattern (best of `scores`).
    pub pattern: Pattern,
    /// Mean window scores, summing to 1.
    pub scores: PatternScores,
    /// Median window rate, breaths/min; `None` when not meaningful (see the module doc).
    pub rate_bpm: Option<f32>,
    /// Median window quality, 0..=1.
    pub quality: f32,
    /// Pauses of at least `apnea_min_s`, s from the first sample.
    pub apneas: Vec<ApneaInterval>,
    /// Whether the signal was flipped (inspiration was downward).
    pub polarity_inverted: bool,
    /// Number of windows analysed.
    pub windows: usize,
}

fn percentile(sorted: &[f32], p: f64) -> f32 {
    let i = ((sorted.len().saturating_sub(1)) as f64 * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0.0)
}

fn validate(samples: &[f32], hz: f64, settings: &RespirationSettings) -> Result<(), AnalysisError> {
    let expected = settings.resample_hz;
    let plausible = (MIN_RATE_HZ..=MAX_RATE_HZ).contains(&hz);
    if !plausible || (hz - expected).abs() > 1e-6 * expected {
        return Err(AnalysisError::BadRate { hz, expected });
    }
    if let Some(index) = samples.iter().position(|v| !v.is_finite()) {
        return Err(AnalysisError::NonFinite { index });
    }
    let seconds = samples.len() as f64 / hz;
    if seconds + 1e-9 < MIN_RECORDING_S {
        return Err(AnalysisError::TooShort { seconds });
    }
    Ok(())
}

/// Median-free, band-passed, polarity-fixed and scaled copy of `samples`.
fn normalise(
    samples: &[f32],
    settings: &RespirationSettings,
) -> Result<(Vec<f32>, bool), AnalysisError> {
    let hz = settings.resample_hz;
    let mut sorted = samples.to_vec();
    sorted.sort_by(f32::total_cmp);
    let median = percentile(&sorted, 0.5);
    let centred: Vec<f32> = samples.iter().map(|v| v - median).collect();
    let mut bp = BandPass::new(settings.band_low_hz, settings.band_high_hz, hz);
    let band: Vec<f32> = centred
        .iter()
        .map(|v| bp.process(*v as f64) as f32)
        .collect();
    let mut sb = band.clone();
    sb.sort_by(f32::total_cmp);
    let amp = percentile(&sb, 0.95) - percentile(&sb, 0.05);
    let magnitude = percentile(&sorted, 1.0)
        .abs()
        .max(percentile(&sorted, 0.0).abs());
    if amp.is_nan() || amp <= 1e-6 * magnitude || amp <= f32::MIN_POSITIVE {
        return Err(AnalysisError::Constant);
    }
    let inverted = polarity_score(&band) < 0.0;
    let k = if inverted {
        -NORMALISED_AMPLITUDE / amp
    } else {
        NORMALISED_AMPLITUDE / amp
    };
    Ok((centred.iter().map(|v| v * k).collect(), inverted))
}

/// Add `p` to the merged interval list.
fn merge(list: &mut Vec<ApneaInterval>, p: ApneaInterval) {
    if let Some(last) = list
        .iter_mut()
        .find(|a| a.start_s <= p.end_s && p.start_s <= a.end_s)
    {
        last.start_s = last.start_s.min(p.start_s);
        last.end_s = last.end_s.max(p.end_s);
    } else {
        list.push(p);
    }
}

/// Analyse a uniformly sampled recording (`hz` must equal `settings.resample_hz`; any units, offset and
/// polarity) with `classifier`. Errors on a bad rate, non-finite samples, fewer than 60 s, or a
/// constant signal; never panics.
pub fn analyze_series(
    samples: &[f32],
    hz: f64,
    settings: &RespirationSettings,
    classifier: &mut dyn PatternClassifier,
) -> Result<RecordingAnalysis, AnalysisError> {
    validate(samples, hz, settings)?;
    let (x, polarity_inverted) = normalise(samples, settings)?;
    let window_n = ((settings.window_s * hz).round() as usize)
        .max(8)
        .min(x.len());
    let hop_n = ((settings.update_interval_s.max(10.0) * hz).round() as usize).max(1);
    let mut core = SignalChain::new(settings);
    // Warm the filters up on the first 60 s played backwards (a mirror image continues the signal
    // smoothly), so the first window carries no start-up transient of the band-pass.
    let lead = x.len().min((LEAD_IN_S * hz).round() as usize);
    for (k, v) in x[..lead].iter().rev().enumerate() {
        core.push((k as f64 - lead as f64) / hz, Some(*v));
    }
    core.clear_samples();
    let mut session = SessionVerdict::new();
    let mut pauses: Vec<ApneaInterval> = Vec::new();
    for (i, v) in x.iter().enumerate() {
        core.push(i as f64 / hz, Some(*v));
        let n = i + 1;
        let full = n >= window_n;
        let at_hop = full && ((n - window_n) % hop_n == 0 || n == x.len());
        if !at_hop {
            continue;
        }
        let w = core.analyze();
        let scores = temper_scores(classifier.classify(&w), w.quality);
        session.add(&scores, w.rate_bpm, w.quality);
        for p in w.pauses {
            merge(&mut pauses, *p);
        }
    }
    let quality = session.quality();
    let rate_bpm = session.rate_bpm().filter(|_| quality >= MIN_RATE_QUALITY);
    pauses.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    let apneas = pauses
        .into_iter()
        .filter(|p| p.duration_s() >= settings.apnea_min_s)
        .collect();
    let scores = session.scores();
    Ok(RecordingAnalysis {
        pattern: scores.best().0,
        scores,
        rate_bpm,
        quality,
        apneas,
        polarity_inverted,
        windows: session.windows(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breathing::baseline::RuleBaseline;
    use crate::rsm::{Rsm, RsmParams};

    #[test]
    fn inverted_scaled_offset_rsm_gives_the_same_verdict() {
        let s = RespirationSettings::default();
        let rec = Rsm::new(RsmParams::typical(Pattern::CentralApnea), 4).sample(10.0, 300.0);
        let a = analyze_series(&rec.resp_mm, 10.0, &s, &mut RuleBaseline).expect("ok");
        // A depth-camera distance in metres: falls on inhalation, offset 1.1 m.
        let dist: Vec<f32> = rec.resp_mm.iter().map(|v| 1.1 - v / 1000.0).collect();
        let b = analyze_series(&dist, 10.0, &s, &mut RuleBaseline).expect("ok");
        assert!(!a.polarity_inverted && b.polarity_inverted);
        assert_eq!(a.pattern, Pattern::CentralApnea);
        assert_eq!(b.pattern, a.pattern);
        assert_eq!(a.apneas.len(), b.apneas.len());
        let truth: Vec<_> = rec
            .truth
            .apneas
            .iter()
            .filter(|x| x.duration_s() >= 10.0)
            .collect();
        assert!(!truth.is_empty());
        for t in truth {
            assert!(b.apneas.iter().any(|d| d.overlaps(t)), "missed {t:?}");
        }
        let (ra, rb) = (a.rate_bpm.unwrap_or(0.0), b.rate_bpm.unwrap_or(-9.0));
        assert!((ra - rb).abs() < 0.2, "{ra} vs {rb}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Arbitrary samples (NaN, infinities, huge values, constants) and rates never panic, and a
        /// result is always well-formed.
        #[test]
        fn never_panics(
            v in proptest::collection::vec(proptest::num::f32::ANY, 0..1400),
            hz in proptest::num::f64::ANY,
            fill in proptest::bool::ANY,
        ) {
            let s = RespirationSettings::default();
            let v = if fill { v.iter().map(|x| x.clamp(-1e6, 1e6)).map(|x| if x.is_nan() { 0.0 } else { x }).collect() } else { v };
            for rate in [hz, 10.0] {
                if let Ok(r) = analyze_series(&v, rate, &s, &mut RuleBaseline) {
                    let sum: f32 = r.scores.0.iter().sum();
                    proptest::prop_assert!((sum - 1.0).abs() < 1e-4);
                    proptest::prop_assert!((0.0..=1.0).contains(&r.quality));
                }
            }
        }
    }

    #[test]
    fn short_recording_is_analysed_as_one_window() {
        let s = RespirationSettings::default();
        let rec = Rsm::new(RsmParams::typical(Pattern::Tachypnea), 2).sample(10.0, 70.0);
        let a = analyze_series(&rec.resp_mm, 10.0, &s, &mut RuleBaseline).expect("ok");
        assert_eq!(a.windows, 1);
        assert_eq!(a.pattern, Pattern::Tachypnea);
        let want = rec.truth.mean_rate_bpm(0.0, 70.0).unwrap_or(0.0);
        assert!(
            (a.rate_bpm.unwrap_or(0.0) - want).abs() < 1.0,
            "{:?} vs {want}",
            a.rate_bpm
        );
    }
}
