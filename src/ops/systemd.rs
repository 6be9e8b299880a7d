//! The systemd notify protocol (`sd_notify(3)`), std only: readiness, status text, stopping and
//! the service watchdog.
//!
//! systemd starts a `Type=notify` service with `$NOTIFY_SOCKET` naming a datagram socket: a path
//! (`/run/systemd/notify`) or, with a leading `@`, a Linux abstract socket. Each message is one
//! datagram of `KEY=VALUE` lines. [`Notifier`] sends `READY=1` ([`Notifier::ready`]),
//! `STATUS=...` ([`Notifier::status`]), `STOPPING=1` ([`Notifier::stopping`]) and `WATCHDOG=1`
//! ([`Notifier::watchdog`]). With `WatchdogSec=` set, systemd also passes `$WATCHDOG_USEC` (and
//! `$WATCHDOG_PID`), and kills and restarts the service when no `WATCHDOG=1` arrives within that
//! interval ([`Notifier::watchdog_interval`]).
//!
//! [`Watchdog`] paces the pings at half the interval. The rule that gives the watchdog its meaning
//! is the caller's: **the daemon feeds it only while it is healthy**, that is, while depth frames
//! are being processed and the record store is writable. A daemon that is alive but stuck (camera
//! thread wedged, pipeline blocked, disk full or read-only) stops pinging, and systemd restarts it
//! (`Restart=on-failure` in `firmware-config/edge-screen.service`). Pinging from a timer that runs
//! regardless of health would only prove that the process exists, which systemd knows already.
//!
//! Nothing here reads or changes the process environment except [`Notifier::from_env`];
//! [`Notifier::from_values`] takes the values explicitly (and is what the tests use).

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::time::{Duration, Instant};

/// The environment variable naming the notify socket.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";
/// The environment variable holding the watchdog interval in microseconds.
pub const WATCHDOG_USEC: &str = "WATCHDOG_USEC";
/// The environment variable naming the process the watchdog interval is meant for.
pub const WATCHDOG_PID: &str = "WATCHDOG_PID";

