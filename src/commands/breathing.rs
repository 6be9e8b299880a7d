//! `edge-screen breathing FILE.csv...`: classify breathing recordings with the kiosk's own stages
//! ([`crate::pipeline::recording`]); one line (or JSON object) per file.

use super::{classifier, failed};
use crate::breathing::session::BreathingSummary;
use crate::breathing::PatternClassifier;
use crate::cli::BreathingArgs;
use crate::config::Settings;
use crate::recording::{BridgedGaps, Unseen};
use anyhow::Context;
use serde::Serialize;
use std::path::Path;

/// One analysed window's rate.
#[derive(Debug, Serialize)]
struct WindowRate {
    t_end_s: f64,
    rate_bpm: Option<f32>,
}

/// The `--json` object of one file.
#[derive(Debug, Serialize)]
struct FileVerdict<'a> {
    file: String,
    #[serde(flatten)]
    breathing: BreathingSummary,
    polarity_inverted: bool,
    /// The rate of each analysed window (`t_end_s`, `rate_bpm` or null).
    windows: Vec<WindowRate>,
    /// Lowest and highest window rate, breaths/min (null when no window gave one).
    rate_range_bpm: Option<[f32; 2]>,
    /// Breath-to-breath variability: median over the windows of the coefficient of variation of
    /// the intervals between breaths (pauses left out).
    breath_interval_cv: Option<f32>,
    /// Dropped samples bridged by interpolation (`gaps_bridged`, `longest_gap_s`).
    #[serde(flatten)]
    gaps: BridgedGaps,
    /// Time in longer holes (over 1 s without samples), analysed as no signal, s.
    unseen_s: f64,
    /// Those holes (`from_s`, `to_s`: the samples either side).
    unseen: Vec<Unseen>,
    source_hz: f64,
    duration_s: f64,
    classifier: &'a str,
}

pub(super) fn run(settings: &Settings, a: &BreathingArgs) -> anyhow::Result<()> {
    let mut failures = 0;
    let mut cls = classifier(settings)?;
    for file in &a.files {
        match one(settings, cls.as_mut(), file) {
            Ok(v) if a.json => out!("{}", serde_json::to_string(&v)?)?,
            Ok(v) => print_human(&v)?,
            Err(e) => {
                failures += 1;
                eprintln!("edge-screen: {e:#}");
            }
        }
    }
    if failures > 0 {
        return Err(failed(format!(
            "{failures} of {} file(s) could not be classified",
            a.files.len()
        )));
    }
    Ok(())
}

fn one<'c>(
    settings: &Settings,
    cls: &'c mut dyn PatternClassifier,
    file: &Path,
) -> anyhow::Result<FileVerdict<'c>> {
    let rec = crate::recording::load_csv(file)?;
    let resp = &settings.pipeline.respiration;
    let samples = crate::recording::resample(&rec, resp.resample_hz);
    let valid = crate::recording::valid_mask(&rec, resp.resample_hz);
    let a = crate::pipeline::recording::analyze_series_with_gaps(
        &samples,
        &valid,
        resp.resample_hz,
        resp,
        cls,
    )
    .with_context(|| file.display().to_string())?;
    let rates = a.window_rates.iter().filter_map(|w| w.1);
    let rate_range_bpm = rates
        .clone()
        .min_by(f32::total_cmp)
        .zip(rates.max_by(f32::total_cmp))
        .map(|(lo, hi)| [lo, hi]);
    Ok(FileVerdict {
        file: file.display().to_string(),
        breathing: a.breathing,
        polarity_inverted: a.polarity_inverted,
        windows: a
            .window_rates
            .iter()
            .map(|&(t_end_s, rate_bpm)| WindowRate { t_end_s, rate_bpm })
            .collect(),
        rate_range_bpm,
        breath_interval_cv: a.breath_interval_cv,
        gaps: rec.gaps,
        unseen_s: rec.unseen_s(),
        unseen: rec.unseen.clone(),
        source_hz: rec.hz,
        duration_s: rec.duration_s(),
        classifier: cls.name(),
    })
}

fn print_human(v: &FileVerdict<'_>) -> std::io::Result<()> {
    let b = &v.breathing;
    let rate = b
        .rate_bpm
        .map_or("--".to_string(), |r| format!("{r:.1} breaths/min"));
    let pattern = match b.pattern {
        // Below the quality gate no pattern is claimed: "insufficient signal", never a label.
        Some(p) => format!("{p} (score {:.2})", b.scores.get(p)),
        None if b.insufficient_signal => "insufficient signal".to_string(),
        // A rate, but every window had a hole that could pass for a pause.
        None => "pattern not classified (signal missing)".to_string(),
    };
    let gaps = match v.gaps {
        BridgedGaps { count: 0, .. } => String::new(),
        g => format!(
            ", {} gap(s) bridged (longest {:.2} s)",
            g.count, g.longest_s
        ),
    };
    let gaps = if v.unseen.is_empty() {
        gaps
    } else {
        format!(
            "{gaps}, {:.1} s without samples in {} longer gap(s), not analysed",
            v.unseen_s,
            v.unseen.len()
        )
    };
    let spread = match (v.rate_range_bpm, v.breath_interval_cv) {
        (Some([lo, hi]), Some(cv)) => format!(
            " (windows {lo:.1}-{hi:.1}, breath-to-breath variation {:.0} %)",
            100.0 * cv
        ),
        (Some([lo, hi]), None) => format!(" (windows {lo:.1}-{hi:.1})"),
        _ => String::new(),
    };
    out!(
        "{}: {pattern}, rate {rate}{spread}, quality {:.2}{gaps} [screening aid, not a diagnosis]",
        v.file,
        b.quality,
    )
}
