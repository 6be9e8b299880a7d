//! The configuration as written: `firmware-config/kiosk.toml` (embedded, the single source of the
//! defaults and of the schema), a site's file over it, and command-line flags over both.
//!
//! A site's file may leave keys out; every key it names must exist in the shipped file, with a
//! value of the same type (an integer is accepted where a decimal is expected). The merged table
//! then becomes a [`RawConfig`], whose structs mirror the file one to one.

use super::ConfigError;
use crate::respiration::RespirationSettings;
use serde::Deserialize;
use toml::{Table, Value};

/// The shipped configuration, embedded at build time.
pub const DEFAULT_CONFIG: &str = include_str!("../../firmware-config/kiosk.toml");

/// `[camera]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawCamera {
    pub source: String,
    pub width_px: u32,
    pub height_px: u32,
    pub fps: u32,
    pub depth_unit_mm: f64,
    pub emitter: String,
    pub visual_preset: String,
    pub frame_timeout_ms: u32,
    pub filters: RawFilters,
}

/// `[camera.filters]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawFilters {
    pub decimation: u32,
    pub spatial: bool,
    pub temporal: bool,
    pub hole_filling: String,
}

/// `[simulation]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawSimulation {
    pub pattern: String,
    pub rate_bpm: f64,
    pub distance_m: f64,
    pub seed: u64,
    pub noise_scale: f64,
    pub sway: bool,
    pub motion_artefacts: bool,
    pub visits: String,
}

/// `[chest]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawChest {
    pub min_distance_m: f64,
    pub max_distance_m: f64,
    pub redetect_interval_s: f64,
}

/// `[session]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawSession {
    pub min_signal_s: f64,
    pub max_measure_s: f64,
    pub quality_gate: f64,
    pub absence_s: f64,
}

/// `[classifier]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawClassifier {
    pub kind: String,
    pub model: String,
    pub sha256: String,
}

/// `[display]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawDisplay {
    pub target: String,
    pub width_px: u32,
    pub height_px: u32,
    pub max_refresh_hz: f64,
}

/// `[events]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawEvents {
    pub output: String,
    pub frames_interval_s: f64,
}

/// `[xray]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawXray {
    pub model: String,
    pub sha256: String,
    pub threshold: f64,
    pub inbox: String,
    pub poll_interval_s: f64,
    pub heatmap_dir: String,
    pub site_calibration: String,
}

/// `[device]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawDevice {
    pub id: String,
}

/// `[records]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawRecords {
    pub path: String,
    pub keep_images: bool,
    pub retention_days: u32,
    pub retention_count: u32,
}

/// `[uplink]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawUplink {
    pub url: String,
    pub client_id: String,
    pub username: String,
    pub password_file: String,
    pub ca_file: String,
    pub keep_alive_s: f64,
}

/// `[metrics]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawMetrics {
    pub listen: String,
}

/// `[review]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawReview {
    pub listen: String,
    pub allow_remote: bool,
    pub password_file: String,
}

/// `[status]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawStatus {
    pub path: String,
    pub interval_s: f64,
}

/// The whole file, every key present (missing ones were filled from the shipped file).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawConfig {
    pub camera: RawCamera,
    pub simulation: RawSimulation,
    pub chest: RawChest,
    pub respiration: RespirationSettings,
    pub session: RawSession,
    pub classifier: RawClassifier,
    pub display: RawDisplay,
    pub events: RawEvents,
    pub xray: RawXray,
    pub device: RawDevice,
    pub records: RawRecords,
    pub uplink: RawUplink,
    pub metrics: RawMetrics,
    pub status: RawStatus,
    pub review: RawReview,
}

/// The shipped file as a table.
pub fn defaults() -> Result<Table, ConfigError> {
    parse(DEFAULT_CONFIG, "<embedded kiosk.toml>")
}

/// TOML text as a table; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Table, ConfigError> {
    text.parse::<Table>().map_err(|e| ConfigError::Parse {
        origin: origin.to_string(),
        message: e.to_string().trim_end().to_string(),
    })
}

/// Writes `over`'s keys into `base`, refusing keys `base` does not have and values of another type.
/// `prefix` is the dotted path of `base` (empty at the top).
pub fn merge(base: &mut Table, over: Table, prefix: &str, origin: &str) -> Result<(), ConfigError> {
    for (key, value) in over {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let Some(slot) = base.get_mut(&key) else {
            let mut known: Vec<&str> = base.keys().map(String::as_str).collect();
            known.sort_unstable();
            return Err(ConfigError::UnknownKey {
                origin: origin.to_string(),
                key: path,
                known: known.join(", "),
            });
        };
        set(slot, value, &path, origin)?;
    }
    Ok(())
}

/// Replaces `slot` by `value` if their types agree (recursing into tables).
pub fn set(slot: &mut Value, value: Value, path: &str, origin: &str) -> Result<(), ConfigError> {
    match (slot, value) {
        (Value::Table(base), Value::Table(over)) => merge(base, over, path, origin),
        (slot @ Value::Float(_), Value::Integer(i)) => {
            *slot = Value::Float(i as f64);
            Ok(())
        }
        (slot, value) if slot.same_type(&value) => {
            *slot = value;
            Ok(())
        }
        (slot, value) => Err(ConfigError::WrongType {
            origin: origin.to_string(),
            key: path.to_string(),
            expected: slot.type_str(),
            found: value.to_string(),
        }),
    }
}

/// The value at a dotted `path` of `table`, for overrides.
pub fn slot<'t>(table: &'t mut Table, path: &str) -> Option<&'t mut Value> {
    let mut parts = path.split('.');
    let mut v = table.get_mut(parts.next()?)?;
    for p in parts {
        v = v.as_table_mut()?.get_mut(p)?;
    }
    Some(v)
}

/// The merged table as typed structs.
pub fn into_raw(table: Table) -> Result<RawConfig, ConfigError> {
    RawConfig::deserialize(Value::Table(table)).map_err(|e| ConfigError::Parse {
        origin: "<merged configuration>".into(),
        message: e.to_string(),
    })
}
