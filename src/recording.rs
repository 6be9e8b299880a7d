//! External breathing recordings: a CSV file `t_s,resp` from any sensor, validated and brought to
//! the classifier's fixed sample rate.
//!
//! The file may come from a depth camera (distance, falls on inhalation), a belt or an impedance
//! lead (rises on inhalation), in any units and offset, at any rate from 5 to 1000 Hz. This module
//! only checks that it is a usable signal and resamples it; polarity and scale are the analysis'
//! business ([`crate::respiration`]). Every error names the file, the line and what is wrong.

use std::fmt;
use std::path::{Path, PathBuf};

/// Slowest accepted sample rate, Hz: four samples per breath at 60 breaths/min, and the slowest
/// rate the breathing model's training recordings use.
pub const MIN_HZ: f64 = 4.0;
/// Fastest accepted sample rate, Hz.
pub const MAX_HZ: f64 = 1000.0;
/// Shortest accepted recording, s.
pub const MIN_DURATION_S: f64 = 55.0;
/// Largest accepted number of samples (about 2.8 h at 1000 Hz); bounds memory on absurd files.
pub const MAX_SAMPLES: usize = 10_000_000;
/// Largest accepted file, bytes (bounds memory before parsing).
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;
/// Longest stretch without samples that is bridged by interpolation, s (a hole in the time axis
/// minus one sampling interval): a depth camera that drops a few frames leaves holes of 0.3-0.5 s,
/// too short to lose a breath (2 s or more) but long enough to end a recording if refused. Longer
/// holes are kept as [`Unseen`] stretches: no signal, analysed as such (never as a pause in
/// breathing), up to [`MAX_UNSEEN_SHARE`] of the recording.
pub const MAX_BRIDGED_GAP_S: f64 = 1.0;
/// Largest share of a recording's length that may lie in holes longer than
/// [`MAX_BRIDGED_GAP_S`]; beyond it the recording is refused as [`Problem::Gap`].
pub const MAX_UNSEEN_SHARE: f64 = 0.25;

/// What is wrong with a recording.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    /// The file could not be read.
    #[error("cannot read file: {0}")]
    Io(String),
    /// The file is larger than [`MAX_FILE_BYTES`] or has more than [`MAX_SAMPLES`] rows.
    #[error("file too large: {0}")]
    TooLarge(String),
    /// No data rows.
    #[error("no samples (expected CSV rows `t_s,resp`)")]
    Empty,
    /// A row does not have exactly two fields.
    #[error("expected 2 comma-separated fields `t_s,resp`, found {0}")]
    FieldCount(usize),
    /// A field is not a number.
    #[error("column '{column}': '{text}' is not a number")]
    NotANumber {
        /// Column name (`t_s` or `resp`).
        column: &'static str,
        /// The offending text (shortened).
        text: String,
    },
    /// A field is NaN or infinite.
    #[error("column '{0}': value is NaN or infinite")]
    NotFinite(&'static str),
    /// Times repeat.
    #[error("duplicate time {0} s (times must strictly increase)")]
    DuplicateTime(f64),
    /// Times go backwards.
    #[error("time {now} s comes after {prev} s (times must strictly increase)")]
    Unsorted {
        /// The earlier row's time, s.
        prev: f64,
        /// This row's time, s.
        now: f64,
    },
    /// The typical sampling interval gives a rate outside 4-1000 Hz.
    #[error("sample rate {0:.2} Hz is outside the supported 4-1000 Hz")]
    RateOutOfRange(f64),
    /// Holes in the time axis longer than [`MAX_BRIDGED_GAP_S`] take more than
    /// [`MAX_UNSEEN_SHARE`] of the recording.
    #[error(
        "gap of {gap_s:.3} s after t = {after_s} s: {unseen_s:.1} s of {duration_s:.1} s lie in gaps over 1 s (sampling interval is {dt_s:.4} s; gaps up to 1 s are bridged, and longer ones may take at most a quarter of the recording)"
    )]
    Gap {
        /// Time before the longest gap, s.
        after_s: f64,
        /// The longest gap, s.
        gap_s: f64,
        /// Typical sampling interval, s.
        dt_s: f64,
        /// Time in gaps over [`MAX_BRIDGED_GAP_S`], s.
        unseen_s: f64,
        /// The recording's length, s.
        duration_s: f64,
    },
    /// Shorter than [`MIN_DURATION_S`].
    #[error("recording is {0:.1} s long; at least 55 s are needed")]
    TooShort(f64),
    /// Every value is the same: no breathing signal.
    #[error("signal is constant ({0}): no breathing movement")]
    Constant(f64),
}

