//! The daemon's X-ray inbox: a folder scanned every `poll_interval_s`. Each new image is screened
//! and then moved, never deleted, to `done/` (with `NAME.json`, the result) or `failed/` (with
//! `NAME.json`, the reason).
//!
//! A file is taken only once it has stopped changing (same size and modification time on two
//! scans, or last modified more than [`SETTLE`] ago), so an image still being copied in is not
//! read half-written. Hidden files and names ending in `.tmp`, `.part`, `.partial` or `.crdownload`
//! are left alone (copy tools use them while writing).
//!
//! An image may come with a sidecar `NAME.json` (`{"session_id": "..."}`, written before the
//! image) naming the screening session it belongs to ([`Inbox::request`]); the sidecar is filed with
//! its image as `NAME.request.json`, and the session id is also kept in the record beside it.

use super::screen::XrayReport;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A file last modified longer ago than this is taken on the first scan that sees it.
pub const SETTLE: Duration = Duration::from_secs(2);

/// What happened to one image.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<'a> {
    /// Screened.
    Done(&'a XrayReport),
    /// Not screened, and why.
    Failed(&'a str),
}

/// What a sidecar `NAME.json` asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The screening session the image belongs to.
    pub session_id: Option<String>,
}

/// Longest sidecar read, bytes.
const MAX_SIDECAR_BYTES: u64 = 64 * 1024;

/// Where an image went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filed {
    /// The image's new path (in `done/` or `failed/`).
    pub moved_to: PathBuf,
    /// A problem writing the `.json` beside it (the image itself was moved).
    pub note: Option<String>,
}

/// A watched folder.
#[derive(Debug)]
pub struct Inbox {
    dir: PathBuf,
    done: PathBuf,
    failed: PathBuf,
    /// Size and modification time at the last scan of files not yet taken.
    seen: HashMap<PathBuf, (u64, SystemTime)>,
    /// Files that could not be moved away: not taken again (they would loop forever).
    stuck: HashSet<PathBuf>,
}

#[derive(Serialize)]
struct FailedRecord<'a> {
    file: &'a Path,
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<&'a str>,
    processed_unix_s: u64,
}

#[derive(Serialize)]
struct DoneRecord<'a> {
    #[serde(flatten)]
    report: &'a XrayReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<&'a str>,
    processed_unix_s: u64,
}

/// `file`'s sidecar path: `NAME.json` beside it.
pub fn sidecar_of(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".json");
    PathBuf::from(s)
}

