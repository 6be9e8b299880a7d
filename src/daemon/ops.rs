//! The operations thread: every `[status] interval_s` it rewrites the status file, updates the
//! Prometheus gauges and feeds the systemd watchdog, from the daemon's shared counters, the record
//! store (its own read-only connection) and the uplink's state.

use super::handoff::Handoff;
use super::Shared;
use crate::ops::metrics::Metrics;
use crate::ops::status::{
    self, CameraStatus, ModelStatus, OutboxStatus, RecordsStatus, Status, UplinkStatus,
};
use crate::ops::systemd::{Notifier, Watchdog};
use crate::records::recorder::RecorderStats;
use crate::records::store::{unix_ms_now, Store};
use crate::records::uplink::UplinkState;
use crate::records::ModelInfo;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What the operations thread reports on.
#[derive(Clone)]
pub struct OpsJob {
    /// Prometheus metrics (served elsewhere; updated here and by the other threads).
    pub metrics: Arc<Metrics>,
    /// The status file.
    pub status_file: PathBuf,
    /// How often it is rewritten.
    pub interval: Duration,
    /// This kiosk.
    pub device_id: String,
    /// The models in use.
    pub models: Vec<ModelInfo>,
    /// The record store file.
    pub records_path: PathBuf,
    /// The recorder's counters, updated by the output thread.
    pub recorder: Arc<Mutex<RecorderStats>>,
    /// The uplink's state and its broker (`mqtt://host:port`), if there is an uplink.
    pub uplink: Option<(Arc<UplinkState>, String)>,
    /// The frame source's description.
    pub source: String,
}

impl std::fmt::Debug for OpsJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpsJob")
            .field("status_file", &self.status_file)
            .finish_non_exhaustive()
    }
}

/// Local midnight before `now_ms` (ms since 1970), from the system's time zone.
fn local_midnight_ms(now_ms: i64) -> i64 {
    let secs = now_ms.div_euclid(1000);
    let offset = {
        let t: libc::time_t = secs as libc::time_t;
        // SAFETY: localtime_r writes into the zeroed `tm` we own and reads `t`; both outlive it.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
        if ok {
            tm.tm_gmtoff
        } else {
            0
        }
    };
    let local = secs + offset;
    (local.div_euclid(86_400) * 86_400 - offset) * 1000
}

pub(super) fn ops_loop(job: OpsJob, shared: &Shared, handoff: &Handoff, stop: &CancellationToken) {
    let started_ms = unix_ms_now();
    let started = Instant::now();
    let notifier = Notifier::from_env().unwrap_or_else(|e| {
        log::warn!("systemd notify socket: {e}");
        None
    });
    let mut watchdog: Option<Watchdog> = notifier.as_ref().and_then(Notifier::watchdog_pacer);
    if let Some(n) = &notifier {
        if let Err(e) = n.ready() {
            log::warn!("systemd notify: {e}");
        }
    }
    let mut store: Option<Store> = None;
    let mut last = (Instant::now(), 0u64, 0u64);
    let mut warned = false;
    loop {
        let now = Instant::now();
        let received = shared.received.load(Relaxed);
        let processed = shared.processed.load(Relaxed);
        let dt = now.duration_since(last.0).as_secs_f64().max(1e-3);
        let fps = (received - last.1) as f64 / dt;
        let progressing = processed > last.2;
        last = (now, received, processed);
        let recorder = job
            .recorder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if store.is_none() {
            store = Store::open_read_only(&job.records_path).ok();
        }
        let now_ms = unix_ms_now();
        let (today, last_result, outbox) = match &store {
            Some(s) => (
                s.count_since(local_midnight_ms(now_ms)).unwrap_or(0),
                s.last_result_unix_ms().ok().flatten(),
                s.outbox_stats().unwrap_or_default(),
            ),
            None => (0, None, Default::default()),
        };
        let camera_ok = !shared.camera_lost.load(Relaxed);
        let m = &job.metrics;
        m.frames_received.set(received);
        m.frames_processed.set(processed);
        m.frames_dropped.set(handoff.dropped());
        m.records_saved.set(recorder.saved);
        m.records_unsaved.set(recorder.failed_attempts);
        m.outbox_pending.set(outbox.pending as f64);
        m.outbox_oldest_age_seconds.set(
            outbox
                .oldest_created_unix_ms
                .map_or(0.0, |t| (now_ms - t).max(0) as f64 / 1000.0),
        );
        m.camera_up.set_bool(camera_ok);
        m.store_writable.set_bool(recorder.saving);
        if let Some((u, _)) = &job.uplink {
            m.uplink_connected.set_bool(u.connected());
        }
        let s = Status {
            written_unix_ms: now_ms,
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            device_id: job.device_id.clone(),
            started_unix_ms: started_ms,
            uptime_s: started.elapsed().as_secs_f64(),
            camera: CameraStatus {
                state: if received == 0 {
                    "starting"
                } else if camera_ok {
                    "ok"
                } else {
                    "lost"
                }
                .to_string(),
                source: job.source.clone(),
                fps,
                frames_received: received,
                frames_processed: processed,
                frames_dropped: handoff.dropped(),
            },
            sessions_today: today,
            last_result_unix_ms: last_result,
            models: job
                .models
                .iter()
                .map(|m| ModelStatus {
                    name: format!("{} {}", m.role, m.name),
                    version: m.version.clone(),
                    sha256: m.sha256.clone(),
                })
                .collect(),
            records: RecordsStatus {
                path: job.records_path.display().to_string(),
                saving: recorder.saving,
                last_error: recorder.last_error.clone(),
                db_bytes: status::file_bytes(&job.records_path).unwrap_or(0),
                disk_free_bytes: status::disk_free_bytes(&job.records_path).ok(),
                saved_total: recorder.saved,
            },
            outbox: OutboxStatus {
                pending: outbox.pending,
                oldest_pending_age_s: outbox
                    .oldest_created_unix_ms
                    .map(|t| (now_ms - t).max(0) as f64 / 1000.0),
            },
            uplink: match &job.uplink {
                None => UplinkStatus {
                    state: "off".into(),
                    broker: None,
                    last_error: None,
                },
                Some((u, broker)) => UplinkStatus {
                    state: if u.connected() {
                        "connected"
                    } else {
                        "disconnected"
                    }
                    .into(),
                    broker: Some(broker.clone()),
                    last_error: u.last_error(),
                },
            },
        };
        match status::write_atomic(&job.status_file, &s) {
            Ok(()) => warned = false,
            Err(e) if !warned => {
                warned = true;
                log::warn!("status file: {e}");
            }
            Err(_) => {}
        }
        if let Some(n) = &notifier {
            let line = format!(
                "camera {}, {} sessions today, records {}, outbox {}",
                s.camera.state,
                s.sessions_today,
                if s.records.saving {
                    "saving"
                } else {
                    "NOT SAVING"
                },
                s.outbox.pending
            );
            let _ = n.status(&line);
        }
        // The watchdog is fed only while frames are processed and results can be saved: a hung
        // pipeline, a camera that stays lost or a store that cannot write gets the daemon
        // restarted by systemd.
        if let (Some(n), Some(w)) = (&notifier, watchdog.as_mut()) {
            if progressing && recorder.saving {
                if let Err(e) = w.ping_if_due(n, Instant::now()) {
                    log::warn!("systemd watchdog: {e}");
                }
            }
        }
        if super::wait_or_cancel(stop, job.interval) {
            break;
        }
    }
    if let Some(n) = &notifier {
        let _ = n.stopping();
    }
}