/// A connection to the service manager's notify socket.
///
/// Every method returns the I/O error of the send, worded with the socket and the message; none of
/// them panics. A service not started by systemd has no notifier ([`Notifier::from_env`] gives
/// `Ok(None)`), so callers hold an `Option<Notifier>`.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
    /// `$NOTIFY_SOCKET` as given, for error messages.
    target: String,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// The notifier for this process: `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID` read
    /// from the environment (which is left as it is).
    ///
    /// `Ok(None)` when `$NOTIFY_SOCKET` is unset or empty (not started by systemd, or not as
    /// `Type=notify`). An error when it is set but unusable: an address that is neither an
    /// absolute path nor `@name`, or a path too long for a socket address.
    pub fn from_env() -> io::Result<Option<Notifier>> {
        let socket = std::env::var_os(NOTIFY_SOCKET);
        let usec = std::env::var(WATCHDOG_USEC).ok();
        let pid = std::env::var(WATCHDOG_PID).ok();
        Notifier::from_values(
            socket.as_deref(),
            usec.as_deref(),
            pid.as_deref(),
            std::process::id(),
        )
    }

    /// A notifier from explicit values: `socket` as in `$NOTIFY_SOCKET`, `watchdog_usec` and
    /// `watchdog_pid` as in `$WATCHDOG_USEC` and `$WATCHDOG_PID`, and `my_pid` the id of this
    /// process (`std::process::id()`).
    ///
    /// `Ok(None)` when `socket` is `None` or empty. The watchdog interval is `None` when
    /// `watchdog_usec` is absent, zero or not a decimal number of microseconds, and when
    /// `watchdog_pid` is present but is not `my_pid` (the interval then belongs to another process,
    /// typically our parent). Errors as in [`Notifier::from_env`], or when no datagram socket can be
    /// created.
    pub fn from_values(
        socket: Option<&OsStr>,
        watchdog_usec: Option<&str>,
        watchdog_pid: Option<&str>,
        my_pid: u32,
    ) -> io::Result<Option<Notifier>> {
        let Some(socket) = socket.filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let target = socket.to_string_lossy().into_owned();
        let addr = socket_addr(socket).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("{NOTIFY_SOCKET}={target:?} is not a usable socket address: {e}"),
            )
        })?;
        let datagram = UnixDatagram::unbound().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("creating a datagram socket for {NOTIFY_SOCKET}={target:?}: {e}"),
            )
        })?;
        Ok(Some(Notifier {
            socket: datagram,
            addr,
            target,
            watchdog: watchdog_interval(watchdog_usec, watchdog_pid, my_pid),
        }))
    }

    /// The watchdog interval systemd expects pings within (`WatchdogSec=`), or `None` when the
    /// service has no watchdog, or it is meant for another process.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }

    /// A [`Watchdog`] pacing pings for this notifier's interval, or `None` without one.
    pub fn watchdog_pacer(&self) -> Option<Watchdog> {
        self.watchdog.map(Watchdog::new)
    }

    /// Sends `READY=1`: start-up is complete (systemd then considers the unit started).
    pub fn ready(&self) -> io::Result<()> {
        self.send("READY=1")
    }

    /// Sends `STATUS=text`, the one-line status `systemctl status` shows. A `text` with a line
    /// break is refused (`InvalidInput`) and nothing is sent: it would be read as further
    /// assignments.
    pub fn status(&self, text: &str) -> io::Result<()> {
        if text.contains(['\n', '\r']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("sd_notify STATUS {text:?}: a status must be a single line"),
            ));
        }
        self.send(&format!("STATUS={text}"))
    }

    /// Sends `STOPPING=1`: the service is shutting down (sent on SIGTERM, before the final work).
    pub fn stopping(&self) -> io::Result<()> {
        self.send("STOPPING=1")
    }

    /// Sends `WATCHDOG=1`, the keep-alive ping. Only call it while healthy (see [`Watchdog`]).
    pub fn watchdog(&self) -> io::Result<()> {
        self.send("WATCHDOG=1")
    }

    fn send(&self, message: &str) -> io::Result<()> {
        let sent = self
            .socket
            .send_to_addr(message.as_bytes(), &self.addr)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "sd_notify {message:?} to {NOTIFY_SOCKET}={:?}: {e}",
                        self.target
                    ),
                )
            })?;
        if sent != message.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!(
                    "sd_notify {message:?} to {NOTIFY_SOCKET}={:?}: sent {sent} of {} bytes",
                    self.target,
                    message.len()
                ),
            ));
        }
        Ok(())
    }
}

/// The socket address in `$NOTIFY_SOCKET`: an absolute path, or `@name` for an abstract socket.
fn socket_addr(socket: &OsStr) -> io::Result<SocketAddr> {
    let bytes = socket.as_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        abstract_addr(name)
    } else if bytes.starts_with(b"/") {
        SocketAddr::from_pathname(Path::new(socket))
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "expected an absolute path or @name (abstract socket)",
        ))
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_addr(name: &[u8]) -> io::Result<SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_addr(_name: &[u8]) -> io::Result<SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract sockets exist on Linux only",
    ))
}

/// `$WATCHDOG_USEC` as a duration, if it is meant for `my_pid` (see [`Notifier::from_values`]).
fn watchdog_interval(usec: Option<&str>, pid: Option<&str>, my_pid: u32) -> Option<Duration> {
    if let Some(pid) = pid {
        if !is_decimal(pid) || pid.parse::<u32>().ok()? != my_pid {
            return None;
        }
    }
    let usec = usec?;
    if !is_decimal(usec) {
        return None;
    }
    match usec.parse::<u64>().ok()? {
        0 => None,
        n => Some(Duration::from_micros(n)),
    }
}

/// Digits only: `u64::from_str` would also take a leading `+`, which systemd never writes.
fn is_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Paces watchdog pings at half the watchdog interval, as `sd_watchdog_enabled(3)` recommends.
///
/// The pacing is the easy half; the other half is the rule for the caller: **feed it only while
/// the service is healthy.** The daemon calls [`Watchdog::ping_if_due`] (or
/// [`Watchdog::should_ping`] then [`Watchdog::pinged`]) from the place that proves progress, and
/// only when both hold:
/// - depth frames are being processed (the pipeline consumed a frame since the last ping; a lost
///   camera that the daemon is reopening counts as handled, a wedged pipeline does not), and
/// - the record store is writable (the last write to the records database under the state
///   directory succeeded).
///
/// When either fails, the pings stop, and after the interval systemd restarts the service.
#[derive(Debug, Clone)]
pub struct Watchdog {
    period: Duration,
    last: Option<Instant>,
}

