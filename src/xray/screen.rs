//! One image file → one screening result: decode, prepare, run, decide, optionally draw the
//! heatmap. Shared by `edge-screen xray` and the daemon's inbox.

use super::decode::{self, FileError};
use super::heatmap;
use super::model::{ModelInfo, Prediction, XrayModel};
use super::preprocess::{prepare, PreprocessError};
use super::scope::{self, ScopeModel, ScopeReason};
use super::site::SiteCalibration;
use super::XraySettings;
use crate::inference::ModelError;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// Covid probability at or above the threshold: refer for clinical review.
    Covid,
    /// Below the threshold.
    Normal,
    /// Not what the model was trained on (see `scope.rs`): no probability is given.
    OutOfScope,
}

impl Finding {
    /// `covid`, `normal` or `out_of_scope`.
    pub fn name(self) -> &'static str {
        match self {
            Finding::Covid => "covid",
            Finding::Normal => "normal",
            Finding::OutOfScope => "out_of_scope",
        }
    }
}

/// Name and version of the model that gave a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelRef {
    /// Model name.
    pub name: String,
    /// Model version.
    pub version: String,
}

/// The result for one image (the `--json` object).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct XrayReport {
    /// The image file.
    pub file: PathBuf,
    /// Calibrated probability of covid, 0-1; `None` (JSON `null`) for an image out of scope.
    pub covid_probability: Option<f32>,
    /// `covid` when `covid_probability >= threshold`, else `normal`; `out_of_scope` when the
    /// image is not a frontal chest radiograph as the model knows them.
    pub finding: Finding,
    /// Why the image is out of scope (only then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope_reason: Option<ScopeReason>,
    /// The reason in words, e.g. "X-ray not assessable: blank image" (only when out of scope).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope_text: Option<String>,
    /// The operating threshold used.
    pub threshold: f32,
    /// True only when the threshold is the site threshold of a site calibration made for this
    /// model (`[xray] site_calibration`); otherwise the finding has not been validated at this
    /// site and the session outcome treats it as advisory only.
    pub site_validated: bool,
    /// The model.
    pub model: ModelRef,
    /// What the file was (format, bit depth, photometric interpretation).
    pub format: String,
    /// The heatmap written, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heatmap: Option<PathBuf>,
}

impl XrayReport {
    /// A report for `chest.png` with covid probability `p` from a model whose operating threshold
    /// is 0.08, as the shipped one's is, validated at the site (tests of the code that consumes
    /// reports).
    #[cfg(test)]
    pub(crate) fn example(p: f32) -> Self {
        XrayReport {
            file: "chest.png".into(),
            covid_probability: Some(p),
            scope_reason: None,
            scope_text: None,
            finding: if p >= 0.08 {
                Finding::Covid
            } else {
                Finding::Normal
            },
            threshold: 0.08,
            site_validated: true,
            model: ModelRef {
                name: "xray-cnn-int8".into(),
                version: "test".into(),
            },
            format: "PNG 8-bit gray".into(),
            heatmap: None,
        }
    }

    /// An out-of-scope report for `chest.png` (tests of the code that consumes reports).
    #[cfg(test)]
    pub(crate) fn example_out_of_scope(reason: ScopeReason) -> Self {
        XrayReport {
            covid_probability: None,
            finding: Finding::OutOfScope,
            scope_reason: Some(reason),
            scope_text: Some(not_assessable(reason)),
            ..Self::example(0.5)
        }
    }

    /// Whether a probability was given (the image was in scope).
    pub fn assessed(&self) -> bool {
        self.covid_probability.is_some()
    }
}

/// "X-ray not assessable: SENTENCE", the `scope_text` of an out-of-scope image.
pub fn not_assessable(reason: ScopeReason) -> String {
    format!("X-ray not assessable: {}", reason.text())
}