/// A [`Problem`] with where it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line number, when the problem belongs to one line.
    pub line: Option<usize>,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for RecordingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.problem),
            None => write!(f, "{}: {}", self.file.display(), self.problem),
        }
    }
}

impl std::error::Error for RecordingError {}

/// A validated recording, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecording {
    /// Sample times, s, strictly increasing.
    pub t_s: Vec<f64>,
    /// Values in the sensor's own units.
    pub values: Vec<f64>,
    /// Median sample rate, Hz.
    pub hz: f64,
    /// Holes in the time axis that the resampler bridges by interpolation.
    pub gaps: BridgedGaps,
    /// Longer holes: stretches without signal.
    pub unseen: Vec<Unseen>,
}

/// A hole in a recording's time axis longer than [`MAX_BRIDGED_GAP_S`]: the resampled signal
/// runs straight across it, and its samples are marked as no signal ([`valid_mask`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Unseen {
    /// The last sample before the hole, s.
    pub from_s: f64,
    /// The first sample after it, s.
    pub to_s: f64,
}

/// Holes in a recording's time axis (dropped samples) short enough to be bridged: longer than three
/// sampling intervals (and 0.25 s), at most [`MAX_BRIDGED_GAP_S`] without samples.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct BridgedGaps {
    /// How many holes were bridged.
    #[serde(rename = "gaps_bridged")]
    pub count: usize,
    /// The longest bridged hole, s between the samples either side (0 when none).
    #[serde(rename = "longest_gap_s")]
    pub longest_s: f64,
}

impl RawRecording {
    /// Time in holes longer than [`MAX_BRIDGED_GAP_S`], s (each hole less one sampling interval:
    /// the time no sample stands for).
    pub fn unseen_s(&self) -> f64 {
        let dt = 1.0 / self.hz;
        self.unseen
            .iter()
            .fold(0.0, |sum, u| sum + (u.to_s - u.from_s - dt))
    }

    /// Length covered by the samples, s: first to last time plus one sampling interval (60 000
    /// samples at 1000 Hz are 60 s).
    pub fn duration_s(&self) -> f64 {
        match (self.t_s.first(), self.t_s.last()) {
            (Some(a), Some(b)) => b - a + 1.0 / self.hz,
            _ => 0.0,
        }
    }
}

/// Reads and validates a CSV recording (see the module docs for the rules).
pub fn load_csv(path: &Path) -> Result<RawRecording, RecordingError> {
    let err = |line: Option<usize>, problem| RecordingError {
        file: path.to_path_buf(),
        line,
        problem,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| err(None, Problem::Io(e.to_string())))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(err(None, Problem::TooLarge(format!("{size} bytes"))));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(None, Problem::Io(e.to_string())))?;
    parse_csv(&text).map_err(|(line, problem)| err(line, problem))
}

/// Parses and validates CSV text; errors carry the 1-based line number where one applies.
pub fn parse_csv(text: &str) -> Result<RawRecording, (Option<usize>, Problem)> {
    let mut t_s = Vec::new();
    let mut values = Vec::new();
    let mut first_duplicate: Option<(usize, f64)> = None;
    for (i, raw_line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw_line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != 2 {
            return Err((Some(line_no), Problem::FieldCount(fields.len())));
        }
        let is_header = t_s.is_empty() && fields[0].parse::<f64>().is_err();
        if is_header {
            continue;
        }
        if t_s.len() >= MAX_SAMPLES {
            return Err((
                None,
                Problem::TooLarge(format!("more than {MAX_SAMPLES} rows")),
            ));
        }
        let t = parse_field(fields[0], "t_s").map_err(|p| (Some(line_no), p))?;
        let v = parse_field(fields[1], "resp").map_err(|p| (Some(line_no), p))?;
        if let Some(&prev) = t_s.last() {
            if t == prev && first_duplicate.is_none() {
                first_duplicate = Some((line_no, t));
            }
            if t < prev {
                return Err((Some(line_no), Problem::Unsorted { prev, now: t }));
            }
        }
        t_s.push(t);
        values.push(v);
    }
    if let Some((line_no, t)) = first_duplicate {
        // Repeated times are acceptable only when the time column was merely rounded coarser
        // than the sampling interval of an evenly sampled signal.
        if !retime_uniform(&mut t_s) {
            return Err((Some(line_no), Problem::DuplicateTime(t)));
        }
        log::warn!("times repeat (rounded time column): assuming even sampling");
    }
    validate(t_s, values)
}

