//! Per-source evaluation of screening results against known labels (`edge-screen xray-eval`).
//!
//! Input: the JSON lines that `edge-screen xray --json` printed (one object per image, or
//! `{"file", "error"}` for an image that could not be screened) and a labels CSV with at least the
//! columns `filename` and `label` (`covid` or `normal`), optionally `source`, `patient_id` and
//! `split`. The data set's `manifest.csv` and `models/xray/split.csv` are such files. A prediction
//! belongs to the label row whose `filename` is its path or a trailing part of it, so predictions
//! made on another machine, under another folder, still match.
//!
//! Output, per source (hospital or data set): images, patients, sensitivity and specificity at the
//! threshold the screener used, each with a 95 % Wilson interval (which assumes independent images)
//! and a 95 % patient-bootstrap interval (which does not: several films of one patient tend to be
//! right or wrong together), and the AUC of all covid images against this source's normals. The
//! screening goal is checked for every source with enough images of a class. Pooled numbers are
//! deliberately not the headline: sources differ in age, hospital and film type (see
//! `models/xray/MODEL_CARD.md`).

mod input;
mod stats;

pub use input::{
    read_labels, read_predictions, InputError, Label, Prediction, Screened, OUT_OF_SCOPE,
};
pub use stats::{auc, cluster_bootstrap, wilson};

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// A proportion with its intervals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rate {
    /// Correct calls.
    pub k: usize,
    /// Images.
    pub n: usize,
    /// k / n.
    pub value: f64,
    /// 95 % Wilson score interval (images taken as independent).
    pub wilson_95: [f64; 2],
    /// 95 % percentile interval of the patient bootstrap (patients resampled with replacement).
    pub patient_bootstrap_95: [f64; 2],
}

/// The results for one source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceReport {
    /// Source name.
    pub source: String,
    /// Labelled images of this source.
    pub images: usize,
    /// Labelled images that could not be screened, or have no prediction: not in the rates.
    pub not_screened: usize,
    /// Of those, images refused by the scope check (`finding` `out_of_scope`).
    pub out_of_scope: usize,
    /// Distinct patients among the screened images.
    pub patients: usize,
    /// Images of the patient with the most images (screened).
    pub largest_patient_images: usize,
    /// Screened covid images.
    pub covid: usize,
    /// Screened normal images.
    pub normal: usize,
    /// Covid images flagged (when there are any).
    pub sensitivity: Option<Rate>,
    /// Normal images not flagged (when there are any).
    pub specificity: Option<Rate>,
    /// Patients with at least one normal image flagged / patients with a normal image.
    pub patients_with_a_false_alarm: Option<[usize; 2]>,
    /// AUC of every screened covid image (all sources) against this source's normals.
    pub auc_all_covid_vs_these_normals: Option<f64>,
    /// AUC within this source, when it has both classes.
    pub auc_within_source: Option<f64>,
    /// Mean covid probability.
    pub mean_probability: f64,
}

/// What the goal check said for one rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoalItem {
    /// Source.
    pub source: String,
    /// `sensitivity` or `specificity`.
    pub rate: &'static str,
    /// Measured value.
    pub value: f64,
    /// Required value.
    pub goal: f64,
    /// Images behind it.
    pub n: usize,
    /// `met`, `not met`, or `too few images` (fewer than the minimum: not judged).
    pub verdict: &'static str,
}

/// Options of the evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Sensitivity goal per source.
    pub goal_sensitivity: f64,
    /// Specificity goal per source.
    pub goal_specificity: f64,
    /// Fewest images of a class for a source's rate to be judged against the goal.
    pub min_images: usize,
    /// Bootstrap draws.
    pub bootstrap: usize,
    /// Bootstrap seed (the report is reproducible).
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            goal_sensitivity: 0.95,
            goal_specificity: 0.90,
            min_images: 20,
            bootstrap: 2000,
            seed: 1,
        }
    }
}

/// The whole evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// Labelled images.
    pub labelled: usize,
    /// Labelled images with a screening result.
    pub screened: usize,
    /// Labelled images without one: (file, why).
    pub not_screened: Vec<(String, String)>,
    /// Predictions that match no label row (not counted anywhere).
    pub unlabelled_predictions: Vec<String>,
    /// Predictions given more than once for one image (the first is used).
    pub duplicate_predictions: Vec<String>,
    /// Models seen in the predictions (name and version).
    pub models: Vec<String>,
    /// Thresholds seen in the predictions.
    pub thresholds: Vec<f64>,
    /// Per source, in name order.
    pub sources: Vec<SourceReport>,
    /// The goal, per judged rate.
    pub goal: Vec<GoalItem>,
    /// True when every judged rate meets its goal and at least one rate was judged.
    pub goal_met: bool,
    /// The goal in words.
    pub goal_rule: String,
}

