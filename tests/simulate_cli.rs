//! `edge-screen simulate`: single recordings with ground truth, and the training set.

mod util;
use util::*;

#[test]
fn single_recording_has_the_requested_rate_length_and_truth() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("brady.csv");
    let o = run(&[
        "simulate",
        "--pattern",
        "bradypnea",
        "--rate",
        "8",
        "--seconds",
        "90",
        "--hz",
        "50",
        "--seed",
        "7",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("t_s,resp"));
    assert_eq!(lines.count(), 90 * 50);
    let truth: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("brady.truth.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(truth["pattern"], "bradypnea");
    let rate = truth["mean_rate_bpm"].as_f64().unwrap();
    assert!((rate - 8.0).abs() < 0.8, "true mean rate {rate}");
}

#[test]
fn out_of_range_arguments_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.csv");
    let o = run(&[
        "simulate",
        "--pattern",
        "tachypnea",
        "--rate",
        "12",
        "--seconds",
        "60",
        "--hz",
        "10",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("rate"), "{}", stderr(&o));
    let o = run(&[
        "simulate",
        "--pattern",
        "eupnea",
        "--seconds",
        "60",
        "--hz",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("hz"), "{}", stderr(&o));
}

#[test]
fn training_set_mode_writes_model_inputs_and_the_old_bulk_mode_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("set");
    let o = run(&[
        "simulate",
        "--training-set",
        "--split",
        "val",
        "--per-pattern",
        "1",
        "--camera-share",
        "0",
        "--seconds",
        "90",
        "--seed",
        "100",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("spec.json")).unwrap()).unwrap();
    let windows = spec["windows"].as_u64().unwrap();
    assert!(windows >= 6, "{spec}");
    let csv = std::fs::read_to_string(out.join("windows.csv")).unwrap();
    assert_eq!(csv.lines().count() as u64, windows + 1);
    let inputs = std::fs::metadata(out.join("inputs.f32")).unwrap().len();
    assert_eq!(inputs, windows * 120 * 11 * 4);
    let o = run(&["simulate", "--bulk", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--bulk"), "{}", stderr(&o));
}
