//! `edge-screen simulate`: single recordings with ground truth, and the bulk training set.

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
fn bulk_mode_writes_a_balanced_labelled_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("set");
    let o = run(&[
        "simulate",
        "--bulk",
        "--per-pattern",
        "3",
        "--seconds",
        "60",
        "--hz",
        "10",
        "--seed",
        "100",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(out.join("windows.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        &header[..7],
        ["id", "pattern", "seed", "t0_s", "rate_bpm", "apnea_s", "hz"]
    );
    assert_eq!(header.len(), 7 + 600);
    let mut per_class = std::collections::BTreeMap::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f.len(), header.len());
        *per_class.entry(f[1].to_string()).or_insert(0) += 1;
    }
    assert_eq!(per_class.len(), 6, "{per_class:?}");
    assert!(per_class.values().all(|&n| n == 3), "{per_class:?}");
    assert!(out.join("spec.json").is_file());
}