/// The holes in `t` (sampling interval `dt`): a hole longer than three sampling intervals (and than
/// 0.25 s) is a gap, not jitter; one with at most [`MAX_BRIDGED_GAP_S`] without samples is counted
/// as bridged, a longer one is kept as [`Unseen`].
fn find_gaps(t: &[f64], dt: f64) -> (BridgedGaps, Vec<Unseen>) {
    let max_dt = (3.0 * dt).max(0.25);
    let mut gaps = BridgedGaps::default();
    let mut unseen = Vec::new();
    for w in t.windows(2).filter(|w| w[1] - w[0] > max_dt) {
        let gap_s = w[1] - w[0];
        // A microsecond of slack absorbs rounding in the time column.
        if gap_s - dt > MAX_BRIDGED_GAP_S + 1e-6 {
            unseen.push(Unseen {
                from_s: w[0],
                to_s: w[1],
            });
        } else {
            gaps.count += 1;
            gaps.longest_s = gaps.longest_s.max(gap_s);
        }
    }
    (gaps, unseen)
}

/// Replaces `t` by an even grid from its first to its last time when every time lies within
/// three quarters of a sampling interval of that grid (a time column rounded coarser than the
/// sampling, e.g. 125 Hz written with 0.01 s resolution); returns whether it did.
fn retime_uniform(t: &mut [f64]) -> bool {
    let n = t.len();
    if n < 3 {
        return false;
    }
    let (t0, t1) = (t[0], t[n - 1]);
    let dt = (t1 - t0) / (n - 1) as f64;
    if dt.is_nan() || dt <= 0.0 {
        return false;
    }
    let fits = t
        .iter()
        .enumerate()
        .all(|(i, &ti)| (ti - (t0 + i as f64 * dt)).abs() <= 0.75 * dt);
    if fits {
        for (i, ti) in t.iter_mut().enumerate() {
            *ti = t0 + i as f64 * dt;
        }
    }
    fits
}

fn parse_field(text: &str, column: &'static str) -> Result<f64, Problem> {
    let v: f64 = text.parse().map_err(|_| Problem::NotANumber {
        column,
        text: text.chars().take(40).collect(),
    })?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Problem::NotFinite(column))
    }
}

fn validate(t_s: Vec<f64>, values: Vec<f64>) -> Result<RawRecording, (Option<usize>, Problem)> {
    if t_s.len() < 2 {
        return Err((None, Problem::Empty));
    }
    let mut dts: Vec<f64> = t_s.windows(2).map(|w| w[1] - w[0]).collect();
    dts.sort_by(f64::total_cmp);
    let dt = dts[dts.len() / 2];
    let hz = 1.0 / dt;
    if !(MIN_HZ * 0.95..=MAX_HZ * 1.05).contains(&hz) {
        return Err((None, Problem::RateOutOfRange(hz)));
    }
    let (gaps, unseen) = find_gaps(&t_s, dt);
    let rec = RawRecording {
        t_s,
        values,
        hz,
        gaps,
        unseen,
    };
    // A microsecond of slack absorbs rounding in the time column.
    if rec.duration_s() < MIN_DURATION_S - 1e-6 {
        return Err((None, Problem::TooShort(rec.duration_s())));
    }
    let unseen_s = rec.unseen_s();
    if unseen_s > MAX_UNSEEN_SHARE * rec.duration_s() {
        let longest = rec
            .unseen
            .iter()
            .max_by(|a, b| (a.to_s - a.from_s).total_cmp(&(b.to_s - b.from_s)))
            .copied()
            .unwrap_or(Unseen {
                from_s: 0.0,
                to_s: 0.0,
            });
        return Err((
            None,
            Problem::Gap {
                after_s: longest.from_s,
                gap_s: longest.to_s - longest.from_s,
                dt_s: dt,
                unseen_s,
                duration_s: rec.duration_s(),
            },
        ));
    }
    let (lo, hi) = rec
        .values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if hi - lo <= f64::EPSILON * hi.abs().max(lo.abs()).max(1.0) {
        return Err((None, Problem::Constant(lo)));
    }
    Ok(rec)
}