fn rate(per_patient: &BTreeMap<&str, (usize, usize)>, o: &Options, salt: u64) -> Option<Rate> {
    let clusters: Vec<(usize, usize)> = per_patient.values().copied().collect();
    let (k, n) = clusters
        .iter()
        .fold((0, 0), |(a, b), (ck, cn)| (a + ck, b + cn));
    (n > 0).then(|| Rate {
        k,
        n,
        value: k as f64 / n as f64,
        wilson_95: wilson(k, n),
        patient_bootstrap_95: cluster_bootstrap(&clusters, o.bootstrap, o.seed ^ salt),
    })
}

/// The label row a prediction's file belongs to: the longest trailing part of its path that is a
/// label's `filename`.
fn find_label(index: &HashMap<&str, usize>, file: &str) -> Option<usize> {
    let parts: Vec<&str> = file.split('/').collect();
    (0..parts.len()).find_map(|i| {
        let tail = parts[i..].join("/");
        index.get(tail.as_str()).copied()
    })
}

/// Scores `predictions` against `labels`.
pub fn evaluate(labels: &[Label], predictions: &[Prediction], o: &Options) -> Evaluation {
    let index: HashMap<&str, usize> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.filename.as_str(), i))
        .collect();
    let mut got: Vec<Option<&Result<Screened, String>>> = vec![None; labels.len()];
    let (mut unlabelled, mut duplicates) = (Vec::new(), Vec::new());
    let (mut models, mut thresholds) = (Vec::<String>::new(), Vec::<f64>::new());
    for p in predictions {
        match find_label(&index, &p.file) {
            None => unlabelled.push(p.file.clone()),
            Some(i) if got[i].is_some() => duplicates.push(p.file.clone()),
            Some(i) => {
                got[i] = Some(&p.outcome);
                if let Ok(s) = &p.outcome {
                    if let Some(m) = &s.model {
                        if !models.contains(m) {
                            models.push(m.clone());
                        }
                    }
                    if let Some(t) = s.threshold {
                        if !thresholds.iter().any(|x| (x - t).abs() < 1e-9) {
                            thresholds.push(t);
                        }
                    }
                }
            }
        }
    }
    let mut not_screened = Vec::new();
    let mut screened: Vec<(&Label, &Screened)> = Vec::new();
    for (l, g) in labels.iter().zip(&got) {
        match g {
            Some(Ok(s)) => screened.push((l, s)),
            Some(Err(e)) => not_screened.push((l.filename.clone(), e.clone())),
            None => not_screened.push((l.filename.clone(), "no prediction".to_string())),
        }
    }
    let all_covid: Vec<f64> = screened
        .iter()
        .filter(|(l, _)| l.covid)
        .map(|(_, s)| s.probability)
        .collect();
    let mut names: Vec<&str> = labels.iter().map(|l| l.source.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut sources = Vec::new();
    let mut goal = Vec::new();
    for (si, name) in names.iter().enumerate() {
        let rows: Vec<&(&Label, &Screened)> =
            screened.iter().filter(|(l, _)| l.source == *name).collect();
        let images = labels.iter().filter(|l| l.source == *name).count();
        let mut pos: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        let mut neg: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        let mut per_patient: HashMap<&str, usize> = HashMap::new();
        for (l, s) in &rows {
            *per_patient.entry(l.patient.as_str()).or_default() += 1;
            let (map, correct) = if l.covid {
                (&mut pos, s.flagged)
            } else {
                (&mut neg, !s.flagged)
            };
            let e = map.entry(l.patient.as_str()).or_default();
            e.0 += usize::from(correct);
            e.1 += 1;
        }
        let salt = 0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(si as u64 + 1);
        let sensitivity = rate(&pos, o, salt);
        let specificity = rate(&neg, o, salt.rotate_left(17));
        let probs = |covid: bool| -> Vec<f64> {
            rows.iter()
                .filter(|(l, _)| l.covid == covid)
                .map(|(_, s)| s.probability)
                .collect()
        };
        let (p_pos, p_neg) = (probs(true), probs(false));
        for (r, which, want) in [
            (&sensitivity, "sensitivity", o.goal_sensitivity),
            (&specificity, "specificity", o.goal_specificity),
        ] {
            if let Some(r) = r {
                goal.push(GoalItem {
                    source: name.to_string(),
                    rate: which,
                    value: r.value,
                    goal: want,
                    n: r.n,
                    verdict: if r.n < o.min_images {
                        "too few images"
                    } else if r.value + 1e-12 >= want {
                        "met"
                    } else {
                        "not met"
                    },
                });
            }
        }
        sources.push(SourceReport {
            source: name.to_string(),
            images,
            not_screened: images - rows.len(),
            out_of_scope: labels
                .iter()
                .zip(&got)
                .filter(|(l, g)| {
                    l.source == *name && matches!(g, Some(Err(e)) if e.starts_with(OUT_OF_SCOPE))
                })
                .count(),
            patients: per_patient.len(),
            largest_patient_images: per_patient.values().copied().max().unwrap_or(0),
            covid: p_pos.len(),
            normal: p_neg.len(),
            patients_with_a_false_alarm: (!neg.is_empty())
                .then(|| [neg.values().filter(|(k, n)| k < n).count(), neg.len()]),
            auc_all_covid_vs_these_normals: auc(&all_covid, &p_neg),
            auc_within_source: auc(&p_pos, &p_neg),
            mean_probability: if rows.is_empty() {
                0.0
            } else {
                rows.iter().map(|(_, s)| s.probability).sum::<f64>() / rows.len() as f64
            },
            sensitivity,
            specificity,
        });
    }
    let judged: Vec<&GoalItem> = goal
        .iter()
        .filter(|g| g.verdict != "too few images")
        .collect();
    let goal_met = !judged.is_empty() && judged.iter().all(|g| g.verdict == "met");
    Evaluation {
        labelled: labels.len(),
        screened: screened.len(),
        not_screened,
        unlabelled_predictions: unlabelled,
        duplicate_predictions: duplicates,
        models,
        thresholds,
        sources,
        goal,
        goal_met,
        goal_rule: format!(
            "sensitivity >= {} and specificity >= {} for every source with at least {} images of that class",
            o.goal_sensitivity, o.goal_specificity, o.min_images
        ),
    }
}

