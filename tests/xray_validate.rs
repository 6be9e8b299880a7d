//! `edge-screen xray-validate` end to end, as a new site would use it: the real binary and the
//! shipped model on real films (held-out films of `../shared/data/xray`, by
//! `models/xray/split.csv`), the calibration it writes loaded by `xray` through `[xray]
//! site_calibration`, and a calibration for another model refused.

mod util;
use std::path::Path;
use util::*;

/// `xray --json` over the folder, with or without a configuration: file name → (p, finding,
/// threshold, site_validated).
fn screen(films: &Path, config: Option<&Path>) -> Vec<(String, f64, String, f64, bool)> {
    let mut args: Vec<String> = Vec::new();
    if let Some(c) = config {
        args.extend(["--config".into(), c.display().to_string()]);
    }
    args.extend(["xray".into(), "--json".into(), films.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&args);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let mut out: Vec<_> = json_lines(&stdout(&o))
        .into_iter()
        .map(|v| {
            let file = v["file"].as_str().unwrap();
            let rel = Path::new(file).strip_prefix(films).unwrap();
            (
                rel.display().to_string(),
                v["covid_probability"].as_f64().unwrap(),
                v["finding"].as_str().unwrap().to_string(),
                v["threshold"].as_f64().unwrap(),
                v["site_validated"]
                    .as_bool()
                    .unwrap_or_else(|| panic!("site_validated missing: {v}")),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn count(v: &serde_json::Value) -> (u64, u64) {
    (v["k"].as_u64().unwrap(), v["n"].as_u64().unwrap())
}

#[test]
fn a_site_calibration_changes_findings_and_one_for_another_model_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (labels, films, picked) = site_folder(dir.path());
    let covid_of = |f: &str| picked.iter().find(|(p, _)| p == f).unwrap().1;
    // Without a calibration first: the model's own threshold, not site-validated.
    let plain = screen(&films, None);
    assert_eq!(plain.len(), 50);
    let model_t = plain[0].3;
    let normals_below = plain
        .iter()
        .filter(|(f, p, ..)| !covid_of(f) && *p < model_t)
        .count();
    // The site threshold must clear more normals than the model's own threshold does, so that
    // findings change whatever the model (retraining moves its scores): the shipped model clears
    // 17 of these 25 adult normals (specificity 0.68; the issue found 0.10 to 0.80 by hospital),
    // so the default target 0.90 is used; the low minimum sensitivity keeps the test about the
    // mechanism, not about the model's quality.
    assert!(
        normals_below <= 23,
        "the model already clears {normals_below} of 25 normals: pick harder films"
    );
    let target = (0.9f64).max((normals_below + 1) as f64 / 25.0);
    let out = dir.path().join("site.json");
    let o = run(&[
        "xray-validate",
        "--labels",
        labels.to_str().unwrap(),
        films.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--target-specificity",
        &format!("{target:.2}"),
        "--min-sensitivity",
        "0.5",
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("5-fold cross-validated") && text.contains("screening aid"),
        "{text}"
    );
    let cal: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(cal["format"], "edge-screen-xray-site-calibration");
    assert_eq!(cal["version"], 1);
    assert_eq!(cal["counts"]["covid"], 25);
    assert_eq!(cal["counts"]["normal"], 25);
    assert_eq!(cal["software_version"], env!("CARGO_PKG_VERSION"));
    let site_t = cal["site_threshold"].as_f64().unwrap();
    assert!((cal["model"]["threshold"].as_f64().unwrap() - model_t).abs() < 1e-6);
    let (mut tp, mut tn) = (0, 0);
    for (f, p, finding, t, validated) in &plain {
        assert!(!validated, "{f}: validated without a calibration");
        assert!((t - model_t).abs() < 1e-6, "{f}: threshold {t}");
        assert_eq!(finding == "covid", *p >= model_t, "{f}: p {p}");
        match covid_of(f) {
            true => tp += usize::from(*p >= model_t),
            false => tn += usize::from(*p < model_t),
        }
    }
    // The file's in-sample numbers at the model's threshold are those of these 50 films.
    assert_eq!(
        count(&cal["at_model_threshold"]["sensitivity"]),
        (tp as u64, 25)
    );
    assert_eq!(
        count(&cal["at_model_threshold"]["specificity"]),
        (tn as u64, 25)
    );

    // With it: the site threshold, site-validated, findings by it.
    let config = write(
        dir.path(),
        "kiosk.toml",
        "[xray]\nsite_calibration = \"site.json\"\n",
    );
    let calibrated = screen(&films, Some(&config));
    assert_eq!(calibrated.len(), 50);
    let mut changed = 0;
    let (mut stp, mut stn) = (0, 0);
    for ((f, p, before, _, _), (f2, p2, after, t, validated)) in plain.iter().zip(&calibrated) {
        assert_eq!(f, f2);
        assert!((p - p2).abs() < 1e-6, "{f}: same model, same probability");
        assert!(validated, "{f}: not validated with the calibration");
        assert!(
            (t - site_t).abs() < 1e-6,
            "{f}: threshold {t}, site {site_t}"
        );
        assert_eq!(after == "covid", *p as f32 >= site_t as f32, "{f}: p {p}");
        changed += usize::from(before != after);
        match covid_of(f) {
            true => stp += usize::from(after == "covid"),
            false => stn += usize::from(after == "normal"),
        }
    }
    let in_sample = &cal["at_site_threshold_in_sample"];
    assert_eq!(count(&in_sample["sensitivity"]), (stp as u64, 25));
    assert_eq!(count(&in_sample["specificity"]), (stn as u64, 25));
    // The target asks for more normals below the threshold than the model's own clears, so at
    // least that many findings change from covid to normal.
    assert_eq!(tn, normals_below);
    let need = (target * 25.0 - 1e-9).ceil() as usize;
    assert!(
        stn >= need && need > tn,
        "{stn} normals below, {need} needed, {tn} before"
    );
    assert!(
        changed >= stn - tn && changed >= 1,
        "{changed} findings changed"
    );
    // The cross-validated estimate counts every film once, with intervals around it.
    let cv = &cal["cross_validated"];
    assert_eq!(cv["folds"], 5);
    assert_eq!(cv["fold_thresholds"].as_array().unwrap().len(), 5);
    for key in ["sensitivity", "specificity"] {
        let r = &cv[key];
        assert_eq!(count(r).1, 25, "{key}");
        let (v, lo, hi) = (
            r["value"].as_f64().unwrap(),
            r["wilson_95"][0].as_f64().unwrap(),
            r["wilson_95"][1].as_f64().unwrap(),
        );
        assert!(lo <= v && v <= hi && hi - lo > 0.05, "{key}: {r}");
    }

    // A calibration for another model file is refused, naming both digests.
    let real_sha = cal["model"]["sha256"].as_str().unwrap().to_string();
    let other_sha = "0".repeat(64);
    let mut altered = cal.clone();
    altered["model"]["sha256"] = other_sha.clone().into();
    write(dir.path(), "other.json", &altered.to_string());
    let config = write(
        dir.path(),
        "other.toml",
        "[xray]\nsite_calibration = \"other.json\"\n",
    );
    let o = run(&[
        "--config",
        config.to_str().unwrap(),
        "xray",
        "--json",
        films.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "stdout: {}", stdout(&o));
    let e = stderr(&o);
    assert!(
        e.contains(&other_sha) && e.contains(&real_sha) && e.contains("xray.site_calibration"),
        "{e}"
    );
    assert!(e.contains("other.toml") && e.contains("other.json"), "{e}");
    assert!(stdout(&o).is_empty(), "nothing screened: {}", stdout(&o));
}

#[test]
fn too_few_films_or_a_missing_film_are_refused_before_screening() {
    let dir = tempfile::tempdir().unwrap();
    let (labels, films, _) = site_folder(dir.path());
    let out = dir.path().join("site.json");
    let text = std::fs::read_to_string(&labels).unwrap();
    // Drop six normal rows: 25 covid, 19 normal.
    let fewer: Vec<&str> = text.lines().take(1 + 25 + 19).collect();
    let short = write(dir.path(), "short.csv", &(fewer.join("\n") + "\n"));
    let validate = |labels: &Path| {
        run(&[
            "xray-validate",
            "--labels",
            labels.to_str().unwrap(),
            films.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let o = validate(&short);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("short.csv: 25 covid and 19 normal films") && e.contains("at least 20"),
        "{e}"
    );
    let missing = write(
        dir.path(),
        "missing.csv",
        &text.replacen("\n", "\nnormal/not-there.png,normal\n", 1),
    );
    let o = validate(&missing);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("missing.csv line 2: `file` normal/not-there.png: not found"),
        "{e}"
    );
    assert!(!out.exists(), "nothing is written for a refused validation");
}
