//! Configuration, resolved once: the shipped `firmware-config/kiosk.toml` (embedded; the single
//! source of defaults), a site's file over it, and command-line [`Overrides`] over both become
//! typed [`Settings`] for each component.
//!
//! Two levels, as in ripgrep: [`raw::RawConfig`] mirrors the file; [`Settings`] holds checked
//! values in the components' own types. Every range comes from [`crate::limits`]; every error names
//! where the value came from (the file, or the flag that overrode it), the key, the value and what
//! is allowed.

pub mod raw;
mod resolve;

use crate::breathing::ClassifierKind;
use crate::camera::hardware::{CameraSelector, RealSenseSettings};
use crate::camera::simulated::SimCameraSettings;
use crate::camera::visits::Visit;
use crate::display::{DisplaySettings, DisplayTarget};
use crate::ops::OpsSettings;
use crate::pipeline::PipelineSettings;
use crate::records::{RecordSettings, UplinkSettings};
use crate::types::Pattern;
use crate::xray::XraySettings;
use std::path::{Path, PathBuf};
use toml::Value;

pub use raw::DEFAULT_CONFIG;

/// Why a configuration could not be used. `origin` is the file, or the flag that set the value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not valid TOML (the message names the line).
    #[error("{origin}: {message}")]
    Parse {
        /// Where the text came from.
        origin: String,
        /// toml's message.
        message: String,
    },
    /// A key the shipped configuration does not have.
    #[error("{origin}: unknown key `{key}` (known here: {known})")]
    UnknownKey {
        /// Where it came from.
        origin: String,
        /// Dotted key.
        key: String,
        /// The keys allowed at that level.
        known: String,
    },
    /// A value of the wrong type.
    #[error("{origin}: {key} = {found} has the wrong type: expected {expected}")]
    WrongType {
        /// Where it came from.
        origin: String,
        /// Dotted key.
        key: String,
        /// The type the shipped file has there.
        expected: &'static str,
        /// The value given.
        found: String,
    },
    /// A value that is not one of the accepted ones, or cannot be parsed.
    #[error("{origin}: {key} = {value} is invalid: {problem}")]
    Invalid {
        /// Where it came from.
        origin: String,
        /// Dotted key.
        key: String,
        /// The value as given.
        value: String,
        /// What is wrong, and what is accepted.
        problem: String,
    },
    /// A number outside its range.
    #[error("{origin}: {key} = {value} is out of range: allowed {allowed}")]
    Value {
        /// Where it came from.
        origin: String,
        /// Dotted key, e.g. `camera.fps`.
        key: String,
        /// The value as given.
        value: String,
        /// What is allowed, with its unit.
        allowed: String,
    },
}

/// Command-line flags that set configuration keys, applied after the files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    entries: Vec<(&'static str, Value, &'static str)>,
}

impl Overrides {
    /// Set `key` (dotted, e.g. `simulation.rate_bpm`) to `value`, as flag `flag` asked.
    pub fn set(&mut self, key: &'static str, value: impl Into<Value>, flag: &'static str) {
        self.entries.push((key, value.into(), flag));
    }

    /// Set `key` when `value` is given.
    pub fn set_some<T: Into<Value>>(
        &mut self,
        key: &'static str,
        value: Option<T>,
        flag: &'static str,
    ) {
        if let Some(v) = value {
            self.set(key, v, flag);
        }
    }

    /// The flag that set `key`, if any.
    pub fn flag_of(&self, key: &str) -> Option<&'static str> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, f)| *f)
    }
}

/// The camera: which one, and how it (or the simulated one) is set up.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraSettings {
    /// `camera.source`.
    pub source: CameraSelector,
    /// The simulated camera (size, rate and depth unit of `[camera]`; distance, noise and sway of
    /// `[simulation]`).
    pub sim: SimCameraSettings,
    /// A RealSense camera.
    pub realsense: RealSenseSettings,
}

