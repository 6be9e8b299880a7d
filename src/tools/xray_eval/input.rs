//! The inputs of `edge-screen xray-eval`: a labels CSV (read with the `csv` crate) and the JSON
//! lines of `edge-screen xray --json` (read with serde). Every error names the file, the line and
//! the field.

use serde::de::{DeserializeOwned, Deserializer};
use serde::Deserialize;
use std::collections::HashMap;
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
    /// The line of the labels file it was read from (1-based).
    pub line: usize,
}

/// The `finding` of an image refused by the scope check; its outcome is
/// `Err("out_of_scope: REASON")`.
pub const OUT_OF_SCOPE: &str = "out_of_scope";

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

/// Reads a labels CSV: columns `filename` (or `file`) and `label`, optionally `source`,
/// `patient_id` and `split`. With `split`, only rows whose `split` column equals it are kept.
pub fn read_labels(path: &Path, split: Option<&str>) -> Result<Vec<Label>, InputError> {
    let err = |line: usize, problem: String| InputError {
        file: path.to_path_buf(),
        line,
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(0, format!("cannot read: {e}")))?;
    parse_labels(&text, split).map_err(|(line, problem)| err(line, problem))
}

pub(super) fn parse_labels(text: &str, split: Option<&str>) -> Result<Vec<Label>, (usize, String)> {
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
    // `file` is accepted for `filename` (a site's own labels are often written so).
    let fc = col("filename")
        .map_or_else(|| need("file"), Ok)
        .map_err(|(l, _)| {
            (
                l,
                format!(
                    "no `filename` (or `file`) column (header: {})",
                    header.join(",")
                ),
            )
        })?;
    let lc = need("label")?;
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
            line: n,
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
    scope_reason: Option<String>,
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

pub(super) fn parse_prediction(line: &str) -> Result<Prediction, String> {
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
    if v.finding.as_deref() == Some(OUT_OF_SCOPE) {
        // Refused by the scope check: no probability, not in the rates, counted per source.
        let reason = v.scope_reason.unwrap_or_else(|| "no scope_reason".into());
        return Ok(Prediction {
            file,
            outcome: Err(format!("{OUT_OF_SCOPE}: {reason}")),
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
