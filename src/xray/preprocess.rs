//! Radiograph → model input, exactly as in training (`models/xray/PREPROCESSING.md`, steps 2-5).
//!
//! Border removal, area-averaging resize to 128 × 128 and percentile contrast normalisation, in
//! f64 like the numpy code in `training/xray/preprocess.py`; `tests/xray_parity.rs` checks the two
//! against the golden files the training run writes.

pub use super::decode::MIN_SIDE;
use super::GrayImage;

/// Version of the preprocessing contract; the model card and `model.json` name the one it was
/// trained with.
pub const PREPROCESS_VERSION: u32 = 1;
/// Side of the square model input, px.
pub const SIDE: usize = 128;
/// Values in one model input.
pub const INPUT_LEN: usize = SIDE * SIDE;
/// Share of width and height removed on each side, percent.
pub const BORDER_PERCENT: usize = 8;
/// Percentiles of the contrast normalisation.
const LOW_PERCENT: usize = 2;
const HIGH_PERCENT: usize = 98;
/// Below this spread between the percentiles an image has no usable contrast.
const MIN_CONTRAST: f64 = 1e-3;

/// Why an image cannot be turned into a model input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PreprocessError {
    /// Smaller than [`MIN_SIDE`] on a side.
    #[error("image is {width}x{height} px; at least {MIN_SIDE}x{MIN_SIDE} is needed")]
    TooSmall {
        /// Width, px.
        width: usize,
        /// Height, px.
        height: usize,
    },
    /// `pixels` does not hold `width * height` values.
    #[error("image claims {width}x{height} px but holds {len} values")]
    SizeMismatch {
        /// Width, px.
        width: usize,
        /// Height, px.
        height: usize,
        /// Values present.
        len: usize,
    },
    /// Flat image (blank, saturated or a single colour).
    #[error(
        "image has no contrast: the 2nd and 98th intensity percentiles are {lo:.4} and {hi:.4}"
    )]
    NoContrast {
        /// 2nd percentile, 0-1.
        lo: f64,
        /// 98th percentile, 0-1.
        hi: f64,
    },
    /// NaN or infinite intensities (a decoder bug; never from a file).
    #[error("image holds a non-finite intensity")]
    NonFinite,
}

/// The part of the source image the model sees, in source pixels (`x0..x1`, `y0..y1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropBox {
    /// First column kept.
    pub x0: usize,
    /// First row kept.
    pub y0: usize,
    /// One past the last column kept.
    pub x1: usize,
    /// One past the last row kept.
    pub y1: usize,
}

impl CropBox {
    /// The border removal of step 2 for a `width × height` image.
    pub fn for_size(width: usize, height: usize) -> Self {
        let cx = width * BORDER_PERCENT / 100;
        let cy = height * BORDER_PERCENT / 100;
        Self {
            x0: cx,
            y0: cy,
            x1: width - cx,
            y1: height - cy,
        }
    }

    /// Width, px.
    pub fn width(&self) -> usize {
        self.x1 - self.x0
    }

    /// Height, px.
    pub fn height(&self) -> usize {
        self.y1 - self.y0
    }
}

/// A model input and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// `[1, 1, 128, 128]` row-major, `(x - 0.5) / 0.25`.
    pub input: Vec<f32>,
    /// The region of the source image it shows.
    pub crop: CropBox,
    /// 2nd and 98th percentiles of the resized region (0-1), for the record.
    pub percentiles: (f64, f64),
}