fn fmt_rate(r: &Option<Rate>) -> String {
    match r {
        None => "-".into(),
        Some(r) => format!(
            "{:.3} ({}/{}; Wilson {:.2}-{:.2}; patients {:.2}-{:.2})",
            r.value,
            r.k,
            r.n,
            r.wilson_95[0],
            r.wilson_95[1],
            r.patient_bootstrap_95[0],
            r.patient_bootstrap_95[1]
        ),
    }
}

/// The report in words, for a terminal.
pub fn render(e: &Evaluation) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} labelled images: {} screened, {} not screened; model {}; threshold {}",
        e.labelled,
        e.screened,
        e.not_screened.len(),
        if e.models.is_empty() {
            "(not given)".to_string()
        } else {
            e.models.join(" + ")
        },
        if e.thresholds.is_empty() {
            "(not given)".to_string()
        } else {
            e.thresholds
                .iter()
                .map(|t| format!("{t:.4}"))
                .collect::<Vec<_>>()
                .join(" + ")
        }
    );
    if e.models.len() > 1 || e.thresholds.len() > 1 {
        let _ = writeln!(
            s,
            "WARNING: the predictions come from more than one model or threshold"
        );
    }
    for src in &e.sources {
        let _ = writeln!(
            s,
            "\n{}: {} images ({} covid, {} normal screened; {} not screened, {} of them out of scope), {} patients, at most {} images from one patient",
            src.source, src.images, src.covid, src.normal, src.not_screened, src.out_of_scope, src.patients, src.largest_patient_images
        );
        if src.sensitivity.is_some() {
            let _ = writeln!(s, "  sensitivity {}", fmt_rate(&src.sensitivity));
        }
        if src.specificity.is_some() {
            let _ = writeln!(s, "  specificity {}", fmt_rate(&src.specificity));
        }
        if let Some([k, n]) = src.patients_with_a_false_alarm {
            let _ = writeln!(s, "  patients with a false alarm: {k} of {n}");
        }
        if let Some(a) = src.auc_all_covid_vs_these_normals {
            let _ = writeln!(s, "  AUC, every covid image vs these normals: {a:.3}");
        }
        if let Some(a) = src.auc_within_source {
            let _ = writeln!(s, "  AUC within the source: {a:.3}");
        }
        let _ = writeln!(s, "  mean covid probability {:.3}", src.mean_probability);
    }
    let _ = writeln!(s, "\ngoal ({}):", e.goal_rule);
    for g in &e.goal {
        let _ = writeln!(
            s,
            "  {} {} {:.3} vs {} (n = {}): {}",
            g.source, g.rate, g.value, g.goal, g.n, g.verdict
        );
    }
    let _ = writeln!(s, "  => {}", if e.goal_met { "MET" } else { "NOT MET" });
    if !e.not_screened.is_empty() {
        let _ = writeln!(s, "\nnot screened (not in the rates):");
        for (f, why) in &e.not_screened {
            let _ = writeln!(s, "  {f}: {why}");
        }
    }
    if !e.unlabelled_predictions.is_empty() {
        let _ = writeln!(
            s,
            "\n{} prediction(s) match no label row in use (wrong folder, or outside --split) and were ignored, e.g. {}",
            e.unlabelled_predictions.len(),
            e.unlabelled_predictions[0]
        );
    }
    if !e.duplicate_predictions.is_empty() {
        let _ = writeln!(
            s,
            "\n{} image(s) predicted more than once (the first was used), e.g. {}",
            e.duplicate_predictions.len(),
            e.duplicate_predictions[0]
        );
    }
    let _ = writeln!(
        s,
        "\nA screening aid, not a diagnosis. Wilson intervals treat images as independent; the patient intervals resample patients."
    );
    s
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
