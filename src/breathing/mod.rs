//! Breathing-pattern classification: the classifier trait ([`PatternClassifier`]) that scores one
//! analysed window ([`BreathWindow`], from the respiration stage), the reading it becomes
//! ([`read_window`]), and the verdict over many windows ([`session::SessionVerdict`]).
//!
//! The product's classifier is the BI-AT-GRU ([`gru::BiAtGru`], run with tract on the tensor of
//! [`model_input`]); the rule-based baseline ([`baseline::RuleBaseline`]) stays in the product as
//! the named comparator (`[classifier] kind = "rule_baseline"` or `--classifier rule_baseline`).

pub mod baseline;
pub mod gru;
pub mod model_input;
pub mod session;

use crate::respiration::window::{BreathWindow, MIN_RATE_QUALITY};
use crate::types::{BreathingReading, PatternScores};

/// Which breathing classifier runs (`[classifier]` of `kiosk.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassifierKind {
    /// The rule-based baseline (`rule_baseline`).
    RuleBaseline,
    /// The BI-AT-GRU (`bi_at_gru`) run with tract.
    BiAtGru {
        /// ONNX file to load; `None` = the model built into the program.
        model: Option<std::path::PathBuf>,
    },
}

impl ClassifierKind {
    /// The accepted `kind` names, for messages.
    pub const NAMES: &'static str = "\"bi_at_gru\" or \"rule_baseline\"";

    /// Parse a `classifier.kind` value (with an optional model path).
    pub fn parse(kind: &str, model: Option<std::path::PathBuf>) -> Option<Self> {
        match kind {
            "rule_baseline" => Some(ClassifierKind::RuleBaseline),
            "bi_at_gru" => Some(ClassifierKind::BiAtGru { model }),
            _ => None,
        }
    }
}

/// A breathing-pattern classifier: scores of the six patterns for one window.
pub trait PatternClassifier: Send {
    /// Short stable name, reported with every reading (e.g. `"rule_baseline"`).
    fn name(&self) -> &'static str;
    /// SHA-256 of the model file behind it, if it runs one (records name it; pins check it).
    fn model_sha256(&self) -> Option<&str> {
        None
    }
    /// Scores (non-negative, summing to 1) for the window.
    fn classify(&mut self, w: &BreathWindow<'_>) -> PatternScores;
}

/// Scores pulled toward uniform when the quality is below [`MIN_RATE_QUALITY`], in proportion to the
/// shortfall, so a poor signal never yields a confident label.
pub fn temper_scores(scores: PatternScores, quality: f32) -> PatternScores {
    let w = (quality / MIN_RATE_QUALITY).clamp(0.0, 1.0);
    PatternScores::from_evidence(scores.0.map(|s| w * s + (1.0 - w) / 6.0))
}

/// The reading of one window: its rates and quality, and the classifier's scores tempered by the
/// quality ([`temper_scores`]).
pub fn read_window(
    classifier: &mut dyn PatternClassifier,
    w: &BreathWindow<'_>,
) -> BreathingReading {
    let scores = temper_scores(classifier.classify(w), w.quality);
    BreathingReading {
        t_s: w.t_end_s,
        rate_bpm: w.rate_bpm,
        spectral_rate_bpm: w.spectral_rate_bpm,
        count_rate_bpm: w.count_rate_bpm,
        pattern: scores.best().0,
        scores,
        quality: w.quality,
        artefacts: w.artefacts.len(),
        classifier: classifier.name(),
    }
}

/// The classifier named by `kind`, its model loaded, checked and optimised once.
pub fn build_classifier(
    kind: &ClassifierKind,
) -> Result<Box<dyn PatternClassifier>, crate::inference::ModelError> {
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
