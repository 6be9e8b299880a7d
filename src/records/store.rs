//! The screening record store: one SQLite file (WAL, `synchronous = FULL`), one record per
//! session, and the fleet outbox in the same file.
//!
//! A session's result and its outbox message are written in one transaction, so a record is
//! either saved and queued for the fleet, or neither. The daemon prints a `session_result` event
//! only after that transaction has committed: whatever was printed survives a power cut.
//!
//! The schema carries a version (`PRAGMA user_version`); [`Store::open`] migrates older files
//! forward in a transaction and refuses files written by a newer edge-screen. A file that is not a
//! SQLite database, or fails its integrity check, is moved aside (never overwritten) and a new store
//! is started; the error says where the old file went.

use super::ModelInfo;
use crate::screening::events::SessionResult;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 2;

/// Longest an image kept inside a record may be (`[records] keep_images`).
pub const MAX_KEPT_IMAGE_BYTES: u64 = 64 << 20;

/// What went wrong with the store. Every message names the database file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation (full disk, read-only file system, locked, ...).
    #[error("{}: {what}: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The file is not a usable record store; it was moved to `moved_to` (if it could be).
    #[error("{}: {problem}; {}", path.display(), match moved_to {
        Some(m) => format!("moved aside to {}", m.display()),
        None => "left where it is".to_string(),
    })]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
        /// Where it was moved.
        moved_to: Option<PathBuf>,
    },
    /// Written by a newer edge-screen: refused, never downgraded.
    #[error(
        "{}: schema version {found} is newer than this edge-screen's ({SCHEMA_VERSION}); \
         upgrade edge-screen or point [records] path elsewhere", path.display()
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The file's version.
        found: i64,
    },
    /// The folder could not be created.
    #[error("{}: cannot create the folder: {source}", path.display())]
    Folder {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No record store at that path.
    #[error("{}: no record store here (no result has been saved to this file)", path.display())]
    Missing {
        /// The database file.
        path: PathBuf,
    },
    /// A review that cannot be stored (a bad reviewer name, a note too long).
    #[error("{}: {problem}", path.display())]
    BadReview {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// No such record.
    #[error("{}: no record {id:?}", path.display())]
    NotFound {
        /// The database file.
        path: PathBuf,
        /// The id asked for.
        id: String,
    },
}

impl StoreError {
    /// Whether this looks like a full disk or a read-only file system (saving may resume later).
    pub fn is_no_space(&self) -> bool {
        matches!(self, StoreError::Sqlite { source: rusqlite::Error::SqliteFailure(e, _), .. }
            if matches!(e.code, rusqlite::ErrorCode::DiskFull | rusqlite::ErrorCode::ReadOnly
                | rusqlite::ErrorCode::SystemIoFailure | rusqlite::ErrorCode::CannotOpen))
    }
}

/// Migrations: element `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: records and the outbox.
    "CREATE TABLE records (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         id TEXT NOT NULL UNIQUE,
         device_id TEXT NOT NULL,
         revision INTEGER NOT NULL,
         started_unix_ms INTEGER,
         result_unix_ms INTEGER NOT NULL,
         outcome TEXT NOT NULL,
         refer_probability REAL NOT NULL,
         xray_file TEXT,
         xray_sha256 TEXT,
         xray_image BLOB,
         software_version TEXT NOT NULL,
         json TEXT NOT NULL
     );
     CREATE INDEX records_by_time ON records (result_unix_ms);
     CREATE TABLE outbox (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         record_id TEXT NOT NULL REFERENCES records (id),
         revision INTEGER NOT NULL,
         topic TEXT NOT NULL,
         payload TEXT NOT NULL,
         created_unix_ms INTEGER NOT NULL,
         delivered_unix_ms INTEGER
     );
     CREATE INDEX outbox_pending ON outbox (seq) WHERE delivered_unix_ms IS NULL;
     CREATE INDEX outbox_by_record ON outbox (record_id);",
    // 1 -> 2: the clinician review queue (flagged X-rays) and the reviews given.
    "CREATE TABLE review_items (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         record_id TEXT NOT NULL,
         revision INTEGER NOT NULL,
         queued_unix_ms INTEGER NOT NULL,
         finding TEXT NOT NULL,
         covid_probability REAL,
         threshold REAL,
         model_name TEXT NOT NULL,
         model_version TEXT NOT NULL,
         model_sha256 TEXT,
         file_name TEXT NOT NULL,
         image_sha256 TEXT,
         image BLOB,
         heatmap BLOB,
         report TEXT NOT NULL,
         UNIQUE (record_id, image_sha256)
     );
     CREATE INDEX review_items_by_record ON review_items (record_id);
     CREATE TABLE reviews (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         item_id INTEGER NOT NULL REFERENCES review_items (id),
         reviewer TEXT NOT NULL,
         verdict TEXT NOT NULL CHECK (verdict IN ('covid', 'normal', 'not_assessable')),
         note TEXT,
         reviewed_unix_ms INTEGER NOT NULL
     );
     CREATE INDEX reviews_by_item ON reviews (item_id);",
];

