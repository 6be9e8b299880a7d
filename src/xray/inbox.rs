//! The daemon's X-ray inbox: a folder scanned every `poll_interval_s`. Each new image is screened
//! and then moved, never deleted, to `done/` (with `NAME.json`, the result) or `failed/` (with
//! `NAME.json`, the reason).
//!
//! A file is taken only once it has stopped changing (same size and modification time on two
//! scans, or last modified more than [`SETTLE`] ago), so an image still being copied in is not
//! read half-written. Hidden files and names ending in `.tmp`, `.part`, `.partial` or `.crdownload`
//! are left alone (copy tools use them while writing).

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
    processed_unix_s: u64,
}

#[derive(Serialize)]
struct DoneRecord<'a> {
    #[serde(flatten)]
    report: &'a XrayReport,
    processed_unix_s: u64,
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
            if !meta.is_file() || is_temporary(&path) || self.stuck.contains(&path) {
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

    /// Moves `file` to `done/` or `failed/` (a free name: `NAME`, `NAME-2`, ...) and writes the
    /// result or reason beside it as `NAME.json`. The image is moved even when the `.json`
    /// cannot be written (a full disk); [`Filed::note`] then says why.
    pub fn file_away(&mut self, file: &Path, outcome: &Outcome<'_>) -> std::io::Result<Filed> {
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
                processed_unix_s,
            }),
            Outcome::Failed(error) => serde_json::to_string_pretty(&FailedRecord {
                file,
                error,
                processed_unix_s,
            }),
        };
        let mut sidecar = dest.clone().into_os_string();
        sidecar.push(".json");
        let note = json
            .map_err(|e| e.to_string())
            .and_then(|text| write_atomic(Path::new(&sidecar), text.as_bytes()))
            .err()
            .map(|e| format!("{}: {e}", Path::new(&sidecar).display()));
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
                .file_away(&f, &Outcome::Failed("not an image"))
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
        let err = inbox.file_away(&f, &Outcome::Failed("x")).unwrap_err();
        assert!(err.to_string().contains("gone.png"), "{err}");
        std::fs::write(&f, b"x").unwrap();
        let later = SystemTime::now() + Duration::from_secs(10);
        assert!(inbox.ready(later).unwrap().is_empty());
    }
}