impl Inbox {
    /// Opens (creating if needed) `dir` and its `done/` and `failed/` folders.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let done = dir.join("done");
        let failed = dir.join("failed");
        for d in [dir, &done, &failed] {
            std::fs::create_dir_all(d).map_err(|e| {
                std::io::Error::new(e.kind(), format!("{}: cannot create: {e}", d.display()))
            })?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            done,
            failed,
            seen: HashMap::new(),
            stuck: HashSet::new(),
        })
    }

    /// The watched folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Files ready to be screened now, in name order. `now` is the wall clock.
    pub fn ready(&mut self, now: SystemTime) -> std::io::Result<Vec<PathBuf>> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("{}: cannot list: {e}", self.dir.display()),
            )
        })?;
        let mut present = HashSet::new();
        let mut ready = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            let sidecar = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"));
            if !meta.is_file() || sidecar || is_temporary(&path) || self.stuck.contains(&path) {
                continue;
            }
            present.insert(path.clone());
            let stamp = (
                meta.len(),
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            );
            let settled = now.duration_since(stamp.1).is_ok_and(|age| age >= SETTLE);
            let unchanged = self.seen.get(&path) == Some(&stamp);
            if settled || unchanged {
                self.seen.remove(&path);
                ready.push(path);
            } else {
                self.seen.insert(path, stamp);
            }
        }
        self.seen.retain(|p, _| present.contains(p));
        ready.sort();
        Ok(ready)
    }

    /// What `file`'s sidecar asks for (nothing when there is none). A sidecar that cannot be read
    /// or is not `{"session_id": "..."}` is an error naming it and what is wrong.
    pub fn request(&self, file: &Path) -> Result<Request, String> {
        let path = sidecar_of(file);
        let name = path.display();
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Request::default()),
            Err(e) => return Err(format!("{name}: {e}")),
        };
        if meta.len() > MAX_SIDECAR_BYTES {
            return Err(format!(
                "{name}: {} bytes is more than a sidecar can be",
                meta.len()
            ));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{name}: {e}"))?;
        let req: Request = serde_json::from_str(&text)
            .map_err(|e| format!("{name}: not {{\"session_id\": \"...\"}}: {e}"))?;
        match &req.session_id {
            Some(id) if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) => Err(
                format!("{name}: session_id {id:?} is not a session identifier"),
            ),
            _ => Ok(req),
        }
    }

    /// Moves `file` to `done/` or `failed/` (a free name: `NAME`, `NAME-2`, ...) and writes the
    /// result or reason beside it as `NAME.json`, with the session it was sent for; its own
    /// sidecar, if any, goes with it as `NAME.request.json`. The image is moved even when the
    /// `.json` cannot be written (a full disk); [`Filed::note`] then says why.
    pub fn file_away(
        &mut self,
        file: &Path,
        outcome: &Outcome<'_>,
        session_id: Option<&str>,
    ) -> std::io::Result<Filed> {
        let folder = match outcome {
            Outcome::Done(_) => &self.done,
            Outcome::Failed(_) => &self.failed,
        };
        let dest = free_name(folder, file);
        if let Err(e) = std::fs::rename(file, &dest) {
            self.stuck.insert(file.to_path_buf());
            return Err(std::io::Error::new(
                e.kind(),
                format!(
                    "{}: cannot move to {}: {e} (left in place, not retried)",
                    file.display(),
                    dest.display()
                ),
            ));
        }
        let processed_unix_s = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let json = match outcome {
            Outcome::Done(report) => serde_json::to_string_pretty(&DoneRecord {
                report,
                session_id,
                processed_unix_s,
            }),
            Outcome::Failed(error) => serde_json::to_string_pretty(&FailedRecord {
                file,
                error,
                session_id,
                processed_unix_s,
            }),
        };
        let record = sidecar_of(&dest);
        let mut note = json
            .map_err(|e| e.to_string())
            .and_then(|text| write_atomic(&record, text.as_bytes()))
            .err()
            .map(|e| format!("{}: {e}", record.display()));
        // The request goes with its image (a request left behind would apply to the next image of
        // that name); it is kept as sent, never deleted.
        let request = sidecar_of(file);
        if request.exists() {
            let mut kept = dest.clone().into_os_string();
            kept.push(".request.json");
            if let Err(e) = std::fs::rename(&request, &kept) {
                note = Some(format!("{}: cannot move: {e}", request.display()));
            }
        }
        Ok(Filed {
            moved_to: dest,
            note,
        })
    }
}

/// Hidden or still being written by a copy tool.
fn is_temporary(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    name.starts_with('.')
        || [".tmp", ".part", ".partial", ".crdownload"]
            .iter()
            .any(|s| name.ends_with(s))
}

