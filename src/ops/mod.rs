//! What a kiosk fleet operates with: systemd readiness and watchdog ([`systemd`]), Prometheus
//! metrics ([`metrics`]) and the status file behind `edge-screen status` ([`status`]).

pub mod metrics;
pub mod status;
pub mod systemd;

use std::net::SocketAddr;
use std::path::PathBuf;

/// Metrics and status settings (`[metrics]`, `[status]`).
#[derive(Debug, Clone, PartialEq)]
pub struct OpsSettings {
    /// Where Prometheus metrics are served; `None` = off.
    pub metrics_listen: Option<SocketAddr>,
    /// The status file the daemon keeps current.
    pub status_file: PathBuf,
    /// How often it is rewritten, s.
    pub status_interval_s: f64,
}
