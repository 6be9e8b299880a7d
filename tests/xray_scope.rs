//! The X-ray scope check, end to end: the real binary (`edge-screen xray --json`) refuses at least
//! 90% of the out-of-scope fixtures (`tests/fixtures/xray-scope`: photos, documents, microscopy,
//! CT/MR, faces, rotated/inverted/blank/saturated/noise films) without a probability, and at most
//! 5% of the development set's held-out chest films; and the Rust eigen-chest scores match the
//! Python ones (`models/xray/golden/scope_scores.json`).

mod util;

use edge_screen::xray::decode::decode_file;
use edge_screen::xray::preprocess::prepare;
use edge_screen::xray::scope::{features, rot90, ScopeModel};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn data() -> PathBuf {
    root().join("../shared/data/xray")
}

/// `xray --json` on these files: one object per file.
fn screen(files: &[PathBuf]) -> Vec<serde_json::Value> {
    let out = util::bin()
        .arg("xray")
        .arg("--json")
        .args(files)
        .output()
        .expect("edge-screen runs");
    let text = util::stdout(&out);
    let objs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(objs.len(), files.len(), "{}", util::stderr(&out));
    objs
}

fn refused(o: &serde_json::Value) -> bool {
    o["finding"] == "out_of_scope"
}

#[test]
fn out_of_scope_images_are_refused_without_a_probability() {
    let dir = root().join("tests/fixtures/xray-scope");
    let mut files = Vec::new();
    for cat in std::fs::read_dir(&dir).unwrap() {
        let cat = cat.unwrap().path();
        if cat.is_dir() {
            for f in std::fs::read_dir(&cat).unwrap() {
                files.push(f.unwrap().path());
            }
        }
    }
    files.sort();
    assert!(files.len() >= 60, "{} fixtures", files.len());
    let objs = screen(&files);
    let mut per_cat: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (f, o) in files.iter().zip(&objs) {
        let cat = f.parent().unwrap().file_name().unwrap().to_string_lossy();
        let e = per_cat.entry(cat.into_owned()).or_default();
        e.1 += 1;
        if refused(o) {
            e.0 += 1;
            assert!(o["covid_probability"].is_null(), "{o}");
            assert!(o["scope_reason"].is_string(), "{o}");
            assert!(o.get("heatmap").is_none(), "{o}");
            let text = o["scope_text"].as_str().unwrap();
            assert!(text.starts_with("X-ray not assessable: "), "{o}");
        } else {
            assert!(o["covid_probability"].is_number(), "{o}");
        }
    }
    let (n, d) = per_cat
        .values()
        .fold((0, 0), |(n, d), (a, b)| (n + a, d + b));
    println!("out-of-scope fixtures refused: {n} / {d}: {per_cat:?}");
    assert!(n as f64 >= 0.9 * d as f64, "{n} / {d}: {per_cat:?}");
    // The named transformations are named as such.
    let reason = |name: &str| {
        let i = files
            .iter()
            .position(|f| f.to_string_lossy().contains(name))
            .unwrap();
        objs[i]["scope_reason"].as_str().unwrap_or("-").to_string()
    };
    assert_eq!(reason("ct_mr/CT_small.dcm"), "not_a_radiograph");
    assert_eq!(reason("microscopy/ihc"), "colour_image");
    for f in files
        .iter()
        .filter(|f| f.to_string_lossy().contains("/rotated/"))
    {
        assert_eq!(reason(&f.to_string_lossy()), "rotated", "{}", f.display());
    }
    for f in files
        .iter()
        .filter(|f| f.to_string_lossy().contains("/inverted/"))
    {
        assert_eq!(reason(&f.to_string_lossy()), "inverted", "{}", f.display());
    }
}

