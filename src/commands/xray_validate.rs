//! `edge-screen xray-validate`: a site's own labelled films → a site calibration file and a
//! summary (see [`crate::tools::xray_validate`]).

use super::{failed, usage};
use crate::cli::XrayValidateArgs;
use crate::config::Settings;
use crate::records::store::Store;
use crate::tools::xray_validate::threshold::Rule;
use crate::tools::xray_validate::{
    check_counts, drop_duplicates, films_from_labels, films_from_reviews, render, screen_films,
    validate, Options, ValidateError,
};
use crate::xray::screen::{load_model, XrayScreener};
use anyhow::Context;

pub(super) fn run(settings: &Settings, a: &XrayValidateArgs) -> anyhow::Result<()> {
    for (name, v, lo, hi) in [
        ("--target-specificity", a.target_specificity, 0.5, 0.99),
        ("--min-sensitivity", a.min_sensitivity, 0.5, 1.0),
    ] {
        if !(lo..=hi).contains(&v) {
            return Err(usage(format!("{name}: {v} is outside {lo}-{hi}")));
        }
    }
    let mut origins = Vec::new();
    let mut films = Vec::new();
    if let Some(labels) = &a.labels {
        origins.push(labels.display().to_string());
        films = films_from_labels(labels, a.split.as_deref(), &a.dirs)
            .map_err(|e| usage(e.to_string()))?;
    }
    // Kept until the films are screened: review films are written into it.
    let review_dir = tempfile::tempdir().context("a temporary folder for the reviewed films")?;
    if a.from_reviews {
        let path = &settings.records.path;
        let store =
            Store::open_read_only(path).map_err(|e| failed(format!("--from-reviews: {e}")))?;
        let reviewed = store
            .reviewed_films()
            .map_err(|e| failed(format!("--from-reviews: {e}")))?;
        let (reviewed, not_assessable) =
            films_from_reviews(reviewed, review_dir.path()).map_err(failed)?;
        eprintln!(
            "edge-screen: {} reviewed films from {} ({} covid, {} normal; {} not assessable left              out). Reviews cover only films the kiosk flagged: they show false alarms, not missed              cases.",
            reviewed.len(),
            path.display(),
            reviewed.iter().filter(|f| f.covid).count(),
            reviewed.iter().filter(|f| !f.covid).count(),
            not_assessable
        );
        origins.push(format!("reviews in {}", path.display()));
        films.extend(reviewed);
    }
    let origin = origins.join(" + ");
    let (films, dropped) = drop_duplicates(films);
    for line in &dropped {
        eprintln!("edge-screen: {line}");
    }
    check_counts(&films, &origin).map_err(usage)?;
    let model = load_model(&settings.xray).map_err(|e| usage(format!("[xray] model: {e}")))?;
    // The model's own threshold: the in-sample numbers are quoted there, whatever the
    // configuration's site calibration says.
    let threshold = model.info().threshold;
    let screener = XrayScreener::new(model, threshold);
    log::info!("screening {} films", films.len());
    let screening = screen_films(&screener, films).map_err(|e| {
        failed(format!(
            "{e}; every labelled film must be screened (fix or remove it from {origin}); \
             nothing was written"
        ))
    })?;
    if !screening.out_of_scope.is_empty() {
        eprintln!(
            "edge-screen: {} of the films are out of the model's scope and are not counted:",
            screening.out_of_scope.len()
        );
        for (film, reason) in &screening.out_of_scope {
            eprintln!("  {}: {reason}", film.name);
        }
        let left: Vec<_> = screening.scored.iter().map(|s| s.film.clone()).collect();
        check_counts(&left, &origin).map_err(usage)?;
    }
    let scored = screening.scored;
    let options = Options {
        rule: Rule {
            target_specificity: a.target_specificity,
            min_sensitivity: a.min_sensitivity,
        },
        folds: a.folds,
        seed: a.seed,
        labels: origin.clone(),
    };
    let calibration = validate(&screener, &scored, &options).map_err(|e| match e {
        ValidateError::Films(m) => usage(m),
        e @ ValidateError::NoThreshold(_) => failed(format!(
            "{origin}: {e}. Nothing was written to {}: X-ray findings stay not validated at this \
             site (advisory only). Lower --target-specificity or --min-sensitivity only if that \
             is clinically acceptable here.",
            a.out.display()
        )),
    })?;
    let text = serde_json::to_string_pretty(&calibration)?;
    write_atomic(&a.out, &text)?;
    if a.json {
        out!("{}", serde_json::to_string(&calibration)?)?;
    } else {
        print!("{}", render(&calibration));
        out!("Written: {}", a.out.display())?;
    }
    Ok(())
}

/// Writes `text` to `path` through a temporary file in the same folder and a rename, so that a
/// kiosk never reads half a calibration.
fn write_atomic(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .with_context(|| format!("--out {}: cannot write", path.display()))
}
