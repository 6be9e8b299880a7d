//! `edge-screen eval`: accuracy of the whole chain on simulated camera runs.

use super::usage;
use crate::camera::simulated::SimCameraSettings;
use crate::cli::EvalArgs;
use crate::config::Settings;
use crate::tools::eval::{print_report, run_all, summarize, EvalSpec};
use crate::types::Pattern;

pub(super) fn run(settings: &Settings, a: &EvalArgs) -> anyhow::Result<()> {
    let patterns = if a.patterns.is_empty() {
        Pattern::ALL.to_vec()
    } else {
        a.patterns
            .iter()
            .map(|p| p.parse())
            .collect::<Result<Vec<Pattern>, _>>()
            .map_err(|e| usage(format!("--patterns: {e}")))?
    };
    let camera = SimCameraSettings {
        width: a.width,
        height: a.height,
        ..settings.camera.sim.clone()
    };
    camera
        .validate()
        .map_err(|e| usage(format!("--width/--height: {e}")))?;
    let spec = EvalSpec {
        patterns,
        seeds: a.seeds,
        distances: a.distances.clone(),
        seconds: a.seconds,
        camera,
        pipeline: settings.pipeline.clone(),
        classifier: settings.classifier.clone(),
    };
    let results = run_all(&spec).map_err(|e| anyhow::anyhow!(e))?;
    let summary = summarize(&results);
    if a.json {
        out!(
            "{}",
            serde_json::json!({ "runs": results, "summary": summary })
        )?;
    } else {
        print_report(&results, &summary);
    }
    Ok(())
}
