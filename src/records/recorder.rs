//! Between the pipeline's events and the outside world: every `session_result` is committed to the
//! record store (and queued for the fleet) before it is let through to be printed.
//!
//! When the store cannot save (a full disk, failing storage), results are held in memory, in order,
//! and retried; screening goes on, and the saving state is reported so the readout and the log can
//! say that records are not being saved. When space returns, the held results are saved and then
//! printed, in their original order. Nothing already saved is touched.

use super::store::{RecordContext, Store, StoreError};
use super::{ModelInfo, RecordSettings};
use crate::screening::Event;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Results held while the store cannot save; beyond this the oldest is dropped (and logged), so
/// a store that never recovers cannot exhaust memory.
pub const MAX_HELD: usize = 10_000;

/// How often delivered records beyond the retention limits are pruned.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

/// Where wall-clock time comes from (a trait so tests can make it jump).
pub trait WallSource: Send {
    /// Milliseconds since 1970 as the system clock says now.
    fn unix_ms(&mut self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemWall;

impl WallSource for SystemWall {
    fn unix_ms(&mut self) -> i64 {
        super::store::unix_ms_now()
    }
}

/// Wall-clock times that never go backwards within a run. The system clock is followed when it
/// moves forward (an NTP correction is accepted); when it jumps back, time continues from the last
/// value on the monotonic clock, so records saved later always carry later times. Durations never
/// come from here: they come from the stream's own clock.
pub struct OrderedClock<W: WallSource = SystemWall> {
    wall: W,
    last_ms: i64,
    last_at: Instant,
    /// Whether the system clock is behind the times already given (warned once per jump).
    behind: bool,
}

impl<W: WallSource> OrderedClock<W> {
    /// A clock over `wall`.
    pub fn new(mut wall: W) -> Self {
        let last_ms = wall.unix_ms();
        Self {
            wall,
            last_ms,
            last_at: Instant::now(),
            behind: false,
        }
    }

    /// Now, ms since 1970, never less than the previous answer.
    pub fn now_ms(&mut self) -> i64 {
        let wall = self.wall.unix_ms();
        let monotonic = self.last_ms + self.last_at.elapsed().as_millis() as i64;
        let now = if wall >= self.last_ms {
            if std::mem::take(&mut self.behind) {
                log::info!("wall clock caught up; record times follow it again");
            }
            wall
        } else {
            if !std::mem::replace(&mut self.behind, true) {
                log::warn!(
                    "wall clock went back {} ms; record times continue on the monotonic clock",
                    self.last_ms - wall
                );
            }
            monotonic
        };
        self.last_ms = now.max(self.last_ms);
        self.last_at = Instant::now();
        self.last_ms
    }
}

/// A result waiting to be saved, with what was known when it was given.
struct Held {
    event: Event,
    started_unix_ms: Option<i64>,
    now_unix_ms: i64,
    image: Option<PathBuf>,
}

/// Counters for the status file and metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecorderStats {
    /// Results saved by this run.
    pub saved: u64,
    /// Failed save attempts.
    pub failed_attempts: u64,
    /// Results waiting in memory.
    pub held: u64,
    /// Results dropped because too many were waiting (the store never came back).
    pub dropped: u64,
    /// Whether the last attempt saved.
    pub saving: bool,
    /// The last error, if saving has failed since it last worked.
    pub last_error: Option<String>,
    /// When the last result was saved (wall clock, ms).
    pub last_result_unix_ms: Option<i64>,
    /// How long the last commit took.
    pub last_commit: Option<Duration>,
}

/// Commits results before they are printed.
pub struct Recorder {
    store: Store,
    settings: RecordSettings,
    device_id: String,
    models: Vec<ModelInfo>,
    topic: Option<String>,
    clock: OrderedClock<Box<dyn WallSource>>,
    started: HashMap<String, i64>,
    images: HashMap<String, PathBuf>,
    held: VecDeque<Held>,
    stats: RecorderStats,
    last_prune: Option<Instant>,
}

impl WallSource for Box<dyn WallSource> {
    fn unix_ms(&mut self) -> i64 {
        (**self).unix_ms()
    }
}

/// Sessions and images remembered for joining (a session lasts minutes; this bounds the maps).
const MAX_REMEMBERED: usize = 256;

impl Recorder {
    /// A recorder over an open store. `topic`: the uplink's sessions topic, or `None` when there
    /// is no uplink (nothing is queued).
    pub fn new(
        store: Store,
        settings: RecordSettings,
        device_id: String,
        models: Vec<ModelInfo>,
        topic: Option<String>,
    ) -> Self {
        Self::with_clock(
            store,
            settings,
            device_id,
            models,
            topic,
            Box::new(SystemWall),
        )
    }

    /// As [`Recorder::new`] with another wall clock (tests).
    pub fn with_clock(
        store: Store,
        settings: RecordSettings,
        device_id: String,
        models: Vec<ModelInfo>,
        topic: Option<String>,
        wall: Box<dyn WallSource>,
    ) -> Self {
        Self {
            store,
            settings,
            device_id,
            models,
            topic,
            clock: OrderedClock::new(wall),
            started: HashMap::new(),
            images: HashMap::new(),
            held: VecDeque::new(),
            stats: RecorderStats {
                saving: true,
                ..RecorderStats::default()
            },
            last_prune: None,
        }
    }

