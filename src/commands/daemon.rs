//! The kiosk daemon (no subcommand): open the camera, the event sink, the display, the models and
//! the X-ray inbox from the settings, then run [`crate::daemon::run`] until a signal, the duration
//! or the end of the source.

use super::{classifier, usage};
use crate::camera::hardware::CameraSelector;
use crate::camera::FrameSource;
use crate::cli::DaemonArgs;
use crate::config::Settings;
use crate::daemon::ops::OpsJob;
use crate::daemon::{InboxJob, RunOptions, Speed};
use crate::ops::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::records::recorder::Recorder;
use crate::records::sink::{EventSink, FileSink, JsonLines};
use crate::records::store::Store;
use crate::records::uplink::{Uplink, UplinkState};
use crate::records::ModelInfo;
use crate::screening::ids::Ulids;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub(super) fn run(settings: &Settings, args: &DaemonArgs) -> anyhow::Result<()> {
    let speed = parse_speed(args.speed.as_deref())?;
    let source = open_source(settings, args, speed)?;
    if let Some(d) = args.duration {
        if !(d.is_finite() && d > 0.0) {
            return Err(usage(format!(
                "--duration {d}: expected a positive number of seconds"
            )));
        }
    }
    let sink = open_sink(settings)?;
    let cls = classifier(settings)?;
    let inbox = open_inbox(settings)?;
    let models = models_in_use(settings, cls.as_ref(), inbox.as_ref())?;
    let recorder = open_recorder(settings, models.clone())?;
    let metrics = Arc::new(Metrics::with_version(env!("CARGO_PKG_VERSION")));
    let inbox = inbox.map(|job| InboxJob {
        metrics: Some(Arc::clone(&metrics)),
        ..job
    });
    let mut ops = OpsJob {
        metrics: Arc::clone(&metrics),
        status_file: settings.ops.status_file.clone(),
        interval: Duration::from_secs_f64(settings.ops.status_interval_s),
        device_id: settings.device_id.clone(),
        models,
        records_path: settings.records.path.clone(),
        recorder: Arc::new(Mutex::new(recorder.stats().clone())),
        uplink: None,
        source: source.describe(),
    };
    let display = match &settings.display.target {
        None => None,
        Some(t) => Some(
            t.open(settings.display.settings)
                .map_err(|e| usage(e.to_string()))?,
        ),
    };
    let opts = RunOptions {
        speed,
        duration_s: args.duration,
        frames_interval_s: settings.events.frames_interval_s,
        classifier: cls.name().to_string(),
        inbox,
        ops: None,
    };
    let pipeline = Pipeline::new(&settings.pipeline, cls, Box::new(Ulids::new()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let stop = Arc::new(AtomicBool::new(false));
    let metrics_server = settings.ops.metrics_listen.and_then(|addr| {
        match crate::ops::metrics::serve(addr, Arc::clone(&metrics), Arc::clone(&stop)) {
            Ok((bound, handle)) => {
                log::info!("metrics: http://{bound}/metrics");
                Some(handle)
            }
            // Another process on the port must not stop screening.
            Err(e) => {
                log::warn!("{e}; metrics are off");
                None
            }
        }
    });
    // The review page must not stop screening either: a problem is logged and the daemon runs on.
    let review_server =
        match crate::review::start(&settings.review, &settings.records.path, Arc::clone(&stop)) {
            Ok(r) => r.map(|r| r.handle),
            Err(e) => {
                log::error!("{e}; the review page is off");
                None
            }
        };
    let uplink = match &settings.uplink {
        None => None,
        Some(u) => {
            let state = Arc::new(UplinkState::new());
            let scheme = if u.tls { "mqtts" } else { "mqtt" };
            ops.uplink = Some((
                Arc::clone(&state),
                format!("{scheme}://{}:{}", u.host, u.port),
            ));
            let handle = Uplink::spawn(
                u.clone(),
                settings.records.path.clone(),
                settings.device_id.clone(),
                Arc::clone(&state),
                Arc::clone(&stop),
            )?;
            Some((state, handle))
        }
    };
    let opts = RunOptions {
        ops: Some(ops),
        ..opts
    };
    let result = rt.block_on(async move {
        let shutdown = CancellationToken::new();
        spawn_signal_handler(shutdown.clone());
        let summary = crate::daemon::run(
            source,
            pipeline,
            sink,
            Some(recorder),
            display,
            opts,
            shutdown,
        )
        .await?;
        log::info!(
            "run ended: {} ({} frames processed)",
            summary.reason,
            summary.stats.processed
        );
        anyhow::Ok(())
    });
    if let Some((state, handle)) = uplink {
        drain_outbox(&settings.records.path, &state);
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = handle.join();
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    if let Some(h) = metrics_server {
        let _ = h.join();
    }
    if let Some(h) = review_server {
        let _ = h.join();
    }
    result
}

/// The models behind this run's results, each checked against its pin (`[classifier] sha256`,
/// `[xray] sha256`): a mismatch refuses to start.
fn models_in_use(
    settings: &Settings,
    cls: &dyn crate::breathing::PatternClassifier,
    inbox: Option<&InboxJob>,
) -> anyhow::Result<Vec<ModelInfo>> {
    let mut models = Vec::new();
    if let Some(sha) = cls.model_sha256() {
        let origin = match &settings.classifier {
            crate::breathing::ClassifierKind::BiAtGru { model: Some(p) } => p.display().to_string(),
            _ => "built into the program".to_string(),
        };
        settings
            .pins
            .check("breathing", &origin, sha)
            .map_err(usage)?;
        models.push(ModelInfo {
            role: "breathing".into(),
            name: cls.name().into(),
            version: String::new(),
            sha256: sha.into(),
        });
    }
    if let Some(job) = inbox {
        let m = job.screener.model();
        settings
            .pins
            .check("xray", m.origin(), m.sha256())
            .map_err(usage)?;
        models.push(ModelInfo {
            role: "xray".into(),
            name: m.info().name.clone(),
            version: m.info().version.clone(),
            sha256: m.sha256().into(),
        });
    }
    Ok(models)
}

/// How long a clean stop waits for the broker to take what is still in the outbox.
const DRAIN_WAIT: Duration = Duration::from_secs(5);

/// At a clean stop, give the uplink a few seconds to send what is left: while it is connected, or,
/// when it is waiting to retry (the broker was down), after one prompt retry that succeeds.
/// Anything it cannot send stays in the outbox for the next start.
fn drain_outbox(path: &std::path::Path, state: &UplinkState) {
    let Ok(store) = Store::open_read_only(path) else {
        return;
    };
    let end = std::time::Instant::now() + DRAIN_WAIT;
    let attempts = state.attempts_ended();
    if !state.connected() {
        state.retry_now();
    }
    while std::time::Instant::now() < end {
        match store.outbox_stats() {
            Ok(s) if s.pending > 0 => {}
            _ => return,
        }
        // Not connected and an attempt ended since the stop began: the broker is still away.
        if !state.connected() && state.attempts_ended() > attempts {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Ok(s) = store.outbox_stats() {
        if s.pending > 0 {
            log::info!(
                "{} records wait in the outbox for the next start",
                s.pending
            );
        }
    }
}

/// The X-ray model and inbox, loaded now: a bad model file is a configuration error, not a
/// silent gap.
fn open_inbox(settings: &Settings) -> anyhow::Result<Option<InboxJob>> {
    let Some(dir) = settings.xray.inbox.clone() else {
        return Ok(None);
    };
    let screener = super::xray::screener(settings)?;
    crate::xray::inbox::Inbox::open(&dir).map_err(|e| usage(format!("[xray] inbox: {e}")))?;
    let done = dir.join("done");
    Ok(Some(InboxJob {
        screener,
        dir,
        poll_interval: std::time::Duration::from_secs_f64(settings.xray.poll_interval_s),
        // Without a heatmap folder, heatmaps go beside the films in done/: a flagged film's
        // heatmap is kept in the review queue for the clinician.
        heatmap_dir: Some(settings.xray.heatmap_dir.clone().unwrap_or(done)),
        metrics: None,
    }))
}

fn parse_speed(text: Option<&str>) -> anyhow::Result<Speed> {
    match text.unwrap_or("realtime") {
        "realtime" | "1" => Ok(Speed::Paced(1.0)),
        "max" => Ok(Speed::Max),
        other => match other.parse::<f64>() {
            Ok(f) if f.is_finite() && (0.1..=1000.0).contains(&f) => Ok(Speed::Paced(f)),
            _ => Err(usage(format!(
                "--speed {other:?}: expected `realtime`, `max` or a factor 0.1-1000"
            ))),
        },
    }
}

/// The depth source: a recording (played at `speed`), the simulated camera (one person or a
/// queue) or a RealSense.
fn open_source(
    settings: &Settings,
    args: &DaemonArgs,
    speed: Speed,
) -> anyhow::Result<Box<dyn FrameSource>> {
    if let Some(path) = &args.replay {
        return super::camera::replay(settings, path, speed);
    }
    match &settings.camera.source {
        CameraSelector::Simulated if !settings.subject.visits.is_empty() => {
            let queue = super::camera::visit_queue(settings)?;
            Ok(Box::new(queue))
        }
        CameraSelector::Simulated => {
            let (source, _) = super::camera::sim_person(settings)?;
            Ok(Box::new(source))
        }
        selector => {
            let what = match &args.camera {
                Some(text) => format!("--camera {text}"),
                None => format!("{}: camera.source", settings.origin.display()),
            };
            super::camera::realsense(settings, selector, &what)
        }
    }
}

/// The record store, opened (and migrated) now: a store that cannot be opened at all stops the
/// start with a message naming the file; a corrupt one is moved aside and a new one started.
fn open_recorder(settings: &Settings, models: Vec<ModelInfo>) -> anyhow::Result<Recorder> {
    let path = &settings.records.path;
    let (store, problem) = Store::open(path).map_err(|e| usage(format!("[records] path: {e}")))?;
    if let Some(p) = problem {
        log::error!("record store: {p}; a new record store was started");
        eprintln!("edge-screen: record store: {p}; a new record store was started");
    }
    log::info!("records: {}", path.display());
    let topic = settings
        .uplink
        .as_ref()
        .map(|_| format!("edge-screen/{}/sessions", settings.device_id));
    Ok(Recorder::new(
        store,
        settings.records.clone(),
        settings.device_id.clone(),
        models,
        topic,
    ))
}

fn open_sink(settings: &Settings) -> anyhow::Result<Box<dyn EventSink>> {
    match &settings.events.file {
        None => Ok(Box::new(JsonLines::new(std::io::stdout()))),
        Some(path) => {
            let sink = FileSink::open(path).map_err(|e| usage(format!("--events: {e}")))?;
            Ok(Box::new(sink))
        }
    }
}

/// Cancels `token` on SIGINT or SIGTERM.
fn spawn_signal_handler(token: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = match signal(SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    log::warn!("cannot watch SIGTERM: {e}");
                    let _ = tokio::signal::ctrl_c().await;
                    token.cancel();
                    return;
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => log::info!("SIGINT: stopping"),
                _ = term.recv() => log::info!("SIGTERM: stopping"),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        token.cancel();
    });
}