/// Resamples to `out_hz` on a uniform grid starting at the first sample.
///
/// Faster inputs are reduced to one value per output sample's interval by the interquartile mean
/// of the samples in it (a box filter that suppresses aliasing of sensor noise and, unlike a plain
/// mean, ignores short spikes such as ECG bleed or electrical interference that take up less than
/// a quarter of the interval); slower inputs, and the bridged gaps ([`BridgedGaps`]), are linearly
/// interpolated.
pub fn resample(rec: &RawRecording, out_hz: f64) -> Vec<f32> {
    let (t0, t_end) = match (rec.t_s.first(), rec.t_s.last()) {
        (Some(&a), Some(&b)) => (a, b),
        _ => return Vec::new(),
    };
    let n_out = ((t_end - t0) * out_hz).floor() as usize + 1;
    let half = 0.5 / out_hz;
    let mut out = Vec::with_capacity(n_out);
    let mut bin: Vec<f64> = Vec::new();
    let mut lo = 0usize;
    for k in 0..n_out {
        let tc = t0 + k as f64 / out_hz;
        while lo < rec.t_s.len() && rec.t_s[lo] < tc - half {
            lo += 1;
        }
        let mut hi = lo;
        while hi < rec.t_s.len() && rec.t_s[hi] < tc + half {
            hi += 1;
        }
        let v = if hi - lo >= 2 {
            interquartile_mean(&rec.values[lo..hi], &mut bin)
        } else {
            interpolate(&rec.t_s, &rec.values, tc)
        };
        out.push(v as f32);
    }
    out
}

/// Which of [`resample`]'s samples (same grid, same length) stand on signal: `false` for those
/// inside an [`Unseen`] hole (more than half a sampling interval from both of its edges).
pub fn valid_mask(rec: &RawRecording, out_hz: f64) -> Vec<bool> {
    let (t0, t_end) = match (rec.t_s.first(), rec.t_s.last()) {
        (Some(&a), Some(&b)) => (a, b),
        _ => return Vec::new(),
    };
    let n_out = ((t_end - t0) * out_hz).floor() as usize + 1;
    let margin = 0.5 / rec.hz;
    (0..n_out)
        .map(|k| {
            let tc = t0 + k as f64 / out_hz;
            !rec.unseen
                .iter()
                .any(|u| tc > u.from_s + margin && tc < u.to_s - margin)
        })
        .collect()
}

/// Mean of the middle half of `values` (all of them when there are fewer than 4); `scratch` is
/// reused to sort them.
fn interquartile_mean(values: &[f64], scratch: &mut Vec<f64>) -> f64 {
    if values.len() < 4 {
        return values.iter().sum::<f64>() / values.len() as f64;
    }
    scratch.clear();
    scratch.extend_from_slice(values);
    scratch.sort_unstable_by(f64::total_cmp);
    let q = values.len() / 4;
    let mid = &scratch[q..values.len() - q];
    mid.iter().sum::<f64>() / mid.len() as f64
}

