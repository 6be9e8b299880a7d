//! The scope check: is this image what the X-ray model was trained on (a frontal chest
//! radiograph, right way up, bone white, of a sensible size)? If not, no probability is given.
//!
//! ```text
//!  GrayImage + Prepared ──gates──▶ DICOM tags, size, colour, blank, saturated, noise
//!                       ──eigen-chest──▶ 32x32 features vs the PCA of the training films
//! ```
//! The gates are simple statistics with named reasons. The eigen-chest model
//! (`models/xray/scope.json`, fitted by `training/xray/scope.py` on the `train` split) scores how far
//! the prepared image lies from the training films: the residual outside their first K principal
//! components and the Mahalanobis distance inside them, each divided by its limit (a quantile of the
//! `tune` split), the larger of the two being the score. It does not depend on the CNN, so it stays
//! valid when the classifier is retrained with the same preprocessing.

use super::preprocess::{Prepared, SIDE};
use super::GrayImage;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// Images with a side shorter than this (px) are refused: the model would see an enlarged
/// image. The development set's smallest film is 157 px.
pub const MIN_SCOPE_SIDE: usize = 128;
/// Above this colourfulness (0-255 scale, [`super::SourceInfo::colourfulness`]) the image is a
/// colour image; a radiograph saved as RGB scores about 0.
pub const MAX_COLOURFULNESS: f64 = 12.0;
/// Below this spread between the 2nd and 98th intensity percentiles of the model's view (0-1) the
/// image is blank.
pub const MIN_SPREAD: f64 = 0.05;
/// Above this share of pixels at one extreme (black at most 2/255 or white at least 253/255)
/// the image is saturated (the development set's largest share is 0.51).
pub const MAX_EXTREME_SHARE: f64 = 0.6;
/// Above this mean absolute difference between neighbouring pixels of the normalised 128 x 128
/// view (0-1) the image is noise or fine texture (development set: median 0.035, max 0.068).
pub const MAX_ROUGHNESS: f64 = 0.1;

/// Why an image is out of scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeReason {
    /// DICOM Modality says CT, MR, ultrasound, ...: not a projection radiograph.
    NotARadiograph,
    /// DICOM BodyPartExamined names another part than the chest.
    OtherBodyPart,
    /// DICOM ViewPosition says lateral.
    LateralView,
    /// A side shorter than [`MIN_SCOPE_SIDE`].
    TooSmall,
    /// A colour image (photo, stained microscopy, fundus).
    ColourImage,
    /// Almost no contrast.
    Blank,
    /// Most pixels at black or white.
    Saturated,
    /// Noise or fine texture.
    Noisy,
    /// A rotated chest film (90, 180 or 270 degrees).
    Rotated,
    /// A chest film with inverted polarity (bone black).
    Inverted,
    /// Does not look like the chest films the model was trained on.
    NotAChestRadiograph,
}

impl ScopeReason {
    /// The JSON name, e.g. `lateral_view`.
    pub fn name(self) -> &'static str {
        match self {
            ScopeReason::NotARadiograph => "not_a_radiograph",
            ScopeReason::OtherBodyPart => "other_body_part",
            ScopeReason::LateralView => "lateral_view",
            ScopeReason::TooSmall => "too_small",
            ScopeReason::ColourImage => "colour_image",
            ScopeReason::Blank => "blank",
            ScopeReason::Saturated => "saturated",
            ScopeReason::Noisy => "noisy",
            ScopeReason::Rotated => "rotated",
            ScopeReason::Inverted => "inverted",
            ScopeReason::NotAChestRadiograph => "not_a_chest_radiograph",
        }
    }

    /// The name in words, e.g. `lateral view` (for the readout).
    pub fn short(self) -> String {
        self.name().replace('_', " ")
    }

    /// A short sentence for people.
    pub fn text(self) -> &'static str {
        match self {
            ScopeReason::NotARadiograph => "not a radiograph (DICOM modality)",
            ScopeReason::OtherBodyPart => "another body part than the chest (DICOM)",
            ScopeReason::LateralView => "a lateral view; only frontal films are screened",
            ScopeReason::TooSmall => "image too small (under 128 px on a side)",
            ScopeReason::ColourImage => "a colour image, not a radiograph",
            ScopeReason::Blank => "blank image",
            ScopeReason::Saturated => "saturated image (mostly black or white)",
            ScopeReason::Noisy => "noise or fine texture, not a radiograph",
            ScopeReason::Rotated => "film rotated; send it the right way up",
            ScopeReason::Inverted => "film inverted (bone black); send it with bone white",
            ScopeReason::NotAChestRadiograph => "does not look like a frontal chest radiograph",
        }
    }
}

