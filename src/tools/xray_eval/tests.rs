//! Readers, statistics and the per-source evaluation of `edge-screen xray-eval`.

use super::input::{parse_labels, parse_prediction};
use super::*;

fn label(f: &str, covid: bool, src: &str, pat: &str) -> Label {
    Label {
        filename: f.into(),
        covid,
        source: src.into(),
        patient: pat.into(),
        line: 0,
    }
}

fn pred(f: &str, p: f64, thr: f64) -> Prediction {
    Prediction {
        file: f.into(),
        outcome: Ok(Screened {
            probability: p,
            flagged: p >= thr,
            threshold: Some(thr),
            model: Some("m 1".into()),
        }),
    }
}

#[test]
fn wilson_matches_the_textbook_values() {
    // 28 of 46: 0.609 (0.465-0.736), as in the model card's table.
    let [lo, hi] = wilson(28, 46);
    assert!(
        (lo - 0.4647).abs() < 5e-4 && (hi - 0.7363).abs() < 5e-4,
        "{lo} {hi}"
    );
    let [lo, hi] = wilson(50, 51);
    assert!(
        (lo - 0.8969).abs() < 5e-4 && (hi - 0.9965).abs() < 5e-4,
        "{lo} {hi}"
    );
    assert_eq!(wilson(0, 0), [0.0, 1.0]);
}

#[test]
fn auc_counts_ties_as_half() {
    assert_eq!(auc(&[0.9, 0.8], &[0.1, 0.2]), Some(1.0));
    assert_eq!(auc(&[0.1], &[0.9]), Some(0.0));
    assert_eq!(auc(&[0.5], &[0.5]), Some(0.5));
    assert_eq!(auc(&[0.5, 0.7], &[0.5, 0.1]), Some(0.875));
    assert_eq!(auc(&[], &[0.5]), None);
}

#[test]
fn patient_bootstrap_is_wider_than_wilson_when_one_patient_dominates() {
    // 40 images: 30 patients with one correct image each, one patient with 10 wrong ones.
    let mut clusters = vec![(1, 1); 30];
    clusters.push((0, 10));
    let [blo, bhi] = cluster_bootstrap(&clusters, 4000, 7);
    let [wlo, whi] = wilson(30, 40);
    assert!(
        bhi - blo > whi - wlo,
        "bootstrap {blo}-{bhi}, Wilson {wlo}-{whi}"
    );
    assert!(blo < 0.75 && bhi > 0.75);
    // Reproducible for a seed.
    assert_eq!(
        cluster_bootstrap(&clusters, 500, 3),
        cluster_bootstrap(&clusters, 500, 3)
    );
    // No variation at all: a point interval.
    assert_eq!(cluster_bootstrap(&[(2, 2), (1, 1)], 100, 1), [1.0, 1.0]);
}

#[test]
fn labels_csv_with_quotes_and_a_split_filter() {
    let text = "filename,label,source,note,patient_id,split\n\
                covid/a.png,covid,ieee,\"x, y\",p1,holdout\n\
                normal/b.png,normal,nih,\"say \"\"hi\"\"\",p2,train\n\
                normal/c.png,NORMAL,nih,,,holdout\n";
    let all = parse_labels(text, None).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[1].patient, "p2");
    let h = parse_labels(text, Some("holdout")).unwrap();
    assert_eq!(h.len(), 2);
    assert!(h[0].covid && !h[1].covid);
    assert_eq!(
        h[1].patient, "normal/c.png",
        "no patient id: the image is its own patient"
    );
    assert_eq!(h[1].source, "nih");
}

#[test]
fn bad_labels_name_the_line_and_field() {
    let e = parse_labels("name,label\na,covid\n", None).unwrap_err();
    assert_eq!(e.0, 1);
    assert!(e.1.contains("no `filename` (or `file`) column"), "{}", e.1);
    // A site's `file,label` is read the same, each row with its line.
    let site = parse_labels("file,label\n\na.png,covid\nb.png,normal\n", None).unwrap();
    let rows: Vec<_> = site
        .iter()
        .map(|l| (l.filename.as_str(), l.covid, l.line))
        .collect();
    assert_eq!(rows, [("a.png", true, 3), ("b.png", false, 4)]);
    let e = parse_labels("filename,label\na,covid\nb,maybe\n", None).unwrap_err();
    assert_eq!(e.0, 3);
    assert!(e.1.contains("`label`: `maybe`"), "{}", e.1);
    let e = parse_labels("filename,label\na,covid\na,normal\n", None).unwrap_err();
    assert!(e.1.contains("already on line 2"), "{}", e.1);
    let e = parse_labels("filename,label\n\"a,covid\n", None).unwrap_err();
    assert!(e.1.contains("not closed"), "{}", e.1);
    let e = parse_labels("filename,label,split\na,covid,train\n", Some("holdout")).unwrap_err();
    assert!(e.1.contains("no rows with split `holdout`"), "{}", e.1);
    let e = parse_labels("", None).unwrap_err();
    assert!(e.1.contains("empty"), "{}", e.1);
}

