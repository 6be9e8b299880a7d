//! Parity of the shipped breathing model: tract, as the product runs it, reproduces the scores the
//! exporter (onnxruntime on the same ONNX file, see `training/breathing/export.py`) wrote to
//! `models/breathing/golden.json`, within 1e-4 per score.

use edge_screen::breathing::gru::BreathingModel;
use edge_screen::breathing::model_input::INPUT_LEN;
use edge_screen::inference::ModelError;
use serde::Deserialize;
use std::path::Path;

/// Largest allowed difference between a tract score and the exporter's.
const TOLERANCE: f32 = 1e-4;

#[derive(Deserialize)]
struct Golden {
    input_shape: Vec<usize>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    input: Vec<f32>,
    scores: Vec<f32>,
}

/// The shipped model, or another one named by `EDGE_SCREEN_BREATHING_MODEL` (with its
/// `golden.json` beside it) to check a candidate.
fn model_path() -> std::path::PathBuf {
    std::env::var_os("EDGE_SCREEN_BREATHING_MODEL").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("models/breathing/bi_at_gru.onnx"),
        std::path::PathBuf::from,
    )
}

fn golden() -> Golden {
    let path = model_path().with_file_name("golden.json");
    let text = std::fs::read_to_string(&path).expect("golden.json is committed");
    serde_json::from_str(&text).expect("golden.json parses")
}

fn check(model: &mut BreathingModel, g: &Golden) {
    assert_eq!(g.input_shape, [1, 120, 11]);
    assert!(g.cases.len() >= 7, "every class and a flat case");
    let mut report = Vec::new();
    for case in &g.cases {
        let input: [f32; INPUT_LEN] = case.input.as_slice().try_into().expect("1320 inputs");
        let got = model.run(&input).expect("runs");
        assert_eq!(case.scores.len(), 6, "{}", case.name);
        let worst = got
            .iter()
            .zip(&case.scores)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        report.push((case.name.clone(), worst, got, case.scores.clone()));
    }
    let bad: Vec<_> = report.iter().filter(|r| r.1 > TOLERANCE).collect();
    assert!(
        bad.is_empty(),
        "{} of {} cases differ by more than {TOLERANCE:e} (name, max difference, tract, exporter): {bad:#?}",
        bad.len(),
        report.len()
    );
}

#[test]
fn embedded_model_matches_the_exporter() {
    let mut m = BreathingModel::embedded().expect("the built-in model loads");
    check(&mut m, &golden());
}

#[test]
fn model_file_matches_the_exporter() {
    let path = model_path();
    let mut m = BreathingModel::load(&path).expect("the committed model loads");
    check(&mut m, &golden());
    if std::env::var_os("EDGE_SCREEN_BREATHING_MODEL").is_some() {
        return;
    }
    let embedded = edge_screen::breathing::gru::EMBEDDED_MODEL;
    assert_eq!(
        std::fs::read(&path).expect("reads"),
        embedded,
        "the built-in model is the committed file"
    );
    assert!(embedded.len() < 1 << 20, "model under 1 MB");
}

#[test]
fn bad_model_files_are_named_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.onnx");
    let e = BreathingModel::load(&missing).expect_err("missing");
    assert!(matches!(e, ModelError::Read { .. }));
    assert!(e.to_string().contains("missing.onnx"), "{e}");

    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"this is not a protobuf at all").expect("write");
    let e = BreathingModel::load(&garbage).expect_err("garbage");
    assert!(matches!(e, ModelError::Invalid { .. }), "{e}");
    assert!(e.to_string().contains("garbage.onnx"), "{e}");

    let bytes = edge_screen::breathing::gru::EMBEDDED_MODEL;
    let truncated = dir.path().join("truncated.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let e = BreathingModel::load(&truncated).expect_err("truncated");
    assert!(e.to_string().contains("truncated.onnx"), "{e}");

    let empty = dir.path().join("empty.onnx");
    std::fs::write(&empty, b"").expect("write");
    assert!(BreathingModel::load(&empty).is_err());
}
