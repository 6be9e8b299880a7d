//! The status file behind `edge-screen status`: what the daemon is doing, rewritten every
//! `[status] interval_s` ([`write_atomic`]) and read by the command ([`read`], [`render_text`]).
//!
//! The file is JSON ([`Status`]). It is replaced by a rename, so a reader sees the old or the new
//! file, never half of one. Its `written_unix_ms` tells how old it is: a status older than a few
//! intervals means the daemon stopped or hangs.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt::Write as _;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

/// The largest status file [`read`] accepts (a real one is a few KiB).
pub const MAX_STATUS_BYTES: u64 = 1024 * 1024;

/// The daemon's state, as written to the status file.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Status {
    /// When this status was written, ms since the Unix epoch (wall clock).
    pub written_unix_ms: i64,
    /// The daemon's process id.
    pub pid: u32,
    /// The daemon's version (`edge-screen --version`).
    pub version: String,
    /// This kiosk's id (`[device] id`).
    pub device_id: String,
    /// When the daemon started, ms since the Unix epoch (wall clock).
    pub started_unix_ms: i64,
    /// How long the daemon has run, s (monotonic clock: unaffected by clock changes).
    #[serde(deserialize_with = "f64_or_nan")]
    pub uptime_s: f64,
    /// The depth camera.
    pub camera: CameraStatus,
    /// Screening sessions finished since local midnight.
    pub sessions_today: u64,
    /// When the last session result was given, ms since the Unix epoch; `None` before the first.
    pub last_result_unix_ms: Option<i64>,
    /// The models in use.
    pub models: Vec<ModelStatus>,
    /// The record store.
    pub records: RecordsStatus,
    /// Results waiting to be sent upstream.
    pub outbox: OutboxStatus,
    /// The connection to the fleet's broker.
    pub uplink: UplinkStatus,
}

/// The depth camera's part of [`Status`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct CameraStatus {
    /// `"ok"` (delivering frames), `"lost"` (being retried) or `"starting"`.
    pub state: String,
    /// The frame source, as it describes itself (e.g. `sim`, a RealSense serial number).
    pub source: String,
    /// Frames received per second, recently.
    #[serde(deserialize_with = "f64_or_nan")]
    pub fps: f64,
    /// Frames delivered by the camera since the start.
    pub frames_received: u64,
    /// Frames run through the pipeline since the start.
    pub frames_processed: u64,
    /// Frames replaced by a newer one before processing since the start (latest frame wins).
    pub frames_dropped: u64,
}

/// One loaded model in [`Status`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ModelStatus {
    /// What it does (e.g. `breathing`, `xray`).
    pub name: String,
    /// Its version, as its metadata gives it.
    pub version: String,
    /// SHA-256 of the model file, 64 hex digits.
    pub sha256: String,
}

/// The record store's part of [`Status`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RecordsStatus {
    /// The SQLite file.
    pub path: String,
    /// Whether results are being saved (false after a failed commit, until one succeeds).
    pub saving: bool,
    /// The last commit error, while `saving` is false.
    pub last_error: Option<String>,
    /// Size of the database with its `-wal` and `-shm` files, bytes ([`file_bytes`]).
    pub db_bytes: u64,
    /// Free space for the database's file system, bytes ([`disk_free_bytes`]); `None` when
    /// unknown.
    pub disk_free_bytes: Option<u64>,
    /// Records committed since the daemon started.
    pub saved_total: u64,
}

/// The outbox's part of [`Status`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct OutboxStatus {
    /// Results not yet acknowledged by the broker.
    pub pending: u64,
    /// Age of the oldest of them, s; `None` when there are none.
    pub oldest_pending_age_s: Option<f64>,
}

/// The uplink's part of [`Status`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct UplinkStatus {
    /// `"off"` (no broker configured), `"connected"` or `"disconnected"`.
    pub state: String,
    /// The broker's URL, when one is configured.
    pub broker: Option<String>,
    /// The last connection error, while disconnected.
    pub last_error: Option<String>,
}

