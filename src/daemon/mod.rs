//! The kiosk daemon: threads, one input channel and shutdown around the step-driven [`Pipeline`].
//!
//! ```text
//!  capture thread ── frames, camera status ──▶ Handoff ──▶ processing thread ──events──▶ sink thread
//!   FrameSource::read_frame                      ▲           Pipeline::push, display        JSON lines
//!  inbox thread ── X-ray results ────────────────┘
//! ```
//! Everything the pipeline learns arrives through the one [`Handoff`]: frames (latest wins, or
//! lossless in simulated time) and messages (never dropped). One [`CancellationToken`] stops
//! everything: SIGINT/SIGTERM, `--duration` or the end of the source. Camera faults never end the
//! run: time-outs and corrupt frames are counted, a lost camera is reported, shown and retried
//! with back-off.

mod capture;
pub mod handoff;
mod inbox;
pub mod ops;

use crate::display::Display;
use crate::ops::metrics::Stage;
use crate::pipeline::Message;
use crate::pipeline::{Input, Pipeline};
use crate::records::recorder::Recorder;
use crate::records::sink::EventSink;
use crate::screening::{EndReason, Event, FrameStats};
use crate::xray::screen::XrayScreener;
use handoff::{Handoff, Policy, Taken};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How fast frames are fed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// Live camera: frames come when they come, latest frame wins.
    Live,
    /// Simulated or recorded source paced to `factor` times real time, latest frame wins.
    Paced(f64),
    /// Simulated or recorded time as fast as possible, every frame processed (same results on
    /// any machine).
    Max,
}

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Feeding speed.
    pub speed: Speed,
    /// Stop when a frame's timestamp reaches this, s (stream time).
    pub duration_s: Option<f64>,
    /// Interval of `frames` events, s (stream time).
    pub frames_interval_s: f64,
    /// Name of the breathing classifier, for the `started` event.
    pub classifier: String,
    /// The chest X-ray inbox, if one is configured.
    pub inbox: Option<InboxJob>,
    /// Status file, metrics and watchdog, if wanted.
    pub ops: Option<ops::OpsJob>,
}

/// The X-ray inbox the daemon watches beside the camera.
#[derive(Debug, Clone)]
pub struct InboxJob {
    /// The loaded model and threshold.
    pub screener: XrayScreener,
    /// The watched folder.
    pub dir: PathBuf,
    /// Time between two scans.
    pub poll_interval: Duration,
    /// Where heatmaps go, if anywhere.
    pub heatmap_dir: Option<PathBuf>,
    /// Where the screening time of each image is recorded, if anywhere.
    pub metrics: Option<Arc<crate::ops::metrics::Metrics>>,
}

/// What a run ended with.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// Why it stopped.
    pub reason: String,
    /// Final frame counters.
    pub stats: FrameStats,
    /// Events the sink could not write (logged; the run went on).
    pub sink_errors: u64,
}

/// State shared by the threads.
#[derive(Debug, Default)]
struct Shared {
    received: AtomicU64,
    /// Frames the source lost before handing them out ([`crate::camera::FrameSource::frames_lost`]).
    source_lost: AtomicU64,
    processed: AtomicU64,
    unusable: AtomicU64,
    timeouts: AtomicU64,
    corrupt: AtomicU64,
    camera_lost: AtomicBool,
    last_t_bits: AtomicU64,
    reason: Mutex<Option<String>>,
}

impl Shared {
    fn stats(&self, handoff: &Handoff) -> FrameStats {
        FrameStats {
            received: self.received.load(Relaxed),
            processed: self.processed.load(Relaxed),
            dropped: handoff.dropped() + self.source_lost.load(Relaxed),
            unusable: self.unusable.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            corrupt: self.corrupt.load(Relaxed),
        }
    }
    fn last_t(&self) -> f64 {
        f64::from_bits(self.last_t_bits.load(Relaxed))
    }
    fn set_reason(&self, reason: &str) {
        let mut r = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        r.get_or_insert_with(|| reason.to_string());
    }
}