/// `folder/NAME` if free, else `folder/STEM-2.EXT`, `folder/STEM-3.EXT`, ...
fn free_name(folder: &Path, file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map_or_else(|| "image".into(), |n| n.to_string_lossy().into_owned());
    let candidate = folder.join(&name);
    if !candidate.exists() {
        return candidate;
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_string(), format!(".{e}")),
        _ => (name.clone(), String::new()),
    };
    (2..)
        .map(|k| folder.join(format!("{stem}-{k}{ext}")))
        .find(|p| !p.exists())
        .unwrap_or(candidate)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_taken_once_it_stops_changing() {
        let dir = tempfile::tempdir().unwrap();
        let mut inbox = Inbox::open(dir.path()).unwrap();
        let f = dir.path().join("a.png");
        std::fs::write(&f, b"half").unwrap();
        let now = SystemTime::now();
        // Just written: not settled, first sighting.
        assert!(inbox.ready(now).unwrap().is_empty());
        // Grew in the meantime: still not taken.
        std::fs::write(&f, b"half and more").unwrap();
        assert!(inbox.ready(now).unwrap().is_empty());
        // Unchanged since the last scan: taken.
        assert_eq!(inbox.ready(now).unwrap(), vec![f.clone()]);
        // An old file is taken at once.
        let later = now + Duration::from_secs(10);
        std::fs::write(dir.path().join("b.dcm"), b"x").unwrap();
        std::fs::write(dir.path().join(".hidden"), b"x").unwrap();
        std::fs::write(dir.path().join("c.png.part"), b"x").unwrap();
        let ready = inbox.ready(later).unwrap();
        assert_eq!(ready, vec![f, dir.path().join("b.dcm")]);
    }

    #[test]
    fn files_are_moved_with_a_record_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let mut inbox = Inbox::open(dir.path()).unwrap();
        for round in 0..2 {
            let f = dir.path().join("scan.png");
            std::fs::write(&f, format!("round {round}")).unwrap();
            let filed = inbox
                .file_away(&f, &Outcome::Failed("not an image"), None)
                .unwrap();
            let want = if round == 0 { "scan.png" } else { "scan-2.png" };
            assert_eq!(filed.moved_to, dir.path().join("failed").join(want));
            assert_eq!(filed.note, None);
            assert!(!f.exists());
            let rec: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(dir.path().join("failed").join(format!("{want}.json")))
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(rec["error"], "not an image");
            assert_eq!(
                std::fs::read_to_string(&filed.moved_to).unwrap(),
                format!("round {round}")
            );
        }
    }

    #[test]
    fn a_file_that_cannot_be_moved_is_not_taken_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut inbox = Inbox::open(dir.path()).unwrap();
        let f = dir.path().join("gone.png");
        // Moving a file that vanished fails; it is remembered as stuck.
        let err = inbox
            .file_away(&f, &Outcome::Failed("x"), None)
            .unwrap_err();
        assert!(err.to_string().contains("gone.png"), "{err}");
        std::fs::write(&f, b"x").unwrap();
        let later = SystemTime::now() + Duration::from_secs(10);
        assert!(inbox.ready(later).unwrap().is_empty());
    }

    #[test]
    fn a_sidecar_names_the_session_and_is_consumed_with_its_image() {
        let dir = tempfile::tempdir().unwrap();
        let mut inbox = Inbox::open(dir.path()).unwrap();
        let f = dir.path().join("chest.png");
        std::fs::write(
            sidecar_of(&f),
            r#"{"session_id": "01JD0000000000000000000000"}"#,
        )
        .unwrap();
        std::fs::write(&f, b"x").unwrap();
        let later = SystemTime::now() + Duration::from_secs(10);
        assert_eq!(
            inbox.ready(later).unwrap(),
            vec![f.clone()],
            "the sidecar is not an image"
        );
        let req = inbox.request(&f).unwrap();
        assert_eq!(
            req.session_id.as_deref(),
            Some("01JD0000000000000000000000")
        );
        let filed = inbox
            .file_away(
                &f,
                &Outcome::Failed("not an image"),
                req.session_id.as_deref(),
            )
            .unwrap();
        assert!(!sidecar_of(&f).exists(), "filed with its image");
        let kept = dir.path().join("failed/chest.png.request.json");
        assert!(std::fs::read_to_string(kept).unwrap().contains("01JD"));
        let rec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(sidecar_of(&filed.moved_to)).unwrap())
                .unwrap();
        assert_eq!(rec["session_id"], "01JD0000000000000000000000");
        // No sidecar: no request.
        assert_eq!(inbox.request(&f).unwrap(), Request::default());
    }

    #[test]
    fn a_bad_sidecar_is_named_with_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::open(dir.path()).unwrap();
        let f = dir.path().join("chest.png");
        for (text, want) in [
            ("{\"session\": \"x\"}", "unknown field `session`"),
            ("{\"session_id\": 7}", "invalid type"),
            ("{\"session_id\": \"\"}", "not a session identifier"),
            ("not json", "expected"),
        ] {
            std::fs::write(sidecar_of(&f), text).unwrap();
            let e = inbox.request(&f).unwrap_err();
            assert!(
                e.contains("chest.png.json") && e.contains(want),
                "{text}: {e}"
            );
        }
    }
}