impl Watchdog {
    /// A pacer for a watchdog `interval` (from [`Notifier::watchdog_interval`]): pings are due every
    /// `interval / 2`, and the first one at once.
    pub fn new(interval: Duration) -> Watchdog {
        Watchdog {
            period: interval / 2,
            last: None,
        }
    }

    /// The time between pings: half the watchdog interval.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Whether a ping is due at `now`: none has been recorded yet, or the last one is at least
    /// [`Watchdog::period`] old. Changes nothing; record a sent ping with [`Watchdog::pinged`].
    pub fn should_ping(&self, now: Instant) -> bool {
        match self.last {
            None => true,
            Some(last) => now.saturating_duration_since(last) >= self.period,
        }
    }

    /// Records that a ping was sent at `now`.
    pub fn pinged(&mut self, now: Instant) {
        self.last = Some(now);
    }

    /// Sends `WATCHDOG=1` through `notifier` if a ping is due at `now`, and records it. `Ok(true)`
    /// when a ping was sent. Call it only while healthy (see the type's documentation). A failed
    /// send is not recorded, so the next call tries again.
    pub fn ping_if_due(&mut self, notifier: &Notifier, now: Instant) -> io::Result<bool> {
        if !self.should_ping(now) {
            return Ok(false);
        }
        notifier.watchdog()?;
        self.pinged(now);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    /// A bound receiving socket in a temporary directory, and a notifier pointed at it.
    fn listener() -> (tempfile::TempDir, UnixDatagram, Notifier) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let notifier = Notifier::from_values(Some(path.as_os_str()), None, None, 1)
            .unwrap()
            .expect("a notifier for a set socket");
        (dir, rx, notifier)
    }

    fn recv(rx: &UnixDatagram) -> Vec<u8> {
        let mut buf = [0u8; 512];
        let n = rx.recv(&mut buf).expect("a datagram");
        buf[..n].to_vec()
    }

