//! The kiosk's X-ray path against the training code's golden files (`models/xray/golden/`,
//! written by `training/xray/train.py`):
//! * preprocessing: `src/xray/preprocess.rs` vs the numpy implementation, on synthetic gray
//!   images and on real radiographs decoded by `src/xray/decode.rs` (limit: `tolerance_input`,
//!   1e-4 per value);
//! * models: tract (float and int8) vs onnxruntime on the same inputs.

use edge_screen::xray::decode::decode_file;
use edge_screen::xray::model::{XrayModel, CAM_LEN};
use edge_screen::xray::preprocess::{prepare, INPUT_LEN};
use edge_screen::xray::GrayImage;
use std::path::{Path, PathBuf};

/// Probability limits: both runtimes run the same float math (only summation order differs). The
/// int8 model is weight-only: tract folds `(q - zero_point) * scale` into float weights at load,
/// onnxruntime computes the same `DequantizeLinear` per run, then both run float convs, so int8
/// is held to the float limits.
const FLOAT_P_TOL: f64 = 1e-4;
const INT8_P_TOL: f64 = 1e-4;
/// Limits on the activation map (logit units; the map spans about ±10).
const FLOAT_CAM_TOL: f64 = 1e-3;
const INT8_CAM_TOL: f64 = 1e-3;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/xray/golden")
}

fn json(name: &str) -> serde_json::Value {
    let p = golden_dir().join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn read_f32(name: &str) -> Vec<f32> {
    let bytes = std::fs::read(golden_dir().join(name)).unwrap();
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn read_f64(name: &str) -> Vec<f64> {
    let bytes = std::fs::read(golden_dir().join(name)).unwrap();
    bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
        .fold(0.0, f64::max)
}

/// The golden image as the kiosk sees it: synthetic pixels as given, real files decoded.
fn golden_image(img: &serde_json::Value) -> GrayImage {
    match img["kind"].as_str().unwrap() {
        "synthetic" => GrayImage {
            width: img["width"].as_u64().unwrap() as usize,
            height: img["height"].as_u64().unwrap() as usize,
            pixels: read_f64(img["gray"].as_str().unwrap()),
            format: "synthetic".into(),
            source: Default::default(),
        },
        _ => {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/data/xray")
                .join(img["path"].as_str().unwrap());
            let g = decode_file(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(g.width as u64, img["width"].as_u64().unwrap());
            assert_eq!(g.height as u64, img["height"].as_u64().unwrap());
            g
        }
    }
}

#[test]
fn preprocessing_matches_the_training_code() {
    let index = json("index.json");
    assert_eq!(
        index["preprocess_version"],
        edge_screen::xray::preprocess::PREPROCESS_VERSION
    );
    let tol = index["tolerance_input"].as_f64().unwrap();
    let images = index["images"].as_array().unwrap();
    assert!(images.len() >= 5, "too few golden images");
    for img in images {
        let name = img["name"].as_str().unwrap();
        let want = read_f32(img["input"].as_str().unwrap());
        assert_eq!(want.len(), INPUT_LEN, "{name}");
        let got = prepare(&golden_image(img)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let d = max_diff(&got.input, &want);
        assert!(d <= tol, "{name}: differs by {d:.3e} (limit {tol:.0e})");
    }
}

#[test]
fn tract_matches_onnxruntime_for_both_models() {
    let outputs = json("model_outputs.json");
    let dir = golden_dir().parent().unwrap().to_path_buf();
    let info = XrayModel::read_info(&dir).unwrap();
    assert!(
        (f64::from(info.threshold) - outputs["threshold"].as_f64().unwrap()).abs() < 1e-6,
        "model.json and the golden outputs come from different training runs"
    );
    let int8 = XrayModel::embedded().unwrap();
    let float = XrayModel::load(&dir.join("xray_float.onnx"), info).unwrap();
    let index = json("index.json");
    for case in outputs["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let img = index["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == name)
            .unwrap();
        let input = read_f32(img["input"].as_str().unwrap());
        for (kind, model, p_tol, cam_tol) in [
            ("float", &float, FLOAT_P_TOL, FLOAT_CAM_TOL),
            ("int8", &int8, INT8_P_TOL, INT8_CAM_TOL),
        ] {
            let got = model.run(&input).unwrap();
            let want_p = case[kind]["probability"].as_f64().unwrap();
            let dp = (f64::from(got.probability) - want_p).abs();
            assert!(
                dp <= p_tol,
                "{name} {kind}: tract {} vs onnxruntime {want_p} (limit {p_tol})",
                got.probability
            );
            let want_cam: Vec<f32> = case[kind]["cam"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|row| row.as_array().unwrap().iter())
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(want_cam.len(), CAM_LEN);
            let dc = max_diff(&got.cam, &want_cam);
            assert!(
                dc <= cam_tol,
                "{name} {kind}: map differs by {dc} (limit {cam_tol})"
            );
        }
    }
}
