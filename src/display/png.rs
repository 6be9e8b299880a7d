//! The PNG file target: renders the readout into an [`RgbImage`] and replaces a PNG file
//! atomically (write `PATH.tmp`, then rename), at most `max_refresh_hz` times per second of the
//! caller's clock. Also reads PNGs back, for the golden tests.

use super::image::RgbImage;
use super::settings::{DisplaySettings, RefreshLimiter};
use super::{Display, DisplayError};
use crate::pipeline::view::Readout;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Encode `img` as an 8-bit RGB PNG into `out`.
pub fn encode_png<W: Write>(img: &RgbImage, out: W) -> Result<(), ::png::EncodingError> {
    let mut enc = ::png::Encoder::new(out, img.width, img.height);
    enc.set_color(::png::ColorType::Rgb);
    enc.set_depth(::png::BitDepth::Eight);
    let mut w = enc.write_header()?;
    w.write_image_data(&img.pixels)?;
    w.finish()
}

/// Write `img` to `path` atomically: a reader sees the old file or the new one, never half.
///
/// On failure the temporary `PATH.tmp` is removed (best effort) and the old file is untouched.
pub fn write_png_atomic(img: &RgbImage, path: &Path) -> Result<(), DisplayError> {
    let tmp = tmp_path(path);
    let result = write_then_rename(img, &tmp, path);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_then_rename(img: &RgbImage, tmp: &Path, path: &Path) -> Result<(), DisplayError> {
    let tmp = tmp.to_path_buf();
    let io_err = |source: std::io::Error| DisplayError::Io {
        path: tmp.clone(),
        source,
    };
    let file = File::create(&tmp).map_err(io_err)?;
    let mut out = BufWriter::new(file);
    encode_png(img, &mut out).map_err(|e| DisplayError::Png {
        path: tmp.clone(),
        message: e.to_string(),
    })?;
    let file = out.into_inner().map_err(|e| io_err(e.into_error()))?;
    file.sync_all().map_err(io_err)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|source| DisplayError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// `PATH.tmp`, beside `path`.
fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Read an 8-bit RGB or RGBA PNG (alpha dropped) into an [`RgbImage`].
pub fn read_png(path: &Path) -> Result<RgbImage, DisplayError> {
    let file = File::open(path).map_err(|source| DisplayError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let png_err = |message: String| DisplayError::Png {
        path: path.to_path_buf(),
        message,
    };
    let mut reader = ::png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .map_err(|e| png_err(e.to_string()))?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| png_err(e.to_string()))?;
    let channels = match (info.color_type, info.bit_depth) {
        (::png::ColorType::Rgb, ::png::BitDepth::Eight) => 3,
        (::png::ColorType::Rgba, ::png::BitDepth::Eight) => 4,
        (c, d) => return Err(png_err(format!("unsupported PNG format {c:?} {d:?}"))),
    };
    let mut img = RgbImage::new(info.width, info.height);
    let data = buf.get(..info.buffer_size()).unwrap_or(&[]);
    for (dst, src) in img
        .pixels
        .chunks_exact_mut(3)
        .zip(data.chunks_exact(channels))
    {
        dst.copy_from_slice(&src[..3]);
    }
    Ok(img)
}

/// A readout kept as a PNG file, e.g. for a kiosk browser or a remote check.
#[derive(Debug)]
pub struct PngDisplay {
    path: PathBuf,
    image: RgbImage,
    limiter: RefreshLimiter,
}

impl PngDisplay {
    /// A display writing to `path`; the settings are validated. Nothing is written yet, so a
    /// missing directory shows up at the first [`Display::update`].
    pub fn new(path: impl Into<PathBuf>, settings: DisplaySettings) -> Result<Self, DisplayError> {
        settings.validate()?;
        Ok(Self {
            path: path.into(),
            image: RgbImage::new(settings.width, settings.height),
            limiter: RefreshLimiter::new(&settings),
        })
    }

    /// The PNG file this display writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The image drawn by the latest refresh.
    pub fn image(&self) -> &RgbImage {
        &self.image
    }
}

impl Display for PngDisplay {
    /// Render and write the PNG if at least `1 / max_refresh_hz` s passed since the last attempt.
    /// A failed write is reported (naming the path) and retried at the next due refresh.
    fn update(&mut self, now_s: f64, r: &Readout) -> Result<bool, DisplayError> {
        if !self.limiter.due(now_s) {
            return Ok(false);
        }
        self.image.render(r);
        write_png_atomic(&self.image, &self.path)?;
        log::trace!("display: wrote {}", self.path.display());
        Ok(true)
    }

    fn describe(&self) -> String {
        format!(
            "png:{} ({}x{})",
            self.path.display(),
            self.image.width,
            self.image.height
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_rate_limited_and_round_trips() -> Result<(), DisplayError> {
        let dir = tempfile::tempdir().map_err(|source| DisplayError::Io {
            path: PathBuf::from("tempdir"),
            source,
        })?;
        let path = dir.path().join("readout.png");
        let mut d = PngDisplay::new(&path, DisplaySettings::default())?;
        let r = Readout::default();
        assert!(d.update(10.0, &r)?);
        assert!(!d.update(10.3, &r)?);
        assert!(d.update(10.5, &r)?);
        assert!(!tmp_path(&path).exists());
        let back = read_png(&path)?;
        assert_eq!(&back, d.image());
        assert_eq!((back.width, back.height), (480, 320));
        Ok(())
    }

    #[test]
    fn missing_directory_names_the_path() {
        let path = PathBuf::from("/nonexistent-edge-screen-dir/readout.png");
        let mut d = match PngDisplay::new(&path, DisplaySettings::default()) {
            Ok(d) => d,
            Err(e) => panic!("settings rejected: {e}"),
        };
        let e = d
            .update(0.0, &Readout::default())
            .err()
            .map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(
            e.contains("/nonexistent-edge-screen-dir/readout.png"),
            "{e}"
        );
        // Non-fatal: the display stays usable and tries again when next due.
        assert!(d.update(0.1, &Readout::default()).is_ok_and(|w| !w));
        assert!(d.update(0.6, &Readout::default()).is_err());
    }

    #[test]
    fn rejects_bad_settings() {
        let s = DisplaySettings {
            width: 100,
            ..DisplaySettings::default()
        };
        assert!(matches!(
            PngDisplay::new("x.png", s),
            Err(DisplayError::Settings(e)) if e.key == "display.width_px"
        ));
    }
}
