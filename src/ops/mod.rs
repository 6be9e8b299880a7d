//! What a kiosk fleet operates with: systemd readiness and watchdog ([`systemd`]), Prometheus
//! metrics ([`metrics`]) and the status file behind `edge-screen status` ([`status`]).

pub mod metrics;
pub mod status;
pub mod systemd;