/// Why one image could not be screened. Every message starts with the file.
#[derive(Debug, thiserror::Error)]
pub enum ScreenError {
    /// Unreadable, unsupported or malformed file.
    #[error(transparent)]
    Decode(#[from] FileError),
    /// Decoded, but not usable (too small, inconsistent); a flat image is not an error but an
    /// out-of-scope report (`blank`).
    #[error("{}: {source}", file.display())]
    Preprocess {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        source: PreprocessError,
    },
    /// The model failed on it.
    #[error("{}: {source}", file.display())]
    Model {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        source: ModelError,
    },
}

/// One screened image: the result, and why its heatmap is missing if one was asked for and could
/// not be written (the result stands without its picture).
#[derive(Debug, Clone, PartialEq)]
pub struct Screened {
    /// The result.
    pub report: XrayReport,
    /// `FILE: heatmap: reason` when the requested heatmap could not be written.
    pub heatmap_error: Option<String>,
}

/// Why the X-ray screener of `[xray]` could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The model cannot be loaded.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The site calibration belongs to another model file.
    #[error("{origin}: xray.site_calibration = {}: {problem}", file.display())]
    Calibration {
        /// The configuration file (or flag) that named the calibration.
        origin: String,
        /// The calibration file.
        file: PathBuf,
        /// What is wrong, naming both SHA-256 digests.
        problem: String,
    },
}

/// The model of `[xray]`: the built-in model unless `model` names a file (with `model.json` in
/// its folder).
pub fn load_model(s: &XraySettings) -> Result<XrayModel, ModelError> {
    match &s.model {
        None => XrayModel::embedded(),
        Some(path) => {
            let dir = path.parent().unwrap_or(Path::new("."));
            let info: ModelInfo = XrayModel::read_info(dir)?;
            XrayModel::load(path, info)
        }
    }
}

/// A loaded model, the threshold in force, whether that threshold is validated at this site, and
/// the scope model.
#[derive(Debug, Clone)]
pub struct XrayScreener {
    model: XrayModel,
    threshold: f32,
    site_validated: bool,
    scope: &'static ScopeModel,
}

impl XrayScreener {
    /// The screener of `[xray]` ([`load_model`]). The threshold is `threshold` when set, else the
    /// site calibration's site threshold, else the model's own. Results are site-validated only
    /// at the site threshold of a calibration made for this model; a calibration for another
    /// model file is refused.
    pub fn from_settings(s: &XraySettings) -> Result<Self, SetupError> {
        let model = load_model(s)?;
        let Some(site) = &s.site_calibration else {
            let threshold = s.threshold.unwrap_or(model.info().threshold);
            return Ok(Self::new(model, threshold));
        };
        let this = Self::calibrated(model, &site.calibration).map_err(|problem| {
            SetupError::Calibration {
                origin: site.origin.clone(),
                file: site.path.clone(),
                problem,
            }
        })?;
        match s.threshold {
            Some(t) if t != this.threshold => {
                log::warn!(
                    "xray.threshold {t} overrides the site threshold {} of {}: X-ray results \
                     are not site-validated",
                    this.threshold,
                    site.path.display()
                );
                Ok(Self::new(this.model, t))
            }
            _ => Ok(this),
        }
    }

    /// A screener from a loaded model and a threshold, with the built-in scope model; its results
    /// are not site-validated.
    pub fn new(model: XrayModel, threshold: f32) -> Self {
        Self {
            model,
            threshold,
            site_validated: false,
            scope: ScopeModel::embedded(),
        }
    }

    /// A screener at the site threshold of `calibration`, whose results are site-validated;
    /// refused (naming both SHA-256 digests) when the calibration was made for another model.
    pub fn calibrated(model: XrayModel, calibration: &SiteCalibration) -> Result<Self, String> {
        calibration.check_model(model.sha256())?;
        Ok(Self {
            model,
            threshold: calibration.site_threshold,
            site_validated: true,
            scope: ScopeModel::embedded(),
        })
    }

    /// True when results are at a site threshold validated for this model.
    pub fn site_validated(&self) -> bool {
        self.site_validated
    }

    /// The model.
    pub fn model(&self) -> &XrayModel {
        &self.model
    }

    /// The threshold in force.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The finding for a covid probability.
    pub fn finding(&self, probability: f32) -> Finding {
        if probability >= self.threshold {
            Finding::Covid
        } else {
            Finding::Normal
        }
    }

