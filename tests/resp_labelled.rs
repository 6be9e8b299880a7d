//! `edge-screen breathing` (the real binary) on every labelled real recording in
//! `../shared/data/resp` (skipped with a message when that folder is absent): the BIDMC impedance
//! records against their hand-annotated breaths, the RealSense depth recordings (dropped frames
//! included) against the respiration belt. Prints one line per file (see it with `--nocapture`).
//!
//! Issue 16 item 5's targets: a BIDMC rate for at least 95 % of records, within 0.3 /min of the
//! annotations for at least 95 %; RealSense within 1 /min of the belt on at least 90 % at every
//! distance. `labelled_recordings_meet_the_issue_targets` asserts them (ignored until met);
//! `labelled_recordings_keep_their_rates` asserts the levels reached so far, so they cannot
//! silently fall back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One file's outcome.
struct Row {
    file: String,
    group: String,
    reference_bpm: f64,
    rate_bpm: Option<f64>,
    note: String,
}

impl Row {
    fn error(&self) -> Option<f64> {
        self.rate_bpm.map(|r| r - self.reference_bpm)
    }
}

fn data_dir() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/resp");
    (d.join("bidmc/reference.csv").is_file() && d.join("realsense-d435/reference.csv").is_file())
        .then_some(d)
}

/// `reference.csv` as (file, column value, group column value) rows.
fn reference(path: &Path, value: &str, group: Option<&str>) -> Vec<(String, f64, String)> {
    let text = std::fs::read_to_string(path).expect("readable reference.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (f, v) = (col("file"), col(value));
    let g = group.map(col);
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            let group = g.map_or(String::new(), |g| format!("{} m", c[g]));
            (c[f].to_string(), c[v].parse().expect("number"), group)
        })
        .collect()
}

