//! The kiosk's local readout: how the pipeline's [`Readout`] is drawn ([`draw_readout`]) and where
//! it goes ([`Display`] targets: a PNG file, or the Linux framebuffer behind the `framebuffer`
//! feature).
//!
//! The screen follows the screening session (`Readout::session`): waiting (an invitation to sit
//! down), measuring (instruction, progress, live numbers and waveform) or the result (the outcome
//! in plain words, never as a diagnosis, with the details for staff). The header (clock, camera),
//! the latest X-ray line and the disclaimer band are on every screen.
//!
//! Drawing uses embedded-graphics on any `DrawTarget` whose colour converts from `Rgb888`, so the
//! same layout runs on the in-memory [`RgbImage`], a PNG file, a framebuffer or a test double.
//! Targets are clock-free: the caller passes its stream time to [`Display::update`], which
//! refreshes at most [`DisplaySettings::max_refresh_hz`] times per second.

mod draw;
#[cfg(feature = "framebuffer")]
mod framebuffer;
mod layout;
mod measuring;
mod message;
pub mod palette;
mod png;
mod result;
mod session_texts;
mod settings;
mod text;
mod texts;
mod wave;

pub use crate::rgb::{encode_png, read_png, write_png_atomic, RgbImage};
pub use draw::draw_readout;
#[cfg(feature = "framebuffer")]
pub use framebuffer::{pack_row, FramebufferDisplay, PixelFormat};
pub use layout::{Layout, TextSpec, LEFT_DETAIL_CHARS};
pub use png::PngDisplay;
pub use session_texts::{
    outcome_text, progress_fraction, progress_text, result_details, session_xray_text, short_id,
    waiting_text, DETAIL_LABEL_CHARS, HEADLINES, MEASURING_INSTRUCTION, SHORT_ID_CHARS,
};
pub use texts::{
    apnea_text, camera_text, percent_text, rate_text, time_text, xray_text, DISCLAIMER,
};

use crate::pipeline::view::Readout;
pub use settings::{DisplaySettings, RefreshLimiter};
pub use wave::{wave_points, MIN_WAVE_SPAN_MM};

use std::path::PathBuf;
use std::str::FromStr;

/// Why a display could not be opened or refreshed. Refresh errors are meant to be logged and
/// survived by the caller: the next due refresh tries again.
#[derive(Debug, thiserror::Error)]
pub enum DisplayError {
    /// A setting is outside its range.
    #[error("display setting {0}")]
    Settings(#[from] crate::limits::OutOfRange),
    /// The `--display` argument could not be parsed.
    #[error("bad display target '{spec}': {reason} (expected png:PATH or fb:/dev/fbN)")]
    Spec {
        /// The argument as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing a file or device failed.
    #[error("display I/O error on {}: {source}", path.display())]
    Io {
        /// The file or device involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Writing the PNG file failed.
    #[error("display: {0}")]
    Png(#[from] crate::rgb::PngError),
    /// The framebuffer exists but cannot be used as configured.
    #[error("framebuffer {}: {reason}", path.display())]
    Framebuffer {
        /// The framebuffer device.
        path: PathBuf,
        /// Why it cannot be used (absent, unsupported format, too small...).
        reason: String,
    },
    /// `fb:` was requested but this binary was built without framebuffer support.
    #[error("display target '{0}' needs the framebuffer, but edge-screen was built without the `framebuffer` feature (rebuild with `--features framebuffer`)")]
    FramebufferDisabled(String),
}

/// A place the readout is shown. Object-safe, so the daemon can hold a `Box<dyn Display>`.
pub trait Display: Send {
    /// Redraw `r` if a refresh is due at stream time `now_s` (seconds); returns whether it drew.
    fn update(&mut self, now_s: f64, r: &Readout) -> Result<bool, DisplayError>;
    /// A short human description for logs, e.g. "png:/run/readout.png (480x320)".
    fn describe(&self) -> String;
}

/// A parsed `--display` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisplayTarget {
    /// `png:PATH`: a PNG file replaced atomically on every refresh.
    Png(PathBuf),
    /// `fb:/dev/fbN`: a Linux framebuffer device.
    Framebuffer(PathBuf),
}

impl FromStr for DisplayTarget {
    type Err = DisplayError;
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| DisplayError::Spec {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let (kind, path) = spec.split_once(':').ok_or_else(|| bad("missing 'kind:'"))?;
        if path.trim().is_empty() {
            return Err(bad("empty path"));
        }
        match kind {
            "png" => Ok(Self::Png(PathBuf::from(path))),
            "fb" => Ok(Self::Framebuffer(PathBuf::from(path))),
            other => Err(bad(&format!("unknown kind '{other}'"))),
        }
    }
}

impl DisplayTarget {
    /// Open this target with validated `settings`.
    pub fn open(&self, settings: DisplaySettings) -> Result<Box<dyn Display>, DisplayError> {
        settings.validate()?;
        match self {
            Self::Png(path) => Ok(Box::new(PngDisplay::new(path.clone(), settings)?)),
            #[cfg(feature = "framebuffer")]
            Self::Framebuffer(path) => Ok(Box::new(FramebufferDisplay::open(path, settings)?)),
            #[cfg(not(feature = "framebuffer"))]
            Self::Framebuffer(path) => Err(DisplayError::FramebufferDisabled(format!(
                "fb:{}",
                path.display()
            ))),
        }
    }
}

/// Parse a `--display` argument (`png:PATH` or `fb:/dev/fbN`) and open it.
pub fn open_display(
    spec: &str,
    settings: DisplaySettings,
) -> Result<Box<dyn Display>, DisplayError> {
    spec.parse::<DisplayTarget>()?.open(settings)
}

#[cfg(test)]
mod screen_tests;
#[cfg(test)]
mod test_readouts;
#[cfg(test)]
mod tests;
