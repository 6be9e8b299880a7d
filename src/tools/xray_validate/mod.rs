//! `edge-screen xray-validate`: screen a site's own labelled chest X-rays, measure the model there
//! at its own threshold, choose a site threshold for a target specificity subject to a minimum
//! sensitivity, estimate that choice by cross-validation, and write a site calibration
//! ([`crate::xray::site::SiteCalibration`]) bound to the model's SHA-256.
//!
//! ```text
//!  labelled films (labels CSV + folders; later: clinician reviews) ──screen──▶ scored films
//!      ──▶ at the model threshold (in-sample) ─┐
//!      ──▶ rule: site threshold ───────────────┼──▶ calibration file + summary
//!      ──▶ the same rule, k-fold (held out) ───┘
//! ```
//! The input is a plain list of [`LabelledFilm`]s so that other sources can join the labels file:
//! clinician reviews kept in the record store (`--from-reviews`) are meant to be one more
//! function that returns `Vec<LabelledFilm>` (with an [`ImageSource`] variant for an image kept in
//! the store), appended before [`screen_films`].

pub mod threshold;

use crate::tools::xray_eval::{read_labels, InputError};
use crate::xray::screen::{ScreenError, XrayScreener};
use crate::xray::site::{
    CalibratedModel, FilmCounts, SiteCalibration, CALIBRATION_FORMAT, CALIBRATION_VERSION,
    MIN_FILMS_PER_CLASS,
};
use std::path::{Path, PathBuf};
use threshold::{choose, cross_validate, operating, ChoiceError, Rule, Scored};

/// Where a labelled film's image is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// An image file (PNG, JPEG or DICOM).
    File(PathBuf),
}

/// One film with its reference label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledFilm {
    /// How the film is named in messages (the labels file and its line, or a review id).
    pub name: String,
    /// The image.
    pub image: ImageSource,
    /// True when the reference says covid, false for normal.
    pub covid: bool,
}

/// A film with its model score.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredFilm {
    /// The film.
    pub film: LabelledFilm,
    /// Covid probability from the model.
    pub probability: f32,
}

