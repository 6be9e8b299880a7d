//! `edge-screen breathing` gives the verdicts it gave before the screening-core rework (issue 13),
//! on 108 RSM recordings and every real recording in `../shared/data/resp`, with both classifiers.
//!
//! `tests/golden/breathing_verdicts.jsonl` was written from the program as it was before the
//! batch path was moved onto the live analyser and the kiosk's session verdict; this test holds
//! the new path to it (pattern, rate within 1e-3 breaths/min, quality and scores within 1e-4,
//! apneas within 0.01 s, polarity; and the same files refused). A change meant to alter verdicts
//! (better rates, new quality gates) regenerates the file with `UPDATE_GOLDEN=1` and says so.

mod util;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use util::*;

const PATTERNS: [&str; 6] = [
    "eupnea",
    "tachypnea",
    "bradypnea",
    "biots",
    "cheyne_stokes",
    "central_apnea",
];

/// The recordings, named as in the golden file: `rsm/…` (simulated here) and the real ones.
fn recordings(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for p in PATTERNS {
        for seed in 1..=6 {
            for (secs, hz) in [("70", "10"), ("180", "25"), ("300", "10")] {
                let name = format!("{p}_{seed}_{secs}_{hz}.csv");
                let path = dir.join(&name);
                let o = run(&[
                    "simulate",
                    "--pattern",
                    p,
                    "--seconds",
                    secs,
                    "--hz",
                    hz,
                    "--seed",
                    &seed.to_string(),
                    "--out",
                    path.to_str().unwrap(),
                ]);
                assert!(o.status.success(), "{}", stderr(&o));
                out.push((format!("rsm/{name}"), path));
            }
        }
    }
    let shared = repo().join("../shared/data/resp");
    for (sub, keep) in [
        ("csv", (|_: &str| true) as fn(&str) -> bool),
        ("bidmc", |n| n.len() == "bidmc_01.csv".len()),
        ("realsense-d435", |n| n.starts_with("realsense_")),
    ] {
        let mut names: Vec<String> = std::fs::read_dir(shared.join(sub))
            .unwrap_or_else(|e| panic!("{}: {e}", shared.join(sub).display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".csv") && keep(n))
            .collect();
        names.sort();
        out.extend(
            names
                .into_iter()
                .map(|n| (format!("{sub}/{n}"), shared.join(sub).join(n))),
        );
    }
    out
}

fn close(a: &serde_json::Value, b: &serde_json::Value, tol: f64) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() <= tol,
        _ => a == b,
    }
}

fn same(want: &serde_json::Value, got: &serde_json::Value) -> bool {
    let arr = |v: &serde_json::Value, k: &str| v[k].as_array().cloned().unwrap_or_default();
    let flat = |v: Vec<serde_json::Value>| -> Vec<serde_json::Value> {
        v.into_iter()
            .flat_map(|x| x.as_array().cloned().unwrap_or_else(|| vec![x]))
            .collect()
    };
    want["pattern"] == got["pattern"]
        && want["polarity_inverted"] == got["polarity_inverted"]
        && close(&want["rate_bpm"], &got["rate_bpm"], 1e-3)
        && close(&want["quality"], &got["quality"], 1e-4)
        && arr(want, "scores").len() == 6
        && arr(want, "scores")
            .iter()
            .zip(arr(got, "scores").iter())
            .all(|(a, b)| close(a, b, 1e-4))
        && flat(arr(want, "apneas")).len() == flat(arr(got, "apneas")).len()
        && flat(arr(want, "apneas"))
            .iter()
            .zip(flat(arr(got, "apneas")).iter())
            .all(|(a, b)| close(a, b, 0.01))
}

/// The golden line for one `breathing --json` object.
fn verdict(classifier: &str, name: &str, v: &serde_json::Value) -> serde_json::Value {
    let r = |x: f64, d: i32| (x * 10f64.powi(d)).round() / 10f64.powi(d);
    serde_json::json!({
        "classifier": classifier,
        "file": name,
        "pattern": v["pattern"],
        "rate_bpm": v["rate_bpm"].as_f64().map(|x| r(x, 4)),
        "quality": r(v["quality"].as_f64().unwrap(), 5),
        "scores": PATTERNS.iter().map(|p| r(v["scores"][p].as_f64().unwrap(), 5)).collect::<Vec<_>>(),
        "apneas": v["apneas"].as_array().unwrap().iter()
            .map(|a| [r(a["start_s"].as_f64().unwrap(), 2), r(a["end_s"].as_f64().unwrap(), 2)])
            .collect::<Vec<_>>(),
        "polarity_inverted": v["polarity_inverted"],
    })
}

#[test]
fn verdicts_are_those_of_the_batch_path_before_the_rework() {
    let dir = tempfile::tempdir().unwrap();
    let files = recordings(dir.path());
    let by_path: BTreeMap<String, String> = files
        .iter()
        .map(|(name, path)| (path.display().to_string(), name.clone()))
        .collect();
    let mut got = Vec::new();
    for classifier in ["bi_at_gru", "rule_baseline"] {
        let mut args = vec!["breathing", "--json", "--classifier", classifier];
        args.extend(files.iter().map(|(_, p)| p.to_str().unwrap()));
        let o = run(&args);
        // A real recording may be refused (more than a quarter of it in holes): exit status 1.
        assert!(o.status.code().is_some_and(|c| c <= 1), "{}", stderr(&o));
        for v in json_lines(&stdout(&o)) {
            let name = &by_path[v["file"].as_str().unwrap()];
            got.push(verdict(classifier, name, &v));
        }
    }
    let golden = repo().join("tests/golden/breathing_verdicts.jsonl");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let text: Vec<String> = got.iter().map(|v| v.to_string()).collect();
        std::fs::write(&golden, text.join("\n") + "\n").unwrap();
        return;
    }
    let want = json_lines(&std::fs::read_to_string(&golden).unwrap());
    let key = |v: &serde_json::Value| format!("{} {}", v["classifier"], v["file"]);
    let want: BTreeMap<String, &serde_json::Value> = want.iter().map(|v| (key(v), v)).collect();
    let got: BTreeMap<String, &serde_json::Value> = got.iter().map(|v| (key(v), v)).collect();
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "the same recordings are classified and the same refused"
    );
    let differ: Vec<String> = want
        .iter()
        .filter(|(k, w)| !same(w, got[*k]))
        .map(|(k, w)| format!("{k}:\n  want {w}\n  got  {}", got[k]))
        .collect();
    assert!(
        differ.is_empty(),
        "{} verdicts changed:\n{}",
        differ.len(),
        differ.join("\n")
    );
    // 163 files (108 RSM, 26 BIDMC, 5 other contact-sensor CSVs, 24 RealSense), each classifier.
    assert_eq!(want.len(), 326);
}
