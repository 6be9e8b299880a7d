//! `edge-screen simulate`: one RSM recording with its ground truth, or (`--training-set`) the
//! model inputs the breathing classifier is trained on.

use super::usage;
use crate::cli::SimulateArgs;
use crate::config::Settings;
use crate::types::Pattern;

pub(super) fn run(settings: &Settings, a: &SimulateArgs) -> anyhow::Result<()> {
    if a.training_set {
        return training_set(settings, a);
    }
    let name = a.pattern.as_deref().unwrap_or_default();
    let pattern: Pattern = name.parse().map_err(|e| usage(format!("--pattern: {e}")))?;
    let rec = crate::rsm::io::simulate_to_file(pattern, a.rate, a.seconds, a.hz, a.seed, &a.out)
        .map_err(|e| usage(format!("simulate: {e}")))?;
    eprintln!(
        "wrote {} samples of {} at {} Hz to {} (truth: {})",
        rec.resp_mm.len(),
        pattern,
        a.hz,
        a.out.display(),
        crate::rsm::io::truth_path(&a.out).display()
    );
    Ok(())
}

fn training_set(settings: &Settings, a: &SimulateArgs) -> anyhow::Result<()> {
    use crate::tools::training_set::{write_set, SetSpec};
    let spec = SetSpec {
        split: a
            .split
            .parse()
            .map_err(|e| usage(format!("--split: {e}")))?,
        per_pattern: a.per_pattern,
        seconds: a.seconds,
        camera_share: a.camera_share,
        widen_share: a.widen_share,
        seed: a.seed,
        hop_s: a.hop,
        width: a.width,
        height: a.height,
    };
    let started = std::time::Instant::now();
    let n = write_set(&spec, &settings.pipeline, &a.out)
        .map_err(|e| usage(format!("simulate --training-set: {e}")))?;
    eprintln!(
        "wrote {n} windows of {} sessions to {} ({:.0} s)",
        6 * a.per_pattern,
        a.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
