//! The chest X-ray CNN, run by [`crate::inference`]: `[1, 1, 128, 128]` → covid probability and
//! an 8 × 8 class-activation map.
//!
//! The shipped model is weight-only int8: each conv weight is stored as u8 (one scale and zero
//! point per tensor) behind a `DequantizeLinear`, activations are float. tract folds those
//! `DequantizeLinear`s into float constants when it optimises the model, so the int8 file runs
//! exactly the float graph's operators at the float graph's speed (tested below); see
//! `models/xray/MODEL_CARD.md`.

use super::preprocess::{INPUT_LEN, PREPROCESS_VERSION, SIDE};
use crate::inference::{read_limited, ModelError, OnnxModel, BUILT_IN};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The model built into the program (`models/xray/xray_int8.onnx`).
pub static EMBEDDED_MODEL: &[u8] = include_bytes!("../../models/xray/xray_int8.onnx");
/// Its description (`models/xray/model.json`).
pub static EMBEDDED_INFO: &str = include_str!("../../models/xray/model.json");

/// Largest model file accepted, bytes.
pub const MAX_MODEL_BYTES: u64 = 64 << 20;
/// Side of the class-activation map.
pub const CAM_SIDE: usize = 8;
/// Cells in the class-activation map.
pub const CAM_LEN: usize = CAM_SIDE * CAM_SIDE;

/// What `model.json` says about a model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInfo {
    /// Model name, e.g. `xray-cnn-int8`.
    pub name: String,
    /// Model version (changes with every retraining).
    pub version: String,
    /// Operating threshold on the covid probability chosen in training (see the model card).
    pub threshold: f32,
    /// The preprocessing contract it was trained with; must equal [`PREPROCESS_VERSION`].
    pub preprocess_version: u32,
}

/// One prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Calibrated probability of the covid class, 0-1.
    pub probability: f32,
    /// Class-activation map, row-major, row 0 at the top: each cell's contribution to the logit
    /// (positive = towards covid). Cell `(r, c)` covers input pixels `16r..16r+16`, `16c..16c+16`.
    pub cam: [f32; CAM_LEN],
}

/// A loaded, optimised X-ray model.
#[derive(Debug, Clone)]
pub struct XrayModel {
    model: OnnxModel,
    probability_out: usize,
    cam_out: usize,
    info: ModelInfo,
}

impl XrayModel {
    /// The model built into the program.
    pub fn embedded() -> Result<Self, ModelError> {
        let info = serde_json::from_str(EMBEDDED_INFO)
            .map_err(|e| ModelError::invalid(BUILT_IN, format!("model.json: {e}")))?;
        Self::from_bytes(EMBEDDED_MODEL, info, BUILT_IN)
    }

    /// The ONNX model at `path` (at most [`MAX_MODEL_BYTES`]), described by `info`.
    pub fn load(path: &Path, info: ModelInfo) -> Result<Self, ModelError> {
        let bytes = read_limited(path, MAX_MODEL_BYTES)?;
        Self::from_bytes(&bytes, info, &path.display().to_string())
    }

    /// Reads `model.json` from `path` (a file or the folder holding it).
    pub fn read_info(path: &Path) -> Result<ModelInfo, ModelError> {
        let file = if path.is_dir() {
            path.join("model.json")
        } else {
            path.to_path_buf()
        };
        let origin = file.display().to_string();
        let text = std::fs::read_to_string(&file).map_err(|e| ModelError::Read {
            origin: origin.clone(),
            reason: e.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| ModelError::invalid(&origin, e.to_string()))
    }

    /// Parses, checks and optimises an ONNX model held in memory; `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], info: ModelInfo, origin: &str) -> Result<Self, ModelError> {
        let invalid = |reason: String| ModelError::invalid(origin, reason);
        if info.preprocess_version != PREPROCESS_VERSION {
            return Err(invalid(format!(
                "trained with preprocessing version {}, this program has version {PREPROCESS_VERSION}",
                info.preprocess_version
            )));
        }
        if !(info.threshold > 0.0 && info.threshold < 1.0) {
            return Err(invalid(format!(
                "threshold {} is not inside (0, 1)",
                info.threshold
            )));
        }
        let model = OnnxModel::from_bytes(bytes, origin, &[1, 1, SIDE, SIDE])?;
        let this = Self {
            probability_out: model.find_output("probability")?,
            cam_out: model.find_output("cam")?,
            model,
            info,
        };
        // A plain ramp must give a probability and a finite map.
        let probe: Vec<f32> = (0..INPUT_LEN)
            .map(|i| (i % SIDE) as f32 / SIDE as f32 * 4.0 - 2.0)
            .collect();
        let p = this.run(&probe).map_err(|e| invalid(e.to_string()))?;
        if !(0.0..=1.0).contains(&p.probability) || p.cam.iter().any(|v| !v.is_finite()) {
            return Err(invalid(format!(
                "output probability {} or activation map is not usable",
                p.probability
            )));
        }
        Ok(this)
    }