    /// The store (for counts in the status file).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Counters.
    pub fn stats(&self) -> &RecorderStats {
        &self.stats
    }

    /// Takes one event and appends to `out` the events that may be printed now, in order. A
    /// `session_result` is let through only once saved; while saving fails it is held (and so
    /// are later results, to keep their order). Returns the new saving state when it changed.
    pub fn handle(&mut self, event: Event, out: &mut Vec<Event>) -> Option<bool> {
        match &event {
            Event::SessionStarted { session_id, .. } => {
                let now = self.clock.now_ms();
                remember(&mut self.started, session_id.clone(), now);
            }
            Event::Xray {
                report,
                moved_to: Some(m),
                ..
            } => {
                let key = report.file.display().to_string();
                remember(&mut self.images, key, PathBuf::from(m));
            }
            Event::SessionResult(r) => {
                let now = self.clock.now_ms();
                let image = r
                    .xray
                    .as_ref()
                    .and_then(|x| self.images.get(&x.file.display().to_string()).cloned());
                let started = self.started.get(&r.session_id).copied();
                self.held.push_back(Held {
                    event,
                    started_unix_ms: started,
                    now_unix_ms: now,
                    image,
                });
                if self.held.len() > MAX_HELD {
                    self.held.pop_front();
                    self.stats.dropped += 1;
                    log::error!(
                        "{}: {} results could not be saved and were dropped (memory bound)",
                        self.store.path().display(),
                        self.stats.dropped
                    );
                }
                return self.flush(out);
            }
            _ => {}
        }
        if let Event::SessionEnded { session_id, .. } = &event {
            self.started.remove(session_id);
        }
        out.push(event);
        None
    }

    /// Tries again to save held results (call it periodically); see [`Recorder::handle`].
    pub fn retry(&mut self, out: &mut Vec<Event>) -> Option<bool> {
        let changed = if self.held.is_empty() {
            None
        } else {
            self.flush(out)
        };
        self.prune_if_due();
        changed
    }

    /// At shutdown: results that could still not be saved are written to the log in full (the
    /// journal keeps them), the last place they can go.
    pub fn log_unsaved(&mut self) {
        for h in self.held.drain(..) {
            log::error!(
                "{}: result NOT SAVED at shutdown: {}",
                self.store.path().display(),
                h.event.to_json_line()
            );
        }
        self.stats.held = 0;
    }

    /// Whether results are waiting to be saved.
    pub fn has_held(&self) -> bool {
        !self.held.is_empty()
    }

    fn flush(&mut self, out: &mut Vec<Event>) -> Option<bool> {
        let was = self.stats.saving;
        while let Some(h) = self.held.front() {
            let Event::SessionResult(result) = &h.event else {
                self.held.pop_front();
                continue;
            };
            let cx = RecordContext {
                device_id: &self.device_id,
                models: &self.models,
                started_unix_ms: h.started_unix_ms,
                now_unix_ms: h.now_unix_ms,
                xray_image: h.image.as_deref(),
                keep_image: self.settings.keep_images,
                topic: self.topic.as_deref(),
            };
            let t0 = Instant::now();
            match self.store.save(result, &cx) {
                Ok(_) => {
                    self.stats.last_commit = Some(t0.elapsed());
                    self.stats.saved += 1;
                    self.stats.last_result_unix_ms = Some(h.now_unix_ms);
                    if let Some(h) = self.held.pop_front() {
                        out.push(h.event);
                    }
                    self.stats.saving = true;
                    self.stats.last_error = None;
                }
                Err(e) => {
                    self.fail(&e);
                    break;
                }
            }
        }
        self.stats.held = self.held.len() as u64;
        if self.stats.saving && !was {
            log::warn!(
                "{}: records are being saved again",
                self.store.path().display()
            );
        }
        (self.stats.saving != was).then_some(self.stats.saving)
    }

    fn fail(&mut self, e: &StoreError) {
        self.stats.failed_attempts += 1;
        if self.stats.saving {
            log::error!(
                "records are NOT being saved: {e}; results are kept in memory and retried \
                 (screening goes on)"
            );
        }
        self.stats.saving = false;
        self.stats.last_error = Some(e.to_string());
    }

    fn prune_if_due(&mut self) {
        if self
            .last_prune
            .is_some_and(|t| t.elapsed() < PRUNE_INTERVAL)
        {
            return;
        }
        self.last_prune = Some(Instant::now());
        if self.settings.retention_days.is_none() && self.settings.retention_count.is_none() {
            return;
        }
        let now = self.clock.now_ms();
        match self.store.prune(
            self.settings.retention_days,
            self.settings.retention_count,
            now,
        ) {
            Ok(0) => {}
            Ok(n) => log::info!(
                "{}: pruned {n} delivered records beyond retention",
                self.store.path().display()
            ),
            Err(e) => log::warn!("pruning: {e}"),
        }
    }
}

fn remember<V>(map: &mut HashMap<String, V>, key: String, value: V) {
    if map.len() >= MAX_REMEMBERED {
        map.clear();
    }
    map.insert(key, value);
}

#[cfg(test)]
#[path = "recorder_tests.rs"]
mod tests;
