//! The one module that runs ONNX models, and the only one that imports tract. A model is read
//! (from a file, size-limited, or from bytes), given its fixed input shape, optimised once into a
//! plan and then run many times: one f32 input in, every output out as f32 values with their
//! shapes. What a model must compute (the breathing scores, the X-ray probability and map) is
//! checked by the wrappers that use it, [`crate::breathing::gru::BreathingModel`] and
//! [`crate::xray::model::XrayModel`]. Every model carries the SHA-256 of its bytes, so that a site
//! can pin the exact file it validated. Models are parsed by tract-onnx with one operator of
//! edge-screen's own registered ([`framework`]): `GRU` nodes run on the kernel in [`gru`], about
//! three times faster than tract's own on the breathing model; every other operator is tract's.

pub mod gru;

use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use tract_onnx::prelude::*;

/// How errors and [`OnnxModel::origin`] name a model compiled into the program.
pub const BUILT_IN: &str = "built-in model";

/// Why a model cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file cannot be read (missing, unreadable, or over the size limit).
    #[error("{origin}: cannot read the model: {reason}")]
    Read {
        /// File path or "built-in model".
        origin: String,
        /// What went wrong.
        reason: String,
    },
    /// Not an ONNX model that can be run with the expected input, or its outputs are not what
    /// the caller needs.
    #[error("{origin}: not a usable model: {reason}")]
    Invalid {
        /// File path or "built-in model".
        origin: String,
        /// What went wrong.
        reason: String,
    },
    /// Inference failed.
    #[error("model run failed: {0}")]
    Run(String),
}

impl ModelError {
    /// A [`ModelError::Invalid`] for the model named `origin`.
    pub fn invalid(origin: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            origin: origin.to_string(),
            reason: reason.into(),
        }
    }
}

/// One output of a run: values in row-major order, and the shape they fill.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The values, row-major; `values.len()` is the product of `shape`.
    pub values: Vec<f32>,
}

/// How an output is found by name: its ONNX output name (tract's outlet label) or the name of the
/// node that produces it.
#[derive(Debug, Clone)]
struct OutputName {
    label: Option<String>,
    node: String,
}

/// A loaded, optimised ONNX model with a fixed f32 input shape.
#[derive(Debug, Clone)]
pub struct OnnxModel {
    plan: Arc<TypedSimplePlan>,
    input_shape: Vec<usize>,
    /// Names of the outputs, taken before optimisation (which keeps the outputs' order but not
    /// necessarily their labels).
    output_names: Vec<OutputName>,
    /// Shapes of the outputs after optimisation, where every dimension is known.
    output_shapes: Vec<Option<Vec<usize>>>,
    origin: String,
    sha256: String,
}

/// The bytes of the file at `path`, or why they cannot be used (unreadable, or more than
/// `max_bytes`). The size is checked before the file is read, so a wrong path (a disk image, a
/// video) fails fast with a clear reason instead of filling memory.
pub fn read_limited(path: &Path, max_bytes: u64) -> Result<Vec<u8>, ModelError> {
    let read = |reason: String| ModelError::Read {
        origin: path.display().to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| read(e.to_string()))?;
    if meta.len() > max_bytes {
        return Err(read(format!(
            "{} bytes is more than the {max_bytes} allowed",
            meta.len()
        )));
    }
    std::fs::read(path).map_err(|e| read(e.to_string()))
}

/// tract-onnx as the product runs it: every operator tract's, except `GRU` nodes, which
/// [`gru::register`] hands to edge-screen's own kernel where they are of its form.
pub fn framework() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    gru::register(&mut onnx);
    onnx
}

