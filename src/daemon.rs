//! The kiosk daemon: threads, channels and shutdown around the step-driven [`Pipeline`].
//!
//! ```text
//!  capture thread ──Handoff (latest wins | lossless)──▶ processing thread ──events (bounded)──▶ sink thread
//!   FrameSource::read_frame                              Pipeline::push, display             JSON lines
//! ```
//! One [`CancellationToken`] stops everything: SIGINT/SIGTERM, `--duration` or the end of a
//! recording. Camera faults never end the run: time-outs and corrupt frames are counted, a lost
//! camera is reported, shown and retried with back-off.

use crate::camera::{CameraError, FrameSource};
use crate::display::{CameraStatus, Display, Readout, XrayResult};
use crate::handoff::{Handoff, Policy, Taken};
use crate::pipeline::{Pipeline, PipelineState};
use crate::records::events::{Event, FrameStats};
use crate::records::sink::EventSink;
use crate::types::DepthFrame;
use crate::xray::inbox::{Inbox, Outcome};
use crate::xray::screen::{Finding, ScreenError, XrayScreener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How fast frames are fed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// Live camera: frames come when they come, latest frame wins.
    Live,
    /// Simulated or recorded source paced to `factor` times real time, latest frame wins.
    Paced(f64),
    /// Simulated time as fast as possible, every frame processed (same results on any machine).
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

#[derive(Debug, Default)]
struct Shared {
    received: AtomicU64,
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
            dropped: handoff.dropped(),
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
pub async fn run(
    source: Box<dyn FrameSource>,
    pipeline: Pipeline,
    sink: Box<dyn EventSink>,
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
    let (tx, rx) = mpsc::channel::<Event>(1024);
    let started = Event::Started {
        t_s: 0.0,
        camera: source.describe(),
        classifier: opts.classifier.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    log::info!("started: {}", source.describe());
    tx.send(started).await.ok();

    let sink_task = tokio::task::spawn_blocking(move || sink_loop(sink, rx));
    let capture = {
        let (h, s, t, tok) = (
            Arc::clone(&handoff),
            Arc::clone(&shared),
            tx.clone(),
            shutdown.clone(),
        );
        let o = opts.clone();
        tokio::task::spawn_blocking(move || capture_loop(source, &h, &s, &t, &o, &tok))
    };
    let latest_xray: LatestXray = Arc::new(Mutex::new(None));
    let inbox_stop = shutdown.child_token();
    let inbox = opts.inbox.clone().map(|job| {
        let (s, t, stop, x) = (
            Arc::clone(&shared),
            tx.clone(),
            inbox_stop.clone(),
            Arc::clone(&latest_xray),
        );
        tokio::task::spawn_blocking(move || inbox_loop(job, &s, &t, &x, &stop))
    });
    let processing = {
        let (h, s, t) = (Arc::clone(&handoff), Arc::clone(&shared), tx.clone());
        let o = opts.clone();
        let x = Arc::clone(&latest_xray);
        tokio::task::spawn_blocking(move || process_loop(pipeline, display, &h, &s, &t, &o, &x))
    };
    capture.await?;
    processing.await?;
    inbox_stop.cancel();
    if let Some(task) = inbox {
        task.await?;
    }
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
    .await
    .ok();
    drop(tx);
    let sink_errors = sink_task.await?;
    log::info!("stopped ({reason}): {stats:?}");
    Ok(RunSummary {
        reason,
        stats,
        sink_errors,
    })
}

fn sink_loop(mut sink: Box<dyn EventSink>, mut rx: mpsc::Receiver<Event>) -> u64 {
    let mut errors = 0u64;
    while let Some(ev) = rx.blocking_recv() {
        if let Err(e) = sink.emit(&ev) {
            errors += 1;
            // A broken pipe or a full disk must not stop screening: log and keep going.
            if errors.is_power_of_two() {
                log::error!("event sink: {e} ({errors} events lost so far)");
            }
        }
    }
    errors
}

fn capture_loop(
    mut source: Box<dyn FrameSource>,
    handoff: &Handoff,
    shared: &Shared,
    tx: &mpsc::Sender<Event>,
    opts: &RunOptions,
    shutdown: &CancellationToken,
) {
    let mut buf = DepthFrame::new(0, 0, 0.001);
    let mut pace_origin: Option<(Instant, f64)> = None;
    let mut backoff = Duration::from_millis(250);
    while !shutdown.is_cancelled() {
        match source.read_frame(&mut buf) {
            Ok(()) => {
                if shared.camera_lost.swap(false, Relaxed) {
                    let message = "frames are arriving again".to_string();
                    tx.blocking_send(Event::Camera {
                        t_s: buf.timestamp_s,
                        status: "recovered",
                        message,
                    })
                    .ok();
                }
                backoff = Duration::from_millis(250);
                if opts.duration_s.is_some_and(|d| buf.timestamp_s >= d) {
                    shared.set_reason("duration");
                    break;
                }
                if let Speed::Paced(factor) = opts.speed {
                    let (t0, ts0) = *pace_origin.get_or_insert((Instant::now(), buf.timestamp_s));
                    let due =
                        t0 + Duration::from_secs_f64(((buf.timestamp_s - ts0) / factor).max(0.0));
                    let now = Instant::now();
                    if due > now && wait_or_cancel(shutdown, due - now) {
                        break;
                    }
                }
                shared.received.fetch_add(1, Relaxed);
                shared.last_t_bits.store(buf.timestamp_s.to_bits(), Relaxed);
                match handoff.put(std::mem::replace(&mut buf, DepthFrame::new(0, 0, 0.001))) {
                    Some(next) => buf = next,
                    None => break,
                }
            }
            Err(CameraError::Timeout(_)) => {
                shared.timeouts.fetch_add(1, Relaxed);
            }
            Err(CameraError::Corrupt(why)) => {
                shared.corrupt.fetch_add(1, Relaxed);
                log::debug!("corrupt frame: {why}");
            }
            Err(CameraError::Disconnected(why)) => {
                if !shared.camera_lost.swap(true, Relaxed) {
                    log::warn!("camera lost: {why}");
                    tx.blocking_send(Event::Camera {
                        t_s: shared.last_t(),
                        status: "lost",
                        message: why,
                    })
                    .ok();
                }
                if wait_or_cancel(shutdown, backoff) {
                    break;
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
            Err(CameraError::EndOfStream) => {
                shared.set_reason("end_of_stream");
                break;
            }
            Err(CameraError::Fatal(why)) => {
                log::error!("camera: {why}");
                tx.blocking_send(Event::Camera {
                    t_s: shared.last_t(),
                    status: "error",
                    message: why.clone(),
                })
                .ok();
                shared.set_reason(&format!("camera error: {why}"));
                break;
            }
        }
    }
    shared.set_reason("signal");
    handoff.close();
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

/// The latest inbox result, handed from the inbox thread to the display.
type LatestXray = Arc<Mutex<Option<XrayResult>>>;

/// Screens inbox images until `stop`: each one gives an event, the display line and a move to
/// `done/` or `failed/`. Faults (an unreadable folder, a file that cannot be moved) are logged
/// and retried at the next scan; they never stop the daemon.
fn inbox_loop(
    job: InboxJob,
    shared: &Shared,
    tx: &mpsc::Sender<Event>,
    latest: &LatestXray,
    stop: &CancellationToken,
) {
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
            let result = match job.screener.screen_file(&file, heatmap.as_deref()) {
                // The result stands without its picture.
                Err(ScreenError::Heatmap {
                    report, message, ..
                }) => {
                    log::warn!("x-ray inbox: {}: heatmap: {message}", file.display());
                    Ok(*report)
                }
                other => other,
            };
            let ev = match result {
                Ok(report) => {
                    let moved_to = match inbox.file_away(&file, &Outcome::Done(&report)) {
                        Ok(filed) => {
                            if let Some(note) = filed.note {
                                log::error!("x-ray inbox: {note}");
                            }
                            filed.moved_to.display().to_string()
                        }
                        Err(e) => {
                            log::error!("x-ray inbox: {e}");
                            String::new()
                        }
                    };
                    set_latest(latest, &report);
                    Event::Xray {
                        t_s: shared.last_t(),
                        report,
                        moved_to,
                    }
                }
                Err(e) => {
                    let error = e.to_string();
                    log::warn!("x-ray inbox: {error}");
                    let moved_to = match inbox.file_away(&file, &Outcome::Failed(&error)) {
                        Ok(filed) => Some(filed.moved_to.display().to_string()),
                        Err(e) => {
                            log::error!("x-ray inbox: {e}");
                            None
                        }
                    };
                    Event::XrayFailed {
                        t_s: shared.last_t(),
                        file: file.display().to_string(),
                        error,
                        moved_to,
                    }
                }
            };
            if tx.blocking_send(ev).is_err() {
                return;
            }
        }
        if wait_or_cancel(stop, job.poll_interval) {
            return;
        }
    }
}

/// Shows the finding with its own probability ("normal 93%" for a covid probability of 0.07).
fn set_latest(latest: &LatestXray, r: &crate::xray::screen::XrayReport) {
    let p = r.covid_probability;
    let shown = XrayResult {
        finding: r.finding.name().to_string(),
        probability: match r.finding {
            Finding::Covid => p,
            Finding::Normal => 1.0 - p,
        },
        source: r.file.display().to_string(),
    };
    *latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(shown);
}

fn process_loop(
    mut pipeline: Pipeline,
    display: Option<Box<dyn Display>>,
    handoff: &Handoff,
    shared: &Shared,
    tx: &mpsc::Sender<Event>,
    opts: &RunOptions,
    latest_xray: &LatestXray,
) {
    let mut screen = display.map(|display| Screen {
        display,
        readout: Readout::default(),
        errors: 0,
        latest_xray: Arc::clone(latest_xray),
    });
    let mut events = Vec::with_capacity(16);
    let mut next_stats_t = opts.frames_interval_s;
    let mut idle_since = Instant::now();
    loop {
        let frame = match handoff.take_timeout(Duration::from_millis(250)) {
            Taken::Frame(f) => f,
            Taken::Closed => break,
            Taken::TimedOut => {
                // No frames: keep the display honest (camera lost / waiting) on the wall clock.
                let now_s = shared.last_t() + idle_since.elapsed().as_secs_f64();
                if let Some(s) = screen.as_mut() {
                    s.refresh(&pipeline, shared.camera_lost.load(Relaxed), now_s);
                }
                continue;
            }
        };
        idle_since = Instant::now();
        pipeline.push(&frame, &mut events);
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
        for ev in events.drain(..) {
            if tx.blocking_send(ev).is_err() {
                return;
            }
        }
        if let Some(s) = screen.as_mut() {
            s.refresh(&pipeline, shared.camera_lost.load(Relaxed), t_s);
        }
    }
}

/// The display and the readout it shows, refreshed in place.
struct Screen {
    display: Box<dyn Display>,
    readout: Readout,
    errors: u64,
    latest_xray: LatestXray,
}

impl Screen {
    fn refresh(&mut self, pipeline: &Pipeline, camera_lost: bool, now_s: f64) {
        fill_readout(&mut self.readout, pipeline.state(), camera_lost, now_s);
        if let Some(x) = self
            .latest_xray
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            self.readout.xray = Some(x);
        }
        if let Err(e) = self.display.update(now_s, &self.readout) {
            self.errors += 1;
            // A display fault must not stop screening; say so, but not at every refresh.
            if self.errors.is_power_of_two() {
                log::warn!("display: {e} ({} failed refreshes)", self.errors);
            }
        }
    }
}

/// Copies the pipeline's state into the readout.
pub fn fill_readout(r: &mut Readout, st: &PipelineState, camera_lost: bool, now_s: f64) {
    r.person_present = st.person_present;
    r.camera = if camera_lost {
        CameraStatus::Lost
    } else {
        CameraStatus::Ok
    };
    r.elapsed_s = now_s;
    r.apnea_s = st.apnea_since_s.map(|s| (now_s - s).max(0.0) as f32);
    match &st.last_reading {
        Some(reading) => {
            r.rate_bpm = reading.rate_bpm;
            r.pattern = Some(reading.scores.best());
            r.quality = reading.quality;
        }
        None => {
            r.rate_bpm = None;
            r.pattern = None;
            r.quality = 0.0;
        }
    }
    r.waveform.clear();
    for v in st.waveform.oldest_ordered() {
        r.waveform.push(*v);
    }
}

#[cfg(test)]
#[path = "daemon_tests.rs"]
mod tests;