    fn assert_nothing_pending(rx: &UnixDatagram) {
        rx.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 512];
        let err = rx.recv(&mut buf).expect_err("no further datagram");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        rx.set_nonblocking(false).unwrap();
    }

    #[test]
    fn sends_the_exact_datagrams_to_a_path_socket() {
        let (_dir, rx, notifier) = listener();
        notifier.ready().unwrap();
        notifier.status("measuring: 12 frames/s").unwrap();
        notifier.watchdog().unwrap();
        notifier.stopping().unwrap();
        assert_eq!(recv(&rx), b"READY=1");
        assert_eq!(recv(&rx), b"STATUS=measuring: 12 frames/s");
        assert_eq!(recv(&rx), b"WATCHDOG=1");
        assert_eq!(recv(&rx), b"STOPPING=1");
        assert_nothing_pending(&rx);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("edge-screen-test-{}-{nanos}", std::process::id());
        let rx = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&name).unwrap()).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let var = OsString::from(format!("@{name}"));
        let notifier = Notifier::from_values(Some(&var), None, None, 1)
            .unwrap()
            .unwrap();
        notifier.ready().unwrap();
        assert_eq!(recv(&rx), b"READY=1");
    }

    #[test]
    fn a_status_with_a_line_break_is_refused_and_not_sent() {
        let (_dir, rx, notifier) = listener();
        let err = notifier.status("ok\nREADY=1").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("single line"), "{err}");
        assert_nothing_pending(&rx);
    }

    #[test]
    fn no_socket_means_no_notifier() {
        assert!(Notifier::from_values(None, Some("30000000"), None, 1)
            .unwrap()
            .is_none());
        assert!(Notifier::from_values(Some(OsStr::new("")), None, None, 1)
            .unwrap()
            .is_none());
    }

    #[test]
    fn an_unusable_address_is_an_error_naming_it() {
        for bad in ["relative/notify.sock", "vsock:2:1234"] {
            let err = Notifier::from_values(Some(OsStr::new(bad)), None, None, 1).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}: {err}");
            assert!(err.to_string().contains(bad), "{err}");
            assert!(err.to_string().contains(NOTIFY_SOCKET), "{err}");
        }
        let long = format!("/{}", "x".repeat(200));
        let err = Notifier::from_values(Some(OsStr::new(&long)), None, None, 1).unwrap_err();
        assert!(err.to_string().contains(&long), "{err}");
    }

    #[test]
    fn a_send_to_a_missing_socket_fails_naming_the_socket_and_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone.sock");
        let notifier = Notifier::from_values(Some(path.as_os_str()), None, None, 1)
            .unwrap()
            .unwrap();
        let err = notifier.ready().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        let text = err.to_string();
        assert!(text.contains("READY=1"), "{text}");
        assert!(text.contains(&*path.to_string_lossy()), "{text}");
    }

    #[test]
    fn watchdog_usec_parsing() {
        let interval = |usec: Option<&str>, pid: Option<&str>| {
            Notifier::from_values(Some(OsStr::new("/run/notify")), usec, pid, 4242)
                .unwrap()
                .unwrap()
                .watchdog_interval()
        };
        assert_eq!(
            interval(Some("30000000"), None),
            Some(Duration::from_secs(30))
        );
        assert_eq!(interval(Some("1"), None), Some(Duration::from_micros(1)));
        assert_eq!(
            interval(Some("18446744073709551615"), None),
            Some(Duration::from_micros(u64::MAX))
        );
        for bad in [
            "",
            "0",
            "abc",
            "-5",
            "+5",
            " 30",
            "30 ",
            "1.5",
            "30s",
            "18446744073709551616",
        ] {
            assert_eq!(interval(Some(bad), None), None, "WATCHDOG_USEC={bad:?}");
        }
        assert_eq!(interval(None, None), None);
        assert_eq!(interval(None, Some("4242")), None);
    }

    #[test]
    fn watchdog_pid_must_be_ours() {
        let interval = |pid: Option<&str>| {
            Notifier::from_values(Some(OsStr::new("/run/notify")), Some("20000000"), pid, 4242)
                .unwrap()
                .unwrap()
                .watchdog_interval()
        };
        assert_eq!(interval(Some("4242")), Some(Duration::from_secs(20)));
        assert_eq!(interval(None), Some(Duration::from_secs(20)));
        for other in ["4243", "1", "", "x", "+4242", "04242x"] {
            assert_eq!(interval(Some(other)), None, "WATCHDOG_PID={other:?}");
        }
    }

    #[test]
    fn watchdog_pings_at_half_the_interval() {
        let mut dog = Watchdog::new(Duration::from_secs(30));
        assert_eq!(dog.period(), Duration::from_secs(15));
        let t0 = Instant::now();
        assert!(dog.should_ping(t0), "the first ping is due at once");
        dog.pinged(t0);
        assert!(!dog.should_ping(t0));
        assert!(!dog.should_ping(t0 + Duration::from_millis(14_999)));
        assert!(dog.should_ping(t0 + Duration::from_secs(15)));
        assert!(dog.should_ping(t0 + Duration::from_secs(40)));
        // An earlier `now` (a caller's stale timestamp) is simply not due.
        let t1 = t0 + Duration::from_secs(15);
        dog.pinged(t1);
        assert!(!dog.should_ping(t0));
    }

    #[test]
    fn ping_if_due_sends_one_watchdog_per_period() {
        let (_dir, rx, notifier) = listener();
        let mut dog = Watchdog::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(dog.ping_if_due(&notifier, t0).unwrap());
        assert!(!dog
            .ping_if_due(&notifier, t0 + Duration::from_secs(4))
            .unwrap());
        assert!(dog
            .ping_if_due(&notifier, t0 + Duration::from_secs(5))
            .unwrap());
        assert_eq!(recv(&rx), b"WATCHDOG=1");
        assert_eq!(recv(&rx), b"WATCHDOG=1");
        assert_nothing_pending(&rx);
    }

    #[test]
    fn a_failed_ping_is_not_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone.sock");
        let notifier = Notifier::from_values(Some(path.as_os_str()), Some("10000000"), None, 1)
            .unwrap()
            .unwrap();
        let mut dog = notifier.watchdog_pacer().expect("a watchdog interval");
        let t0 = Instant::now();
        let err = dog.ping_if_due(&notifier, t0).unwrap_err();
        assert!(err.to_string().contains("WATCHDOG=1"), "{err}");
        assert!(dog.should_ping(t0), "still due after a failed send");
    }
}