/// Runs steps 2-5 on a decoded image.
///
/// # Errors
/// [`PreprocessError`] for a too-small, flat or inconsistent image.
pub fn prepare(img: &GrayImage) -> Result<Prepared, PreprocessError> {
    let (w, h) = (img.width, img.height);
    if w < MIN_SIDE || h < MIN_SIDE {
        return Err(PreprocessError::TooSmall {
            width: w,
            height: h,
        });
    }
    if img.pixels.len() != w * h {
        return Err(PreprocessError::SizeMismatch {
            width: w,
            height: h,
            len: img.pixels.len(),
        });
    }
    let crop = CropBox::for_size(w, h);
    let resized = resize_area(img, crop)?;
    let mut sorted = resized.clone();
    sorted.sort_unstable_by(f64::total_cmp);
    let n = sorted.len();
    let lo = sorted[(n - 1) * LOW_PERCENT / 100];
    let hi = sorted[(n - 1) * HIGH_PERCENT / 100];
    if hi - lo < MIN_CONTRAST {
        return Err(PreprocessError::NoContrast { lo, hi });
    }
    let input = resized
        .iter()
        .map(|&v| {
            let x = ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
            ((x - 0.5) / 0.25) as f32
        })
        .collect();
    Ok(Prepared {
        input,
        crop,
        percentiles: (lo, hi),
    })
}

/// The area-averaging weights of one axis (step 3): for each output cell, its first input index
/// and the weights of the input pixels it covers (they sum to 1).
pub fn area_weights(n: usize, m: usize) -> Vec<(usize, Vec<f64>)> {
    let scale = n as f64 / m as f64;
    (0..m)
        .map(|j| {
            let a = (j * n) as f64 / m as f64;
            let b = ((j + 1) * n) as f64 / m as f64;
            let first = a.floor() as usize;
            let last = (b.ceil() as usize).min(n);
            let w = (first..last)
                .map(|i| {
                    let overlap = b.min((i + 1) as f64) - a.max(i as f64);
                    overlap.max(0.0) / scale
                })
                .collect();
            (first, w)
        })
        .collect()
}

/// Crops and resizes to `SIDE × SIDE` by area averaging (step 3).
fn resize_area(img: &GrayImage, crop: CropBox) -> Result<Vec<f64>, PreprocessError> {
    let out = resize_area_to(img, crop, SIDE, SIDE);
    if out.iter().any(|v| !v.is_finite()) {
        return Err(PreprocessError::NonFinite);
    }
    Ok(out)
}