    /// The report for an image out of scope: no probability, no heatmap.
    fn refused(
        &self,
        file: &Path,
        img: &super::GrayImage,
        model: ModelRef,
        reason: ScopeReason,
        score: Option<f64>,
    ) -> Screened {
        log::info!(
            "{}: out of scope: {} (scope score {})",
            file.display(),
            reason.name(),
            score.map_or("-".into(), |s| format!("{s:.3}"))
        );
        Screened {
            report: XrayReport {
                file: file.to_path_buf(),
                covid_probability: None,
                finding: Finding::OutOfScope,
                scope_reason: Some(reason),
                scope_text: Some(not_assessable(reason)),
                threshold: self.threshold,
                site_validated: self.site_validated,
                model,
                format: img.format.clone(),
                heatmap: None,
            },
            heatmap_error: None,
        }
    }

    /// Screens one file; with `heatmap`, also writes the overlay PNG to that path. An image out
    /// of scope gets no probability and no heatmap.
    pub fn screen_file(
        &self,
        file: &Path,
        heatmap: Option<&Path>,
    ) -> Result<Screened, ScreenError> {
        let img = decode::decode_file(file)?;
        let info = self.model.info();
        let model = ModelRef {
            name: info.name.clone(),
            version: info.version.clone(),
        };
        let prepared = match prepare(&img) {
            Ok(p) => p,
            // A flat image is a blank one: out of scope, not a failure.
            Err(PreprocessError::NoContrast { .. }) => {
                return Ok(self.refused(file, &img, model, ScopeReason::Blank, None))
            }
            Err(source) => {
                return Err(ScreenError::Preprocess {
                    file: file.to_path_buf(),
                    source,
                })
            }
        };
        let checked = scope::check(&img, &prepared, self.scope);
        if let Some(reason) = checked.reason {
            return Ok(self.refused(file, &img, model, reason, checked.score));
        }
        let pred: Prediction =
            self.model
                .run(&prepared.input)
                .map_err(|source| ScreenError::Model {
                    file: file.to_path_buf(),
                    source,
                })?;
        let mut report = XrayReport {
            file: file.to_path_buf(),
            covid_probability: Some(pred.probability),
            finding: self.finding(pred.probability),
            scope_reason: None,
            scope_text: None,
            threshold: self.threshold,
            site_validated: self.site_validated,
            model,
            format: img.format.clone(),
            heatmap: None,
        };
        if let Some(out) = heatmap {
            let caption = format!(
                "{} (covid p={:.2}, threshold {:.2}) red: towards covid, blue: towards normal. \
                 Screening aid, not a diagnosis.",
                report.finding.name(),
                pred.probability,
                self.threshold
            );
            let rgb = heatmap::overlay(&img, prepared.crop, &pred, &caption);
            if let Err(e) = crate::rgb::write_png_atomic(&rgb, out) {
                return Ok(Screened {
                    report,
                    heatmap_error: Some(format!("{}: heatmap: {e}", file.display())),
                });
            }
            report.heatmap = Some(out.to_path_buf());
        }
        Ok(Screened {
            report,
            heatmap_error: None,
        })
    }
}

/// The files to screen for command-line arguments: files as given, folders searched recursively
/// for image files ([`decode::is_candidate`]), in name order. Unreadable folders are errors.
pub fn collect_files(args: &[PathBuf]) -> Result<Vec<PathBuf>, std::io::Error> {
    let mut out = Vec::new();
    for a in args {
        if a.is_dir() {
            walk(a, &mut out)?;
        } else {
            out.push(a.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), std::io::Error> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if decode::is_candidate(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// A heatmap file name for `file` in `dir` that no earlier image of this run has used:
/// `NAME.heatmap.png`, then `NAME-2.heatmap.png`, ...
pub fn heatmap_path(
    dir: &Path,
    file: &Path,
    used: &mut std::collections::HashSet<PathBuf>,
) -> PathBuf {
    let name = file
        .file_name()
        .map_or_else(|| "image".into(), |n| n.to_string_lossy().into_owned());
    let mut k = 1;
    loop {
        let candidate = if k == 1 {
            dir.join(format!("{name}.heatmap.png"))
        } else {
            dir.join(format!("{name}-{k}.heatmap.png"))
        };
        if used.insert(candidate.clone()) {
            return candidate;
        }
        k += 1;
    }
}
