//! The chest X-ray CNN, run with tract: `[1, 1, 128, 128]` → covid probability and an 8 × 8
//! class-activation map.
//!
//! The shipped model is int8 in QDQ form (QuantizeLinear/DequantizeLinear, per-tensor u8), the form
//! tract runs correctly and at float speed; see `models/xray/MODEL_CARD.md`.

use super::preprocess::{INPUT_LEN, PREPROCESS_VERSION, SIDE};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use tract_onnx::prelude::*;

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

/// Why a model cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum XrayModelError {
    /// The file cannot be read.
    #[error("{origin}: cannot read the model: {reason}")]
    Read {
        /// File path or "built-in model".
        origin: String,
        /// What went wrong.
        reason: String,
    },
    /// Not an X-ray model tract can run with the expected inputs and outputs.
    #[error("{origin}: not a usable X-ray model: {reason}")]
    Invalid {
        /// File path or "built-in model".
        origin: String,
        /// What went wrong.
        reason: String,
    },
    /// Inference failed.
    #[error("X-ray model run failed: {0}")]
    Run(String),
}

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
    plan: Arc<TypedSimplePlan>,
    probability_out: usize,
    cam_out: usize,
    info: ModelInfo,
    origin: String,
}

impl XrayModel {
    /// The model built into the program.
    pub fn embedded() -> Result<Self, XrayModelError> {
        let info = serde_json::from_str(EMBEDDED_INFO).map_err(|e| XrayModelError::Invalid {
            origin: "built-in model".into(),
            reason: format!("model.json: {e}"),
        })?;
        Self::from_bytes(EMBEDDED_MODEL, info, "built-in model")
    }

    /// The ONNX model at `path`, described by `info`.
    pub fn load(path: &Path, info: ModelInfo) -> Result<Self, XrayModelError> {
        let origin = path.display().to_string();
        let bytes = crate::model_file::read_limited(path, MAX_MODEL_BYTES).map_err(|reason| {
            XrayModelError::Read {
                origin: origin.clone(),
                reason,
            }
        })?;
        Self::from_bytes(&bytes, info, &origin)
    }

    /// Reads `model.json` from `path` (a file or the folder holding it).
    pub fn read_info(path: &Path) -> Result<ModelInfo, XrayModelError> {
        let file = if path.is_dir() {
            path.join("model.json")
        } else {
            path.to_path_buf()
        };
        let origin = file.display().to_string();
        let text = std::fs::read_to_string(&file).map_err(|e| XrayModelError::Read {
            origin: origin.clone(),
            reason: e.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| XrayModelError::Invalid {
            origin,
            reason: e.to_string(),
        })
    }

    /// Parses, checks and optimises an ONNX model held in memory; `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], info: ModelInfo, origin: &str) -> Result<Self, XrayModelError> {
        let invalid = |reason: String| XrayModelError::Invalid {
            origin: origin.to_string(),
            reason,
        };
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
        let model = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .map_err(|e| invalid(format!("{e:#}")))?;
        // Find the outputs by name before optimisation (which may rename nothing, but reorder).
        let names: Vec<String> = model
            .output_outlets()
            .map_err(|e| invalid(e.to_string()))?
            .iter()
            .map(|o| model.node(o.node).name.clone())
            .collect();
        let find = |wanted: &str| {
            model
                .output_outlets()
                .ok()
                .and_then(|outs| {
                    outs.iter().position(|o| {
                        model.outlet_label(*o) == Some(wanted) || model.node(o.node).name == wanted
                    })
                })
                .ok_or_else(|| {
                    invalid(format!(
                        "no output named '{wanted}' (outputs: {})",
                        names.join(", ")
                    ))
                })
        };
        let probability_out = find("probability")?;
        let cam_out = find("cam")?;
        let plan = model
            .with_input_fact(0, f32::fact([1, 1, SIDE, SIDE]).into())
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| invalid(format!("{e:#}")))?;
        let this = Self {
            plan,
            probability_out,
            cam_out,
            info,
            origin: origin.to_string(),
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

    /// Where the model came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Runs one prepared input (`[1, 1, 128, 128]` row-major).
    pub fn run(&self, input: &[f32]) -> Result<Prediction, XrayModelError> {
        let run = |e: TractError| XrayModelError::Run(e.to_string());
        if input.len() != INPUT_LEN {
            return Err(XrayModelError::Run(format!(
                "input has {} values, expected {INPUT_LEN}",
                input.len()
            )));
        }
        let t = Tensor::from_shape(&[1, 1, SIDE, SIDE], input).map_err(run)?;
        let out = self.plan.run(tvec!(t.into())).map_err(run)?;
        let prob = out
            .get(self.probability_out)
            .ok_or_else(|| XrayModelError::Run("missing probability output".into()))?
            .to_plain_array_view::<f32>()
            .map_err(run)?;
        let cam_view = out
            .get(self.cam_out)
            .ok_or_else(|| XrayModelError::Run("missing cam output".into()))?
            .to_plain_array_view::<f32>()
            .map_err(run)?;
        if prob.len() != 1 || cam_view.len() != CAM_LEN {
            return Err(XrayModelError::Run(format!(
                "outputs have {} and {} values, expected 1 and {CAM_LEN}",
                prob.len(),
                cam_view.len()
            )));
        }
        let mut cam = [0.0f32; CAM_LEN];
        for (c, v) in cam.iter_mut().zip(cam_view.iter()) {
            *c = *v;
        }
        let probability = prob.iter().next().copied().unwrap_or(f32::NAN);
        if !probability.is_finite() {
            return Err(XrayModelError::Run("probability is not finite".into()));
        }
        Ok(Prediction { probability, cam })
    }
}