/// A non-finite `f64` is written as JSON `null` (serde_json); read it back as NaN rather than
/// refusing the file.
fn f64_or_nan<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Why the status file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// There is no file.
    #[error("no status file at {}: is the daemon running?", path.display())]
    Missing {
        /// The file looked for.
        path: PathBuf,
    },
    /// The file exists but could not be read.
    #[error("cannot read status file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The file is larger than any status file.
    #[error("status file {} is not a status file: over {MAX_STATUS_BYTES} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The file is not a status as JSON.
    #[error("status file {} is malformed: {source}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What the JSON parser said.
        source: serde_json::Error,
    },
}

/// Milliseconds since the Unix epoch now (wall clock; 0 if the clock is before 1970).
pub fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn named(path: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// Writes `status` to `path` atomically: to `PATH.tmp` in the same folder, then renamed over
/// `path`. Not synced to disk (it is rewritten every few seconds; a reader only needs never to see
/// half a file). Errors name the file.
pub fn write_atomic(path: &Path, status: &Status) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut json = serde_json::to_vec_pretty(status)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
        .map_err(|e| named(path, "cannot write status file", e))?;
    json.push(b'\n');
    if let Err(e) = std::fs::write(&tmp, &json) {
        let _ = std::fs::remove_file(&tmp);
        return Err(named(&tmp, "cannot write status file", e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        named(path, "cannot replace status file", e)
    })
}

/// Reads a status file.
pub fn read(path: &Path) -> Result<Status, StatusError> {
    let file = std::fs::File::open(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => StatusError::Missing { path: path.into() },
        _ => StatusError::Read {
            path: path.into(),
            source,
        },
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_STATUS_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| StatusError::Read {
            path: path.into(),
            source,
        })?;
    if bytes.len() as u64 > MAX_STATUS_BYTES {
        return Err(StatusError::TooLarge { path: path.into() });
    }
    serde_json::from_slice(&bytes).map_err(|source| StatusError::Malformed {
        path: path.into(),
        source,
    })
}

/// Free space for an unprivileged user on the file system holding `path`, bytes (`statvfs` on
/// `path` or, when it does not exist yet, its nearest existing parent). Errors name the path.
pub fn disk_free_bytes(path: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt as _;
    let existing = path
        .ancestors()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .find(|p| p.exists())
        .ok_or_else(|| {
            named(
                path,
                "no existing folder above",
                io::ErrorKind::NotFound.into(),
            )
        })?;
    let c = std::ffi::CString::new(existing.as_os_str().as_bytes()).map_err(|_| {
        named(
            path,
            "cannot measure free space for",
            io::Error::new(io::ErrorKind::InvalidInput, "the path holds a NUL byte"),
        )
    })?;
    // SAFETY: `c` is a valid NUL-terminated string and `st` a plain C struct that statvfs fills.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(named(
            existing,
            "cannot measure free space for",
            io::Error::last_os_error(),
        ));
    }
    #[allow(clippy::useless_conversion)] // the field types differ between targets
    let (avail, frsize) = (u64::from(st.f_bavail), u64::from(st.f_frsize));
    Ok(avail.saturating_mul(frsize))
}

/// Size of a SQLite database with its `-wal` and `-shm` files, bytes (missing `-wal`/`-shm` count
/// as 0; a missing database is an error naming it).
pub fn file_bytes(path: &Path) -> io::Result<u64> {
    let main = std::fs::metadata(path).map_err(|e| named(path, "cannot measure", e))?;
    let mut total = main.len();
    for suffix in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = PathBuf::from(p);
        match std::fs::metadata(&p) {
            Ok(m) => total += m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(named(&p, "cannot measure", e)),
        }
    }
    Ok(total)
}

/// Age of a status at `now_unix_ms`, s (0 when written "in the future": clocks differ).
pub fn age_s(status: &Status, now_unix_ms: i64) -> f64 {
    (now_unix_ms.saturating_sub(status.written_unix_ms)).max(0) as f64 / 1000.0
}

