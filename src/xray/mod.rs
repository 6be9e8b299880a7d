//! Chest X-ray screening aid: decode → preprocess → int8 CNN (tract) → probability and heatmap.
//!
//! ```text
//!  file (PNG | JPEG | DICOM) ──decode──▶ GrayImage ──preprocess──▶ [1,1,128,128] ──scope──▶ model ──▶ probability, CAM
//! ```
//! The scope check (`scope.rs`) stops images the model was not trained for (photos, documents,
//! CT/MR, rotated or inverted films, ...): they get `out_of_scope` and no probability.
//! The result is a screening aid, not a diagnosis: see `models/xray/MODEL_CARD.md` for what the
//! model was trained on, how it does per data source and what it may be learning instead of disease.

pub mod decode;
pub mod dicom;
pub mod heatmap;
pub mod inbox;
pub mod model;
pub mod preprocess;
pub mod scope;
pub mod screen;
pub mod site;

use std::path::PathBuf;

/// Settings of X-ray screening (`[xray]` of `kiosk.toml`, paths resolved against its folder).
#[derive(Debug, Clone, PartialEq)]
pub struct XraySettings {
    /// ONNX model file (with `model.json` beside it); `None` = the built-in model.
    pub model: Option<PathBuf>,
    /// Operating threshold on the covid probability; `None` = the model's own.
    pub threshold: Option<f32>,
    /// Folder the daemon watches for new images; `None` = no inbox.
    pub inbox: Option<PathBuf>,
    /// How often the inbox is scanned, s.
    pub poll_interval_s: f64,
    /// Where the daemon writes heatmaps of inbox images; `None` = none.
    pub heatmap_dir: Option<PathBuf>,
    /// The site calibration (`[xray] site_calibration`), read and checked; `None` = none, so
    /// X-ray results are not validated at this site and only advisory.
    pub site_calibration: Option<SiteSetting>,
}

/// A site calibration named by the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteSetting {
    /// The calibration file.
    pub path: PathBuf,
    /// The configuration file (or flag) that named it, for messages.
    pub origin: String,
    /// Its contents, checked by [`site::SiteCalibration::load`] (not yet against the model).
    pub calibration: site::SiteCalibration,
}

/// A decoded radiograph: gray intensities in `[0, 1]`, 0 = black (air), 1 = white (bone).
///
/// Colour images are reduced to luma and DICOM files have their windowing and photometric
/// interpretation applied (see `models/xray/PREPROCESSING.md`, step 1).
#[derive(Debug, Clone, PartialEq)]
pub struct GrayImage {
    /// Width, px.
    pub width: usize,
    /// Height, px.
    pub height: usize,
    /// Row-major intensities, `width * height` values in `[0, 1]`, row 0 at the top.
    pub pixels: Vec<f64>,
    /// What the file was, e.g. `PNG 8-bit gray` or `DICOM MONOCHROME1 12-bit`.
    pub format: String,
    /// What the decoder saw before reducing the file to gray: colour and DICOM metadata, for
    /// the scope check (`scope.rs`).
    pub source: SourceInfo,
}

/// Facts about the source file that the gray intensities no longer show.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SourceInfo {
    /// Colourfulness of the decoded colour pixels (Hasler and Süsstrunk 2003, on the 0-255
    /// scale: 0 for gray, about 15 "slightly", 33 "moderately", 45+ "quite" colourful); 0 for
    /// gray files.
    pub colourfulness: f64,
    /// DICOM Modality (0008,0060), e.g. `CR`, `DX`, `CT`; `None` when absent or not DICOM.
    pub modality: Option<String>,
    /// DICOM BodyPartExamined (0018,0015), e.g. `CHEST`.
    pub body_part: Option<String>,
    /// DICOM ViewPosition (0018,5101), e.g. `PA`, `AP`, `LL`.
    pub view_position: Option<String>,
}

impl GrayImage {
    /// The intensity at column `x`, row `y`.
    ///
    /// # Panics
    /// When `(x, y)` is outside the image.
    pub fn at(&self, x: usize, y: usize) -> f64 {
        self.pixels[y * self.width + x]
    }
}
