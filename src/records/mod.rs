//! Outputs that keep what the kiosk reports: the event sinks (JSON lines to standard output or a
//! file), the SQLite record store ([`store`], with the clinician review queue: [`review`]) and the fleet uplink over MQTT ([`uplink`]). The
//! events themselves are [`crate::screening::Event`].

pub mod recorder;
pub mod review;
pub mod sink;
pub mod store;
pub mod uplink;

use std::path::PathBuf;

/// The record store (`[records]`).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSettings {
    /// The SQLite file.
    pub path: PathBuf,
    /// Whether X-ray images are kept inside their records.
    pub keep_images: bool,
    /// Delivered records older than this many days are deleted; `None` = no age limit.
    pub retention_days: Option<u32>,
    /// At most this many delivered records are kept; `None` = no count limit.
    pub retention_count: Option<u32>,
}

/// How the kiosk reaches its fleet broker (`[uplink]`).
#[derive(Debug, Clone, PartialEq)]
pub struct UplinkSettings {
    /// Broker host name or address.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// `mqtts://`: TLS with `ca_file`.
    pub tls: bool,
    /// MQTT client id.
    pub client_id: String,
    /// User name, if any.
    pub username: Option<String>,
    /// File holding the password (first line), if any.
    pub password_file: Option<PathBuf>,
    /// CA certificate (PEM) for TLS.
    pub ca_file: Option<PathBuf>,
    /// Keep-alive, s.
    pub keep_alive_s: f64,
}

/// A model behind a result: what a record names and the status shows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModelInfo {
    /// `breathing` or `xray`.
    pub role: String,
    /// The model's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// SHA-256 of the model file (64 lowercase hex digits).
    pub sha256: String,
}
