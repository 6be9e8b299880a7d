//! A site calibration: the X-ray operating threshold chosen on one site's own labelled films by
//! `edge-screen xray-validate`, with what that choice was measured to do, bound to one model file
//! by its SHA-256.
//!
//! `[xray] site_calibration = PATH` loads it. Without a valid calibration every X-ray result says
//! `"site_validated": false` and the session fusion treats the X-ray as advisory only. A
//! calibration made for another model file is refused (see [`SiteCalibration::check_model`]):
//! a threshold chosen for one model's scores means nothing for another's.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `format` field of every calibration file.
pub const CALIBRATION_FORMAT: &str = "edge-screen-xray-site-calibration";
/// The version of the file layout this program writes and reads.
pub const CALIBRATION_VERSION: u32 = 1;
/// Fewest films of each class a calibration may be made from.
pub const MIN_FILMS_PER_CLASS: usize = 20;
/// Largest calibration file read, bytes.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// A proportion `k` of `n` with its 95 % Wilson score interval (films taken as independent).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proportion {
    /// Films counted as right.
    pub k: usize,
    /// Films.
    pub n: usize,
    /// `k / n` (0 when `n` is 0).
    pub value: f64,
    /// 95 % Wilson score interval, low and high.
    pub wilson_95: [f64; 2],
}

impl Proportion {
    /// `k` of `n`, with its interval.
    pub fn new(k: usize, n: usize) -> Self {
        Self {
            k,
            n,
            value: if n == 0 { 0.0 } else { k as f64 / n as f64 },
            wilson_95: crate::tools::xray_eval::wilson(k, n),
        }
    }
}

/// Sensitivity and specificity at one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operating {
    /// Threshold on the covid probability (covid when `p >= threshold`).
    pub threshold: f32,
    /// Covid films found.
    pub sensitivity: Proportion,
    /// Normal films left normal.
    pub specificity: Proportion,
}

/// The honest estimate of the site threshold: stratified k-fold cross-validation, each fold's
/// films classified with a threshold chosen by the same rule on the other folds only, pooled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossValidated {
    /// Number of folds.
    pub folds: usize,
    /// Seed of the fold assignment.
    pub seed: u64,
    /// The threshold chosen on each fold's training part.
    pub fold_thresholds: Vec<f32>,
    /// Folds whose training part had no threshold meeting the minimum sensitivity at the target
    /// specificity (their films were still classified at the target-specificity threshold).
    pub folds_below_min_sensitivity: usize,
    /// Pooled over the held-out folds.
    pub sensitivity: Proportion,
    /// Pooled over the held-out folds.
    pub specificity: Proportion,
}

/// The model a calibration belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibratedModel {
    /// Model name.
    pub name: String,
    /// Model version.
    pub version: String,
    /// SHA-256 of the model file, 64 lowercase hex digits.
    pub sha256: String,
    /// The model's own operating threshold.
    pub threshold: f32,
}

/// Films the calibration was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilmCounts {
    /// Films labelled covid.
    pub covid: usize,
    /// Films labelled normal.
    pub normal: usize,
}

/// A site calibration file (JSON), as written by `edge-screen xray-validate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteCalibration {
    /// Always [`CALIBRATION_FORMAT`].
    pub format: String,
    /// Layout version, [`CALIBRATION_VERSION`].
    pub version: u32,
    /// The model it is bound to.
    pub model: CalibratedModel,
    /// The threshold on the covid probability to use at this site.
    pub site_threshold: f32,
    /// The specificity the threshold was chosen for.
    pub target_specificity: f64,
    /// The sensitivity the choice had to keep.
    pub min_sensitivity: f64,
    /// Films used.
    pub counts: FilmCounts,
    /// At the model's own threshold, on all the site's films.
    pub at_model_threshold: Operating,
    /// At the site threshold, on the films it was chosen on (optimistic: for reference only).
    pub at_site_threshold_in_sample: Operating,
    /// At the site threshold, cross-validated: the estimate to quote.
    pub cross_validated: CrossValidated,
    /// Where the labels came from (e.g. the labels file).
    pub labels: String,
    /// When it was made (RFC 3339, UTC).
    pub created: String,
    /// The edge-screen version that made it.
    pub software_version: String,
}

