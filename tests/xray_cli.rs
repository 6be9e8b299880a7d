//! `edge-screen xray` and the daemon's X-ray inbox end to end: the real binary, real decoders,
//! the shipped int8 model run by tract, real files. Images come from `../shared/data/xray`.

mod util;
use embedded_graphics::pixelcolor::RgbColor;
use std::path::{Path, PathBuf};
use util::*;

fn xray_data() -> PathBuf {
    let p = repo().join("../shared/data/xray");
    assert!(
        p.join("manifest.csv").is_file(),
        "{} is missing: the X-ray tests need ../shared/data/xray beside the repository",
        p.display()
    );
    p
}

/// The first `n` files of `covid/` and of `normal/`, in name order.
fn some_images(n: usize) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["covid", "normal"] {
        let mut v: Vec<PathBuf> = std::fs::read_dir(xray_data().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        out.extend(v.into_iter().take(n));
    }
    out
}

fn model_json() -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join("models/xray/model.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn json_has_one_object_per_image_with_a_consistent_finding() {
    let files = some_images(3);
    let mut args = vec!["xray".to_string(), "--json".to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&args);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let objs = json_lines(&stdout(&o));
    assert_eq!(objs.len(), files.len());
    let info = model_json();
    let threshold = info["threshold"].as_f64().unwrap();
    for (obj, file) in objs.iter().zip(&files) {
        assert_eq!(obj["file"], file.display().to_string());
        let p = obj["covid_probability"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p), "{obj}");
        let want = if p >= threshold { "covid" } else { "normal" };
        assert_eq!(obj["finding"], want, "{obj}");
        assert!((obj["threshold"].as_f64().unwrap() - threshold).abs() < 1e-6);
        assert_eq!(obj["model"]["name"], info["name"]);
        assert_eq!(obj["model"]["version"], info["version"]);
        assert_eq!(obj["format"], "PNG 8-bit gray", "{obj}");
    }
}