/// SHA-256 of `bytes` as 64 lowercase hex digits.
fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl OnnxModel {
    /// The ONNX model in the file at `path` (at most `max_bytes`), with input shape
    /// `input_shape`; errors name the file.
    pub fn load(path: &Path, max_bytes: u64, input_shape: &[usize]) -> Result<Self, ModelError> {
        let bytes = read_limited(path, max_bytes)?;
        Self::from_bytes(&bytes, &path.display().to_string(), input_shape)
    }

    /// Parses an ONNX model held in memory, fixes its single input to f32 `input_shape` and
    /// optimises it; `origin` names it in errors (a path, or [`BUILT_IN`]).
    pub fn from_bytes(
        bytes: &[u8],
        origin: &str,
        input_shape: &[usize],
    ) -> Result<Self, ModelError> {
        let invalid = |reason: String| ModelError::invalid(origin, reason);
        let model = framework()
            .model_for_read(&mut &bytes[..])
            .map_err(|e| invalid(format!("{e:#}")))?;
        let output_names = model
            .output_outlets()
            .map_err(|e| invalid(e.to_string()))?
            .iter()
            .map(|o| OutputName {
                label: model.outlet_label(*o).map(str::to_string),
                node: model.node(o.node).name.clone(),
            })
            .collect();
        let plan = model
            .with_input_fact(0, f32::fact(input_shape).into())
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| invalid(format!("{e:#}")))?;
        let output_shapes = plan
            .model()
            .output_outlets()
            .map_err(|e| invalid(e.to_string()))?
            .iter()
            .map(|o| {
                let fact = plan.model().outlet_fact(*o)?;
                Ok(fact.shape.as_concrete().map(|s| s.to_vec()))
            })
            .collect::<TractResult<_>>()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            plan,
            input_shape: input_shape.to_vec(),
            output_names,
            output_shapes,
            origin: origin.to_string(),
            sha256: sha256_hex(bytes),
        })
    }

    /// Where the model came from: a file path or [`BUILT_IN`].
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// SHA-256 of the model's bytes, 64 lowercase hex digits (what `sha256sum` prints).
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The input shape the model was fixed to.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// Number of values one input holds (the product of [`Self::input_shape`]).
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Number of outputs.
    pub fn output_count(&self) -> usize {
        self.output_shapes.len()
    }

    /// The shape of output `index` as the optimised model declares it; `None` where a dimension
    /// is not known before a run, or there is no such output.
    pub fn output_shape(&self, index: usize) -> Option<&[usize]> {
        self.output_shapes.get(index)?.as_deref()
    }

    /// The operators of the optimised plan, one per node in evaluation order, by tract's names
    /// (e.g. `OptMatMul`, `OptMaxPool`, `Const`). Shows what tract made of a file: a weight-only
    /// int8 model whose `DequantizeLinear`s were folded into constants has none left here.
    pub fn op_names(&self) -> Vec<String> {
        self.plan
            .model()
            .nodes()
            .iter()
            .map(|n| n.op.name().to_string())
            .collect()
    }

    /// Position, in [`Self::run`]'s result, of the output named `name` (its ONNX output name or
    /// the name of the node producing it); [`ModelError::Invalid`] listing the outputs if none is.
    pub fn find_output(&self, name: &str) -> Result<usize, ModelError> {
        self.output_names
            .iter()
            .position(|o| o.label.as_deref() == Some(name) || o.node == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.output_names.iter().map(|o| o.node.as_str()).collect();
                ModelError::invalid(
                    &self.origin,
                    format!("no output named '{name}' (outputs: {})", names.join(", ")),
                )
            })
    }

    /// Runs one input (row-major, [`Self::input_len`] values) and returns every output, in the
    /// model's order. Each call runs in a fresh run state, so no run sees another's (a tract run
    /// state is a streaming session whose recurrent ops keep their hidden state between runs).
    pub fn run(&self, input: &[f32]) -> Result<Vec<Output>, ModelError> {
        let run = |e: TractError| ModelError::Run(e.to_string());
        if input.len() != self.input_len() {
            return Err(ModelError::Run(format!(
                "input has {} values, expected {}",
                input.len(),
                self.input_len()
            )));
        }
        let t = Tensor::from_shape(&self.input_shape, input).map_err(run)?;
        // `SimplePlan::run` makes a new `SimpleState` for this call alone.
        let outputs = self.plan.run(tvec!(t.into())).map_err(run)?;
        outputs
            .iter()
            .map(|o| {
                let view = o.to_plain_array_view::<f32>().map_err(run)?;
                Ok(Output {
                    shape: view.shape().to_vec(),
                    values: view.iter().copied().collect(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breathing::gru::EMBEDDED_MODEL;

    const SHAPE: [usize; 3] = [1, 120, 11];

    #[test]
    fn sha256_is_lowercase_hex_of_the_bytes() {
        // FIPS 180-2 test vectors.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let m = OnnxModel::from_bytes(EMBEDDED_MODEL, BUILT_IN, &SHAPE).expect("loads");
        assert_eq!(m.sha256(), sha256_hex(EMBEDDED_MODEL));
        assert_eq!(m.origin(), BUILT_IN);
    }

    #[test]
    fn a_file_is_read_within_its_limit_and_named_in_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.onnx");
        std::fs::write(&path, EMBEDDED_MODEL).expect("write");
        let m = OnnxModel::load(&path, EMBEDDED_MODEL.len() as u64, &SHAPE).expect("loads");
        assert_eq!(m.origin(), path.display().to_string());
        assert_eq!(m.sha256(), sha256_hex(EMBEDDED_MODEL));

        let e = OnnxModel::load(&path, 1000, &SHAPE).expect_err("too large");
        assert!(matches!(e, ModelError::Read { .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("m.onnx") && text.contains("more than the 1000"),
            "{text}"
        );

        let e = OnnxModel::from_bytes(b"not onnx", "x.onnx", &SHAPE).expect_err("garbage");
        assert!(matches!(e, ModelError::Invalid { .. }), "{e}");
        assert!(
            e.to_string().starts_with("x.onnx: not a usable model"),
            "{e}"
        );
    }

    #[test]
    fn runs_give_shaped_outputs_and_check_the_input_length() {
        let m = OnnxModel::from_bytes(EMBEDDED_MODEL, BUILT_IN, &SHAPE).expect("loads");
        assert_eq!(m.input_len(), 1320);
        assert_eq!(m.output_count(), 1);
        assert_eq!(m.output_shape(0), Some(&[1, 6][..]));
        assert_eq!(m.output_shape(1), None);
        let out = m.run(&[0.5; 1320]).expect("runs");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].shape, [1, 6]);
        assert_eq!(out[0].values.len(), 6);
        let e = m.run(&[0.5; 10]).expect_err("short input");
        assert!(
            e.to_string().contains("input has 10 values, expected 1320"),
            "{e}"
        );
    }

    #[test]
    fn outputs_are_found_by_name() {
        let m = OnnxModel::from_bytes(EMBEDDED_MODEL, BUILT_IN, &SHAPE).expect("loads");
        let e = m.find_output("no-such-output").expect_err("absent");
        let text = e.to_string();
        assert!(
            text.contains("built-in model") && text.contains("no output named 'no-such-output'"),
            "{text}"
        );
        let name = m.output_names[0].node.clone();
        assert_eq!(m.find_output(&name).expect("found"), 0);
    }
}