/// One stored record, as `records show --json` prints it and the uplink sends it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Record {
    /// The session id (ULID): unique across kiosks and restarts. Consumers drop duplicates by
    /// (`id`, `revision`).
    pub id: String,
    /// The kiosk.
    pub device_id: String,
    /// 0, then one more for each late X-ray that revised the outcome.
    pub revision: u32,
    /// When the person sat down (wall clock, ms since 1970), if seen by this run.
    pub started_unix_ms: Option<i64>,
    /// When the result was given (wall clock, ms since 1970).
    pub result_unix_ms: i64,
    /// The same moment on the stream's clock, s.
    pub t_s: f64,
    /// `no_concern_found`, `refer_for_clinical_assessment` or `repeat_measurement`.
    pub outcome: String,
    /// The fused probability behind the outcome.
    pub refer_probability: f32,
    /// Each modality's probability.
    pub modalities: serde_json::Value,
    /// The breathing verdict (`null` when the person was not measured).
    pub breathing: Option<serde_json::Value>,
    /// The X-ray result, with the image's file name and SHA-256 (never the image itself).
    pub xray: Option<serde_json::Value>,
    /// The models behind the result.
    pub models: Vec<ModelInfo>,
    /// edge-screen's version.
    pub software_version: String,
}

/// What the store adds to a session result.
#[derive(Debug, Clone, Copy)]
pub struct RecordContext<'a> {
    /// The kiosk.
    pub device_id: &'a str,
    /// The models in use.
    pub models: &'a [ModelInfo],
    /// When the session started (wall clock), if known.
    pub started_unix_ms: Option<i64>,
    /// Now (wall clock).
    pub now_unix_ms: i64,
    /// Where the X-ray image is now (its `done/` path), to hash (and keep, if asked).
    pub xray_image: Option<&'a Path>,
    /// Keep the image inside the record.
    pub keep_image: bool,
    /// The outbox topic; `None` = no uplink, nothing queued.
    pub topic: Option<&'a str>,
}

/// A message waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    /// Position in the outbox (delivery order).
    pub seq: i64,
    /// The record it carries.
    pub record_id: String,
    /// The record's revision.
    pub revision: u32,
    /// MQTT topic.
    pub topic: String,
    /// JSON payload (the [`Record`]).
    pub payload: String,
    /// When it was queued (wall clock, ms).
    pub created_unix_ms: i64,
}

/// Outbox size.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct OutboxStats {
    /// Messages not yet acknowledged by the broker.
    pub pending: u64,
    /// When the oldest of them was queued (wall clock, ms).
    pub oldest_created_unix_ms: Option<i64>,
}

/// `records verify`'s findings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    /// The database file.
    pub path: String,
    /// `PRAGMA integrity_check`'s answer (`ok` when sound).
    pub integrity: String,
    /// Schema version.
    pub schema_version: i64,
    /// Records stored.
    pub records: u64,
    /// Records whose latest revision the broker acknowledged.
    pub delivered: u64,
    /// Records with a message still in the outbox.
    pub pending: u64,
    /// Records never queued (saved while the uplink was off).
    pub local_only: u64,
}

/// One connection to the record store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// Wall clock, ms since 1970.
pub fn unix_ms_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs `f` again while SQLite answers "busy" or "locked", for up to [`BUSY_WAIT`].
fn retry_while_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let until = std::time::Instant::now() + BUSY_WAIT;
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < until =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            r => return r,
        }
    }
}

/// How long an open waits for another program holding the file's lock.
const BUSY_WAIT: Duration = Duration::from_secs(5);

