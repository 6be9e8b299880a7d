//! The inbox thread: screens each chest X-ray that lands in the watched folder, files it in
//! `done/` or `failed/`, and hands the result (with the session its sidecar names) to the
//! processing thread, which joins it to a screening session.

use super::handoff::Handoff;
use super::{wait_or_cancel, InboxJob};
use crate::pipeline::Message;
use crate::xray::inbox::{Inbox, Outcome};
use std::path::Path;
use tokio_util::sync::CancellationToken;

/// Screens inbox images until `stop`. Faults (an unreadable folder, a file that cannot be moved)
/// are logged and retried at the next scan; they never stop the daemon.
pub(super) fn inbox_loop(job: InboxJob, handoff: &Handoff, stop: &CancellationToken) {
    let mut inbox = match Inbox::open(&job.dir) {
        Ok(i) => i,
        Err(e) => {
            log::error!("x-ray inbox: {e}; no inbox this run");
            return;
        }
    };
    log::info!("x-ray inbox: watching {}", job.dir.display());
    let mut heatmaps = std::collections::HashSet::new();
    let mut list_errors = 0u64;
    loop {
        let ready = match inbox.ready(std::time::SystemTime::now()) {
            Ok(r) => r,
            Err(e) => {
                list_errors += 1;
                if list_errors.is_power_of_two() {
                    log::error!("x-ray inbox: {e} ({list_errors} failed scans)");
                }
                Vec::new()
            }
        };
        for file in ready {
            if stop.is_cancelled() {
                return;
            }
            let heatmap = job
                .heatmap_dir
                .as_deref()
                .map(|d| crate::xray::screen::heatmap_path(d, &file, &mut heatmaps));
            let message = screen_one(&job, &mut inbox, &file, heatmap.as_deref());
            if !handoff.send(message) {
                return;
            }
        }
        if wait_or_cancel(stop, job.poll_interval) {
            return;
        }
    }
}

/// One image: its sidecar, the screening, the filing; the message for the pipeline.
fn screen_one(job: &InboxJob, inbox: &mut Inbox, file: &Path, heatmap: Option<&Path>) -> Message {
    let result = inbox.request(file).and_then(|req| {
        let t0 = std::time::Instant::now();
        let screened = job
            .screener
            .screen_file(file, heatmap)
            .map_err(|e| e.to_string())?;
        if let Some(m) = &job.metrics {
            m.observe(crate::ops::metrics::Stage::Xray, t0.elapsed());
        }
        if let Some(e) = screened.heatmap_error {
            log::warn!("x-ray inbox: {e}");
        }
        Ok((screened.report, req.session_id))
    });
    match result {
        Ok((report, session_id)) => {
            let filed = inbox.file_away(file, &Outcome::Done(&report), session_id.as_deref());
            Message::Xray {
                moved_to: moved(filed),
                report,
                session_id,
            }
        }
        Err(error) => {
            log::warn!("x-ray inbox: {error}");
            let filed = inbox.file_away(file, &Outcome::Failed(&error), None);
            Message::XrayFailed {
                file: file.display().to_string(),
                error,
                moved_to: moved(filed),
            }
        }
    }
}

fn moved(filed: std::io::Result<crate::xray::inbox::Filed>) -> Option<String> {
    match filed {
        Ok(f) => {
            if let Some(note) = f.note {
                log::error!("x-ray inbox: {note}");
            }
            Some(f.moved_to.display().to_string())
        }
        Err(e) => {
            log::error!("x-ray inbox: {e}");
            None
        }
    }
}
