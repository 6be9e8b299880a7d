//! Breathing-pattern classification: what a classifier sees of one analysis window
//! ([`WindowAnalysis`]), the classifier trait ([`PatternClassifier`]), the rule-based baseline
//! ([`baseline::RuleBaseline`]) and the session verdict ([`session::SessionVerdict`]).
//!
//! The product's classifier is the BI-AT-GRU ([`gru::BiAtGru`], run with tract on the tensor of
//! [`model_input`]); the baseline stays in the product as the named comparator
//! (`[classifier] kind = "rule_baseline"` or `--classifier rule_baseline`).

pub mod baseline;
pub mod gru;
pub mod model_input;
pub mod session;

use crate::respiration::apnea::Pause;
use crate::respiration::breaths::DetectedBreath;
use crate::types::PatternScores;

/// Everything known about one analysis window, borrowed from the analyser's preallocated buffers.
#[derive(Debug, Clone, Copy)]
pub struct WindowAnalysis<'a> {
    /// Sample rate of `samples`, Hz.
    pub hz: f64,
    /// Time of the newest sample, s on the stream's clock.
    pub t_end_s: f64,
    /// Band-passed displacement at the fixed rate, oldest first (mm live; normalised units offline,
    /// where a typical breath is about 8 units peak to trough).
    pub samples: &'a [f32],
    /// Breaths detected in the window, oldest first.
    pub breaths: &'a [DetectedBreath],
    /// Motionless pauses of at least [`PAUSE_MIN_S`] inside the window, oldest first (clipped to it).
    pub pauses: &'a [Pause],
    /// Shortest pause that counts as an apnea, s.
    pub apnea_min_s: f64,
    /// Rate of the dominant spectral peak, breaths/min.
    pub spectral_rate_bpm: Option<f32>,
    /// Fraction of band power in the spectral peak (0..1; high = one steady rhythm).
    pub spectral_prominence: f32,
    /// Rate from counted breaths, breaths/min.
    pub count_rate_bpm: Option<f32>,
    /// The reading's rate (see [`crate::respiration::window`] for the rule), breaths/min.
    pub rate_bpm: Option<f32>,
    /// Signal-quality index, 0..=1.
    pub quality: f32,
    /// Robust peak-to-trough amplitude of `samples` (95th − 5th percentile), signal units.
    pub amplitude: f32,
}

/// Shortest motionless interval listed in [`WindowAnalysis::pauses`], s.
pub const PAUSE_MIN_S: f64 = 3.0;

impl WindowAnalysis<'_> {
    /// Length of the window, s.
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / self.hz
    }
}

/// A breathing-pattern classifier: scores of the six patterns for one window.
pub trait PatternClassifier: Send {
    /// Short stable name, reported with every reading (e.g. `"rule_baseline"`).
    fn name(&self) -> &'static str;
    /// Scores (non-negative, summing to 1) for the window.
    fn classify(&mut self, w: &WindowAnalysis<'_>) -> PatternScores;
}

/// The classifier named by `kind`, its model loaded, checked and optimised once.
pub fn build_classifier(
    kind: &crate::config::ClassifierKind,
) -> Result<Box<dyn PatternClassifier>, crate::inference::ModelError> {
    use crate::config::ClassifierKind;
    Ok(match kind {
        ClassifierKind::RuleBaseline => Box::new(baseline::RuleBaseline),
        ClassifierKind::BiAtGru { model } => {
            let m = match model {
                Some(path) => gru::BreathingModel::load(path),
                None => gru::BreathingModel::embedded(),
            }?;
            log::info!("breathing model: {}", m.origin());
            Box::new(gru::BiAtGru::new(m))
        }
    })
}