impl Store {
    /// Opens (creating if needed) the store at `path`, migrating it to [`SCHEMA_VERSION`]. A file
    /// that is not a sound SQLite database is moved aside and a new one started: the error is
    /// returned with the new store so the caller can report it.
    pub fn open(path: &Path) -> Result<(Store, Option<StoreError>), StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Folder {
                path: path.to_path_buf(),
                source,
            })?;
        }
        match Self::open_checked(path) {
            Ok(s) => Ok((s, None)),
            Err(StoreError::Corrupt { problem, .. }) => {
                let moved_to = move_aside(path);
                let err = StoreError::Corrupt {
                    path: path.to_path_buf(),
                    problem,
                    moved_to: moved_to.clone(),
                };
                if moved_to.is_none() {
                    return Err(err);
                }
                let fresh = Self::open_checked(path)?;
                Ok((fresh, Some(err)))
            }
            Err(e) => Err(e),
        }
    }

    /// Opens an existing store without creating, migrating or moving anything (`records`
    /// commands); a corrupt file is an error.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| corrupt(path, e))?;
        conn.busy_timeout(BUSY_WAIT)
            .map_err(|e| sqlite(path, "set busy timeout", e))?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        let v = store.schema_version()?;
        if v > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found: v,
            });
        }
        Ok(store)
    }

    fn open_checked(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path).map_err(|e| corrupt_or(path, "open", e))?;
        conn.busy_timeout(BUSY_WAIT)
            .map_err(|e| sqlite(path, "set busy timeout", e))?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
        };
        // A file that is not SQLite fails here ("file is not a database").
        // Changing the journal mode does not wait on SQLite's busy handler: another program
        // opening the same new file at this moment makes it fail "locked" at once, so retry.
        let mode: String = retry_while_busy(|| {
            store
                .conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        })
        .map_err(|e| corrupt_or(path, "set WAL mode", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            log::warn!("{}: journal mode {mode}, not WAL", path.display());
        }
        store
            .conn
            .execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(|e| sqlite(path, "set synchronous mode", e))?;
        let check: String = store
            .conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| corrupt_or(path, "check integrity", e))?;
        if check != "ok" {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                problem: format!("integrity check failed: {check}"),
                moved_to: None,
            });
        }
        store.migrate()?;
        Ok(store)
    }

    fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| corrupt_or(&self.path, "read the schema version", e))
    }

    /// Brings the schema to [`SCHEMA_VERSION`]. The version is read and every step applied inside
    /// one write-locked (`BEGIN IMMEDIATE`) transaction, so two programs opening a new file at the
    /// same moment do not both create its tables: the second waits, then finds it current.
    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sqlite(&path, "begin migration", e))?;
        let v: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| corrupt_or(&path, "read the schema version", e))?;
        if v > SCHEMA_VERSION {
            return Err(StoreError::TooNew { path, found: v });
        }
        if v < 0 {
            return Err(StoreError::Corrupt {
                path,
                problem: format!("schema version {v} is not a version"),
                moved_to: None,
            });
        }
        // A file with tables but version 0 is someone else's database: not ours to change.
        if v == 0 {
            let tables: i64 = tx
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| sqlite(&path, "list tables", e))?;
            if tables > 0 {
                return Err(StoreError::Corrupt {
                    path,
                    problem: "a SQLite database, but not an edge-screen record store".into(),
                    moved_to: None,
                });
            }
        }
        for (from, sql) in MIGRATIONS.iter().enumerate().skip(v as usize) {
            tx.execute_batch(sql)
                .map_err(|e| sqlite(&path, "migrate the schema", e))?;
            tx.pragma_update(None, "user_version", from as i64 + 1)
                .map_err(|e| sqlite(&path, "write the schema version", e))?;
            log::info!(
                "{}: record store schema {} -> {}",
                path.display(),
                from,
                from + 1
            );
        }
        tx.commit()
            .map_err(|e| sqlite(&path, "commit migration", e))?;
        Ok(())
    }

    /// The connection (tests that simulate a full disk with `PRAGMA max_page_count`).
    #[cfg(test)]
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Saves a session result (a new record, or a new revision of one) and, with a topic, queues
    /// it for the fleet in the same transaction. Durable when this returns `Ok`.
    pub fn save(
        &mut self,
        result: &SessionResult,
        cx: &RecordContext<'_>,
    ) -> Result<Record, StoreError> {
        let path = self.path.clone();
        let (xray, xray_file, xray_sha, film) = xray_part(result, cx);
        let image = film.as_ref().filter(|_| cx.keep_image);
        let record = Record {
            id: result.session_id.clone(),
            device_id: cx.device_id.to_string(),
            revision: result.revision,
            started_unix_ms: cx.started_unix_ms,
            result_unix_ms: cx.now_unix_ms,
            t_s: result.t_s,
            outcome: result.outcome.name().to_string(),
            refer_probability: result.refer_probability,
            modalities: serde_json::to_value(result.modalities).unwrap_or_default(),
            breathing: result
                .breathing
                .as_ref()
                .and_then(|b| serde_json::to_value(b).ok()),
            xray,
            models: cx.models.to_vec(),
            software_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        let json = serde_json::to_string(&record).unwrap_or_default();
        let tx = self
            .conn
            .transaction()
            .map_err(|e| sqlite(&path, "begin saving a record", e))?;
        // A revision keeps the first sitting's start time when this run did not see it.
        tx.execute(
            "INSERT INTO records (id, device_id, revision, started_unix_ms, result_unix_ms,
                 outcome, refer_probability, xray_file, xray_sha256, xray_image,
                 software_version, json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (id) DO UPDATE SET
                 revision = excluded.revision,
                 started_unix_ms = coalesce(excluded.started_unix_ms, started_unix_ms),
                 result_unix_ms = excluded.result_unix_ms,
                 outcome = excluded.outcome,
                 refer_probability = excluded.refer_probability,
                 xray_file = excluded.xray_file,
                 xray_sha256 = excluded.xray_sha256,
                 xray_image = excluded.xray_image,
                 software_version = excluded.software_version,
                 json = excluded.json",
            params![
                record.id,
                record.device_id,
                record.revision,
                record.started_unix_ms,
                record.result_unix_ms,
                record.outcome,
                record.refer_probability as f64,
                xray_file,
                xray_sha,
                image,
                record.software_version,
                json,
            ],
        )
        .map_err(|e| sqlite(&path, "save a record", e))?;
        if let Some(report) = &result.xray {
            review_queue::enqueue(&tx, &path, &record, report, film.as_deref(), cx)?;
        }
        if let Some(topic) = cx.topic {
            tx.execute(
                "INSERT INTO outbox (record_id, revision, topic, payload, created_unix_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![record.id, record.revision, topic, json, cx.now_unix_ms],
            )
            .map_err(|e| sqlite(&path, "queue a record for the uplink", e))?;
        }
        tx.commit()
            .map_err(|e| sqlite(&path, "commit a record", e))?;
        Ok(record)
    }

    /// Records in saving order, optionally only those with a result at or after `since_unix_ms`.
    pub fn list(&self, since_unix_ms: Option<i64>) -> Result<Vec<Record>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT json FROM records WHERE result_unix_ms >= ?1 ORDER BY seq")
            .map_err(|e| sqlite(&self.path, "list records", e))?;
        let rows = stmt
            .query_map([since_unix_ms.unwrap_or(i64::MIN)], |r| {
                r.get::<_, String>(0)
            })
            .map_err(|e| sqlite(&self.path, "list records", e))?;
        let mut out = Vec::new();
        for row in rows {
            let json = row.map_err(|e| sqlite(&self.path, "read a record", e))?;
            out.push(self.parse_record(&json)?);
        }
        Ok(out)
    }

    /// One record by id (a unique prefix of at least 6 characters is enough).
    pub fn get(&self, id: &str) -> Result<Record, StoreError> {
        let not_found = || StoreError::NotFound {
            path: self.path.clone(),
            id: id.to_string(),
        };
        if id.len() < 6 {
            return Err(not_found());
        }
        let mut stmt = self
            .conn
            .prepare("SELECT json FROM records WHERE id = ?1 OR id LIKE ?2 ESCAPE '\\' LIMIT 2")
            .map_err(|e| sqlite(&self.path, "find a record", e))?;
        let pattern = format!("{}%", id.replace(['%', '_', '\\'], ""));
        let found: Vec<String> = stmt
            .query_map(params![id, pattern], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| sqlite(&self.path, "find a record", e))?;
        match found.as_slice() {
            [one] => self.parse_record(one),
            _ => Err(not_found()),
        }
    }

    /// The kept X-ray image of a record, if any.
    pub fn image(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .query_row("SELECT xray_image FROM records WHERE id = ?1", [id], |r| {
                r.get::<_, Option<Vec<u8>>>(0)
            })
            .optional()
            .map(Option::flatten)
            .map_err(|e| sqlite(&self.path, "read an image", e))
    }

    fn parse_record(&self, json: &str) -> Result<Record, StoreError> {
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            problem: format!("a record is not valid JSON: {e}"),
            moved_to: None,
        })
    }

    /// The oldest undelivered messages, in delivery order.
    pub fn pending(&self, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, record_id, revision, topic, payload, created_unix_ms FROM outbox
                 WHERE delivered_unix_ms IS NULL ORDER BY seq LIMIT ?1",
            )
            .map_err(|e| sqlite(&self.path, "read the outbox", e))?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(OutboxItem {
                    seq: r.get(0)?,
                    record_id: r.get(1)?,
                    revision: r.get(2)?,
                    topic: r.get(3)?,
                    payload: r.get(4)?,
                    created_unix_ms: r.get(5)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| sqlite(&self.path, "read the outbox", e))?;
        Ok(rows)
    }

    /// Marks a message delivered (the broker acknowledged it).
    pub fn mark_delivered(&self, seq: i64, now_unix_ms: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET delivered_unix_ms = ?2 WHERE seq = ?1",
                params![seq, now_unix_ms],
            )
            .map_err(|e| sqlite(&self.path, "mark a message delivered", e))?;
        Ok(())
    }

    /// Records given at or after `since_unix_ms`.
    pub fn count_since(&self, since_unix_ms: i64) -> Result<u64, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM records WHERE result_unix_ms >= ?1",
                [since_unix_ms],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| sqlite(&self.path, "count records", e))
    }

    /// When the latest record was given, if any.
    pub fn last_result_unix_ms(&self) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row("SELECT max(result_unix_ms) FROM records", [], |r| r.get(0))
            .map_err(|e| sqlite(&self.path, "find the latest record", e))
    }

    /// Outbox size and age.
    pub fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*), min(created_unix_ms) FROM outbox WHERE delivered_unix_ms IS NULL",
                [],
                |r| {
                    Ok(OutboxStats {
                        pending: r.get::<_, i64>(0)? as u64,
                        oldest_created_unix_ms: r.get(1)?,
                    })
                },
            )
            .map_err(|e| sqlite(&self.path, "count the outbox", e))
    }

    /// Deletes delivered (or never queued) records beyond the retention limits; records with a
    /// message still in the outbox are kept whatever their age. Returns how many were deleted.
    pub fn prune(
        &mut self,
        retention_days: Option<u32>,
        retention_count: Option<u32>,
        now_unix_ms: i64,
    ) -> Result<u64, StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction()
            .map_err(|e| sqlite(&path, "begin pruning", e))?;
        // Nor records whose flagged X-ray still waits for a clinician.
        let deletable = "NOT EXISTS (SELECT 1 FROM outbox o WHERE o.record_id = records.id
                                      AND o.delivered_unix_ms IS NULL)
                         AND NOT EXISTS (SELECT 1 FROM review_items q
                                         WHERE q.record_id = records.id AND NOT EXISTS
                                             (SELECT 1 FROM reviews v WHERE v.item_id = q.id))";
        let mut doomed: Vec<String> = Vec::new();
        if let Some(days) = retention_days {
            let cutoff = now_unix_ms - i64::from(days) * 86_400_000;
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT id FROM records WHERE result_unix_ms < ?1 AND {deletable}"
                ))
                .map_err(|e| sqlite(&path, "find old records", e))?;
            let ids = stmt
                .query_map([cutoff], |r| r.get::<_, String>(0))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(|e| sqlite(&path, "find old records", e))?;
            doomed.extend(ids);
        }
        if let Some(keep) = retention_count {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT id FROM records WHERE {deletable} AND seq NOT IN
                         (SELECT seq FROM records ORDER BY seq DESC LIMIT ?1)"
                ))
                .map_err(|e| sqlite(&path, "find surplus records", e))?;
            let ids = stmt
                .query_map([i64::from(keep)], |r| r.get::<_, String>(0))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(|e| sqlite(&path, "find surplus records", e))?;
            doomed.extend(ids);
        }
        doomed.sort_unstable();
        doomed.dedup();
        for id in &doomed {
            tx.execute("DELETE FROM outbox WHERE record_id = ?1", [id])
                .map_err(|e| sqlite(&path, "prune the outbox", e))?;
            tx.execute("DELETE FROM records WHERE id = ?1", [id])
                .map_err(|e| sqlite(&path, "prune records", e))?;
        }
        tx.commit()
            .map_err(|e| sqlite(&path, "commit pruning", e))?;
        Ok(doomed.len() as u64)
    }

    /// Integrity check and counts (`records verify`).
    pub fn verify(&self) -> Result<Verification, StoreError> {
        let integrity: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare("PRAGMA integrity_check")
                .map_err(|e| corrupt_or(&self.path, "check integrity", e))?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(|e| corrupt_or(&self.path, "check integrity", e))?;
            rows
        };
        let count = |sql: &str| -> Result<u64, StoreError> {
            self.conn
                .query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(|e| sqlite(&self.path, "count records", e))
        };
        let records = count("SELECT count(*) FROM records")?;
        let pending =
            count("SELECT count(DISTINCT record_id) FROM outbox WHERE delivered_unix_ms IS NULL")?;
        let local_only = count(
            "SELECT count(*) FROM records r WHERE NOT EXISTS
                 (SELECT 1 FROM outbox o WHERE o.record_id = r.id)",
        )?;
        Ok(Verification {
            path: self.path.display().to_string(),
            integrity: integrity.join("; "),
            schema_version: self.schema_version()?,
            records,
            delivered: records.saturating_sub(pending + local_only),
            pending,
            local_only,
        })
    }
}