/// Why a calibration file cannot be used; the message starts with the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {problem}", file.display())]
pub struct CalibrationError {
    /// The calibration file.
    pub file: PathBuf,
    /// What is wrong.
    pub problem: String,
}

impl SiteCalibration {
    /// Reads and checks a calibration file: layout, version, threshold in (0, 1), a SHA-256 of
    /// 64 hex digits and at least [`MIN_FILMS_PER_CLASS`] films of each class.
    pub fn load(path: &Path) -> Result<Self, CalibrationError> {
        let err = |problem: String| CalibrationError {
            file: path.to_path_buf(),
            problem,
        };
        let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read: {e}")))?;
        if meta.len() > MAX_FILE_BYTES {
            return Err(err(format!(
                "{} bytes is too large for a calibration file (at most {MAX_FILE_BYTES})",
                meta.len()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| err(format!("not a site calibration (not JSON: {e})")))?;
        let format = value.get("format").and_then(|v| v.as_str());
        if format != Some(CALIBRATION_FORMAT) {
            return Err(err(format!(
                "not a site calibration: `format` is {}, expected {CALIBRATION_FORMAT:?}",
                format.map_or_else(|| "missing".to_string(), |f| format!("{f:?}"))
            )));
        }
        match value.get("version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(CALIBRATION_VERSION) => {}
            other => {
                return Err(err(format!(
                    "`version` is {}; this program reads version {CALIBRATION_VERSION} \
                     (run `edge-screen xray-validate` again)",
                    other.map_or_else(|| "missing".to_string(), |v| v.to_string())
                )))
            }
        }
        let c: SiteCalibration = serde_json::from_value(value)
            .map_err(|e| err(format!("malformed site calibration: {e}")))?;
        c.check().map_err(err)?;
        Ok(c)
    }

    fn check(&self) -> Result<(), String> {
        let t = self.site_threshold;
        if !(t > 0.0 && t < 1.0) {
            return Err(format!("`site_threshold` {t} is not inside (0, 1)"));
        }
        let sha = &self.model.sha256;
        if sha.len() != 64 || !sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(format!(
                "`model.sha256` {sha:?} is not 64 lowercase hex digits"
            ));
        }
        let FilmCounts { covid, normal } = self.counts;
        if covid < MIN_FILMS_PER_CLASS || normal < MIN_FILMS_PER_CLASS {
            return Err(format!(
                "`counts`: {covid} covid and {normal} normal films; a site calibration needs at \
                 least {MIN_FILMS_PER_CLASS} of each"
            ));
        }
        Ok(())
    }

    /// Refuses a calibration made for another model file, naming both SHA-256 digests.
    pub fn check_model(&self, model_sha256: &str) -> Result<(), String> {
        if self.model.sha256 == model_sha256 {
            return Ok(());
        }
        Err(format!(
            "made for the X-ray model with SHA-256 {} ({} {}), but the loaded model has SHA-256 \
             {model_sha256}; refused: run `edge-screen xray-validate` again with this model",
            self.model.sha256, self.model.name, self.model.version
        ))
    }
}

#[cfg(test)]
impl SiteCalibration {
    /// A calibration of 25 + 25 films for the model with SHA-256 `sha`, site threshold 0.3
    /// (tests of the code that uses calibrations).
    pub(crate) fn example(sha: &str) -> SiteCalibration {
        let op = |threshold| Operating {
            threshold,
            sensitivity: Proportion::new(24, 25),
            specificity: Proportion::new(23, 25),
        };
        SiteCalibration {
            format: CALIBRATION_FORMAT.into(),
            version: CALIBRATION_VERSION,
            model: CalibratedModel {
                name: "xray".into(),
                version: "1".into(),
                sha256: sha.into(),
                threshold: 0.08,
            },
            site_threshold: 0.3,
            target_specificity: 0.9,
            min_sensitivity: 0.9,
            counts: FilmCounts {
                covid: 25,
                normal: 25,
            },
            at_model_threshold: op(0.08),
            at_site_threshold_in_sample: op(0.3),
            cross_validated: CrossValidated {
                folds: 5,
                seed: 1,
                fold_thresholds: vec![0.3; 5],
                folds_below_min_sensitivity: 0,
                sensitivity: Proportion::new(23, 25),
                specificity: Proportion::new(22, 25),
            },
            labels: "labels.csv".into(),
            created: "2026-11-30T00:00:00Z".into(),
            software_version: "0.1.0".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("site.json");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_written_calibration_loads_and_binds_to_its_model() {
        let dir = tempfile::tempdir().unwrap();
        let sha = "ab".repeat(32);
        let c = SiteCalibration::example(&sha);
        let p = write(dir.path(), &serde_json::to_string_pretty(&c).unwrap());
        let loaded = SiteCalibration::load(&p).unwrap();
        // JSON keeps f32 exactly; f64 intervals to within their last digit.
        assert_eq!(
            (loaded.site_threshold, &loaded.model, loaded.counts),
            (c.site_threshold, &c.model, c.counts)
        );
        assert_eq!(
            loaded.cross_validated.fold_thresholds,
            c.cross_validated.fold_thresholds
        );
        let [lo, hi] = loaded.cross_validated.specificity.wilson_95;
        let [clo, chi] = c.cross_validated.specificity.wilson_95;
        assert!((lo - clo).abs() < 1e-12 && (hi - chi).abs() < 1e-12);
        assert!(loaded.check_model(&sha).is_ok());
        let other = "cd".repeat(32);
        let e = loaded.check_model(&other).unwrap_err();
        assert!(e.contains(&sha) && e.contains(&other), "{e}");
    }

    #[test]
    fn bad_files_are_refused_naming_the_file_and_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let good = serde_json::to_value(SiteCalibration::example(&"ab".repeat(32))).unwrap();
        let cases: Vec<(serde_json::Value, &str)> = vec![
            (serde_json::json!({"a": 1}), "`format` is missing"),
            (
                {
                    let mut v = good.clone();
                    v["version"] = 2.into();
                    v
                },
                "`version` is 2",
            ),
            (
                {
                    let mut v = good.clone();
                    v["site_threshold"] = 1.5.into();
                    v
                },
                "`site_threshold` 1.5",
            ),
            (
                {
                    let mut v = good.clone();
                    v["model"]["sha256"] = "xyz".into();
                    v
                },
                "`model.sha256`",
            ),
            (
                {
                    let mut v = good.clone();
                    v["counts"]["covid"] = 12.into();
                    v
                },
                "12 covid and 25 normal",
            ),
            (
                {
                    let mut v = good.clone();
                    v.as_object_mut().unwrap().remove("site_threshold");
                    v
                },
                "site_threshold",
            ),
        ];
        for (v, want) in cases {
            let p = write(dir.path(), &v.to_string());
            let e = SiteCalibration::load(&p).unwrap_err().to_string();
            assert!(e.starts_with(&p.display().to_string()), "{e}");
            assert!(e.contains(want), "{e} should contain {want}");
        }
        let p = write(dir.path(), "not json");
        let e = SiteCalibration::load(&p).unwrap_err().to_string();
        assert!(e.contains("not JSON"), "{e}");
        let missing = dir.path().join("none.json");
        let e = SiteCalibration::load(&missing).unwrap_err().to_string();
        assert!(e.contains("none.json: cannot read"), "{e}");
    }
}
