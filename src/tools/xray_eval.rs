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

use rand::{Rng, SeedableRng};
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// A problem with an input file: which file, which line (1-based, 0 = the whole file) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {problem}", file.display(), if *line > 0 { format!(" line {line}") } else { String::new() })]
pub struct InputError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, 0 when the problem concerns the whole file.
    pub line: usize,
    /// What is wrong, naming the field.
    pub problem: String,
}

/// One labelled image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Path relative to the data set (matched against the end of a prediction's `file`).
    pub filename: String,
    /// True for `covid`.
    pub covid: bool,
    /// Data source (hospital or data set); `all` when the CSV has no `source` column.
    pub source: String,
    /// Patient; the file name itself when the CSV has no `patient_id` column.
    pub patient: String,
}

/// One line of `edge-screen xray --json` output.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The `file` field.
    pub file: String,
    /// Probability and finding, or the error the screener gave.
    pub outcome: Result<Screened, String>,
}

/// A screened image.
#[derive(Debug, Clone, PartialEq)]
pub struct Screened {
    /// `covid_probability`.
    pub probability: f64,
    /// True when `finding` is `covid`.
    pub flagged: bool,
    /// `threshold`, when present.
    pub threshold: Option<f64>,
    /// `model.name` and `model.version`, when present.
    pub model: Option<String>,
}

/// The records of a CSV text (RFC 4180 quoting), each with the line it starts on. A leading
/// byte-order mark is dropped and blank lines are skipped. A field may not hold a line break: an
/// unclosed quote would otherwise swallow the lines after it (a line break is added at the end so
/// that this also holds for a quote left open on the last line).
fn csv_records(
    text: &str,
) -> impl Iterator<Item = Result<(usize, csv::StringRecord), (usize, String)>> + '_ {
    let bytes = text.trim_start_matches('\u{feff}').as_bytes();
    // csv gives the byte where it began reading a record, before the blank lines it skipped:
    // step over those, then count the record's line going forward through the text once.
    // Returns the line and the record's first line of text.
    let mut counted = (0, 1);
    let mut locate = move |p: Option<&csv::Position>| {
        let from = p
            .map_or(0, |p| p.byte() as usize)
            .clamp(counted.0, bytes.len());
        let skipped = bytes[from..]
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'));
        let start = from + skipped.count();
        counted.1 += bytes[counted.0..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        counted.0 = start;
        let first = bytes[start..]
            .split(|b| *b == b'\n')
            .next()
            .unwrap_or_default();
        (counted.1, first)
    };
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::Read::chain(bytes, &b"\n"[..]))
        .into_records()
        .filter_map(move |r| match r {
            Err(e) => Some(Err((locate(e.position()).0, format!("not CSV: {e}")))),
            Ok(r) => {
                let (line, first) = locate(r.position());
                if r.len() == 1 && r[0].trim().is_empty() && !first.contains(&b'"') {
                    None // a blank line (but `""` is a record with one empty field)
                } else if r.iter().any(|f| f.contains(['\n', '\r'])) {
                    Some(Err((
                        line,
                        "a quoted field is not closed on its line".into(),
                    )))
                } else {
                    Some(Ok((line, r)))
                }
            }
        })
}

/// Reads a labels CSV. With `split`, only rows whose `split` column equals it are kept.
pub fn read_labels(path: &Path, split: Option<&str>) -> Result<Vec<Label>, InputError> {
    let err = |line: usize, problem: String| InputError {
        file: path.to_path_buf(),
        line,
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(0, format!("cannot read: {e}")))?;
    parse_labels(&text, split).map_err(|(line, problem)| err(line, problem))
}