/// The simulated person or queue of people (`[simulation]`).
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectSettings {
    /// Breathing pattern (single person).
    pub pattern: Pattern,
    /// Breathing rate, breaths/min; `None` = the pattern's typical rate.
    pub rate_bpm: Option<f32>,
    /// Seed of the subject draw, the scene and the noise.
    pub seed: u64,
    /// Whether the person makes occasional sudden movements.
    pub motion_artefacts: bool,
    /// A queue of visits instead of one person (empty: one person for the whole run).
    pub visits: Vec<Visit>,
}

/// Where events go (`[events]`).
#[derive(Debug, Clone, PartialEq)]
pub struct EventSettings {
    /// `None` = standard output, else a file (appended).
    pub file: Option<PathBuf>,
    /// Interval of `frames` events, s.
    pub frames_interval_s: f64,
}

/// The readout (`[display]`).
#[derive(Debug, Clone, PartialEq)]
pub struct DisplayConfig {
    /// Where it is drawn; `None` = nowhere.
    pub target: Option<DisplayTarget>,
    /// Size and refresh cap.
    pub settings: DisplaySettings,
}

/// Everything, checked and in the components' types.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The file the settings came from (`<embedded kiosk.toml>` for the default).
    pub origin: PathBuf,
    /// The depth camera.
    pub camera: CameraSettings,
    /// The simulated person.
    pub subject: SubjectSettings,
    /// Chest finding, breathing signal and screening sessions.
    pub pipeline: PipelineSettings,
    /// The breathing classifier.
    pub classifier: ClassifierKind,
    /// The readout.
    pub display: DisplayConfig,
    /// Event output.
    pub events: EventSettings,
    /// Chest X-ray screening.
    pub xray: XraySettings,
    /// This kiosk's id in records and topics.
    pub device_id: String,
    /// The record store.
    pub records: RecordSettings,
    /// The fleet uplink; `None` = off.
    pub uplink: Option<UplinkSettings>,
    /// Metrics and the status file.
    pub ops: OpsSettings,
    /// The clinicians' review page.
    pub review: crate::review::ReviewSettings,
    /// Model pins.
    pub pins: ModelPins,
}

/// SHA-256 pins of the model files (`[classifier] sha256`, `[xray] sha256`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelPins {
    /// The breathing model's pin (64 lowercase hex digits), if pinned.
    pub breathing: Option<String>,
    /// The X-ray model's pin, if pinned.
    pub xray: Option<String>,
}

impl ModelPins {
    /// `Ok` when `actual` matches the pin of `which` (or nothing is pinned); else the message that
    /// refuses to start, naming the model, the file and both digests.
    pub fn check(&self, which: &str, origin: &str, actual: &str) -> Result<(), String> {
        let pin = match which {
            "breathing" => &self.breathing,
            _ => &self.xray,
        };
        let key = if which == "breathing" {
            "classifier.sha256"
        } else {
            "xray.sha256"
        };
        match pin {
            Some(p) if p != actual => Err(format!(
                "{which} model ({origin}): SHA-256 is {actual}, but {key} pins {p}; \
                 install the pinned model or update the pin"
            )),
            _ => Ok(()),
        }
    }
}

/// Name of the embedded default in messages.
pub const EMBEDDED: &str = "<embedded kiosk.toml>";

impl Settings {
    /// The shipped defaults (the embedded `kiosk.toml`).
    pub fn embedded() -> Result<Self, ConfigError> {
        Self::resolve(None, &Overrides::default())
    }

    /// Loads and validates a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::resolve(Some(path), &Overrides::default())
    }

    /// Parses and validates TOML text over the defaults; `origin` names it in errors and relative
    /// paths in it are relative to `origin`'s folder.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        resolve::resolve(Some((text, origin)), &Overrides::default())
    }

    /// The configuration in force: the defaults, the file `path` over them (if any), then
    /// `overrides`.
    pub fn resolve(path: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        match path {
            None => resolve::resolve(None, overrides),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Io {
                    file: p.to_path_buf(),
                    source,
                })?;
                resolve::resolve(Some((&text, p)), overrides)
            }
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
