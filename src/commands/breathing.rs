//! `edge-screen breathing FILE.csv...`: classify breathing recordings with the kiosk's own stages
//! ([`crate::pipeline::recording`]); one line (or JSON object) per file.

use super::{classifier, failed};
use crate::breathing::session::BreathingSummary;
use crate::breathing::PatternClassifier;
use crate::cli::BreathingArgs;
use crate::config::Settings;
use crate::recording::BridgedGaps;
use anyhow::Context;
use serde::Serialize;
use std::path::Path;

/// The `--json` object of one file.
#[derive(Debug, Serialize)]
struct FileVerdict<'a> {
    file: String,
    #[serde(flatten)]
    breathing: BreathingSummary,
    polarity_inverted: bool,
    /// Dropped samples bridged by interpolation (`gaps_bridged`, `longest_gap_s`).
    #[serde(flatten)]
    gaps: BridgedGaps,
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
    let a = crate::pipeline::recording::analyze_series(&samples, resp.resample_hz, resp, cls)
        .with_context(|| file.display().to_string())?;
    Ok(FileVerdict {
        file: file.display().to_string(),
        breathing: a.breathing,
        polarity_inverted: a.polarity_inverted,
        gaps: rec.gaps,
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
        None => "insufficient signal".to_string(),
    };
    let gaps = match v.gaps {
        BridgedGaps { count: 0, .. } => String::new(),
        g => format!(
            ", {} gap(s) bridged (longest {:.2} s)",
            g.count, g.longest_s
        ),
    };
    out!(
        "{}: {pattern}, rate {rate}, quality {:.2}{gaps} [screening aid, not a diagnosis]",
        v.file,
        b.quality,
    )
}
