//! The threshold rule and its cross-validation on synthetic score lists whose answers are worked
//! out by hand in the comments.

use super::threshold::*;
use super::*;

fn films(covid: &[f32], normal: &[f32]) -> Vec<Scored> {
    let c = covid.iter().map(|&p| Scored {
        probability: p,
        covid: true,
    });
    let n = normal.iter().map(|&p| Scored {
        probability: p,
        covid: false,
    });
    c.chain(n).collect()
}

fn rule(target_specificity: f64, min_sensitivity: f64) -> Rule {
    Rule {
        target_specificity,
        min_sensitivity,
    }
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-6
}

/// Normals 0.01, 0.02, ..., 0.20; covid 0.12, 0.16, ..., 0.88 (20 each).
fn ladder() -> Vec<Scored> {
    let normal: Vec<f32> = (1..=20).map(|i| i as f32 / 100.0).collect();
    let covid: Vec<f32> = (0..20).map(|i| (12 + 4 * i) as f32 / 100.0).collect();
    films(&covid, &normal)
}

#[test]
fn the_threshold_clears_just_enough_normals_halfway_to_the_next_score() {
    let f = ladder();
    // 0.90 × 20 = 18 normals must be below: the 18th is 0.18, the next score is 0.19 (normal),
    // so t = 0.185: specificity 18/20, sensitivity = covid >= 0.185 = 0.20..0.88 = 18/20.
    let t = threshold_for_specificity(&f, 0.90).unwrap();
    assert!(close(t, 0.185), "{t}");
    let at = operating(&f, t);
    assert_eq!((at.specificity.k, at.specificity.n), (18, 20));
    assert_eq!((at.sensitivity.k, at.sensitivity.n), (18, 20));
    // 0.95 → 19 below: 0.19, next 0.20 (a normal and a covid film) → 0.195;
    // 1.0 → all 20: 0.20, next the covid 0.24 → 0.22.
    assert!(close(threshold_for_specificity(&f, 0.95).unwrap(), 0.195));
    assert!(close(threshold_for_specificity(&f, 1.0).unwrap(), 0.22));
    // 0.5 → 10 below: 0.10, next 0.11 → 0.105.
    assert!(close(threshold_for_specificity(&f, 0.5).unwrap(), 0.105));
}