#[test]
fn labels_csv_with_a_bom_crlf_and_blank_lines() {
    let text = "\u{feff}filename,label\r\n\r\n  \r\na.png,covid\r\n\n\"\"\n";
    let e = parse_labels(text, None).unwrap_err();
    assert_eq!(
        e,
        (6, "`filename`: empty".to_string()),
        "`\"\"` is not a blank line"
    );
    let all = parse_labels(&text.replace("\"\"\n", "b.png,0"), None).unwrap();
    assert_eq!(all.len(), 2);
    assert!(all[0].covid && !all[1].covid);
    let e = parse_labels("filename,label\n\na.png,covid\n\"b.png,covid", None).unwrap_err();
    assert_eq!(e.0, 4);
    assert!(e.1.contains("not closed"), "{}", e.1);
    let e = parse_labels("\nfilename\n", None).unwrap_err();
    assert_eq!(e.0, 2, "the header's own line: {e:?}");
}

#[test]
fn prediction_lines_keep_what_they_can() {
    let p = parse_prediction(
        "{\"file\":\"a\\\\b.png\",\"covid_probability\":1,\"finding\":\"covid\",\
         \"threshold\":\"high\",\"model\":{\"name\":\"m\"},\"extra\":[1]}",
    )
    .unwrap();
    let Ok(s) = p.outcome else { panic!("{p:?}") };
    assert_eq!(p.file, "a/b.png");
    assert_eq!((s.probability, s.flagged), (1.0, true));
    assert_eq!((s.threshold, s.model), (None, None), "not usable: left out");
    let p = parse_prediction(
        "{\"file\":\"a\",\"covid_probability\":0.2,\"finding\":\"normal\",\"threshold\":0.3,\
         \"model\":{\"name\":\"m\",\"version\":\"2\"},\"threshold\":0.4}",
    )
    .unwrap();
    let Ok(s) = p.outcome else { panic!("{p:?}") };
    assert_eq!(
        s.threshold,
        Some(0.4),
        "of a field given twice, the last counts"
    );
    assert_eq!(s.model.as_deref(), Some("m 2"));
    let p = parse_prediction("{\"file\":\"a\",\"error\":null}").unwrap();
    assert_eq!(p.outcome, Err("(error)".into()));
    let e = parse_prediction("[\"a\"]").unwrap_err();
    assert!(e.contains("not a JSON object"), "{e}");
    let e = parse_prediction("{\"file\":7}").unwrap_err();
    assert!(e.contains("no `file` string"), "{e}");
}

#[test]
fn bad_prediction_lines_are_named() {
    assert!(parse_prediction("{")
        .unwrap_err()
        .contains("not a JSON object"));
    assert!(parse_prediction("{\"x\":1}")
        .unwrap_err()
        .contains("`file`"));
    let e = parse_prediction("{\"file\":\"a\",\"covid_probability\":1.5,\"finding\":\"covid\"}");
    assert!(e.unwrap_err().contains("covid_probability"));
    let e = parse_prediction("{\"file\":\"a\",\"covid_probability\":0.5,\"finding\":\"maybe\"}");
    assert!(e.unwrap_err().contains("finding"));
    let p = parse_prediction("{\"file\":\"a\",\"error\":\"truncated PNG\"}").unwrap();
    assert_eq!(p.outcome, Err("truncated PNG".into()));
}

