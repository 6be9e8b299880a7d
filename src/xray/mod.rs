//! Chest X-ray screening aid: decode → preprocess → int8 CNN (tract) → probability and heatmap.
//!
//! ```text
//!  file (PNG | JPEG | DICOM) ──decode──▶ GrayImage ──preprocess──▶ [1,1,128,128] ──model──▶ probability, CAM
//! ```
//! The result is a screening aid, not a diagnosis: see `models/xray/MODEL_CARD.md` for what the
//! model was trained on, how it does per data source and what it may be learning instead of disease.

pub mod decode;
pub mod dicom;
pub mod evaluate;
pub mod heatmap;
pub mod inbox;
pub mod model;
pub mod preprocess;
pub mod screen;

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
