//! A whole recording made ready for analysis: any units, offset and polarity in; a validated,
//! centred, polarity-fixed signal scaled to about a chest breath in mm out.
//!
//! Steps: (1) reject bad input with an [`AnalysisError`]; (2) subtract the median and band-pass;
//! (3) estimate polarity ([`super::polarity`]) and flip if inverted; (4) scale so the band-passed
//! signal's robust peak-to-trough amplitude (95th − 5th percentile) is [`NORMALISED_AMPLITUDE`]
//! (about a chest breath in mm, so the live thresholds apply). The analysis itself is the live
//! one, on a recording's schedule: see `crate::pipeline::recording`.

use super::filter::BandPass;
use super::polarity::polarity_score;
use super::RespirationSettings;

/// Shortest recording analysed, s.
pub const MIN_RECORDING_S: f64 = 55.0;
/// Lowest and highest fixed rate accepted, Hz (the breathing band needs ≥ 2 Hz sampling; more than
/// 100 Hz is pointless for breathing and would make the windows needlessly large).
pub const MIN_RATE_HZ: f64 = 2.0;
/// See [`MIN_RATE_HZ`].
pub const MAX_RATE_HZ: f64 = 100.0;
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
    #[error("recording is {seconds:.1} s long; at least 55 s are needed")]
    TooShort {
        /// Length, s.
        seconds: f64,
    },
    /// No variation at all (or only in a handful of samples).
    #[error("signal is constant: no breathing movement to analyse")]
    Constant,
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

/// A recording ready for analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalised {
    /// The centred, polarity-fixed, scaled samples at `settings.resample_hz`.
    pub samples: Vec<f32>,
    /// Whether the signal was flipped (inspiration was downward).
    pub polarity_inverted: bool,
}

/// Validates `samples` (at `hz`, which must equal `settings.resample_hz`) and normalises them by the
/// steps in the module doc. Errors on a bad rate, non-finite samples, fewer than 60 s, or a
/// constant signal; never panics.
pub fn normalise(
    samples: &[f32],
    hz: f64,
    settings: &RespirationSettings,
) -> Result<Normalised, AnalysisError> {
    validate(samples, hz, settings)?;
    let (samples, polarity_inverted) = centre_and_scale(samples, settings)?;
    Ok(Normalised {
        samples,
        polarity_inverted,
    })
}

/// Median-free, band-passed, polarity-fixed and scaled copy of `samples`.
fn centre_and_scale(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_recordings_are_named_errors() {
        let s = RespirationSettings::default();
        let ok: Vec<f32> = (0..700).map(|i| (i as f32 * 0.15).sin()).collect();
        assert_eq!(
            normalise(&ok, 25.0, &s).unwrap_err(),
            AnalysisError::BadRate {
                hz: 25.0,
                expected: 10.0
            }
        );
        let mut nan = ok.clone();
        nan[5] = f32::NAN;
        assert_eq!(
            normalise(&nan, 10.0, &s).unwrap_err(),
            AnalysisError::NonFinite { index: 5 }
        );
        assert!(matches!(
            normalise(&ok[..500], 10.0, &s),
            Err(AnalysisError::TooShort { .. })
        ));
        assert_eq!(
            normalise(&[3.0; 700], 10.0, &s).unwrap_err(),
            AnalysisError::Constant
        );
    }

    #[test]
    fn a_falling_signal_is_flipped_and_scaled_to_a_breath_in_mm() {
        let s = RespirationSettings::default();
        // A depth camera's distance in metres: falls on inhalation, offset 1.1 m, 6 mm breaths.
        let dist: Vec<f32> = (0..1200)
            .map(|i| {
                let t = i as f32 / 10.0;
                let breath = 0.5 * (1.0 - (2.0 * std::f32::consts::PI * 0.25 * t).cos());
                1.1 - 0.006 * breath.powi(3)
            })
            .collect();
        let n = normalise(&dist, 10.0, &s).expect("normalised");
        assert!(n.polarity_inverted);
        let mut sorted = n.samples.clone();
        sorted.sort_by(f32::total_cmp);
        let span = percentile(&sorted, 0.95) - percentile(&sorted, 0.05);
        assert!((span - NORMALISED_AMPLITUDE).abs() < 2.0, "{span}");
    }
}
