//! The PNG file target: renders the readout into an [`RgbImage`] and replaces a PNG file
//! atomically ([`write_png_atomic`]), at most `max_refresh_hz` times per second of the caller's
//! clock.

use super::settings::{DisplaySettings, RefreshLimiter};
use super::{Display, DisplayError};
use crate::pipeline::view::Readout;
use crate::rgb::{write_png_atomic, RgbImage};
use std::path::{Path, PathBuf};

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
        super::draw::render(&mut self.image, r);
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
        assert!(!path.with_extension("png.tmp").exists());
        let back = crate::rgb::read_png(&path)?;
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
