//! The BI-AT-GRU breathing-pattern classifier (bidirectional GRU with attention pooling, trained
//! only on RSM data; see `models/breathing/MODEL_CARD.md`), run by [`crate::inference`].
//!
//! The ONNX model is loaded, checked and optimised once ([`BreathingModel::embedded`] or
//! [`BreathingModel::load`]); each window then costs one preparation
//! ([`super::model_input::InputPrep`]) and one run of the optimised plan. A window the model cannot
//! be given (too short, constant, non-finite) gets uniform scores: "insufficient signal", never a
//! confident label.

use super::model_input::{InputPrep, FEATURES, INPUT_LEN, STEPS};
use super::PatternClassifier;
use crate::inference::{ModelError, OnnxModel, BUILT_IN};
use crate::respiration::window::BreathWindow;
use crate::types::{Pattern, PatternScores};
use std::path::Path;

/// The model built into the program (`models/breathing/bi_at_gru.onnx`).
pub static EMBEDDED_MODEL: &[u8] = include_bytes!("../../models/breathing/bi_at_gru.onnx");

/// Largest model file accepted, bytes.
pub const MAX_MODEL_BYTES: u64 = 16 << 20;

/// The model's input shape: one window of [`STEPS`] steps × [`FEATURES`] features.
const INPUT_SHAPE: [usize; 3] = [1, STEPS, FEATURES];

/// A loaded, optimised breathing model: input `[1, 120, 11]` f32, output `[1, 6]` probabilities.
#[derive(Debug)]
pub struct BreathingModel {
    /// The optimised model. Each window runs in a fresh run state ([`OnnxModel::run`] makes one
    /// per call): a tract run state is a streaming session, and its recurrent (scan) ops carry
    /// their final hidden state into the next run of the same state, so reusing one would let
    /// every window leak into the next.
    model: OnnxModel,
}

impl BreathingModel {
    /// The model built into the program.
    pub fn embedded() -> Result<Self, ModelError> {
        Self::from_bytes(EMBEDDED_MODEL, BUILT_IN)
    }

    /// The ONNX model at `path` (at most [`MAX_MODEL_BYTES`]).
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        Self::checked(OnnxModel::load(path, MAX_MODEL_BYTES, &INPUT_SHAPE)?)
    }

    /// Parse, check and optimise an ONNX model held in memory; `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self, ModelError> {
        Self::checked(OnnxModel::from_bytes(bytes, origin, &INPUT_SHAPE)?)
    }

    /// `model` if it gives six pattern scores that are probabilities.
    fn checked(model: OnnxModel) -> Result<Self, ModelError> {
        let origin = model.origin().to_string();
        let invalid = |reason: String| ModelError::invalid(&origin, reason);
        if model.output_count() != 1 {
            return Err(invalid(format!(
                "{} outputs, expected 1",
                model.output_count()
            )));
        }
        match model.output_shape(0) {
            Some([1, 6]) => {}
            Some(shape) => {
                return Err(invalid(format!(
                    "output shape {shape:?}, expected [1, 6] (six pattern scores)"
                )))
            }
            None => {
                return Err(invalid(
                    "output shape not fixed, expected [1, 6] (six pattern scores)".into(),
                ))
            }
        }
        let mut model = Self { model };
        // A flat window must give finite probabilities summing to 1.
        let mut probe = [0.0f32; INPUT_LEN];
        for s in 0..STEPS {
            probe[s * FEATURES + FEATURES - 1] = 1.0;
        }
        let p = model.run(&probe).map_err(|e| invalid(e.to_string()))?;
        let sum: f32 = p.iter().sum();
        if p.iter().any(|v| !v.is_finite() || *v < 0.0) || (sum - 1.0).abs() > 1e-3 {
            return Err(invalid(format!(
                "outputs {p:?} are not probabilities (they must be a softmax)"
            )));
        }
        Ok(model)
    }

    /// Where the model came from: its path, or "built-in model".
    pub fn origin(&self) -> &str {
        self.model.origin()
    }

    /// SHA-256 of the model file, 64 lowercase hex digits.
    pub fn sha256(&self) -> &str {
        self.model.sha256()
    }

    /// Scores of one prepared window.
    pub fn run(&mut self, input: &[f32; INPUT_LEN]) -> Result<[f32; 6], ModelError> {
        let out = self.model.run(input)?;
        let values = out
            .first()
            .map(|o| &o.values[..])
            .ok_or_else(|| ModelError::Run("the model gave no output".into()))?;
        let mut p = [0.0f32; 6];
        for (o, v) in p.iter_mut().zip(values) {
            *o = *v;
        }
        Ok(p)
    }
}