/// Run the binary on `files` (in `dir`) and read each file's rate or refusal.
fn analyse(dir: &Path, refs: &[(String, f64, String)], set: &str) -> Vec<Row> {
    let files: Vec<PathBuf> = refs.iter().map(|r| dir.join(&r.0)).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_edge-screen"))
        .arg("breathing")
        .arg("--json")
        .args(&files)
        .output()
        .expect("edge-screen runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let verdicts: BTreeMap<String, serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("one JSON object per line"))
        .map(|v| {
            let name = Path::new(v["file"].as_str().expect("file"))
                .file_name()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            (name, v)
        })
        .collect();
    refs.iter()
        .map(|(file, reference_bpm, group)| {
            let (rate_bpm, note) = match verdicts.get(file) {
                Some(v) => (
                    v["rate_bpm"].as_f64(),
                    format!(
                        "quality {:.2}, {} gap(s) bridged (longest {:.2} s), {:.1} s unseen",
                        v["quality"].as_f64().unwrap_or(f64::NAN),
                        v["gaps_bridged"].as_u64().unwrap_or(0),
                        v["longest_gap_s"].as_f64().unwrap_or(0.0),
                        v["unseen_s"].as_f64().unwrap_or(0.0)
                    ),
                ),
                None => {
                    let why = stderr
                        .lines()
                        .find(|l| l.contains(file.as_str()))
                        .unwrap_or("no verdict");
                    (None, format!("refused: {why}"))
                }
            };
            Row {
                file: file.clone(),
                group: if group.is_empty() {
                    set.to_string()
                } else {
                    format!("{set} {group}")
                },
                reference_bpm: *reference_bpm,
                rate_bpm,
                note,
            }
        })
        .collect()
}

fn print(rows: &[Row]) {
    for r in rows {
        let rate = r.rate_bpm.map_or("--".into(), |v| format!("{v:6.2}"));
        let err = r.error().map_or("--".into(), |e| format!("{e:+.2}"));
        println!(
            "{:36} ref {:6.2}  rate {rate:>6}  error {err:>6}  {}",
            r.file, r.reference_bpm, r.note
        );
    }
}

/// Per group: (files, with a rate, within `tol` /min of the reference).
fn tally(rows: &[Row], tol: f64) -> BTreeMap<String, (usize, usize, usize)> {
    let mut t = BTreeMap::new();
    for r in rows {
        let e: &mut (usize, usize, usize) = t.entry(r.group.clone()).or_default();
        e.0 += 1;
        e.1 += usize::from(r.rate_bpm.is_some());
        e.2 += usize::from(r.error().is_some_and(|e| e.abs() <= tol));
    }
    t
}

/// Analyse both sets; `None` when the data is absent.
fn measure() -> Option<(Vec<Row>, Vec<Row>)> {
    let Some(dir) = data_dir() else {
        println!("SKIPPED: ../shared/data/resp (bidmc/, realsense-d435/) not found");
        return None;
    };
    let bidmc_dir = dir.join("bidmc");
    let rs_dir = dir.join("realsense-d435");
    let bidmc = analyse(
        &bidmc_dir,
        &reference(&bidmc_dir.join("reference.csv"), "rate_ref_bpm", None),
        "bidmc",
    );
    let rs = analyse(
        &rs_dir,
        &reference(
            &rs_dir.join("reference.csv"),
            "belt_rate_median_bpm",
            Some("distance_m"),
        ),
        "realsense",
    );
    print(&bidmc);
    print(&rs);
    for (g, (n, rated, ok)) in tally(&bidmc, 0.3) {
        println!("{g}: rate for {rated}/{n}, within 0.3 /min for {ok}/{n}");
    }
    // The two annotators' own rates differ by up to 1.3 /min on some records: how many rates lie
    // within 0.3 /min of the span between them (shown, not asserted: the goal is the mean).
    let annotators = reference(&bidmc_dir.join("reference.csv"), "rate_ann1_bpm", None)
        .into_iter()
        .zip(reference(
            &bidmc_dir.join("reference.csv"),
            "rate_ann2_bpm",
            None,
        ))
        .map(|(a, b)| (a.0, a.1.min(b.1), a.1.max(b.1)))
        .collect::<Vec<_>>();
    let near_either = bidmc
        .iter()
        .filter(|r| {
            annotators.iter().any(|(f, lo, hi)| {
                *f == r.file && r.rate_bpm.is_some_and(|v| v >= lo - 0.3 && v <= hi + 0.3)
            })
        })
        .count();
    println!(
        "bidmc: within 0.3 /min of the annotators' span for {near_either}/{}",
        bidmc.len()
    );
    for (g, (n, rated, ok)) in tally(&rs, 1.0) {
        println!("{g}: rate for {rated}/{n}, within 1 /min for {ok}/{n}");
    }
    Some((bidmc, rs))
}

/// Assert shares: BIDMC rated and within 0.3 /min, RealSense within 1 /min at every distance.
fn check(bidmc: &[Row], rs: &[Row], bidmc_rated: f64, bidmc_ok: f64, rs_ok: f64) {
    for (g, (n, rated, ok)) in tally(bidmc, 0.3) {
        assert!(n > 0);
        let (rated_share, ok_share) = (rated as f64 / n as f64, ok as f64 / n as f64);
        assert!(rated_share >= bidmc_rated, "{g}: rate for {rated}/{n}");
        assert!(ok_share >= bidmc_ok, "{g}: within 0.3 /min for {ok}/{n}");
    }
    let by_distance = tally(rs, 1.0);
    assert_eq!(
        by_distance.len(),
        3,
        "1, 2 and 3 m: {:?}",
        by_distance.keys()
    );
    for (g, (n, _, ok)) in by_distance {
        assert!(
            ok as f64 / n as f64 >= rs_ok,
            "{g}: within 1 /min for {ok}/{n}"
        );
    }
}

#[test]
fn labelled_recordings_keep_their_rates() {
    let Some((bidmc, rs)) = measure() else {
        return;
    };
    // Reached on the records present (BIDMC 1-26, RealSense subjects 1, 2, 4, 5): BIDMC a rate for
    // 26/26, within 0.3 /min for 19/26; RealSense within 1 /min for 8/8, 7/8, 6/8 at 1, 2, 3 m
    // (the 3 m recording with a 7.7 s hole is analysed around it).
    check(&bidmc, &rs, 0.95, 0.70, 0.70);
}

#[test]
#[ignore = "issue 16 item 5 targets, not yet met: BIDMC within 0.3 /min and RealSense at 2-3 m"]
fn labelled_recordings_meet_the_issue_targets() {
    let Some((bidmc, rs)) = measure() else {
        return;
    };
    check(&bidmc, &rs, 0.95, 0.95, 0.90);
}
