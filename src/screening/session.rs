//! Screening sessions: one person at a time sits down, is measured, gets one outcome, and leaves.
//!
//! ```text
//!            person present                 enough good signal (or max_measure_s)
//!  waiting ────────────────▶ measuring ─────────────────────────────────────▶ result
//!     ▲                          │ absent ≥ absence_s: session_ended left_early   │
//!     └──────────────────────────┴─────────────────────────────────────────────────┘
//!                                     absent ≥ absence_s: session_ended left
//! ```
//! - A session starts when the chest tracker reports a person (`session_started`).
//! - Measuring: every breathing window of at least `quality_gate` adds the signal it newly covers
//!   (the whole window for the first one after the analysis (re)started, else the time since the
//!   previous window). At `min_signal_s` of such signal the result is given; after `max_measure_s`
//!   seated without it, the result is given with what there is (usually `repeat_measurement`).
//! - The result (`session_result`) is the breathing verdict of the session's windows
//!   ([`SessionVerdict`]) and its X-ray, fused by [`super::fusion::fuse`]. An X-ray that arrives
//!   later for the session (open or closed) gives a new `session_result` with a higher `revision`.
//! - A person absent for less than `absence_s` (an occlusion, a lean out of view) keeps the
//!   session; absent that long, the session ends (`left`, or `left_early` without a result). The
//!   camera lost or the program stopping ends it too (`camera_lost`, `shutdown`).
//!
//! Clock-free: time comes from the callers' stream timestamps; identifiers from an [`IdSource`].

use super::events::{Event, SessionResult};
use super::fusion::fuse;
use super::ids::IdSource;
use crate::breathing::session::{BreathingSummary, SessionVerdict};
use crate::respiration::window::BreathWindow;
use crate::types::BreathingReading;
use crate::xray::screen::XrayReport;
use serde::Serialize;
use std::collections::VecDeque;

/// Closed sessions remembered for late X-rays (older ones are only in the records).
pub const KEEP_CLOSED: usize = 64;

/// Settings of the session state machine (`[session]` of `kiosk.toml`).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSettings {
    /// Seconds of breathing signal at or above the quality gate needed for a result.
    pub min_signal_s: f64,
    /// Longest measurement, s: the result is given then with what there is.
    pub max_measure_s: f64,
    /// Quality (0..1) a window needs for its signal to count.
    pub quality_gate: f32,
    /// A person absent this long has left, s; a shorter absence keeps the session.
    pub absence_s: f64,
    /// Shortest pause that counts as an apnea, s (`respiration.apnea_min_s`).
    pub apnea_min_s: f64,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The person left after their result.
    Left,
    /// The person left before a result could be given.
    LeftEarly,
    /// The program stopped.
    Shutdown,
    /// The camera stopped delivering frames.
    CameraLost,
}

/// Where the kiosk stands, for the readout.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum SessionView {
    /// Nobody is being screened.
    #[default]
    Waiting,
    /// Someone is being measured.
    Measuring {
        /// The session.
        session_id: String,
        /// Good signal so far, s.
        signal_s: f64,
        /// Good signal needed, s.
        needed_s: f64,
    },
    /// The result is shown until the person leaves.
    Result(Box<SessionResult>),
}

/// The session in progress.
#[derive(Debug)]
struct Open {
    id: String,
    started_s: f64,
    absent_since: Option<f64>,
    verdict: SessionVerdict,
    signal_s: f64,
    last_window_s: Option<f64>,
    xray: Option<XrayReport>,
    result: Option<SessionResult>,
}

/// A session that ended, kept for late X-rays.
#[derive(Debug, Clone)]
struct Closed {
    id: String,
    breathing: Option<BreathingSummary>,
    revision: Option<u32>,
}

/// The session state machine.
pub struct Sessions {
    settings: SessionSettings,
    ids: Box<dyn IdSource>,
    open: Option<Open>,
    closed: VecDeque<Closed>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("open", &self.open.as_ref().map(|o| &o.id))
            .field("closed", &self.closed.len())
            .finish()
    }
}

impl Sessions {
    /// A state machine with validated `settings`, taking identifiers from `ids`.
    pub fn new(settings: SessionSettings, ids: Box<dyn IdSource>) -> Self {
        Self {
            settings,
            ids,
            open: None,
            closed: VecDeque::with_capacity(KEEP_CLOSED),
        }
    }

    /// What the readout shows, from the state (called when it changes: a session starts, gains
    /// signal, gets a result or ends).
    pub fn view(&self) -> SessionView {
        match &self.open {
            None => SessionView::Waiting,
            Some(Open {
                result: Some(r), ..
            }) => SessionView::Result(Box::new(r.clone())),
            Some(open) => SessionView::Measuring {
                session_id: open.id.clone(),
                signal_s: open.signal_s,
                needed_s: self.settings.min_signal_s,
            },
        }
    }

    /// The session in progress, if any.
    pub fn open_id(&self) -> Option<&str> {
        self.open.as_ref().map(|o| o.id.as_str())
    }