/// Linear interpolation of `(t, v)` at `t_q`, clamped at the ends.
fn interpolate(t: &[f64], v: &[f64], t_q: f64) -> f64 {
    let i = t.partition_point(|&x| x <= t_q);
    if i == 0 {
        return v[0];
    }
    if i >= t.len() {
        return v[t.len() - 1];
    }
    let (t0, t1) = (t[i - 1], t[i]);
    let w = (t_q - t0) / (t1 - t0);
    v[i - 1] + w * (v[i] - v[i - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_of(hz: f64, seconds: f64, f: impl Fn(f64) -> f64) -> String {
        let mut s = String::from("t_s,resp\n");
        let n = (hz * seconds) as usize;
        for i in 0..=n {
            let t = i as f64 / hz;
            s.push_str(&format!("{t:.6},{:.6}\n", f(t)));
        }
        s
    }

    fn problem(text: &str) -> (Option<usize>, Problem) {
        parse_csv(text).expect_err("should be rejected")
    }

    #[test]
    fn accepts_a_clean_recording_and_reports_its_rate() {
        let rec = parse_csv(&csv_of(125.0, 70.0, |t| (t * 1.5).sin())).unwrap();
        assert!((rec.hz - 125.0).abs() < 1e-6, "hz {}", rec.hz);
        assert!((rec.duration_s() - 70.008).abs() < 1e-6);
    }

    #[test]
    fn rejects_each_kind_of_bad_file_with_its_line() {
        assert_eq!(problem("").1, Problem::Empty);
        assert_eq!(problem("t_s,resp\n").1, Problem::Empty);
        assert_eq!(
            problem("t_s,resp\n0,1\n0.1,x\n"),
            (
                Some(3),
                Problem::NotANumber {
                    column: "resp",
                    text: "x".into()
                }
            )
        );
        assert_eq!(
            problem("0,1\n0.1,NaN\n"),
            (Some(2), Problem::NotFinite("resp"))
        );
        assert_eq!(problem("0,1\n0.1,2,3\n"), (Some(2), Problem::FieldCount(3)));
        assert_eq!(
            problem("0,1\n0.1,2\n0.1,3\n"),
            (Some(3), Problem::DuplicateTime(0.1))
        );
        assert!(matches!(
            problem("0,1\n0.2,2\n0.1,3\n"),
            (Some(3), Problem::Unsorted { .. })
        ));
        assert!(
            matches!(problem(&csv_of(10.0, 30.0, f64::sin)).1, Problem::TooShort(d) if (d - 30.1).abs() < 1e-9)
        );
        assert!(
            matches!(problem(&csv_of(10.0, 70.0, |_| 2.5)).1, Problem::Constant(v) if v == 2.5)
        );
        assert!(matches!(
            problem(&csv_of(2.0, 70.0, f64::sin)).1,
            Problem::RateOutOfRange(_)
        ));
        assert!(matches!(
            problem(&csv_of(5000.0, 61.0, f64::sin)).1,
            Problem::RateOutOfRange(_)
        ));
    }

    #[test]
    fn a_rounded_time_column_is_read_as_even_sampling() {
        // 125 Hz with times rounded to 0.01 s: 0.00, 0.01, 0.02, 0.02, 0.03, ...
        let mut text = String::from("t_s,resp\n");
        for i in 0..(125 * 70) {
            let t = (i as f64 * 0.008 * 100.0).round() / 100.0;
            text.push_str(&format!("{t:.2},{}\n", (i as f64 * 0.01).sin()));
        }
        let rec = parse_csv(&text).unwrap();
        assert!((rec.hz - 125.0).abs() < 0.01, "hz {}", rec.hz);
        assert!(rec
            .t_s
            .windows(2)
            .all(|w| (w[1] - w[0] - 0.008).abs() < 1e-6));
    }

    #[test]
    fn samples_per_duration_define_the_length() {
        // 60 000 samples at 1000 Hz cover exactly 60 s: accepted.
        let text = csv_of(1000.0, 59.999, |t| (t * 1.3).sin());
        let rec = parse_csv(&text).unwrap();
        assert!(
            (rec.duration_s() - 60.0).abs() < 1e-6,
            "{}",
            rec.duration_s()
        );
    }

    #[test]
    fn keeps_a_long_gap_as_unseen_and_refuses_too_many() {
        let without = |drop: &dyn Fn(f64) -> bool| -> String {
            csv_of(10.0, 80.0, f64::sin)
                .lines()
                .filter(|l| {
                    l.split(',')
                        .next()
                        .and_then(|t| t.parse().ok())
                        .map_or(true, |t| !drop(t))
                })
                .map(|l| format!("{l}\n"))
                .collect()
        };
        // 2 s without samples (40.0-41.9): kept, marked, the rest resampled as before.
        let rec = parse_csv(&without(&|t| (40.0..41.95).contains(&t))).unwrap();
        assert_eq!(rec.unseen.len(), 1, "{:?}", rec.unseen);
        let u = rec.unseen[0];
        assert!(
            (u.from_s - 39.9).abs() < 1e-6 && (u.to_s - 42.0).abs() < 1e-6,
            "{u:?}"
        );
        assert!((rec.unseen_s() - 2.0).abs() < 1e-6, "{}", rec.unseen_s());
        assert_eq!(rec.gaps.count, 0);
        let mask = valid_mask(&rec, 10.0);
        assert_eq!(mask.len(), resample(&rec, 10.0).len());
        let invalid: Vec<usize> = (0..mask.len()).filter(|&k| !mask[k]).collect();
        assert_eq!(invalid, (400..=419).collect::<Vec<_>>());
        // 0.5 s missing is bridged: nothing unseen.
        let rec = parse_csv(&without(&|t| (40.0..40.45).contains(&t))).unwrap();
        assert!(rec.unseen.is_empty() && rec.gaps.count == 1, "{rec:?}");
        assert!(valid_mask(&rec, 10.0).iter().all(|v| *v));
        // 25 s of 80 in two holes: refused, naming the longest.
        match problem(&without(&|t| {
            (20.0..30.0).contains(&t) || (50.0..65.0).contains(&t)
        }))
        .1
        {
            Problem::Gap {
                after_s,
                gap_s,
                unseen_s,
                ..
            } => {
                assert!(
                    (after_s - 49.9).abs() < 1e-6 && (gap_s - 15.1).abs() < 1e-6,
                    "{after_s} {gap_s}"
                );
                assert!((unseen_s - 25.0).abs() < 1e-6, "{unseen_s}");
            }
            other => panic!("expected a gap, got {other:?}"),
        }
    }

    #[test]
    fn error_message_names_file_and_line() {
        let e = RecordingError {
            file: "a/b.csv".into(),
            line: Some(7),
            problem: Problem::NotFinite("resp"),
        };
        assert_eq!(
            e.to_string(),
            "a/b.csv:7: column 'resp': value is NaN or infinite"
        );
    }

    /// Largest difference between `out` (10 Hz) and a unit sine of `hz` starting at 0. The first
    /// and last bins are half-empty (the box is truncated at the ends), so they are skipped.
    fn max_sine_error(out: &[f32], hz: f64) -> f64 {
        out.iter()
            .enumerate()
            .skip(1)
            .take(out.len() - 2)
            .map(|(k, &v)| {
                (v as f64 - (2.0 * std::f64::consts::PI * hz * k as f64 / 10.0).sin()).abs()
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn resampling_preserves_a_slow_sine_and_removes_fast_noise() {
        // 0.25 Hz breathing plus 50 Hz mains hum sampled at 1000 Hz, resampled to 10 Hz.
        let f = |t: f64| {
            (2.0 * std::f64::consts::PI * 0.25 * t).sin()
                + 0.5 * (2.0 * std::f64::consts::PI * 50.0 * t).sin()
        };
        let rec = parse_csv(&csv_of(1000.0, 61.0, f)).unwrap();
        let out = resample(&rec, 10.0);
        assert_eq!(out.len(), 611);
        let max_err = max_sine_error(&out, 0.25);
        // The 0.1 s box attenuates a 0.25 Hz sine by sinc(0.025) ≈ 0.999; the hum averages out.
        assert!(max_err < 0.02, "max error {max_err}");
    }

    #[test]
    fn resampling_ignores_short_spikes() {
        // 0.2 Hz breathing at 250 Hz with an ECG-like spike of 12 ms (3 samples, 5x the breath
        // amplitude) every 0.8 s. A plain mean over the 25-sample bins would be off by up to 0.6.
        let f = |t: f64| {
            let spike = if (t % 0.8) < 0.012 { 5.0 } else { 0.0 };
            (2.0 * std::f64::consts::PI * 0.2 * t).sin() + spike
        };
        let rec = parse_csv(&csv_of(250.0, 60.0, f)).unwrap();
        let max_err = max_sine_error(&resample(&rec, 10.0), 0.2);
        assert!(max_err < 0.05, "max error {max_err}");
    }

    #[test]
    fn upsampling_interpolates_linearly() {
        let rec = parse_csv(&csv_of(5.0, 60.0, |t| 2.0 * t + 1.0)).unwrap();
        let out = resample(&rec, 10.0);
        for (k, v) in out.iter().enumerate() {
            let expect = 2.0 * (k as f64 / 10.0) + 1.0;
            assert!((*v as f64 - expect).abs() < 1e-3, "k {k}: {v} vs {expect}");
        }
    }
}
