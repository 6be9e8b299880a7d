//! Clinician review of flagged chest X-rays (human in the loop): the review web page served by the
//! daemon or by `edge-screen review serve`, and its password file. The queue and the reviews live
//! in the record store ([`crate::records::review`]); the command line is `edge-screen review`.

pub mod http;
pub mod pages;
pub mod password;
pub mod server;
pub mod throttle;

use std::net::SocketAddr;
use std::path::PathBuf;

/// The default address of the review page (loopback only).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9755";

/// The review page (`[review]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewSettings {
    /// Where the page listens.
    pub listen: SocketAddr,
    /// Whether a non-loopback `listen` is allowed (the page is then open to the network).
    pub allow_remote: bool,
    /// The reviewers' password file; `None` = the page is off.
    pub password_file: Option<PathBuf>,
}

impl Default for ReviewSettings {
    fn default() -> Self {
        ReviewSettings {
            listen: DEFAULT_LISTEN.parse().expect("a valid default address"),
            allow_remote: false,
            password_file: None,
        }
    }
}

/// Why the page cannot start (the daemon logs it and screens on; `review serve` exits with it).
pub fn start(
    settings: &ReviewSettings,
    records: &std::path::Path,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<Option<server::Running>, String> {
    let Some(file) = &settings.password_file else {
        log::info!("review page off: no [review] password_file");
        return Ok(None);
    };
    if !settings.listen.ip().is_loopback() && !settings.allow_remote {
        return Err(format!(
            "[review] listen {}: not a loopback address; set [review] allow_remote = true to \
             serve the review page to the network",
            settings.listen
        ));
    }
    let reviewers = password::load(file).map_err(|e| format!("[review] password_file: {e}"))?;
    let (store, problem) =
        crate::records::store::Store::open(records).map_err(|e| format!("review page: {e}"))?;
    if let Some(p) = problem {
        log::error!("review page: {p}");
    }
    let running =
        server::serve(settings.listen, store, reviewers, stop).map_err(|e| e.to_string())?;
    if !running.addr.ip().is_loopback() {
        log::warn!(
            "review page served on {}, which is not a loopback address: anyone who can reach \
             this machine can try to sign in (use TLS in front of it)",
            running.addr
        );
    }
    log::info!("review page: http://{}/", running.addr);
    Ok(Some(running))
}