    /// What the model is.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Where the model came from: its path, or "built-in model".
    pub fn origin(&self) -> &str {
        self.model.origin()
    }

    /// SHA-256 of the model file, 64 lowercase hex digits.
    pub fn sha256(&self) -> &str {
        self.model.sha256()
    }

    /// The operators tract runs for this model (see [`OnnxModel::op_names`]).
    pub fn op_names(&self) -> Vec<String> {
        self.model.op_names()
    }

    /// Runs one prepared input (`[1, 1, 128, 128]` row-major).
    pub fn run(&self, input: &[f32]) -> Result<Prediction, ModelError> {
        if input.len() != INPUT_LEN {
            return Err(ModelError::Run(format!(
                "input has {} values, expected {INPUT_LEN}",
                input.len()
            )));
        }
        let out = self.model.run(input)?;
        let prob = &out
            .get(self.probability_out)
            .ok_or_else(|| ModelError::Run("missing probability output".into()))?
            .values;
        let cam_values = &out
            .get(self.cam_out)
            .ok_or_else(|| ModelError::Run("missing cam output".into()))?
            .values;
        if prob.len() != 1 || cam_values.len() != CAM_LEN {
            return Err(ModelError::Run(format!(
                "outputs have {} and {} values, expected 1 and {CAM_LEN}",
                prob.len(),
                cam_values.len()
            )));
        }
        let mut cam = [0.0f32; CAM_LEN];
        cam.copy_from_slice(cam_values);
        let probability = prob[0];
        if !probability.is_finite() {
            return Err(ModelError::Run("probability is not finite".into()));
        }
        Ok(Prediction { probability, cam })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float_model() -> XrayModel {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/xray");
        let info = XrayModel::read_info(&dir).unwrap();
        XrayModel::load(&dir.join("xray_float.onnx"), info).unwrap()
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    #[test]
    fn the_int8_weights_are_folded_at_load_into_the_float_graph() {
        let int8 = XrayModel::embedded().unwrap();
        let ops = int8.op_names();
        assert!(
            !ops.iter()
                .any(|o| o.contains("Quantize") || o.contains("QLinear") || o.contains("Integer")),
            "quantization ops left after optimisation: {ops:?}"
        );
        // Same operators, node for node, as the float model: no extra pass per image.
        assert_eq!(sorted(ops), sorted(float_model().op_names()));
    }

    #[test]
    fn int8_and_float_agree_within_the_stated_tolerance() {
        // The model card states max |delta p| 0.0233 on holdout and 0.0310 on tune (onnxruntime);
        // on a ramp, a flat field and a checkerboard tract's int8 and float runs stay within 0.035.
        let (int8, float) = (XrayModel::embedded().unwrap(), float_model());
        let inputs: [Vec<f32>; 3] = [
            (0..INPUT_LEN)
                .map(|i| (i % SIDE) as f32 / 32.0 - 2.0)
                .collect(),
            vec![0.5; INPUT_LEN],
            (0..INPUT_LEN)
                .map(|i| {
                    if (i / SIDE / 16 + i % SIDE / 16) % 2 == 0 {
                        2.0
                    } else {
                        -2.0
                    }
                })
                .collect(),
        ];
        for x in &inputs {
            let (a, b) = (int8.run(x).unwrap(), float.run(x).unwrap());
            let d = (a.probability - b.probability).abs();
            assert!(
                d <= 0.035,
                "int8 {} vs float {}",
                a.probability,
                b.probability
            );
            assert_ne!(a.cam, b.cam, "int8 weights should differ from float ones");
        }
    }
}