/// The `crop` region of `img` resized to `out_w × out_h` by area averaging, columns then rows
/// (separable; the same weights as step 3). Row-major.
///
/// # Panics
/// When `crop` is not inside the image or is empty.
pub fn resize_area_to(img: &GrayImage, crop: CropBox, out_w: usize, out_h: usize) -> Vec<f64> {
    let wx = area_weights(crop.width(), out_w);
    let wy = area_weights(crop.height(), out_h);
    // Columns first: every kept row → out_w values.
    let mut rows = vec![0.0f64; crop.height() * out_w];
    for (r, out) in rows.chunks_exact_mut(out_w).enumerate() {
        let start = (crop.y0 + r) * img.width + crop.x0;
        let src = &img.pixels[start..start + crop.width()];
        for (o, (first, w)) in out.iter_mut().zip(&wx) {
            *o = w.iter().zip(&src[*first..]).map(|(a, b)| a * b).sum();
        }
    }
    let mut out = vec![0.0f64; out_w * out_h];
    for (j, (first, w)) in wy.iter().enumerate() {
        let dst = &mut out[j * out_w..(j + 1) * out_w];
        for (k, wk) in w.iter().enumerate() {
            let src = &rows[(first + k) * out_w..(first + k + 1) * out_w];
            for (d, s) in dst.iter_mut().zip(src) {
                *d += wk * s;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(width: usize, height: usize, f: impl Fn(usize, usize) -> f64) -> GrayImage {
        let pixels = (0..height)
            .flat_map(|y| (0..width).map(move |x| (x, y)))
            .map(|(x, y)| f(x, y))
            .collect();
        GrayImage {
            width,
            height,
            pixels,
            format: "test".into(),
            source: Default::default(),
        }
    }

    #[test]
    fn area_weights_sum_to_one_and_cover_the_axis() {
        for &(n, m) in &[(512, 128), (471, 128), (100, 128), (128, 128), (37, 128)] {
            let w = area_weights(n, m);
            let mut coverage = vec![0.0; n];
            for (first, ws) in &w {
                let s: f64 = ws.iter().sum();
                assert!((s - 1.0).abs() < 1e-12, "n={n} m={m}: cell sums to {s}");
                for (k, v) in ws.iter().enumerate() {
                    coverage[first + k] += v;
                }
            }
            // Every input pixel contributes m/n in total (area is conserved).
            for c in coverage {
                assert!((c - m as f64 / n as f64).abs() < 1e-9, "n={n} m={m}: {c}");
            }
        }
    }

    #[test]
    fn integer_downscale_is_the_block_mean() {
        // 1280 wide after an 8 % crop of 1391 is not integer; use a size whose crop is 512.
        let w = 512 * 100 / 84 + 1; // crop removes floor(8 %) each side
        let crop = CropBox::for_size(w, w);
        assert_eq!(crop.width(), w - 2 * (w * 8 / 100));
        let img = image(w, w, |x, y| ((x * 7 + y * 3) % 256) as f64 / 255.0);
        let out = resize_area(&img, crop).unwrap();
        let wx = area_weights(crop.width(), SIDE);
        // Spot check one cell against a direct double sum.
        let (j, k) = (37, 91);
        let wy = area_weights(crop.height(), SIDE);
        let mut direct = 0.0;
        for (a, vy) in wy[j].1.iter().enumerate() {
            for (b, vx) in wx[k].1.iter().enumerate() {
                direct += vy * vx * img.at(crop.x0 + wx[k].0 + b, crop.y0 + wy[j].0 + a);
            }
        }
        assert!((out[j * SIDE + k] - direct).abs() < 1e-12);
    }

    #[test]
    fn output_is_normalised_to_the_percentiles() {
        let img = image(300, 200, |x, y| {
            0.2 + 0.6 * (x as f64 / 299.0) * (y as f64 / 199.0)
        });
        let p = prepare(&img).unwrap();
        assert_eq!(p.input.len(), INPUT_LEN);
        let min = p.input.iter().copied().fold(f32::INFINITY, f32::min);
        let max = p.input.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert_eq!((min, max), (-2.0, 2.0));
        assert_eq!(
            p.crop,
            CropBox {
                x0: 24,
                y0: 16,
                x1: 276,
                y1: 184
            }
        );
        // Brighter right-bottom corner maps to the top of the range.
        assert!(p.input[INPUT_LEN - 1] > p.input[0]);
    }

    #[test]
    fn contrast_and_brightness_do_not_change_the_input() {
        let f =
            |x: usize, y: usize| ((x as f64 * 0.05).sin() * (y as f64 * 0.03).cos() + 1.0) / 2.0;
        let a = prepare(&image(200, 180, f)).unwrap();
        let b = prepare(&image(200, 180, |x, y| 0.1 + 0.5 * f(x, y))).unwrap();
        let worst = a
            .input
            .iter()
            .zip(&b.input)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "differs by {worst}");
    }

    #[test]
    fn bad_images_give_named_errors() {
        let tiny = image(1, 1, |_, _| 0.5);
        assert_eq!(
            prepare(&tiny).unwrap_err().to_string(),
            "image is 1x1 px; at least 32x32 is needed"
        );
        let flat = image(64, 64, |_, _| 0.5);
        assert!(matches!(
            prepare(&flat),
            Err(PreprocessError::NoContrast { .. })
        ));
        let mut short = image(64, 64, |x, _| x as f64 / 64.0);
        short.pixels.pop();
        assert!(matches!(
            prepare(&short),
            Err(PreprocessError::SizeMismatch { len: 4095, .. })
        ));
        let mut nan = image(64, 64, |x, _| x as f64 / 64.0);
        nan.pixels[64 * 32 + 32] = f64::NAN;
        assert_eq!(prepare(&nan), Err(PreprocessError::NonFinite));
    }

    #[test]
    fn small_images_are_enlarged() {
        let img = image(40, 36, |x, y| ((x + y) % 5) as f64 / 4.0);
        let p = prepare(&img).unwrap();
        assert_eq!(p.input.len(), INPUT_LEN);
        assert_eq!(
            p.crop,
            CropBox {
                x0: 3,
                y0: 2,
                x1: 37,
                y1: 34
            }
        );
    }
}