/// Runs the daemon until `shutdown` is cancelled, the duration is reached or the source ends.
/// With a `recorder`, each `session_result` reaches `sink` only after its record is committed.
pub async fn run(
    source: Box<dyn crate::camera::FrameSource>,
    pipeline: Pipeline,
    sink: Box<dyn EventSink>,
    recorder: Option<Recorder>,
    display: Option<Box<dyn Display>>,
    opts: RunOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<RunSummary> {
    let policy = if opts.speed == Speed::Max {
        Policy::Lossless
    } else {
        Policy::LatestWins
    };
    let handoff = Arc::new(Handoff::new(policy));
    let shared = Arc::new(Shared::default());
    let (tx, rx) = mpsc::sync_channel::<Event>(1024);
    let started = Event::Started {
        t_s: 0.0,
        camera: source.describe(),
        classifier: opts.classifier.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    log::info!("started: {}", source.describe());
    tx.send(started).ok();

    let sink_task = {
        let h = Arc::clone(&handoff);
        let o = opts.ops.clone();
        tokio::task::spawn_blocking(move || output_loop(sink, recorder, rx, &h, o.as_ref()))
    };
    let ops_stop = shutdown.child_token();
    let ops_task = opts.ops.clone().map(|job| {
        let (h, s, stop) = (Arc::clone(&handoff), Arc::clone(&shared), ops_stop.clone());
        tokio::task::spawn_blocking(move || ops::ops_loop(job, &s, &h, &stop))
    });
    let capture = {
        let (h, s, tok, o) = (
            Arc::clone(&handoff),
            Arc::clone(&shared),
            shutdown.clone(),
            opts.clone(),
        );
        tokio::task::spawn_blocking(move || capture::capture_loop(source, &h, &s, &o, &tok))
    };
    let inbox_stop = shutdown.child_token();
    let inbox = opts.inbox.clone().map(|job| {
        let (h, stop) = (Arc::clone(&handoff), inbox_stop.clone());
        tokio::task::spawn_blocking(move || inbox::inbox_loop(job, &h, &stop))
    });
    let processing = {
        let (h, s, t, o) = (
            Arc::clone(&handoff),
            Arc::clone(&shared),
            tx.clone(),
            opts.clone(),
        );
        tokio::task::spawn_blocking(move || process_loop(pipeline, display, &h, &s, &t, &o))
    };
    capture.await?;
    // The inbox's last results still go through the pipeline before the hand-off closes.
    inbox_stop.cancel();
    if let Some(task) = inbox {
        task.await?;
    }
    handoff.close();
    processing.await?;
    let reason = shared
        .reason
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_else(|| "signal".into());
    let stats = shared.stats(&handoff);
    tx.send(Event::Stopped {
        t_s: shared.last_t(),
        reason: reason.clone(),
        stats,
    })
    .ok();
    drop(tx);
    let sink_errors = sink_task.await?;
    ops_stop.cancel();
    if let Some(t) = ops_task {
        t.await?;
    }
    log::info!("stopped ({reason}): {stats:?}");
    Ok(RunSummary {
        reason,
        stats,
        sink_errors,
    })
}

/// How often results held by a store that cannot save are retried.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Takes the pipeline's events, commits results to the record store, and writes what may be
/// printed to the sink. Saving-state changes go back to the pipeline (for the readout).
fn output_loop(
    mut sink: Box<dyn EventSink>,
    mut recorder: Option<Recorder>,
    rx: mpsc::Receiver<Event>,
    handoff: &Handoff,
    ops: Option<&ops::OpsJob>,
) -> u64 {
    let mut errors = 0u64;
    let mut saved_seen = 0u64;
    let mut ready = Vec::with_capacity(8);
    let mut emit = |ready: &mut Vec<Event>, sink: &mut Box<dyn EventSink>| {
        for ev in ready.drain(..) {
            if let (Some(o), Event::SessionResult(r)) = (ops, &ev) {
                if r.revision == 0 {
                    o.metrics.session(r.outcome);
                }
            }
            if let Err(e) = sink.emit(&ev) {
                errors += 1;
                // A broken pipe or a full disk must not stop screening: log and keep going.
                if errors.is_power_of_two() {
                    log::error!("event sink: {e} ({errors} events lost so far)");
                }
            }
        }
    };
    loop {
        let changed = match rx.recv_timeout(RETRY_INTERVAL) {
            Ok(ev) => match recorder.as_mut() {
                Some(r) => r.handle(ev, &mut ready),
                None => {
                    ready.push(ev);
                    None
                }
            },
            Err(mpsc::RecvTimeoutError::Timeout) => {
                recorder.as_mut().and_then(|r| r.retry(&mut ready))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        if let Some(saving) = changed {
            handoff.send(Message::Records { saving });
        }
        if let (Some(o), Some(r)) = (ops, recorder.as_ref()) {
            let stats = r.stats();
            // One observation per commit (the last one's time stands for a batch of held ones).
            if stats.saved > saved_seen {
                saved_seen = stats.saved;
                if let Some(d) = stats.last_commit {
                    o.metrics.observe(Stage::RecordCommit, d);
                }
            }
            *o.recorder.lock().unwrap_or_else(|p| p.into_inner()) = stats.clone();
        }
        emit(&mut ready, &mut sink);
    }
    if let Some(r) = recorder.as_mut() {
        r.retry(&mut ready);
        emit(&mut ready, &mut sink);
        r.log_unsaved();
    }
    errors
}

/// Sleeps for `d` unless cancelled first; returns whether it was cancelled.
fn wait_or_cancel(shutdown: &CancellationToken, d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if shutdown.is_cancelled() {
            return true;
        }
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
    }
    shutdown.is_cancelled()
}

fn process_loop(
    mut pipeline: Pipeline,
    mut display: Option<Box<dyn Display>>,
    handoff: &Handoff,
    shared: &Shared,
    tx: &mpsc::SyncSender<Event>,
    opts: &RunOptions,
) {
    let mut screen_errors = 0u64;
    let mut events = Vec::with_capacity(16);
    let mut next_stats_t = opts.frames_interval_s;
    let mut idle_since = Instant::now();
    loop {
        let now_s = match handoff.take_timeout(Duration::from_millis(250)) {
            Taken::Frame(frame) => {
                idle_since = Instant::now();
                pipeline.push(Input::Frame(&frame), &mut events);
                if let Some(o) = &opts.ops {
                    let took = idle_since.elapsed();
                    o.metrics.observe(Stage::Frame, took);
                    // A frame that completed an analysis window also ran the classifier.
                    if events.iter().any(|e| matches!(e, Event::Breathing(_))) {
                        o.metrics.observe(Stage::BreathingWindow, took);
                    }
                }
                shared.processed.fetch_add(1, Relaxed);
                shared.unusable.store(pipeline.unusable_frames(), Relaxed);
                let t_s = frame.timestamp_s;
                handoff.recycle(frame);
                if t_s >= next_stats_t {
                    next_stats_t = t_s + opts.frames_interval_s;
                    events.push(Event::Frames {
                        t_s,
                        stats: shared.stats(handoff),
                    });
                }
                t_s
            }
            Taken::Message(m) => {
                pipeline.push(Input::Message(m), &mut events);
                pipeline.t_s()
            }
            Taken::Closed => break,
            Taken::TimedOut => {
                // No frames: keep the readout's clock going on the wall clock.
                let now_s = shared.last_t() + idle_since.elapsed().as_secs_f64();
                pipeline.idle(now_s);
                now_s
            }
        };
        if !send_all(tx, &mut events) {
            return;
        }
        if let Some(d) = display.as_mut() {
            if let Err(e) = d.update(now_s, pipeline.view()) {
                screen_errors += 1;
                // A display fault must not stop screening; say so, but not at every refresh.
                if screen_errors.is_power_of_two() {
                    log::warn!("display: {e} ({screen_errors} failed refreshes)");
                }
            }
        }
    }
    pipeline.finish(EndReason::Shutdown, &mut events);
    send_all(tx, &mut events);
}

/// Sends and clears `events`; `false` when the sink side is gone.
fn send_all(tx: &mpsc::SyncSender<Event>, events: &mut Vec<Event>) -> bool {
    for ev in events.drain(..) {
        if tx.send(ev).is_err() {
            return false;
        }
    }
    true
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