/// The eigen-chest model (`models/xray/scope.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct ScopeModel {
    /// Format version (1).
    pub version: u32,
    /// The preprocessing contract the features come from.
    pub preprocess_version: u32,
    /// Side of the feature grid (32).
    pub feature_side: usize,
    /// Block size of the averaging (4: 128 / 32).
    pub block: usize,
    /// Mean feature vector of the training films.
    pub mean: Vec<f64>,
    /// Principal components (rows, unit length).
    pub components: Vec<Vec<f64>>,
    /// Their variances on the training films.
    pub eigenvalues: Vec<f64>,
    /// Limit of the residual (mean squared, per feature).
    pub residual_limit: f64,
    /// Limit of the Mahalanobis distance (mean of squared standardised coordinates).
    pub distance_limit: f64,
}

/// Why a scope model file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("scope model {what}: {message}")]
pub struct ScopeModelError {
    what: String,
    message: String,
}

impl ScopeModel {
    /// The model built into the binary.
    pub fn embedded() -> &'static ScopeModel {
        static MODEL: OnceLock<ScopeModel> = OnceLock::new();
        MODEL.get_or_init(|| {
            Self::parse(include_str!("../../models/xray/scope.json"), "built-in")
                .expect("the built-in scope model is checked by tests")
        })
    }

    /// Parses and checks a model (`what` names it in errors).
    pub fn parse(text: &str, what: &str) -> Result<Self, ScopeModelError> {
        let err = |message: String| ScopeModelError {
            what: what.into(),
            message,
        };
        let m: ScopeModel = serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
        let d = m.feature_side * m.feature_side;
        if m.version != 1 || m.preprocess_version != super::preprocess::PREPROCESS_VERSION {
            return Err(err(format!(
                "version {} / preprocess_version {}: this build reads version 1 of preprocessing {}",
                m.version,
                m.preprocess_version,
                super::preprocess::PREPROCESS_VERSION
            )));
        }
        if m.feature_side * m.block != SIDE || m.mean.len() != d {
            return Err(err(format!(
                "feature_side {} x block {} must be {SIDE} and mean must hold {d} values",
                m.feature_side, m.block
            )));
        }
        if m.components.is_empty()
            || m.components.len() != m.eigenvalues.len()
            || m.components.iter().any(|c| c.len() != d)
        {
            return Err(err(format!(
                "components: need K rows of {d} values and K eigenvalues"
            )));
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !m.eigenvalues.iter().all(|&v| positive(v))
            || !positive(m.residual_limit)
            || !positive(m.distance_limit)
        {
            return Err(err("eigenvalues and limits must be finite and > 0".into()));
        }
        Ok(m)
    }

    /// `(residual, distance)` of a feature vector (see the module docs).
    pub fn scores(&self, f: &[f64]) -> (f64, f64) {
        let d: Vec<f64> = f.iter().zip(&self.mean).map(|(a, m)| a - m).collect();
        let z: Vec<f64> = self
            .components
            .iter()
            .map(|c| c.iter().zip(&d).map(|(a, b)| a * b).sum())
            .collect();
        let mut residual = d.clone();
        for (c, zk) in self.components.iter().zip(&z) {
            residual.iter_mut().zip(c).for_each(|(r, ci)| *r -= zk * ci);
        }
        let r = residual.iter().map(|v| v * v).sum::<f64>() / d.len() as f64;
        let m = z
            .iter()
            .zip(&self.eigenvalues)
            .map(|(zk, l)| zk * zk / l)
            .sum::<f64>()
            / z.len() as f64;
        (r, m)
    }

    /// The score of a feature vector: at most 1 is like the training films.
    pub fn score(&self, f: &[f64]) -> f64 {
        let (r, m) = self.scores(f);
        (r / self.residual_limit).max(m / self.distance_limit)
    }

    /// The eigen-chest decision for features of the upright image: its score, and a reason when
    /// it is out of scope. A film is in scope when it scores at most 1 and none of its rotations
    /// or its inversion scores lower; else the reason is the best-scoring transform when that one
    /// is in scope (`rotated`, `inverted`), otherwise `not_a_chest_radiograph`.
    pub fn assess(&self, f: &[f64]) -> (f64, Option<ScopeReason>) {
        let side = self.feature_side;
        let s = self.score(f);
        let (mut best, mut reason) = (s, None);
        let variants = [
            (ScopeReason::Rotated, rot90(f, side, 1)),
            (ScopeReason::Rotated, rot90(f, side, 2)),
            (ScopeReason::Rotated, rot90(f, side, 3)),
            (ScopeReason::Inverted, f.iter().map(|v| 1.0 - v).collect()),
        ];
        for (why, g) in variants {
            let sg = self.score(&g);
            if sg < best {
                (best, reason) = (sg, Some(why));
            }
        }
        if best > 1.0 {
            return (s, Some(ScopeReason::NotAChestRadiograph));
        }
        (s, reason)
    }
}

