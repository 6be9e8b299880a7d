//! `edge-screen breathing`: classify CSV recordings, and refuse bad ones clearly.

mod util;
use util::*;

/// Simulates a recording with the real `simulate` command; returns (csv path, true mean rate).
fn simulate(
    dir: &std::path::Path,
    pattern: &str,
    hz: &str,
    seed: &str,
    seconds: &str,
) -> (std::path::PathBuf, f64) {
    let out = dir.join(format!("{pattern}-{seed}.csv"));
    let o = run(&[
        "simulate",
        "--pattern",
        pattern,
        "--seconds",
        seconds,
        "--hz",
        hz,
        "--seed",
        seed,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "simulate failed: {}", stderr(&o));
    let truth_path = out.with_extension("truth.json");
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&truth_path).expect("truth file")).unwrap();
    let rate = truth["mean_rate_bpm"]
        .as_f64()
        .or_else(|| truth["params"]["rate_bpm"].as_f64())
        .expect("truth rate");
    (out, rate)
}

fn classify(path: &std::path::Path) -> serde_json::Value {
    classify_with(path, "bi_at_gru")
}

fn classify_with(path: &std::path::Path, classifier: &str) -> serde_json::Value {
    let o = run(&[
        "breathing",
        "--json",
        "--classifier",
        classifier,
        path.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}: {}", path.display(), stderr(&o));
    let v = json_lines(&stdout(&o));
    assert_eq!(v.len(), 1);
    v[0].clone()
}

/// Rewrites a CSV as `offset + gain * resp` (another sensor's units and polarity).
fn transform(src: &std::path::Path, dst: &std::path::Path, gain: f64, offset: f64) {
    let text = std::fs::read_to_string(src).unwrap();
    let mut out = String::from("t_s,resp\n");
    for line in text.lines().skip(1) {
        let (t, v) = line.split_once(',').unwrap();
        let v: f64 = v.parse().unwrap();
        out.push_str(&format!("{t},{}\n", offset + gain * v));
    }
    std::fs::write(dst, out).unwrap();
}

#[test]
fn json_has_the_documented_fields_and_a_correct_rate() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, rate) = simulate(dir.path(), "eupnea", "25", "4", "120");
    // The rule baseline: the BI-AT-GRU calls some 120 s eupnea recordings Cheyne-Stokes (a known
    // failure, see tests/breathing_model.rs); the fields are the same for both classifiers.
    let v = classify_with(&csv, "rule_baseline");
    assert_eq!(v["file"], csv.to_str().unwrap());
    assert_eq!(v["pattern"], "eupnea", "{v}");
    let scores = v["scores"].as_object().unwrap();
    assert_eq!(scores.len(), 6);
    let sum: f64 = scores.values().map(|s| s.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-4, "scores sum {sum}");
    let est = v["rate_bpm"].as_f64().unwrap();
    assert!((est - rate).abs() <= 1.0, "rate {est} vs truth {rate}");
    let q = v["quality"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&q));
}

#[test]
fn each_window_has_its_rate_and_the_breath_to_breath_variability_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    // 300 s at 10 Hz: 120 s windows every 10 s, so 19 windows.
    let (csv, rate) = simulate(dir.path(), "eupnea", "10", "3", "300");
    let v = classify_with(&csv, "rule_baseline");
    let windows = v["windows"].as_array().expect("windows");
    assert!(windows.len() >= 15, "{} windows", windows.len());
    let mut last = 0.0;
    for w in windows {
        let t = w["t_end_s"].as_f64().unwrap();
        assert!(t > last, "windows in time order: {t} after {last}");
        last = t;
        // Every window of clean simulated eupnea gets a rate near the recording's mean rate (the
        // simulated person's rate drifts a little from window to window).
        let r = w["rate_bpm"].as_f64().expect("a rate in every window");
        assert!((r - rate).abs() <= 1.0, "window to {t} s: {r} vs {rate}");
    }
    let [lo, hi] = [0, 1].map(|i| v["rate_range_bpm"][i].as_f64().unwrap());
    assert!(lo <= v["rate_bpm"].as_f64().unwrap() && v["rate_bpm"].as_f64().unwrap() <= hi);
    // The simulator draws breath periods with a coefficient of variation of a few percent to about
    // 15 %; the measured one must be in that range, not 0 and not the 30 %+ of missed breaths.
    let cv = v["breath_interval_cv"].as_f64().expect("variability");
    assert!(
        (0.01..=0.2).contains(&cv),
        "breath-to-breath variation {cv}"
    );
    // The human form says the same.
    let o = run(&[
        "breathing",
        "--classifier",
        "rule_baseline",
        csv.to_str().unwrap(),
    ]);
    let line = stdout(&o);
    assert!(
        line.contains("windows ") && line.contains("breath-to-breath variation"),
        "{line}"
    );
}