#[test]
fn the_choice_keeps_the_minimum_sensitivity_or_says_why_not() {
    let f = ladder();
    assert!(close(choose(&f, &rule(0.90, 0.90)).unwrap(), 0.185));
    // 18/20 = 0.90 < 0.95: refused, naming what the target-specificity threshold gives.
    match choose(&f, &rule(0.90, 0.95)) {
        Err(ChoiceError::BelowMinSensitivity { threshold, at, .. }) => {
            assert!(close(threshold, 0.185));
            assert_eq!(at.sensitivity.k, 18);
            let msg = choose(&f, &rule(0.90, 0.95)).unwrap_err().to_string();
            assert!(
                msg.contains("0.900 (18 of 20") && msg.contains("minimum 0.95"),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Normals at probability 1: nothing below 1 clears them.
    let saturated = films(&[0.9; 20], &[1.0; 20]);
    assert!(matches!(
        choose(&saturated, &rule(0.9, 0.0)),
        Err(ChoiceError::Unreachable { .. })
    ));
}

#[test]
fn eighteen_of_twenty_is_ninety_percent_despite_rounding() {
    // 0.9 × 20 is 18.000000000000004 in floating point; it must not ask for 19 normals.
    let normal: Vec<f32> = (1..=20).map(|i| i as f32 / 100.0).collect();
    let f = films(&[0.9; 20], &normal);
    assert!(close(threshold_for_specificity(&f, 0.9).unwrap(), 0.185));
}

#[test]
fn folds_are_stratified_and_fixed_by_the_seed() {
    let f = ladder();
    let a = stratified_folds(&f, 5, 7);
    assert_eq!(a, stratified_folds(&f, 5, 7));
    assert_ne!(a, stratified_folds(&f, 5, 8));
    for k in 0..5 {
        for class in [true, false] {
            let n = (0..f.len())
                .filter(|&i| a[i] == k && f[i].covid == class)
                .count();
            assert_eq!(n, 4, "fold {k} class {class}");
        }
    }
}

#[test]
fn separable_films_cross_validate_perfectly() {
    // Every normal at 0.1 and every covid at 0.9: any training part gives (0.1 + 0.9) / 2.
    let f = films(&[0.9; 25], &[0.1; 25]);
    let cv = cross_validate(&f, &rule(0.9, 0.9), 5, 1).unwrap();
    assert_eq!(cv.fold_thresholds.len(), 5);
    assert!(cv.fold_thresholds.iter().all(|t| close(*t, 0.5)));
    assert_eq!((cv.sensitivity.k, cv.sensitivity.n), (25, 25));
    assert_eq!((cv.specificity.k, cv.specificity.n), (25, 25));
    assert_eq!(cv.folds_below_min_sensitivity, 0);
}

#[test]
fn cross_validation_is_not_fooled_by_a_threshold_fitted_to_its_own_films() {
    // Normals: 19 at 0.05 and one at 0.70. Covid: 19 at 0.90 and one at 0.75. Target 0.95,
    // minimum 0.90. In-sample: 19 normals below → 0.05, next score 0.70 → t = 0.375: all covid
    // found (20/20) and 19/20 normals: perfect on its own films but for the one outlier.
    let mut normal = vec![0.05f32; 19];
    normal.push(0.70);
    let mut covid = vec![0.90f32; 19];
    covid.push(0.75);
    let f = films(&covid, &normal);
    let r = rule(0.95, 0.90);
    assert!(close(choose(&f, &r).unwrap(), 0.375));
    let at = operating(&f, 0.375);
    assert_eq!((at.sensitivity.k, at.specificity.k), (20, 19));
    // 5 folds of 4 + 4; 16 training normals, 0.95 × 16 → all 16 below. Find a seed that puts
    // the covid 0.75 (index 19) and the normal 0.70 (index 39) in different folds:
    let seed = (0..100)
        .find(|&s| {
            let a = stratified_folds(&f, 5, s);
            a[19] != a[39]
        })
        .unwrap();
    let cv = cross_validate(&f, &r, 5, seed).unwrap();
    // Fold holding the covid 0.75: its training normals include 0.70, so t = (0.70 + 0.90) / 2
    // = 0.80 and the 0.75 film is missed → sensitivity 19/20.
    // Fold holding the normal 0.70: training normals all 0.05, next 0.75 → t = 0.40, and the
    // held-out 0.70 is flagged → specificity 19/20. The other folds classify all right.
    assert_eq!((cv.sensitivity.k, cv.sensitivity.n), (19, 20), "{cv:?}");
    assert_eq!((cv.specificity.k, cv.specificity.n), (19, 20), "{cv:?}");
    let fold = stratified_folds(&f, 5, seed);
    assert!(close(cv.fold_thresholds[fold[19]], 0.80), "{cv:?}");
    assert!(close(cv.fold_thresholds[fold[39]], 0.40), "{cv:?}");
    // The fold missing the 0.75 still met 0.90 on its training films (16/16).
    assert_eq!(cv.folds_below_min_sensitivity, 0);
    // Wilson 95 % for 19/20: 0.764-0.991.
    let [lo, hi] = cv.sensitivity.wilson_95;
    assert!(
        (lo - 0.7639).abs() < 1e-3 && (hi - 0.9911).abs() < 1e-3,
        "{lo} {hi}"
    );
}

#[test]
fn a_fold_short_of_the_minimum_is_counted_and_still_measured() {
    // Covid: 16 at 0.9, 4 at 0.02; normals: 20 at 0.05. Target 0.9 → t = (0.05 + 0.9) / 2 =
    // 0.475 in-sample and in every fold; sensitivity in-sample 16/20 = 0.80.
    let mut covid = vec![0.9f32; 16];
    covid.extend([0.02; 4]);
    let f = films(&covid, &[0.05; 20]);
    let r = rule(0.9, 0.85);
    assert!(matches!(
        choose(&f, &r),
        Err(ChoiceError::BelowMinSensitivity { .. })
    ));
    let cv = cross_validate(&f, &r, 4, 3).unwrap();
    // A training part of 15 covid films holding L low ones finds (15 - L) / 15: below 0.85 for
    // L >= 3, i.e. when its held-out fold has at most one of the four low films.
    let fold = stratified_folds(&f, 4, 3);
    let short = (0..4)
        .filter(|&k| (16..20).filter(|&i| fold[i] == k).count() <= 1)
        .count();
    assert!(
        short >= 1,
        "four low films in four folds leave one with at most one"
    );
    assert_eq!(cv.folds_below_min_sensitivity, short, "{cv:?}");
    // Every fold still classifies at its target-specificity threshold, 0.475.
    assert!(
        cv.fold_thresholds.iter().all(|t| close(*t, 0.475)),
        "{cv:?}"
    );
    assert_eq!((cv.sensitivity.k, cv.specificity.k), (16, 20));
}

#[test]
fn too_few_films_of_a_class_are_refused_with_the_counts() {
    let film = |covid| LabelledFilm {
        name: "x".into(),
        image: ImageSource::File("x.png".into()),
        covid,
    };
    let mut list: Vec<LabelledFilm> = (0..25).map(|_| film(true)).collect();
    list.extend((0..19).map(|_| film(false)));
    let e = check_counts(&list, "labels.csv").unwrap_err();
    assert!(
        e.contains("labels.csv: 25 covid and 19 normal films") && e.contains("at least 20"),
        "{e}"
    );
    list.push(film(false));
    let c = check_counts(&list, "labels.csv").unwrap();
    assert_eq!((c.covid, c.normal), (25, 20));
}

#[test]
fn labelled_films_are_found_in_the_folders_or_named_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(a.join("covid")).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(a.join("covid/x.png"), b"x").unwrap();
    std::fs::write(b.join("y.png"), b"y").unwrap();
    let labels = dir.path().join("labels.csv");
    std::fs::write(&labels, "file,label\ncovid/x.png,covid\ny.png,normal\n").unwrap();
    let films = films_from_labels(&labels, None, &[a.clone(), b.clone()]).unwrap();
    assert_eq!(films.len(), 2);
    assert_eq!(films[0].image, ImageSource::File(a.join("covid/x.png")));
    assert!(films[0].covid && !films[1].covid);
    std::fs::write(&labels, "file,label\ncovid/x.png,covid\nz.png,normal\n").unwrap();
    let e = films_from_labels(&labels, None, &[a, b])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!(
            "{} line 3: `file` z.png: not found",
            labels.display()
        )),
        "{e}"
    );
}

#[test]
fn the_same_image_twice_is_counted_once_and_a_label_clash_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let film = |name: &str, path: PathBuf, covid: bool| LabelledFilm {
        name: name.into(),
        image: ImageSource::File(path),
        covid,
    };
    let a = file("a.png", b"film A");
    let a_again = file("a-copy.png", b"film A");
    let b = file("b.png", b"film B");
    let films = vec![
        film("labels line 2", a.clone(), true),
        film("labels line 3", b.clone(), false),
        film("review #1", a_again.clone(), true),
        film("review #2", b, true),
        film("missing", dir.path().join("none.png"), false),
    ];
    let (kept, dropped) = drop_duplicates(films);
    let names: Vec<&str> = kept.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["labels line 2", "labels line 3", "missing"]);
    assert_eq!(dropped.len(), 2, "{dropped:?}");
    assert_eq!(
        dropped[0],
        "review #1: the same image as labels line 2, counted once"
    );
    assert!(
        dropped[1].starts_with("review #2: the same image as labels line 3")
            && dropped[1].contains("label covid disagrees with normal there"),
        "{}",
        dropped[1]
    );
}