fn parse_labels(text: &str, split: Option<&str>) -> Result<Vec<Label>, (usize, String)> {
    let mut records = csv_records(text);
    let (hl, header) = records
        .next()
        .ok_or((0, "empty file, no header".to_string()))??;
    let header: Vec<&str> = header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if i == 0 {
                h.trim_start_matches('\u{feff}')
            } else {
                h
            }
        })
        .collect();
    let col = |name: &str| header.iter().position(|h| h.trim() == name);
    let need = |name: &str| {
        col(name).ok_or((
            hl,
            format!("no `{name}` column (header: {})", header.join(",")),
        ))
    };
    let (fc, lc) = (need("filename")?, need("label")?);
    let (sc, pc) = (col("source"), col("patient_id"));
    let spc = match split {
        Some(_) => Some(need("split")?),
        None => None,
    };
    let mut out = Vec::new();
    let mut seen = HashMap::new();
    for record in records {
        let (n, f) = record?;
        let get = |c: usize, name: &str| {
            f.get(c)
                .map(|v| v.trim().to_string())
                .ok_or((n, format!("`{name}`: missing ({} fields)", f.len())))
        };
        if let (Some(want), Some(c)) = (split, spc) {
            if get(c, "split")? != want {
                continue;
            }
        }
        let filename = get(fc, "filename")?.replace('\\', "/");
        if filename.is_empty() {
            return Err((n, "`filename`: empty".into()));
        }
        let covid = match get(lc, "label")?.to_ascii_lowercase().as_str() {
            "covid" | "covid-19" | "covid19" | "positive" | "1" => true,
            "normal" | "negative" | "0" => false,
            other => {
                return Err((
                    n,
                    format!("`label`: `{other}` is not covid or normal (also accepted: positive/negative, 1/0)"),
                ))
            }
        };
        let source = match sc {
            Some(c) => get(c, "source")?,
            None => "all".into(),
        };
        let patient = match pc {
            Some(c) => get(c, "patient_id")?,
            None => String::new(),
        };
        let patient = if patient.is_empty() {
            filename.clone()
        } else {
            patient
        };
        if let Some(prev) = seen.insert(filename.clone(), n) {
            return Err((
                n,
                format!("`filename`: {filename} is already on line {prev}"),
            ));
        }
        out.push(Label {
            filename,
            covid,
            source: if source.is_empty() {
                "unknown".into()
            } else {
                source
            },
            patient,
        });
    }
    if out.is_empty() {
        return Err((
            0,
            match split {
                Some(s) => format!("no rows with split `{s}`"),
                None => "no labelled rows".into(),
            },
        ));
    }
    Ok(out)
}

/// Reads `edge-screen xray --json` output. Blank lines are skipped; a line that is not an object
/// with a `file` string is an error, as is a file without predictions: the output must be
/// complete to be trusted.
pub fn read_predictions(path: &Path) -> Result<Vec<Prediction>, InputError> {
    let err = |line: usize, problem: String| InputError {
        file: path.to_path_buf(),
        line,
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(0, format!("cannot read: {e}")))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(parse_prediction(line).map_err(|p| err(i + 1, p))?);
    }
    if out.is_empty() {
        return Err(err(
            0,
            "no predictions (expected `edge-screen xray --json` output)".into(),
        ));
    }
    Ok(out)
}

/// The fields of one `edge-screen xray --json` line that the evaluation reads (others are
/// ignored). Each is `None` when absent or of another type, so that [`parse_prediction`] can say
/// which field is wrong.
#[derive(Deserialize)]
struct PredictionLine {
    #[serde(default, deserialize_with = "lenient")]
    file: Option<String>,
    /// Present (whatever its value) for an image that could not be screened.
    #[serde(default, deserialize_with = "present")]
    error: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "lenient")]
    covid_probability: Option<f64>,
    #[serde(default, deserialize_with = "lenient")]
    finding: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    threshold: Option<f64>,
    #[serde(default, deserialize_with = "lenient")]
    model: Option<ModelName>,
}

/// The `model` object of a prediction line.
#[derive(Deserialize)]
struct ModelName {
    name: String,
    version: String,
}

/// A field's value as `T`, or `None` when it is null or not a `T`.
fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Ok(T::deserialize(serde_json::Value::deserialize(d)?).ok())
}

