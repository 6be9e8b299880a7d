//! `edge-screen xray`: screen chest X-rays here, or hand them to the running kiosk for a session
//! (`--session`); and `edge-screen xray-eval`: score `xray --json` output against labels.

use super::{failed, usage};
use crate::cli::{XrayArgs, XrayEvalArgs};
use crate::config::Settings;
use crate::xray::screen::{collect_files, heatmap_path, XrayReport, XrayScreener};
use anyhow::Context;
use std::path::{Path, PathBuf};

pub(super) fn run(settings: &Settings, a: &XrayArgs) -> anyhow::Result<()> {
    let files = collect_files(&a.files)?;
    if files.is_empty() {
        return Err(failed("no image files found"));
    }
    if let Some(session) = &a.session {
        return submit(settings, session, &files);
    }
    let screener = screener(settings)?;
    if let Some(dir) = &a.heatmap {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--heatmap {}: cannot create the folder", dir.display()))?;
    }
    let mut used = std::collections::HashSet::new();
    let mut failures = 0usize;
    for file in &files {
        let heatmap = a
            .heatmap
            .as_deref()
            .map(|dir| heatmap_path(dir, file, &mut used));
        match screener.screen_file(file, heatmap.as_deref()) {
            Ok(screened) => {
                if let Some(e) = &screened.heatmap_error {
                    // The result stands; only the picture is missing.
                    eprintln!("edge-screen: {e}");
                    failures += 1;
                }
                print(&screened.report, a.json)?;
            }
            Err(e) => {
                failures += 1;
                eprintln!("edge-screen: {e}");
                if a.json {
                    let v = serde_json::json!({
                        "file": file.display().to_string(),
                        "error": e.to_string(),
                    });
                    out!("{v}")?;
                }
            }
        }
    }
    if failures > 0 {
        return Err(failed(format!(
            "{failures} of {} image(s) could not be screened",
            files.len()
        )));
    }
    Ok(())
}

/// The screener of `[xray]`, loaded now: a model that cannot be loaded, or a site calibration made
/// for another model, is a configuration error (exit status 2).
pub(super) fn screener(settings: &Settings) -> anyhow::Result<XrayScreener> {
    use crate::xray::screen::SetupError;
    let s = XrayScreener::from_settings(&settings.xray).map_err(|e| match e {
        SetupError::Model(e) => usage(format!("[xray] model: {e}")),
        e @ SetupError::Calibration { .. } => usage(e.to_string()),
    })?;
    if !s.site_validated() {
        log::info!(
            "X-ray findings are not validated at this site (no [xray] site_calibration for this \
             model): they are advisory only"
        );
    }
    Ok(s)
}

fn print(r: &XrayReport, json: bool) -> std::io::Result<()> {
    if json {
        match serde_json::to_string(r) {
            Ok(line) => out!("{line}"),
            Err(e) => {
                eprintln!("edge-screen: {}: {e}", r.file.display());
                Ok(())
            }
        }
    } else if let (Some(p), None) = (r.covid_probability, r.scope_reason) {
        let site = if r.site_validated {
            "site threshold"
        } else {
            "not yet validated at this site"
        };
        out!(
            "{}: {} (covid probability {:.3}, threshold {:.3}, {site}; {} {}) [screening aid, not a diagnosis]",
            r.file.display(),
            r.finding.name(),
            p,
            r.threshold,
            r.model.name,
            r.model.version,
        )
    } else {
        out!(
            "{}: out_of_scope ({}; no covid probability given)",
            r.file.display(),
            r.scope_text.as_deref().unwrap_or("X-ray not assessable"),
        )
    }
}

/// `--session ID`: each image goes into the kiosk's inbox with a sidecar naming the session. The
/// sidecar is written first and the image appears under its final name in one rename, so the
/// kiosk never sees an image without its session.
fn submit(settings: &Settings, session: &str, files: &[PathBuf]) -> anyhow::Result<()> {
    let inbox = settings.xray.inbox.as_deref().ok_or_else(|| {
        usage(format!(
            "--session: {}: [xray] inbox is not set, so there is no kiosk inbox to send to",
            settings.origin.display()
        ))
    })?;
    if session.is_empty() || session.len() > 128 || session.chars().any(char::is_control) {
        return Err(usage(format!(
            "--session {session:?}: not a session identifier"
        )));
    }
    let sidecar = serde_json::to_string(&serde_json::json!({ "session_id": session }))?;
    for file in files {
        let dest = free_name(inbox, file)?;
        let part = with_suffix(&dest, ".part");
        let request = crate::xray::inbox::sidecar_of(&dest);
        let sent = std::fs::write(&request, &sidecar)
            .and_then(|()| std::fs::copy(file, &part).map(|_| ()))
            .and_then(|()| std::fs::rename(&part, &dest));
        if let Err(e) = sent {
            let _ = std::fs::remove_file(&part);
            let _ = std::fs::remove_file(&request);
            return Err(anyhow::anyhow!(
                "{}: cannot send to {}: {e}",
                file.display(),
                dest.display()
            ));
        }
        out!(
            "{}: sent to {} for session {session}",
            file.display(),
            dest.display()
        )?;
    }
    Ok(())
}

/// `dir/NAME` if neither it nor its sidecar exists, else `dir/STEM-2.EXT`, ...
fn free_name(dir: &Path, file: &Path) -> anyhow::Result<PathBuf> {
    let name = file
        .file_name()
        .with_context(|| format!("{}: not a file name", file.display()))?
        .to_string_lossy()
        .into_owned();
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_string(), format!(".{e}")),
        _ => (name.clone(), String::new()),
    };
    let taken = |p: &Path| p.exists() || crate::xray::inbox::sidecar_of(p).exists();
    std::iter::once(dir.join(&name))
        .chain((2..10_000).map(|k| dir.join(format!("{stem}-{k}{ext}"))))
        .find(|p| !taken(p))
        .with_context(|| format!("{}: no free name in {}", file.display(), dir.display()))
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `edge-screen xray-eval`.
pub(super) fn eval(a: &XrayEvalArgs) -> anyhow::Result<()> {
    use crate::tools::xray_eval::{evaluate, read_labels, read_predictions, render, Options};
    for (name, v) in [
        ("--goal-sensitivity", a.goal_sensitivity),
        ("--goal-specificity", a.goal_specificity),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return Err(usage(format!("{name}: {v} is outside 0-1")));
        }
    }
    if a.bootstrap > 100_000 {
        return Err(usage(format!(
            "--bootstrap: {} is over 100000",
            a.bootstrap
        )));
    }
    let bad_input = |e: crate::tools::xray_eval::InputError| usage(e.to_string());
    let labels = read_labels(&a.labels, a.split.as_deref()).map_err(bad_input)?;
    let mut predictions = Vec::new();
    for p in &a.predictions {
        predictions.extend(read_predictions(p).map_err(bad_input)?);
    }
    let e = evaluate(
        &labels,
        &predictions,
        &Options {
            goal_sensitivity: a.goal_sensitivity,
            goal_specificity: a.goal_specificity,
            min_images: a.min_images,
            bootstrap: a.bootstrap,
            ..Options::default()
        },
    );
    if a.json {
        out!("{}", serde_json::to_string(&e)?)?;
    } else {
        print!("{}", render(&e));
    }
    Ok(())
}