    /// One frame's presence at stream time `t_s`.
    pub fn on_presence(&mut self, t_s: f64, present: bool, out: &mut Vec<Event>) {
        let Some(open) = self.open.as_mut() else {
            if present {
                self.start(t_s, out);
            }
            return;
        };
        if present {
            open.absent_since = None;
        } else {
            let since = *open.absent_since.get_or_insert(t_s);
            if t_s - since >= self.settings.absence_s {
                let reason = if open.result.is_some() {
                    EndReason::Left
                } else {
                    EndReason::LeftEarly
                };
                self.end(t_s, reason, out);
                return;
            }
        }
        let overdue = t_s - open.started_s >= self.settings.max_measure_s;
        if overdue && open.result.is_none() {
            self.give_result(t_s, out);
        }
    }

    fn start(&mut self, t_s: f64, out: &mut Vec<Event>) {
        let id = self.ids.next_id();
        log::info!("session {id} started at {t_s:.1} s");
        out.push(Event::SessionStarted {
            t_s,
            session_id: id.clone(),
        });
        self.open = Some(Open {
            id,
            started_s: t_s,
            absent_since: None,
            verdict: SessionVerdict::new(self.settings.apnea_min_s),
            signal_s: 0.0,
            last_window_s: None,
            xray: None,
            result: None,
        });
    }

    /// A breathing window and its reading, while the person is measured.
    pub fn on_reading(&mut self, r: &BreathingReading, w: &BreathWindow<'_>, out: &mut Vec<Event>) {
        let gate = self.settings.quality_gate;
        let Some(open) = self.open.as_mut() else {
            return;
        };
        if open.result.is_some() || open.absent_since.is_some() {
            return;
        }
        open.verdict.add(r, w);
        let new_s = match open.last_window_s {
            Some(last) => (r.t_s - last).min(w.duration_s()),
            None => w.duration_s(),
        };
        open.last_window_s = Some(r.t_s);
        if r.quality >= gate {
            open.signal_s += new_s.max(0.0);
        }
        if open.signal_s + 1e-9 >= self.settings.min_signal_s {
            self.give_result(r.t_s, out);
        }
    }

    fn give_result(&mut self, t_s: f64, out: &mut Vec<Event>) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        let breathing = open.verdict.summary();
        let result = build_result(t_s, &open.id, 0, Some(breathing), open.xray.clone());
        log::info!("session {}: {}", open.id, result.outcome.name());
        open.result = Some(result.clone());
        out.push(Event::SessionResult(Box::new(result)));
    }

    /// A chest X-ray result: for session `session_id` if given, else for the session in progress.
    /// Returns the session it was joined to, if any.
    pub fn on_xray(
        &mut self,
        t_s: f64,
        report: &XrayReport,
        session_id: Option<&str>,
        out: &mut Vec<Event>,
    ) -> Option<String> {
        let open_matches = match (session_id, &self.open) {
            (None, Some(_)) => true,
            (Some(id), Some(open)) => open.id == id,
            _ => false,
        };
        if open_matches {
            let open = self.open.as_mut()?;
            open.xray = Some(report.clone());
            if let Some(prev) = &open.result {
                let result = build_result(
                    t_s,
                    &open.id,
                    prev.revision + 1,
                    prev.breathing.clone(),
                    Some(report.clone()),
                );
                open.result = Some(result.clone());
                out.push(Event::SessionResult(Box::new(result)));
            }
            return Some(open.id.clone());
        }
        let id = session_id?;
        let Some(closed) = self.closed.iter_mut().find(|c| c.id == id) else {
            log::warn!(
                "x-ray {}: session {id} is not known here",
                report.file.display()
            );
            return None;
        };
        let revision = closed.revision.map_or(0, |r| r + 1);
        closed.revision = Some(revision);
        let result = build_result(
            t_s,
            id,
            revision,
            closed.breathing.clone(),
            Some(report.clone()),
        );
        out.push(Event::SessionResult(Box::new(result)));
        Some(id.to_string())
    }

    /// End the session in progress, if any, for `reason`.
    pub fn end(&mut self, t_s: f64, reason: EndReason, out: &mut Vec<Event>) {
        let Some(open) = self.open.take() else {
            return;
        };
        let left_at = open.absent_since.unwrap_or(t_s);
        log::info!("session {} ended: {reason:?}", open.id);
        out.push(Event::SessionEnded {
            t_s,
            session_id: open.id.clone(),
            reason,
            seated_s: (left_at - open.started_s).max(0.0),
        });
        if self.closed.len() == KEEP_CLOSED {
            self.closed.pop_front();
        }
        self.closed.push_back(Closed {
            id: open.id,
            breathing: open.result.as_ref().and_then(|r| r.breathing.clone()),
            revision: open.result.map(|r| r.revision),
        });
    }
}

fn build_result(
    t_s: f64,
    id: &str,
    revision: u32,
    breathing: Option<BreathingSummary>,
    xray: Option<XrayReport>,
) -> SessionResult {
    let f = fuse(breathing.as_ref(), xray.as_ref());
    SessionResult {
        t_s,
        session_id: id.to_string(),
        revision,
        outcome: f.outcome,
        refer_probability: f.refer_probability,
        modalities: f.modalities,
        breathing,
        xray,
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