/// A field's value, `null` included: what matters is that the field is there.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

fn parse_prediction(line: &str) -> Result<Prediction, String> {
    let not_object = |e: serde_json::Error| format!("not a JSON object: {e}");
    // Through a map first: of a field given twice, the last counts.
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(line).map_err(not_object)?;
    let v = PredictionLine::deserialize(serde_json::Value::Object(map)).map_err(not_object)?;
    let file = v.file.ok_or("no `file` string")?.replace('\\', "/");
    if let Some(e) = v.error {
        return Ok(Prediction {
            file,
            outcome: Err(e.as_str().unwrap_or("(error)").to_string()),
        });
    }
    let probability = v
        .covid_probability
        .filter(|p| (0.0..=1.0).contains(p))
        .ok_or("`covid_probability`: missing or not a number in [0, 1]")?;
    let flagged = match v.finding.as_deref() {
        Some("covid") => true,
        Some("normal") => false,
        _ => return Err("`finding`: missing or not `covid`/`normal`".into()),
    };
    Ok(Prediction {
        file,
        outcome: Ok(Screened {
            probability,
            flagged,
            threshold: v.threshold,
            model: v.model.map(|m| format!("{} {}", m.name, m.version)),
        }),
    })
}

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

/// Wilson score interval for k of n at 95 %.
pub fn wilson(k: usize, n: usize) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    let z = 1.959_963_984_540_054_f64;
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let den = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / den;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / den;
    [(centre - half).max(0.0), (centre + half).min(1.0)]
}

/// Mann-Whitney AUC of `pos` against `neg`, ties counted as one half.
pub fn auc(pos: &[f64], neg: &[f64]) -> Option<f64> {
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    let mut sorted: Vec<f64> = neg.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut total = 0.0;
    for &p in pos {
        let below = sorted.partition_point(|&v| v < p);
        let not_above = sorted.partition_point(|&v| v <= p);
        total += below as f64 + 0.5 * (not_above - below) as f64;
    }
    Some(total / (pos.len() as f64 * neg.len() as f64))
}

/// Percentile interval of k/n when clusters (patients) are resampled with replacement.
/// `clusters` holds (correct, images) per patient.
pub fn cluster_bootstrap(clusters: &[(usize, usize)], draws: usize, seed: u64) -> [f64; 2] {
    if clusters.is_empty() || draws == 0 {
        return [0.0, 1.0];
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut values = Vec::with_capacity(draws);
    for _ in 0..draws {
        let (mut k, mut n) = (0usize, 0usize);
        for _ in 0..clusters.len() {
            let (ck, cn) = clusters[rng.gen_range(0..clusters.len())];
            k += ck;
            n += cn;
        }
        values.push(k as f64 / n.max(1) as f64);
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((q * (draws - 1) as f64).round() as usize).min(draws - 1)];
    [at(0.025), at(0.975)]
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
            "\n{}: {} images ({} covid, {} normal screened; {} not screened), {} patients, at most {} images from one patient",
            src.source, src.images, src.covid, src.normal, src.not_screened, src.patients, src.largest_patient_images
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
mod tests {
    use super::*;

    fn label(f: &str, covid: bool, src: &str, pat: &str) -> Label {
        Label {
            filename: f.into(),
            covid,
            source: src.into(),
            patient: pat.into(),
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
        let e = parse_labels("file,label\na,covid\n", None).unwrap_err();
        assert_eq!(e.0, 1);
        assert!(e.1.contains("no `filename` column"), "{}", e.1);
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
        let e =
            parse_prediction("{\"file\":\"a\",\"covid_probability\":1.5,\"finding\":\"covid\"}");
        assert!(e.unwrap_err().contains("covid_probability"));
        let e =
            parse_prediction("{\"file\":\"a\",\"covid_probability\":0.5,\"finding\":\"maybe\"}");
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
}