/// The X-ray part of a record: the report with the image's file name and hash, and the image's
/// bytes when they could be read (kept in the record only with `keep_image`).
fn xray_part(
    result: &SessionResult,
    cx: &RecordContext<'_>,
) -> (
    Option<serde_json::Value>,
    Option<String>,
    Option<String>,
    Option<Vec<u8>>,
) {
    let Some(report) = &result.xray else {
        return (None, None, None, None);
    };
    let file_name = report
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| report.file.display().to_string());
    let image_path = cx.xray_image.unwrap_or(&report.file);
    let bytes = std::fs::metadata(image_path)
        .ok()
        .filter(|m| m.len() <= MAX_KEPT_IMAGE_BYTES)
        .and_then(|_| std::fs::read(image_path).ok());
    if bytes.is_none() {
        log::warn!(
            "{}: cannot read the X-ray image to hash it; its record has no image SHA-256",
            image_path.display()
        );
    }
    let sha = bytes.as_deref().map(sha256_hex);
    let mut value = serde_json::to_value(report).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        obj.insert("file".into(), file_name.clone().into());
        obj.insert(
            "image_sha256".into(),
            sha.clone().map_or(serde_json::Value::Null, Into::into),
        );
        obj.remove("heatmap");
    }
    (Some(value), Some(file_name), sha, bytes)
}