#[test]
fn a_folder_is_searched_and_bad_files_do_not_stop_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let good = some_images(1);
    std::fs::copy(&good[0], dir.path().join("a_good.png")).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::copy(&good[1], dir.path().join("sub/b_good.png")).unwrap();
    std::fs::write(dir.path().join("c_empty.png"), b"").unwrap();
    std::fs::write(
        dir.path().join("d_text.jpg"),
        b"hello, this is not an image\n",
    )
    .unwrap();
    let bytes = std::fs::read(&good[0]).unwrap();
    std::fs::write(
        dir.path().join("e_truncated.png"),
        &bytes[..bytes.len() / 3],
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"ignored: not an image name").unwrap();
    let o = run(&["xray", "--json", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(&o));
    let objs = json_lines(&stdout(&o));
    let names: Vec<String> = objs
        .iter()
        .map(|o| {
            Path::new(o["file"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "a_good.png",
            "c_empty.png",
            "d_text.jpg",
            "e_truncated.png",
            "b_good.png"
        ]
    );
    for o in &objs[..1] {
        assert!(o["covid_probability"].is_number(), "{o}");
    }
    assert!(objs[4]["covid_probability"].is_number());
    for o in &objs[1..4] {
        let err = o["error"].as_str().unwrap();
        assert!(err.starts_with(o["file"].as_str().unwrap()), "{err}");
    }
    let err = stderr(&o);
    assert!(
        err.contains("3 of 5 image(s) could not be screened"),
        "{err}"
    );
}

#[test]
fn heatmaps_are_written_per_image() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("maps");
    let files = some_images(1);
    let o = run(&[
        "xray",
        "--heatmap",
        out.to_str().unwrap(),
        files[0].to_str().unwrap(),
        files[1].to_str().unwrap(),
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let text = stdout(&o);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("screening aid, not a diagnosis"), "{text}");
    for f in &files {
        let name = format!("{}.heatmap.png", f.file_name().unwrap().to_string_lossy());
        let png = edge_screen::display::read_png(&out.join(&name)).unwrap();
        // Same size as the source (at most 512 px), coloured where the map is.
        let src = edge_screen::xray::decode::decode_file(f).unwrap();
        assert_eq!(
            (png.width as usize, png.height as usize),
            (src.width, src.height)
        );
        let coloured = png
            .iter()
            .filter(|(_, _, c)| c.r().abs_diff(c.b()) > 30)
            .count();
        assert!(coloured > 1000, "{name}: {coloured} coloured pixels");
    }
}

#[test]
fn bad_threshold_and_model_are_usage_errors() {
    let f = some_images(1).remove(0);
    let o = run(&["xray", "--threshold", "1.5", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("--threshold: xray.threshold = 1.5 is out of range") && e.contains("0.01-0.99"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("m.onnx");
    std::fs::write(&bogus, b"not onnx").unwrap();
    let o = run(&[
        "xray",
        "--model",
        bogus.to_str().unwrap(),
        f.to_str().unwrap(),
    ]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("model.json"), "{}", stderr(&o));
}

#[test]
fn the_daemon_screens_inbox_images_and_files_them_away() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    let files = some_images(1);
    std::fs::copy(&files[0], inbox.join("patient1.png")).unwrap();
    std::fs::write(inbox.join("broken.png"), b"\x89PNG\r\n\x1a\n").unwrap();
    // Old enough to be taken on the first scan.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    for f in ["patient1.png", "broken.png"] {
        std::fs::File::options()
            .write(true)
            .open(inbox.join(f))
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    let events = dir.path().join("events.jsonl");
    let png = dir.path().join("readout.png");
    let o = run(&[
        "--camera",
        "sim",
        "--duration",
        "3",
        "--speed",
        "1",
        "--xray-inbox",
        inbox.to_str().unwrap(),
        "--events",
        events.to_str().unwrap(),
        "--display",
        &format!("png:{}", png.display()),
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let ev = json_lines(&std::fs::read_to_string(&events).unwrap());
    let xray: Vec<_> = ev.iter().filter(|e| e["type"] == "xray").collect();
    let failed: Vec<_> = ev.iter().filter(|e| e["type"] == "xray_failed").collect();
    assert_eq!(xray.len(), 1, "{ev:?}");
    assert_eq!(failed.len(), 1, "{ev:?}");
    assert!(xray[0]["covid_probability"].is_number());
    assert!(failed[0]["error"].as_str().unwrap().contains("broken.png"));
    // Moved, never deleted, each with its record.
    assert!(inbox.join("done/patient1.png").is_file());
    assert!(inbox.join("done/patient1.png.json").is_file());
    assert!(inbox.join("failed/broken.png").is_file());
    let reason: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(inbox.join("failed/broken.png.json")).unwrap(),
    )
    .unwrap();
    assert!(reason["error"].as_str().unwrap().contains("broken.png"));
    assert!(!inbox.join("patient1.png").exists() && !inbox.join("broken.png").exists());
    // The run went on to the end.
    assert_eq!(ev.last().unwrap()["reason"], "duration");
}

/// The auditor's path for an evaluation set: `edge-screen xray --json` on the holdout split, then
/// `edge-screen xray-eval` against `models/xray/split.csv`. Its per-source rates must equal what
/// the training run reported (within one image, tract vs onnxruntime at the threshold), its
/// patient counts what split.csv says, and its goal verdict the training run's.
#[test]
fn xray_eval_scores_the_holdout_per_source_like_the_training_report() {
    let data = xray_data();
    let split = repo().join("models/xray/split.csv");
    let text = std::fs::read_to_string(&split).unwrap();
    let mut patients: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    let mut files = Vec::new();
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        if c[4] == "holdout" {
            files.push(data.join(c[0]).display().to_string());
            patients
                .entry(c[1].to_string())
                .or_default()
                .insert(c[3].to_string());
        }
    }
    let mut args = vec!["xray", "--json"];
    args.extend(files.iter().map(String::as_str));
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = tempfile::tempdir().unwrap();
    let preds = dir.path().join("holdout.jsonl");
    std::fs::write(&preds, &o.stdout).unwrap();
    // One extra line for an image outside the label set, one for an image that failed: neither
    // may change the rates; the failure of a labelled image would show as "not screened".
    let mut extra = String::from_utf8(o.stdout.clone()).unwrap();
    extra.push_str(
        "{\"file\":\"/somewhere/else.png\",\"covid_probability\":0.9,\"finding\":\"covid\"}\n",
    );
    std::fs::write(dir.path().join("extra.jsonl"), extra).unwrap();

    let o = run(&[
        "xray-eval",
        "--json",
        "--labels",
        split.to_str().unwrap(),
        "--split",
        "holdout",
        dir.path().join("extra.jsonl").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(e["labelled"], files.len());
    assert_eq!(e["screened"], files.len());
    assert_eq!(e["unlabelled_predictions"].as_array().unwrap().len(), 1);
    let metrics: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("models/xray/metrics.json")).unwrap(),
    )
    .unwrap();
    let reported = &metrics["holdout"]["int8"];
    for s in e["sources"].as_array().unwrap() {
        let name = s["source"].as_str().unwrap();
        let rep = &reported[name];
        assert_eq!(s["images"], rep["n"], "{name}");
        assert_eq!(s["patients"], patients[name].len(), "{name}");
        let which = if name == "ieee" {
            "sensitivity"
        } else {
            "specificity"
        };
        let got = s[which]["value"].as_f64().unwrap();
        let want = rep[which].as_f64().unwrap();
        let n = rep["n"].as_f64().unwrap();
        assert!(
            (got - want).abs() <= 1.0 / n + 1e-9,
            "{name} {which}: {got} vs {want}"
        );
        // The patient interval contains the point estimate and is no narrower than needed.
        let [lo, hi] = [
            s[which]["patient_bootstrap_95"][0].as_f64().unwrap(),
            s[which]["patient_bootstrap_95"][1].as_f64().unwrap(),
        ];
        assert!(lo <= got && got <= hi, "{name}: {lo}-{hi} around {got}");
        if name != "ieee" {
            let a = s["auc_all_covid_vs_these_normals"].as_f64().unwrap();
            let want = reported[format!("auc_ieee_vs_{name}").as_str()]
                .as_f64()
                .unwrap();
            assert!((a - want).abs() < 0.01, "{name} AUC {a} vs {want}");
        }
    }
    assert_eq!(e["goal_met"], metrics["goal"]["met"]);

    // The words: the not-met source is named.
    let o = run(&[
        "xray-eval",
        "--labels",
        split.to_str().unwrap(),
        "--split",
        "holdout",
        preds.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert!(out.contains("nih specificity"), "{out}");
    assert!(out.contains("patients with a false alarm"), "{out}");

    // Bad input names the file, the line and the field.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"file\":\"a.png\",\"covid_probability\":2,\"finding\":\"covid\"}\n",
    )
    .unwrap();
    let o = run(&[
        "xray-eval",
        "--labels",
        split.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("bad.jsonl line 1") && err.contains("covid_probability"),
        "{err}"
    );
    let o = run(&[
        "xray-eval",
        "--labels",
        "/nonexistent.csv",
        preds.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("/nonexistent.csv: cannot read"),
        "{}",
        stderr(&o)
    );
}