/// The films of a labels CSV (`file` or `filename`, and `label`; see
/// [`crate::tools::xray_eval::read_labels`]), each found as `DIR/FILE` in exactly one of `dirs`.
pub fn films_from_labels(
    labels: &Path,
    split: Option<&str>,
    dirs: &[PathBuf],
) -> Result<Vec<LabelledFilm>, InputError> {
    let rows = read_labels(labels, split)?;
    let dir_list = dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    rows.into_iter()
        .map(|row| {
            let found: Vec<PathBuf> = dirs
                .iter()
                .map(|d| d.join(&row.filename))
                .filter(|p| p.is_file())
                .collect();
            let problem = match found.len() {
                1 => None,
                0 => Some(format!("`file` {}: not found in {dir_list}", row.filename)),
                _ => Some(format!(
                    "`file` {}: found in more than one folder ({})",
                    row.filename,
                    found
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
            if let Some(problem) = problem {
                return Err(InputError {
                    file: labels.to_path_buf(),
                    line: row.line,
                    problem,
                });
            }
            Ok(LabelledFilm {
                name: format!("{} line {}", labels.display(), row.line),
                image: ImageSource::File(found[0].clone()),
                covid: row.covid,
            })
        })
        .collect()
}

/// The films clinicians reviewed in the record store, labelled by each film's latest review
/// (confirmed COVID → covid, normal → normal; not assessable films are left out). The films are
/// written into `dir` (they live in the store as bytes) and named `review #ID` in messages.
/// Returns the films and how many were left out as not assessable.
pub fn films_from_reviews(
    reviewed: Vec<crate::records::review::ReviewedFilm>,
    dir: &Path,
) -> Result<(Vec<LabelledFilm>, usize), String> {
    use crate::records::review::Verdict;
    let mut films = Vec::new();
    let mut not_assessable = 0;
    for r in reviewed {
        let covid = match r.verdict {
            Verdict::Covid => true,
            Verdict::Normal => false,
            Verdict::NotAssessable => {
                not_assessable += 1;
                continue;
            }
        };
        // The stored file name is the film's, but only its id is trusted in a path.
        let path = dir.join(format!("review-{}.img", r.item_id));
        std::fs::write(&path, &r.image)
            .map_err(|e| format!("{}: cannot write review film: {e}", path.display()))?;
        films.push(LabelledFilm {
            name: format!(
                "review #{} ({}, record {}, {} by {})",
                r.item_id,
                r.file_name,
                r.record_id,
                r.verdict.name(),
                r.reviewer
            ),
            image: ImageSource::File(path),
            covid,
        });
    }
    Ok((films, not_assessable))
}

/// Keeps each image once: a film whose bytes (SHA-256) equal an earlier film's is dropped, so that
/// a film both in the labels file and reviewed, or listed twice, is not counted twice. The earlier
/// film's label stands (labels files come before reviews). Returns the films kept and one line per
/// film dropped, saying which film it repeats and whether their labels disagree. A file that cannot
/// be read is kept: screening reports it.
pub fn drop_duplicates(films: Vec<LabelledFilm>) -> (Vec<LabelledFilm>, Vec<String>) {
    use sha2::{Digest, Sha256};
    let mut seen: std::collections::HashMap<[u8; 32], usize> = Default::default();
    let mut kept: Vec<LabelledFilm> = Vec::with_capacity(films.len());
    let mut dropped = Vec::new();
    for film in films {
        let ImageSource::File(path) = &film.image;
        let Ok(bytes) = std::fs::read(path) else {
            kept.push(film);
            continue;
        };
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        match seen.get(&digest) {
            Some(&i) => {
                let first = &kept[i];
                let label = |covid: bool| if covid { "covid" } else { "normal" };
                let clash = if first.covid == film.covid {
                    String::new()
                } else {
                    format!(
                        "; its label {} disagrees with {} there, which stands",
                        label(film.covid),
                        label(first.covid)
                    )
                };
                dropped.push(format!(
                    "{}: the same image as {}, counted once{clash}",
                    film.name, first.name
                ));
            }
            None => {
                seen.insert(digest, kept.len());
                kept.push(film);
            }
        }
    }
    (kept, dropped)
}

/// At least [`MIN_FILMS_PER_CLASS`] films of each class, or a message saying how many there are.
pub fn check_counts(films: &[LabelledFilm], origin: &str) -> Result<FilmCounts, String> {
    let covid = films.iter().filter(|f| f.covid).count();
    let counts = FilmCounts {
        covid,
        normal: films.len() - covid,
    };
    if counts.covid < MIN_FILMS_PER_CLASS || counts.normal < MIN_FILMS_PER_CLASS {
        return Err(format!(
            "{origin}: {} covid and {} normal films; site validation needs at least \
             {MIN_FILMS_PER_CLASS} of each",
            counts.covid, counts.normal
        ));
    }
    Ok(counts)
}

/// The films screened for a validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Screening {
    /// Films with a model score.
    pub scored: Vec<ScoredFilm>,
    /// Films the scope check refused (no score): left out of the validation, as the kiosk would
    /// give them no finding either. Each with its reason's name.
    pub out_of_scope: Vec<(LabelledFilm, &'static str)>,
}

/// Screens every film; the first one that cannot be screened stops the validation (a validation
/// must cover the films it names). Films out of scope are set aside, not scored.
pub fn screen_films(
    screener: &XrayScreener,
    films: Vec<LabelledFilm>,
) -> Result<Screening, ScreenError> {
    let mut out = Screening {
        scored: Vec::with_capacity(films.len()),
        out_of_scope: Vec::new(),
    };
    for film in films {
        let ImageSource::File(path) = &film.image;
        let report = screener.screen_file(path, None)?.report;
        match (report.covid_probability, report.scope_reason) {
            (Some(probability), None) => {
                log::debug!("{}: covid p {probability:.4}", film.name);
                out.scored.push(ScoredFilm { film, probability });
            }
            (_, reason) => {
                let reason = reason.map_or("out_of_scope", |r| r.name());
                log::warn!("{}: out of scope ({reason}): not counted", film.name);
                out.out_of_scope.push((film, reason));
            }
        }
    }
    Ok(out)
}

/// The choices of one validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The targets of the threshold.
    pub rule: Rule,
    /// Cross-validation folds (2 to the films of the smaller class).
    pub folds: usize,
    /// Seed of the fold assignment.
    pub seed: u64,
    /// What the films came from (written into the calibration).
    pub labels: String,
}

/// Why no calibration was made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValidateError {
    /// Fewer than [`MIN_FILMS_PER_CLASS`] of a class, or too few for the folds.
    #[error("{0}")]
    Films(String),
    /// No threshold meets both targets on the site's films.
    #[error("no site threshold meets both targets: {0}")]
    NoThreshold(ChoiceError),
}

/// Measures, chooses and cross-validates: the calibration for `screener`'s model (at the model's
/// own threshold for the in-sample numbers), or why there is none.
pub fn validate(
    screener: &XrayScreener,
    scored: &[ScoredFilm],
    o: &Options,
) -> Result<SiteCalibration, ValidateError> {
    let films: Vec<LabelledFilm> = scored.iter().map(|s| s.film.clone()).collect();
    let counts = check_counts(&films, &o.labels).map_err(ValidateError::Films)?;
    if o.folds < 2 || o.folds > counts.covid.min(counts.normal) {
        return Err(ValidateError::Films(format!(
            "{} folds for {} covid and {} normal films: use 2 to {}",
            o.folds,
            counts.covid,
            counts.normal,
            counts.covid.min(counts.normal)
        )));
    }
    let s: Vec<Scored> = scored
        .iter()
        .map(|f| Scored {
            probability: f.probability,
            covid: f.film.covid,
        })
        .collect();
    let model = screener.model();
    let t = choose(&s, &o.rule).map_err(ValidateError::NoThreshold)?;
    let cv = cross_validate(&s, &o.rule, o.folds, o.seed).map_err(ValidateError::NoThreshold)?;
    Ok(SiteCalibration {
        format: CALIBRATION_FORMAT.into(),
        version: CALIBRATION_VERSION,
        model: CalibratedModel {
            name: model.info().name.clone(),
            version: model.info().version.clone(),
            sha256: model.sha256().to_string(),
            threshold: model.info().threshold,
        },
        site_threshold: t,
        target_specificity: o.rule.target_specificity,
        min_sensitivity: o.rule.min_sensitivity,
        counts,
        at_model_threshold: operating(&s, model.info().threshold),
        at_site_threshold_in_sample: operating(&s, t),
        cross_validated: cv,
        labels: o.labels.clone(),
        created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        software_version: env!("CARGO_PKG_VERSION").to_string(),
    })
}

/// True when the cross-validated estimate reaches both targets (point estimates).
pub fn cv_meets_targets(c: &SiteCalibration) -> bool {
    let cv = &c.cross_validated;
    cv.sensitivity.value + 1e-12 >= c.min_sensitivity
        && cv.specificity.value + 1e-12 >= c.target_specificity
}

/// The readable summary of a calibration.
pub fn render(c: &SiteCalibration) -> String {
    use crate::xray::site::Proportion;
    let p = |r: &Proportion| {
        format!(
            "{:.3} ({}/{}; 95% Wilson {:.2}-{:.2})",
            r.value, r.k, r.n, r.wilson_95[0], r.wilson_95[1]
        )
    };
    let cv = &c.cross_validated;
    let mut s = format!(
        "Site validation of {} {} (SHA-256 {})\n\
         Films: {} covid, {} normal ({})\n\n\
         At the model's threshold {:.4} (all films):\n  sensitivity {}\n  specificity {}\n\n\
         Site threshold {:.4}: the lowest with specificity >= {:.2} on these films, keeping \
         sensitivity >= {:.2}\n\
         Expected at this site ({}-fold cross-validated: chosen on the other folds, measured on \
         the held-out one):\n  sensitivity {}\n  specificity {}\n\
         On the films it was chosen on (optimistic, for reference):\n  sensitivity {}\n  \
         specificity {}\n",
        c.model.name,
        c.model.version,
        c.model.sha256,
        c.counts.covid,
        c.counts.normal,
        c.labels,
        c.at_model_threshold.threshold,
        p(&c.at_model_threshold.sensitivity),
        p(&c.at_model_threshold.specificity),
        c.site_threshold,
        c.target_specificity,
        c.min_sensitivity,
        cv.folds,
        p(&cv.sensitivity),
        p(&cv.specificity),
        p(&c.at_site_threshold_in_sample.sensitivity),
        p(&c.at_site_threshold_in_sample.specificity),
    );
    if cv.folds_below_min_sensitivity > 0 {
        s += &format!(
            "  {} of {} folds could not keep sensitivity >= {:.2} on their training films\n",
            cv.folds_below_min_sensitivity, cv.folds, c.min_sensitivity
        );
    }
    if !cv_meets_targets(c) {
        s += &format!(
            "  Held out, the choice falls short of the targets (sensitivity {:.3} for {:.2}, \
             specificity {:.3} for {:.2}): expect that here, not the targets; more films give a \
             steadier threshold\n",
            cv.sensitivity.value, c.min_sensitivity, cv.specificity.value, c.target_specificity
        );
    }
    s += "\nA screening aid, not a diagnosis. Intervals treat films as independent.\n";
    s
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