/// A duration, s, as `45 s`, `12 min`, `3 h` (for "... ago").
fn ago_text(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "? s".into();
    }
    if s < 60.0 {
        format!("{} s", s.floor())
    } else if s < 3600.0 {
        format!("{} min", (s / 60.0).floor())
    } else if s < 48.0 * 3600.0 {
        format!("{} h", (s / 3600.0).floor())
    } else {
        format!("{} d", (s / 86400.0).floor())
    }
}

/// A duration, s, as `45 s`, `5 min 3 s`, `2 h 5 min`, `3 d 4 h` (for uptime).
fn duration_text(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "?".into();
    }
    let s = s.floor() as u64;
    let (d, h, m, sec) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else if m > 0 {
        format!("{m} min {sec} s")
    } else {
        format!("{sec} s")
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// A human summary of `status` as of `now_unix_ms`, one item per line. A status older than
/// `stale_after_s` starts with a warning line.
pub fn render_text(status: &Status, now_unix_ms: i64, stale_after_s: f64) -> String {
    let mut o = String::new();
    let age = age_s(status, now_unix_ms);
    if age > stale_after_s {
        let _ = writeln!(
            o,
            "WARNING: status is {} s old: the daemon may not be running",
            age.floor()
        );
    }
    let s = status;
    let _ = writeln!(
        o,
        "device:      {} (edge-screen {}, pid {})",
        s.device_id, s.version, s.pid
    );
    let _ = writeln!(o, "uptime:      {}", duration_text(s.uptime_s));
    let c = &s.camera;
    let fps = if c.fps.is_finite() {
        format!("{:.1} fps", c.fps)
    } else {
        "? fps".into()
    };
    let _ = writeln!(o, "camera:      {}, {fps} ({})", c.state, c.source);
    let dropped_pct = if c.frames_received > 0 {
        format!(
            " ({:.1} %)",
            c.frames_dropped as f64 * 100.0 / c.frames_received as f64
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        o,
        "frames:      {} received, {} processed, {} dropped{dropped_pct}",
        c.frames_received, c.frames_processed, c.frames_dropped
    );
    let _ = writeln!(o, "sessions:    {} today", s.sessions_today);
    let last = match s.last_result_unix_ms {
        Some(t) => format!(
            "{} ago",
            ago_text(now_unix_ms.saturating_sub(t).max(0) as f64 / 1000.0)
        ),
        None => "none yet".into(),
    };
    let _ = writeln!(o, "last result: {last}");
    if s.models.is_empty() {
        let _ = writeln!(o, "model:       none");
    }
    for m in &s.models {
        let sha: String = m.sha256.chars().take(12).collect();
        let _ = writeln!(o, "model:       {} {} (sha256 {sha})", m.name, m.version);
    }
    let r = &s.records;
    let saving = if r.saving {
        format!("saving to {}", r.path)
    } else {
        let why = r.last_error.as_deref().unwrap_or("unknown error");
        format!("NOT SAVING: {why} ({})", r.path)
    };
    let _ = writeln!(o, "records:     {saving}, {} saved", r.saved_total);
    let free = r.disk_free_bytes.map_or_else(|| "? MB".into(), mb);
    let _ = writeln!(o, "database:    {}, {free} free on disk", mb(r.db_bytes));
    let oldest = match s.outbox.oldest_pending_age_s {
        Some(a) if s.outbox.pending > 0 => format!(", oldest {}", ago_text(a)),
        _ => String::new(),
    };
    let _ = writeln!(o, "outbox:      {} pending{oldest}", s.outbox.pending);
    let u = &s.uplink;
    let broker = u
        .broker
        .as_deref()
        .map(|b| format!(" ({b})"))
        .unwrap_or_default();
    let error = u
        .last_error
        .as_deref()
        .map(|e| format!(": {e}"))
        .unwrap_or_default();
    let _ = writeln!(o, "uplink:      {}{broker}{error}", u.state);
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_750_000_000_000;

    fn known() -> Status {
        Status {
            written_unix_ms: T,
            pid: 4321,
            version: "0.1.0".into(),
            device_id: "kiosk-7".into(),
            started_unix_ms: T - 7_500_000,
            uptime_s: 7_512.4,
            camera: CameraStatus {
                state: "ok".into(),
                source: "sim".into(),
                fps: 29.96,
                frames_received: 2000,
                frames_processed: 1990,
                frames_dropped: 10,
            },
            sessions_today: 12,
            last_result_unix_ms: Some(T - 185_000),
            models: vec![
                ModelStatus {
                    name: "breathing".into(),
                    version: "bi_at_gru-1".into(),
                    sha256: "0123456789abcdef".repeat(4),
                },
                ModelStatus {
                    name: "xray".into(),
                    version: "int8-3".into(),
                    sha256: "fedcba9876543210".repeat(4),
                },
            ],
            records: RecordsStatus {
                path: "/var/lib/edge-screen/records.db".into(),
                saving: true,
                last_error: None,
                db_bytes: 12_345_678,
                disk_free_bytes: Some(1_500_000_000),
                saved_total: 40,
            },
            outbox: OutboxStatus {
                pending: 3,
                oldest_pending_age_s: Some(130.0),
            },
            uplink: UplinkStatus {
                state: "connected".into(),
                broker: Some("mqtt://fleet:1883".into()),
                last_error: None,
            },
        }
    }

    #[test]
    fn round_trip_through_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("status.json");
        let s = known();
        write_atomic(&path, &s).expect("write");
        assert_eq!(read(&path).expect("read"), s);
        let mut s2 = s.clone();
        s2.sessions_today = 13;
        s2.records.saving = false;
        s2.records.last_error = Some("disk I/O error".into());
        write_atomic(&path, &s2).expect("rewrite");
        assert_eq!(read(&path).expect("read again"), s2);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["status.json"], "the .tmp file was left behind");
    }

    #[test]
    fn non_finite_values_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("status.json");
        let mut s = known();
        s.camera.fps = f64::NAN;
        s.outbox.oldest_pending_age_s = Some(f64::INFINITY);
        write_atomic(&path, &s).expect("write");
        let back = read(&path).expect("read");
        assert!(back.camera.fps.is_nan());
        assert_eq!(back.outbox.oldest_pending_age_s, None);
        assert!(render_text(&back, T, 6.0).contains("camera:      ok, ? fps (sim)\n"));
    }

    #[test]
    fn write_into_a_missing_folder_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nope/status.json");
        let err = write_atomic(&path, &known()).expect_err("no folder");
        assert!(err.to_string().contains("nope/status.json"), "{err}");
    }

    #[test]
    fn read_errors_name_the_file_and_say_what_is_wrong() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("status.json");
        let err = read(&missing).expect_err("missing");
        assert!(matches!(err, StatusError::Missing { .. }));
        assert_eq!(
            err.to_string(),
            format!(
                "no status file at {}: is the daemon running?",
                missing.display()
            )
        );

        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{\"pid\": 1").expect("write");
        let err = read(&bad).expect_err("malformed");
        assert!(matches!(err, StatusError::Malformed { .. }));
        let msg = err.to_string();
        assert!(msg.contains(&bad.display().to_string()), "{msg}");
        assert!(msg.contains("malformed") && msg.contains("EOF"), "{msg}");

        let wrong = dir.path().join("wrong.json");
        std::fs::write(&wrong, "{\"pid\": \"x\"}").expect("write");
        let msg = read(&wrong).expect_err("wrong type").to_string();
        assert!(
            msg.contains("wrong.json") && msg.contains("invalid type"),
            "{msg}"
        );

        let big = dir.path().join("big.json");
        std::fs::write(&big, vec![b' '; MAX_STATUS_BYTES as usize + 10]).expect("write");
        let err = read(&big).expect_err("too large");
        assert!(matches!(err, StatusError::TooLarge { .. }), "{err}");

        let err = read(dir.path()).expect_err("a folder");
        assert!(
            err.to_string().contains(&dir.path().display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn render_text_of_a_known_status() {
        let text = render_text(&known(), T + 1_000, 6.0);
        let expected = "\
device:      kiosk-7 (edge-screen 0.1.0, pid 4321)
uptime:      2 h 5 min
camera:      ok, 30.0 fps (sim)
frames:      2000 received, 1990 processed, 10 dropped (0.5 %)
sessions:    12 today
last result: 3 min ago
model:       breathing bi_at_gru-1 (sha256 0123456789ab)
model:       xray int8-3 (sha256 fedcba987654)
records:     saving to /var/lib/edge-screen/records.db, 40 saved
database:    12.3 MB, 1500.0 MB free on disk
outbox:      3 pending, oldest 2 min
uplink:      connected (mqtt://fleet:1883)
";
        assert_eq!(text, expected);
    }

    #[test]
    fn render_text_when_not_saving_and_idle() {
        let mut s = known();
        s.records.saving = false;
        s.records.last_error = Some("database or disk is full".into());
        s.records.disk_free_bytes = None;
        s.outbox = OutboxStatus {
            pending: 0,
            oldest_pending_age_s: None,
        };
        s.last_result_unix_ms = None;
        s.models.clear();
        s.uplink = UplinkStatus {
            state: "disconnected".into(),
            broker: Some("mqtt://fleet:1883".into()),
            last_error: Some("connection refused".into()),
        };
        s.uptime_s = 42.9;
        let text = render_text(&s, T, 6.0);
        for line in [
            "records:     NOT SAVING: database or disk is full (/var/lib/edge-screen/records.db), 40 saved",
            "database:    12.3 MB, ? MB free on disk",
            "outbox:      0 pending",
            "last result: none yet",
            "model:       none",
            "uplink:      disconnected (mqtt://fleet:1883): connection refused",
            "uptime:      42 s",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }

    #[test]
    fn staleness_warning_only_when_old() {
        let s = known();
        let fresh = render_text(&s, T + 5_900, 6.0);
        assert!(!fresh.contains("WARNING"), "{fresh}");
        assert!(fresh.starts_with("device:"));
        // Written "in the future" (clock skew) is not stale.
        assert!(!render_text(&s, T - 60_000, 6.0).contains("WARNING"));
        let old = render_text(&s, T + 37_400, 6.0);
        assert!(
            old.starts_with("WARNING: status is 37 s old: the daemon may not be running\n"),
            "{old}"
        );
        assert_eq!(age_s(&s, T + 37_400), 37.4);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(ago_text(59.9), "59 s");
        assert_eq!(ago_text(60.0), "1 min");
        assert_eq!(ago_text(7200.0), "2 h");
        assert_eq!(ago_text(3.0 * 86400.0), "3 d");
        assert_eq!(duration_text(7_512.0), "2 h 5 min");
        assert_eq!(duration_text(303.0), "5 min 3 s");
        assert_eq!(duration_text(90_000.0), "1 d 1 h");
        assert_eq!(duration_text(f64::NAN), "?");
    }

    #[test]
    fn disk_free_of_the_tempdir_and_of_a_path_not_yet_made() {
        let dir = tempfile::tempdir().expect("tempdir");
        let free = disk_free_bytes(dir.path()).expect("statvfs");
        assert!(free > 0);
        let later = dir.path().join("not/yet/records.db");
        let free2 = disk_free_bytes(&later).expect("nearest parent");
        assert!(free2 > 0);
    }

    #[test]
    fn file_bytes_sums_the_database_and_its_wal_and_shm() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("records.db");
        let err = file_bytes(&db).expect_err("missing");
        assert!(err.to_string().contains("records.db"), "{err}");
        std::fs::write(&db, [0u8; 4096]).expect("db");
        assert_eq!(file_bytes(&db).expect("db only"), 4096);
        std::fs::write(dir.path().join("records.db-wal"), [0u8; 1000]).expect("wal");
        std::fs::write(dir.path().join("records.db-shm"), [0u8; 32]).expect("shm");
        assert_eq!(file_bytes(&db).expect("all three"), 5128);
    }
}