/// The BI-AT-GRU as a [`PatternClassifier`].
#[derive(Debug)]
pub struct BiAtGru {
    model: BreathingModel,
    prep: InputPrep,
    buf: Box<[f32; INPUT_LEN]>,
}

impl BiAtGru {
    /// A classifier running `model`.
    pub fn new(model: BreathingModel) -> Self {
        Self {
            model,
            prep: InputPrep::new(),
            buf: Box::new([0.0; INPUT_LEN]),
        }
    }

    /// Scores for `w`, or why the model could not be given the window.
    pub fn try_classify(&mut self, w: &BreathWindow<'_>) -> Result<PatternScores, String> {
        self.prep
            .prepare(w, &mut self.buf)
            .map_err(|e| e.to_string())?;
        let p = self.model.run(&self.buf).map_err(|e| e.to_string())?;
        if p.iter().any(|v| !v.is_finite()) {
            return Err("model gave a non-finite score".into());
        }
        Ok(apnea_gate(PatternScores::from_evidence(p), w.has_apnea()))
    }
}

/// The central-apnea gate, a stated rule on top of the model: central apnea means breathing that
/// stops for at least 10 s, so it is reported only for a window in which the apnea detector found
/// such a pause. In a window without one, the central-apnea score is spread evenly over the other
/// five patterns: their order is kept, and a model that was sure of central apnea yields a
/// low-confidence verdict rather than a confident other label. (Cheyne-Stokes is not gated: its
/// troughs can be hypopnoeas rather than apneas.) `training/breathing/train.py` applies the same rule to the
/// reported metrics, using the detector's result stored with every window.
pub fn apnea_gate(scores: PatternScores, apnea_seen: bool) -> PatternScores {
    if apnea_seen {
        return scores;
    }
    let ca = Pattern::CentralApnea.index();
    let moved = scores.0[ca] / 5.0;
    let mut s = scores.0;
    for (i, v) in s.iter_mut().enumerate() {
        *v = if i == ca { 0.0 } else { *v + moved };
    }
    PatternScores(s)
}