#[test]
fn units_offset_and_polarity_do_not_change_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    for (pattern, hz) in [("bradypnea", "100"), ("tachypnea", "7")] {
        let (csv, rate) = simulate(dir.path(), pattern, hz, "2", "120");
        let flipped = dir.path().join(format!("{pattern}-flipped.csv"));
        // A depth camera's distance in metres: falls on inhalation, offset 1.2 m.
        transform(&csv, &flipped, -0.001, 1.2);
        let (a, b) = (classify(&csv), classify(&flipped));
        assert_eq!(a["pattern"], pattern, "{a}");
        assert_eq!(b["pattern"], pattern, "{b}");
        for v in [&a, &b] {
            let est = v["rate_bpm"].as_f64().unwrap();
            assert!((est - rate).abs() <= 1.0, "{pattern}: rate {est} vs {rate}");
        }
    }
}

#[test]
fn bad_files_are_refused_with_the_problem_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let long = |f: &dyn Fn(usize) -> String| (0..700).map(f).collect::<String>();
    let cases: Vec<(std::path::PathBuf, &str)> = vec![
        (write(d, "empty.csv", ""), "no samples"),
        (write(d, "header.csv", "t_s,resp\n"), "no samples"),
        (
            write(d, "text.csv", "t_s,resp\n0,1\n0.1,abc\n"),
            "not a number",
        ),
        (write(d, "nan.csv", "t_s,resp\n0,1\n0.1,NaN\n"), "NaN"),
        (
            write(d, "unsorted.csv", "t_s,resp\n0,1\n0.2,1\n0.1,2\n"),
            "strictly increase",
        ),
        (
            write(d, "dup.csv", "t_s,resp\n0,1\n0.1,1\n0.1,2\n"),
            "duplicate",
        ),
        (
            write(
                d,
                "short.csv",
                &format!(
                    "t_s,resp\n{}",
                    long(&|i| if i < 300 {
                        format!("{},{}\n", i as f64 / 10.0, (i as f64).sin())
                    } else {
                        String::new()
                    })
                ),
            ),
            "at least 55 s",
        ),
        (
            write(
                d,
                "constant.csv",
                &format!(
                    "t_s,resp\n{}",
                    long(&|i| format!("{},5\n", i as f64 / 10.0))
                ),
            ),
            "constant",
        ),
        (
            write(
                d,
                "gap.csv",
                &format!(
                    "t_s,resp\n{}",
                    // 20 s of 70 without samples: more than a quarter.
                    long(&|i| if (300..500).contains(&i) {
                        String::new()
                    } else {
                        format!("{},{}\n", i as f64 / 10.0, (i as f64 / 7.0).sin())
                    })
                ),
            ),
            "gap",
        ),
    ];
    for (path, needle) in &cases {
        let o = run(&["breathing", "--json", path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{}: should fail", path.display());
        let e = stderr(&o);
        assert!(
            e.contains(path.to_str().unwrap()) && e.contains(needle),
            "{}: expected '{needle}' in: {e}",
            path.display()
        );
        assert!(!e.contains("panicked"), "{e}");
        assert!(stdout(&o).is_empty());
    }
    let o = run(&[
        "breathing",
        "--json",
        d.join("missing.csv").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing.csv"));
}

/// A hole of 12 s in a recording (a sensor that stopped, a camera that lost the chest) is analysed
/// as no signal: the rate comes from the rest, the hole is reported, and it is not an apnea
/// although it is longer than one.
#[test]
fn a_long_hole_is_not_an_apnea_and_the_rate_comes_from_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (full, rate) = simulate(dir.path(), "eupnea", "10", "5", "90");
    let text = std::fs::read_to_string(&full).unwrap();
    let holed: String = text
        .lines()
        .filter(|l| {
            l.split(',')
                .next()
                .and_then(|t| t.parse::<f64>().ok())
                .map_or(true, |t| !(40.0..52.0).contains(&t))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let path = write(dir.path(), "holed.csv", &holed);
    let o = run(&["breathing", "--json", path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = &json_lines(&stdout(&o))[0];
    let unseen = v["unseen_s"].as_f64().expect("unseen_s");
    assert!((unseen - 12.0).abs() < 0.2, "{v}");
    assert_eq!(v["unseen"].as_array().map(Vec::len), Some(1), "{v}");
    let got = v["rate_bpm"].as_f64().expect("a rate");
    assert!((got - rate).abs() <= 0.5, "rate {got} vs {rate}: {v}");
    // The only window (90 s, shorter than `window_s`) has the hole: a rate, no pattern claimed
    // (a classifier takes a hole for a pause: the BI-AT-GRU read this one as Cheyne-Stokes).
    assert!(v["pattern"].is_null(), "{v}");
    assert_eq!(v["insufficient_signal"], false, "{v}");
    assert_eq!(v["apneas"].as_array().map(Vec::len), Some(0), "{v}");
    let human = stdout(&run(&["breathing", path.to_str().unwrap()]));
    assert!(
        human.contains("without samples") && human.contains("pattern not classified"),
        "{human}"
    );
}

#[test]
fn a_bad_file_does_not_stop_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = simulate(dir.path(), "eupnea", "10", "5", "90");
    let bad = write(dir.path(), "bad.csv", "t_s,resp\n");
    let o = run(&[
        "breathing",
        "--json",
        bad.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v = json_lines(&stdout(&o));
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["file"], good.to_str().unwrap());
}

/// With the rule-based baseline (the BI-AT-GRU's real-recording check is in
/// `tests/breathing_model.rs`).
#[test]
fn real_recordings_get_rates_and_patterns_consistent_with_their_rates() {
    let Some(dir) = shared_resp_dir() else {
        eprintln!("skipped: ../shared/data/resp not present");
        return;
    };
    // (file, approximate rate, tolerance). Rates from the data set's README, except 03700181:
    // the README's ~18/min is its dominant stretch, but two minutes run at ~24/min (breath peaks
    // 2.5 s apart at 240-300 s and 480-540 s), and counting every breath gives 19.6/min.
    for (file, rate, tol) in [
        ("bidmc01_resp_125hz.csv", 20.6, 1.5),
        ("wfdb_03700181_resp.csv", 19.6, 1.0),
        ("wfdb_v102s_resp.csv", 9.0, 1.5),
        ("biosppy_resp_1000hz.csv", 21.0, 2.0),
    ] {
        let v = classify_with(&dir.join(file), "rule_baseline");
        let est = v["rate_bpm"].as_f64().unwrap_or(f64::NAN);
        assert!(
            (est - rate).abs() <= tol,
            "{file}: rate {est} vs ~{rate}: {v}"
        );
        let expected = if est > 20.0 {
            "tachypnea"
        } else if est < 12.0 {
            "bradypnea"
        } else {
            "eupnea"
        };
        // Near a class boundary either neighbour is consistent with the rate.
        let near_boundary = (est - 20.0).abs() < 1.0 || (est - 12.0).abs() < 1.0;
        let p = v["pattern"].as_str().unwrap();
        assert!(
            p == expected || (near_boundary && ["eupnea", "tachypnea", "bradypnea"].contains(&p)),
            "{file}: {p} at {est}/min"
        );
    }
}

#[test]
fn a_reader_that_stops_early_is_a_normal_end() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let (csv, _) = simulate(dir.path(), "eupnea", "10", "2", "70");
    let many: Vec<&str> = std::iter::repeat_n(csv.to_str().unwrap(), 200).collect();
    let mut child = bin()
        .arg("breathing")
        .args(&many)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Like `| head -1`: read one line, then close the pipe while 199 lines are still to come.
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("eupnea"), "{first}");
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{:?}: {}", o.status, stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

#[test]
fn shallow_breathing_is_a_hypopnea_and_a_pause_an_apnea() {
    let dir = tempfile::tempdir().unwrap();
    let truth_pauses = |csv: &std::path::Path| -> usize {
        let t: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(csv.with_extension("truth.json")).unwrap(),
        )
        .unwrap();
        t["pauses"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["end_s"].as_f64().unwrap() - p["start_s"].as_f64().unwrap() >= 10.0)
            .count()
    };
    // Seed 2 draws Cheyne-Stokes with hypopneas (shallow breaths, no full pause) between cycles.
    // The run of shallow breaths that stays above the stillness threshold is a hypopnea; the
    // nadirs that look still are still reported as apneas (a limit, see find_hypopneas).
    let (cs, _) = simulate(dir.path(), "cheyne_stokes", "10", "2", "300");
    assert_eq!(truth_pauses(&cs), 0, "the seed no longer draws hypopneas");
    let v = classify(&cs);
    let hypo = v["hypopneas"].as_array().expect("hypopneas");
    assert!(!hypo.is_empty(), "no hypopnea: {v}");
    for h in hypo {
        let len = h["end_s"].as_f64().unwrap() - h["start_s"].as_f64().unwrap();
        assert!(len >= 10.0, "a hypopnea of {len} s");
    }
    // Central apnea: every pause of 10 s or more an apnea, no hypopnea.
    let (ca, _) = simulate(dir.path(), "central_apnea", "10", "1", "300");
    let v = classify(&ca);
    assert_eq!(
        v["apneas"].as_array().unwrap().len(),
        truth_pauses(&ca),
        "{v}"
    );
    assert_eq!(v["hypopneas"].as_array().unwrap().len(), 0, "{v}");
    // Regular breathing: neither.
    let (eu, _) = simulate(dir.path(), "eupnea", "10", "1", "300");
    let v = classify(&eu);
    assert!(
        v["apneas"].as_array().unwrap().is_empty() && v["hypopneas"].as_array().unwrap().is_empty(),
        "{v}"
    );
}
