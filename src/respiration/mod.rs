//! Respiration: from depth frames to a breathing signal, and from the signal to rate, apneas and
//! quality.
//!
//! ```text
//! DepthFrame ─▶ roi::ChestTracker ─▶ ChestSample (displacement mm, presence)
//!             ─▶ analyzer::BreathAnalyzer: resample ─▶ band-pass ─▶ held window
//!                ─▶ artefacts out (coughs, jolts) ─▶ rate (FFT + breath detection), pauses,
//!                   quality ─▶ window::BreathWindow
//!                ─▶ apnea changes (stillness tracker)
//! ```
//! A recording (a CSV in any units) is first made ready by [`normalise::normalise`], then fed to
//! the same [`analyzer::BreathAnalyzer`] at the fixed rate. Nothing here classifies: the
//! [`window::BreathWindow`] is plain data for the breathing stage downstream.

pub mod analyzer;
pub mod apnea;
pub mod artefact;
pub mod breaths;
pub mod chain;
mod chest;
pub mod filter;
pub mod normalise;
pub mod plane;
pub mod polarity;
pub mod quality;
pub mod resample;
pub mod roi;
pub mod spectrum;
pub mod window;

pub use analyzer::{BreathAnalyzer, Schedule, Step};
pub use normalise::{normalise, AnalysisError, Normalised};
pub use window::BreathWindow;

/// Settings of the signal side: `[respiration]` of `firmware-config/kiosk.toml`, read as is
/// (missing keys take [`Default`], unknown keys are rejected) and checked by [`crate::config`].
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RespirationSettings {
    /// Fixed rate the displacement signal is resampled to, Hz.
    pub resample_hz: f64,
    /// Length of the analysis window, s.
    pub window_s: f64,
    /// Time between two readings, s.
    pub update_interval_s: f64,
    /// Band-pass lower edge, Hz.
    pub band_low_hz: f64,
    /// Band-pass upper edge, Hz.
    pub band_high_hz: f64,
    /// Shortest pause reported as an apnea, s.
    pub apnea_min_s: f64,
}

impl Default for RespirationSettings {
    fn default() -> Self {
        Self {
            resample_hz: 10.0,
            window_s: 120.0,
            update_interval_s: 2.0,
            band_low_hz: 0.05,
            band_high_hz: 1.0,
            apnea_min_s: 10.0,
        }
    }
}