fn holdout_films() -> Vec<PathBuf> {
    let text = std::fs::read_to_string(root().join("models/xray/split.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|c| c[4] == "holdout")
        .map(|c| data().join(c[0]))
        .collect()
}

#[test]
fn held_out_chest_films_are_rarely_refused() {
    let files = holdout_films();
    assert!(files.len() > 150, "{} holdout films", files.len());
    let objs = screen(&files);
    let refusals: Vec<String> = objs
        .iter()
        .filter(|o| refused(o))
        .map(|o| format!("{} ({})", o["file"], o["scope_reason"]))
        .collect();
    println!(
        "holdout films refused: {} / {}: {refusals:?}",
        refusals.len(),
        files.len()
    );
    assert!(
        refusals.len() as f64 <= 0.05 * files.len() as f64,
        "{refusals:?}"
    );
    for o in objs.iter().filter(|o| !refused(o)) {
        assert!(o["covid_probability"].is_number(), "{o}");
        assert!(o.get("scope_reason").is_none(), "{o}");
    }
}

#[test]
fn rust_scores_match_the_python_golden_scores() {
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("models/xray/golden/scope_scores.json")).unwrap(),
    )
    .unwrap();
    let model = ScopeModel::embedded();
    let images = golden["images"].as_array().unwrap();
    assert!(images.len() >= 6);
    // The Rust features come from the f32 model input, Python's from f64: 1e-4 relative.
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-4 * b.abs().max(1e-9);
    for g in images {
        let file = data().join(g["file"].as_str().unwrap());
        let img = decode_file(&file).unwrap();
        let mut f = features(&prepare(&img).unwrap(), model.block);
        if g["transform"] == "rot90" {
            f = rot90(&f, model.feature_side, 1);
        }
        let (r, d) = model.scores(&f);
        let (want_r, want_d) = (
            g["residual"].as_f64().unwrap(),
            g["distance"].as_f64().unwrap(),
        );
        assert!(
            close(r, want_r),
            "{}: residual {r} vs {want_r}",
            file.display()
        );
        assert!(
            close(d, want_d),
            "{}: distance {d} vs {want_d}",
            file.display()
        );
        let (_, reason) = model.assess(&f);
        assert_eq!(
            reason.map(|r| r.name()),
            g["reason"].as_str(),
            "{}",
            file.display()
        );
    }
}

#[test]
fn the_daemon_files_an_out_of_scope_inbox_image_with_its_reason_and_no_probability() {
    let dir = std::env::temp_dir().join(format!("edge-screen-scope-{}", std::process::id()));
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let rotated = std::fs::read_dir(root().join("tests/fixtures/xray-scope/rotated"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::copy(&rotated, inbox.join("film.png")).unwrap();
    // Old enough to be taken on the first scan.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(inbox.join("film.png"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let events = dir.join("events.jsonl");
    let heatmaps = dir.join("heatmaps");
    let config = dir.join("kiosk.toml");
    std::fs::write(
        &config,
        format!("[xray]\nheatmap_dir = \"{}\"\n", heatmaps.display()),
    )
    .unwrap();
    let o = util::run(&[
        "--config",
        config.to_str().unwrap(),
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
        &format!("png:{}", dir.join("readout.png").display()),
    ]);
    assert!(o.status.success(), "stderr: {}", util::stderr(&o));
    let text = std::fs::read_to_string(&events).unwrap();
    let xray: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["type"] == "xray")
        .collect();
    assert_eq!(xray.len(), 1, "{text}");
    assert_eq!(xray[0]["finding"], "out_of_scope", "{}", xray[0]);
    assert_eq!(xray[0]["scope_reason"], "rotated", "{}", xray[0]);
    assert!(xray[0]["covid_probability"].is_null());
    assert!(xray[0].get("heatmap").is_none(), "{}", xray[0]);
    // Filed as done (it was screened, and refused), with the reason in its record.
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(inbox.join("done/film.png.json")).unwrap())
            .unwrap();
    assert_eq!(record["scope_reason"], "rotated", "{record}");
    let _ = std::fs::remove_dir_all(&dir);
}