impl PatternClassifier for BiAtGru {
    fn name(&self) -> &'static str {
        "bi_at_gru"
    }

    fn model_sha256(&self) -> Option<&str> {
        Some(self.model.sha256())
    }

    fn classify(&mut self, w: &BreathWindow<'_>) -> PatternScores {
        match self.try_classify(w) {
            Ok(s) => s,
            Err(e) => {
                log::debug!("bi_at_gru: insufficient signal: {e}");
                PatternScores::from_evidence([1.0; 6])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(samples: &[f32], hz: f64) -> BreathWindow<'_> {
        BreathWindow {
            hz,
            t_end_s: samples.len() as f64 / hz,
            samples,
            breaths: &[],
            pauses: &[],
            hypopneas: &[],
            artefacts: &[],
            apnea_min_s: 10.0,
            spectral_rate_bpm: None,
            spectral_prominence: 0.0,
            count_rate_bpm: None,
            rate_bpm: None,
            quality: 1.0,
            amplitude: 1.0,
            unseen_s: 0.0,
        }
    }

    #[test]
    fn unusable_windows_get_uniform_scores_and_a_reason() {
        let mut c = BiAtGru::new(BreathingModel::embedded().expect("built-in model loads"));
        let uniform = PatternScores::from_evidence([1.0; 6]);
        let mut nan: Vec<f32> = (0..1200).map(|i| (i as f32 * 0.15).sin()).collect();
        nan[600] = f32::NAN;
        let cases: [(&[f32], f64, &str); 4] = [
            (&nan, 10.0, "not a finite number"),
            (&[0.5; 1200], 10.0, "constant"),
            (&nan[..100], 10.0, "at least 30 s"),
            (&nan[..700], 0.5, "outside 2-100 Hz"),
        ];
        for (x, hz, why) in cases {
            let w = window(x, hz);
            let e = c.try_classify(&w).expect_err(why);
            assert!(e.contains(why), "{e}");
            assert_eq!(c.classify(&w), uniform, "{why}");
        }
    }

    #[test]
    fn a_usable_window_gives_probabilities() {
        let mut c = BiAtGru::new(BreathingModel::embedded().expect("built-in model loads"));
        let x: Vec<f32> = (0..1200).map(|i| (i as f32 * 0.15).sin()).collect();
        let s = c.try_classify(&window(&x, 10.0)).expect("classified");
        let sum: f32 = s.0.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5 && s.0.iter().all(|v| *v >= 0.0));
        assert_eq!(c.name(), "bi_at_gru");
    }

    /// Windows are independent: a window's scores do not depend on which windows ran before it.
    /// (A reused tract run state carried the GRU's final hidden state into the next run and
    /// changed scores by up to 0.24.)
    #[test]
    fn scores_do_not_depend_on_the_previous_window() {
        let mut m = BreathingModel::embedded().expect("built-in model loads");
        let mut a = [0.0f32; INPUT_LEN];
        let mut b = [0.0f32; INPUT_LEN];
        for s in 0..STEPS {
            for k in 0..FEATURES - 1 {
                let t = (s * (FEATURES - 1) + k) as f32 / 10.0;
                a[s * FEATURES + k] = (t * 2.0 * std::f32::consts::PI / 4.0).sin();
                b[s * FEATURES + k] = (t * 2.0 * std::f32::consts::PI / 2.0).sin() * 3.0;
            }
            a[s * FEATURES + FEATURES - 1] = 1.0;
            b[s * FEATURES + FEATURES - 1] = 1.0;
        }
        let first = m.run(&a).expect("runs");
        for _ in 0..3 {
            m.run(&b).expect("runs");
        }
        let again = m.run(&a).expect("runs");
        let fresh = BreathingModel::embedded()
            .expect("loads")
            .run(&a)
            .expect("runs");
        for i in 0..6 {
            assert_eq!(first[i], again[i], "score {i}: {first:?} then {again:?}");
            assert_eq!(
                first[i], fresh[i],
                "score {i}: {first:?} vs fresh {fresh:?}"
            );
        }
    }

    #[test]
    fn central_apnea_needs_a_detected_apnea() {
        let sure = PatternScores([0.001, 0.001, 0.001, 0.001, 0.006, 0.99]);
        assert_eq!(apnea_gate(sure, true), sure);
        let g = apnea_gate(sure, false);
        assert_eq!(g.get(Pattern::CentralApnea), 0.0);
        assert!((g.0.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        // The others keep their order, and none becomes confident.
        assert_eq!(g.best().0, Pattern::CheyneStokes);
        assert!(g.best().1 < 0.21, "{g:?}");
        let x: Vec<f32> = (0..1200).map(|i| (i as f32 * 0.15).sin()).collect();
        let mut w = window(&x, 10.0);
        assert!(!w.has_apnea());
        let pauses = [
            crate::types::ApneaInterval {
                start_s: 10.0,
                end_s: 19.0,
            },
            crate::types::ApneaInterval {
                start_s: 40.0,
                end_s: 50.0,
            },
        ];
        w.pauses = &pauses[..1];
        assert!(!w.has_apnea(), "9 s is not an apnea");
        w.pauses = &pauses;
        assert!(w.has_apnea());
    }
}