fn sqlite(path: &Path, what: &'static str, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.to_path_buf(),
        what,
        source,
    }
}

fn corrupt(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        problem: e.to_string(),
        moved_to: None,
    }
}

/// A "not a database" or "malformed" error is corruption; anything else is an ordinary failure.
fn corrupt_or(path: &Path, what: &'static str, e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
            ) =>
        {
            corrupt(path, e)
        }
        _ => sqlite(path, what, e),
    }
}

/// Renames `path` (and its `-wal`/`-shm` files) to `path.corrupt-UNIXMS`; `None` if it could not.
fn move_aside(path: &Path) -> Option<PathBuf> {
    let suffix = format!("corrupt-{}", unix_ms_now());
    let with = |p: &Path, s: &str| {
        let mut name = p.as_os_str().to_owned();
        name.push(s);
        PathBuf::from(name)
    };
    let target = with(path, &format!(".{suffix}"));
    if let Err(e) = std::fs::rename(path, &target) {
        log::error!("{}: cannot move aside: {e}", path.display());
        return None;
    }
    for side in ["-wal", "-shm"] {
        let p = with(path, side);
        if p.exists() {
            let _ = std::fs::rename(&p, with(&target, side));
        }
    }
    Some(target)
}

#[path = "review_queue.rs"]
mod review_queue;

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