#[test]
fn evaluation_per_source_with_unscreened_and_unlabelled_files() {
    let labels = vec![
        label("covid/1.png", true, "ieee", "a"),
        label("covid/2.png", true, "ieee", "b"),
        label("covid/3.png", true, "ieee", "c"),
        label("normal/4.png", false, "nih", "d"),
        label("normal/5.png", false, "nih", "d"),
        label("normal/6.png", false, "nih", "e"),
        label("normal/7.png", false, "kermany", "f"),
    ];
    let t = 0.3;
    let mut preds = vec![
        pred("/data/x/covid/1.png", 0.9, t),
        pred("/data/x/covid/2.png", 0.2, t),  // missed
        pred("/data/x/normal/4.png", 0.4, t), // false alarm, patient d
        pred("/data/x/normal/5.png", 0.1, t),
        pred("/data/x/normal/6.png", 0.05, t),
        pred("/data/x/normal/7.png", 0.01, t),
        pred("/elsewhere/other.png", 0.5, t),
        pred("/data/x/normal/7.png", 0.99, t), // duplicate: ignored
    ];
    preds.push(Prediction {
        file: "covid/3.png".into(),
        outcome: Err("truncated".into()),
    });
    let o = Options {
        min_images: 2,
        ..Options::default()
    };
    let e = evaluate(&labels, &preds, &o);
    assert_eq!((e.labelled, e.screened), (7, 6));
    assert_eq!(
        e.not_screened,
        vec![("covid/3.png".to_string(), "truncated".to_string())]
    );
    assert_eq!(
        e.unlabelled_predictions,
        vec!["/elsewhere/other.png".to_string()]
    );
    assert_eq!(e.duplicate_predictions.len(), 1);
    assert_eq!(e.models, vec!["m 1".to_string()]);
    let names: Vec<&str> = e.sources.iter().map(|s| s.source.as_str()).collect();
    assert_eq!(names, ["ieee", "kermany", "nih"]);
    let ieee = &e.sources[0];
    assert_eq!((ieee.images, ieee.not_screened, ieee.covid), (3, 1, 2));
    let sens = ieee.sensitivity.as_ref().unwrap();
    assert_eq!((sens.k, sens.n), (1, 2));
    let nih = &e.sources[2];
    let spec = nih.specificity.as_ref().unwrap();
    assert_eq!((spec.k, spec.n), (2, 3));
    assert_eq!(nih.patients, 2);
    assert_eq!(nih.largest_patient_images, 2);
    assert_eq!(nih.patients_with_a_false_alarm, Some([1, 2]));
    // covid {0.9, 0.2} vs nih normals {0.4, 0.1, 0.05}: 3 + 2 of 6 pairs.
    assert!((nih.auc_all_covid_vs_these_normals.unwrap() - 5.0 / 6.0).abs() < 1e-12);
    assert_eq!(nih.auc_within_source, None);
    // Goal: ieee sensitivity 0.5 and nih specificity 0.667 fail; kermany (1 image) not judged.
    assert!(!e.goal_met);
    let kermany = e.goal.iter().find(|g| g.source == "kermany").unwrap();
    assert_eq!(kermany.verdict, "too few images");
    let text = render(&e);
    assert!(text.contains("NOT MET"), "{text}");
    assert!(text.contains("covid/3.png: truncated"), "{text}");
}

#[test]
fn the_goal_is_met_only_when_every_judged_rate_is() {
    let labels = vec![
        label("a.png", true, "s", "1"),
        label("b.png", false, "s", "2"),
    ];
    let preds = vec![pred("a.png", 0.9, 0.5), pred("b.png", 0.1, 0.5)];
    let o = Options {
        min_images: 1,
        bootstrap: 50,
        ..Options::default()
    };
    let e = evaluate(&labels, &preds, &o);
    assert!(e.goal_met);
    assert_eq!(e.sources[0].auc_within_source, Some(1.0));
    // Nothing judged (too few images): not met.
    let e = evaluate(&labels, &preds, &Options::default());
    assert!(!e.goal_met);
}

#[test]
fn out_of_scope_predictions_are_counted_per_source_and_kept_out_of_the_rates() {
    let p = parse_prediction(
        "{\"file\":\"normal/5.png\",\"covid_probability\":null,\"finding\":\"out_of_scope\",\
         \"scope_reason\":\"rotated\"}",
    )
    .unwrap();
    assert_eq!(p.outcome, Err("out_of_scope: rotated".into()));
    let labels = vec![
        label("covid/1.png", true, "ieee", "a"),
        label("normal/4.png", false, "nih", "d"),
        label("normal/5.png", false, "nih", "e"),
    ];
    let preds = vec![
        pred("covid/1.png", 0.9, 0.3),
        pred("normal/4.png", 0.1, 0.3),
        p,
    ];
    let e = evaluate(&labels, &preds, &Options::default());
    let nih = &e.sources[1];
    assert_eq!((nih.images, nih.not_screened, nih.out_of_scope), (2, 1, 1));
    assert_eq!(nih.specificity.as_ref().map(|r| r.n), Some(1));
    assert_eq!(e.sources[0].out_of_scope, 0);
    assert!(render(&e).contains("1 not screened, 1 of them out of scope"));
}