/// `f` (a `side x side` grid, row-major) rotated `k` quarter turns counter-clockwise, like
/// numpy's `rot90(f, k)`.
pub fn rot90(f: &[f64], side: usize, k: usize) -> Vec<f64> {
    let mut cur = f.to_vec();
    for _ in 0..k % 4 {
        // np.rot90(a)[i][j] = a[j][side - 1 - i]
        cur = (0..side * side)
            .map(|p| {
                let (i, j) = (p / side, p % side);
                cur[j * side + (side - 1 - i)]
            })
            .collect();
    }
    cur
}

/// The model's view `x` (0-1, 128 x 128) of a prepared image: the input undone,
/// `x = input * 0.25 + 0.5`.
fn view(prepared: &Prepared) -> Vec<f64> {
    prepared
        .input
        .iter()
        .map(|&v| f64::from(v) * 0.25 + 0.5)
        .collect()
}

/// The eigen-chest features: the view averaged over `block x block` cells, row-major.
pub fn features(prepared: &Prepared, block: usize) -> Vec<f64> {
    let x = view(prepared);
    let side = SIDE / block;
    let mut f = vec![0.0; side * side];
    for (p, v) in x.iter().enumerate() {
        let (y, xx) = (p / SIDE, p % SIDE);
        f[(y / block) * side + xx / block] += v;
    }
    let n = (block * block) as f64;
    f.iter_mut().for_each(|v| *v /= n);
    f
}

/// Mean absolute difference between neighbouring pixels of the view (rows and columns averaged).
pub fn roughness(prepared: &Prepared) -> f64 {
    let x = view(prepared);
    let (mut dx, mut dy) = (0.0, 0.0);
    for y in 0..SIDE {
        for c in 0..SIDE {
            let v = x[y * SIDE + c];
            if c + 1 < SIDE {
                dx += (x[y * SIDE + c + 1] - v).abs();
            }
            if y + 1 < SIDE {
                dy += (x[(y + 1) * SIDE + c] - v).abs();
            }
        }
    }
    let n = (SIDE * (SIDE - 1)) as f64;
    (dx / n + dy / n) / 2.0
}

/// The larger of the shares of pixels at black (≤ 2/255) and at white (≥ 253/255).
pub fn extreme_share(img: &GrayImage) -> f64 {
    let n = img.pixels.len().max(1) as f64;
    let black = img.pixels.iter().filter(|&&v| v <= 2.0 / 255.0).count() as f64;
    let white = img.pixels.iter().filter(|&&v| v >= 253.0 / 255.0).count() as f64;
    (black / n).max(white / n)
}

/// What the DICOM tags say, if they rule the image out.
fn dicom_reason(img: &GrayImage) -> Option<ScopeReason> {
    let s = &img.source;
    let upper = |v: &Option<String>| v.as_deref().map(|t| t.trim().to_ascii_uppercase());
    match upper(&s.modality).as_deref() {
        None | Some("CR" | "DX" | "DR" | "RG" | "OT" | "SC" | "") => {}
        Some("MG") => return Some(ScopeReason::OtherBodyPart),
        Some(_) => return Some(ScopeReason::NotARadiograph),
    }
    if let Some(part) = upper(&s.body_part) {
        let chest = ["CHEST", "THORAX", "LUNG", "TORSO"]
            .iter()
            .any(|c| part.contains(c));
        if !part.is_empty() && !chest {
            return Some(ScopeReason::OtherBodyPart);
        }
    }
    match upper(&s.view_position).as_deref() {
        Some("LL" | "RL" | "LAT" | "LATERAL" | "LLD" | "RLD" | "XTABLE") => {
            Some(ScopeReason::LateralView)
        }
        _ => None,
    }
}

/// The outcome of the scope check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScopeCheck {
    /// Why the image is out of scope; `None` = in scope.
    pub reason: Option<ScopeReason>,
    /// The eigen-chest score (at most 1 is like the training films); `None` when a gate
    /// refused the image first.
    pub score: Option<f64>,
}

/// Runs the gates, then the eigen-chest model, on a decoded and prepared image.
pub fn check(img: &GrayImage, prepared: &Prepared, model: &ScopeModel) -> ScopeCheck {
    let gate = |reason| ScopeCheck {
        reason: Some(reason),
        score: None,
    };
    if let Some(r) = dicom_reason(img) {
        return gate(r);
    }
    if img.width.min(img.height) < MIN_SCOPE_SIDE {
        return gate(ScopeReason::TooSmall);
    }
    if img.source.colourfulness > MAX_COLOURFULNESS {
        return gate(ScopeReason::ColourImage);
    }
    if prepared.percentiles.1 - prepared.percentiles.0 < MIN_SPREAD {
        return gate(ScopeReason::Blank);
    }
    if extreme_share(img) > MAX_EXTREME_SHARE {
        return gate(ScopeReason::Saturated);
    }
    if roughness(prepared) > MAX_ROUGHNESS {
        return gate(ScopeReason::Noisy);
    }
    let (score, reason) = model.assess(&features(prepared, model.block));
    ScopeCheck {
        reason,
        score: Some(score),
    }
}

#[cfg(test)]
#[path = "scope_tests.rs"]
mod tests;
