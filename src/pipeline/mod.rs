//! The step-driven, clock-free core: [`Input`]s in (depth frames, camera status, chest X-ray
//! results), [`Event`]s out, and the [`Readout`] the kiosk shows.
//!
//! ```text
//!  Input::Frame ─▶ respiration::roi (chest, presence) ─▶ respiration::analyzer ─▶ BreathWindow
//!                                                          │ apnea changes         │
//!                                                          ▼                       ▼
//!                                               apnea events        breathing::read_window
//!                                                                    (the classifier) ─▶ reading
//!  Input::Message(Xray | Camera) ──────────────────────────────────────────┐       │
//!                                                                           ▼       ▼
//!                                                   screening::Sessions (state machine + fusion)
//! ```
//! [`Pipeline`] owns no threads and does no IO; time comes from the frames' own timestamps. The
//! daemon, the evaluation command, the training-set writer, the tests and the benchmarks all drive
//! this same code, so what is tested is what runs on the kiosk. A breathing recording (no depth
//! frames) goes through the same respiration and breathing stages: see [`recording`].

pub mod recording;
pub mod view;

use crate::breathing::{read_window, PatternClassifier};
use crate::respiration::apnea::ApneaChange;
use crate::respiration::roi::{ChestSettings, ChestTracker};
use crate::respiration::{BreathAnalyzer, RespirationSettings, Schedule, Step};
use crate::screening::ids::IdSource;
use crate::screening::{EndReason, Event, SessionSettings, Sessions};
use crate::types::DepthFrame;
use crate::xray::screen::{Finding, XrayReport};
use view::{CameraStatus, Readout, XrayResult};

/// Rate of the display waveform, Hz.
pub const WAVEFORM_HZ: f64 = 10.0;

/// What the pipeline is fed.
#[derive(Debug)]
pub enum Input<'a> {
    /// A depth frame (the buffer stays the caller's).
    Frame(&'a DepthFrame),
    /// Anything else, in the order it happened.
    Message(Message),
}

/// Inputs other than frames: they reach the pipeline through the same hand-off as frames and are
/// never dropped.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// The camera stopped delivering, came back, or failed.
    Camera {
        /// What happened.
        status: CameraState,
        /// Details for people.
        message: String,
    },
    /// A chest X-ray was screened.
    Xray {
        /// The result.
        report: XrayReport,
        /// The session it belongs to, when the sender knows it (a sidecar file, `--session`).
        session_id: Option<String>,
        /// Where the image was filed, if it came from the inbox.
        moved_to: Option<String>,
    },
    /// The record store stopped saving results (full disk, failing storage), or resumed.
    Records {
        /// Whether results are being saved now.
        saving: bool,
    },
    /// A chest X-ray could not be screened.
    XrayFailed {
        /// The file.
        file: String,
        /// Why (names the file and the problem).
        error: String,
        /// Where the file was filed, if it could be moved.
        moved_to: Option<String>,
    },
}

/// A camera state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraState {
    /// No frames: the camera may come back.
    Lost,
    /// Frames are arriving again.
    Recovered,
    /// The camera failed for good.
    Error,
}

impl CameraState {
    /// The name in the `camera` event's `status`.
    pub fn name(self) -> &'static str {
        match self {
            CameraState::Lost => "lost",
            CameraState::Recovered => "recovered",
            CameraState::Error => "error",
        }
    }
}

/// The settings every stage of the pipeline takes.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineSettings {
    /// Chest finding.
    pub chest: ChestSettings,
    /// The breathing signal.
    pub respiration: RespirationSettings,
    /// Screening sessions.
    pub session: SessionSettings,
}

/// Inputs in, events out.
pub struct Pipeline {
    tracker: ChestTracker,
    analyzer: BreathAnalyzer,
    classifier: Box<dyn PatternClassifier>,
    sessions: Sessions,
    view: Readout,
    apnea_since_s: Option<f64>,
    next_wave_t: f64,
    unusable: u64,
    t_s: f64,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("classifier", &self.classifier.name())
            .field("sessions", &self.sessions)
            .field("t_s", &self.t_s)
            .finish()
    }
}

impl Pipeline {
    /// A pipeline with validated settings, the breathing classifier, and where session
    /// identifiers come from.
    pub fn new(
        settings: &PipelineSettings,
        classifier: Box<dyn PatternClassifier>,
        ids: Box<dyn IdSource>,
    ) -> Self {
        let resp = &settings.respiration;
        Self {
            tracker: ChestTracker::new(settings.chest.clone()),
            analyzer: BreathAnalyzer::new(resp, Schedule::live(resp)),
            classifier,
            sessions: Sessions::new(settings.session.clone(), ids),
            view: Readout::default(),
            apnea_since_s: None,
            next_wave_t: f64::NEG_INFINITY,
            unusable: 0,
            t_s: 0.0,
        }
    }

    /// Processes one input, appending the events it causes to `out`.
    pub fn push(&mut self, input: Input<'_>, out: &mut Vec<Event>) {
        match input {
            Input::Frame(frame) => self.frame(frame, out),
            Input::Message(m) => self.message(m, out),
        }
    }

    /// The run is over (`shutdown`) or the camera is gone for good: the open session ends.
    pub fn finish(&mut self, reason: EndReason, out: &mut Vec<Event>) {
        self.sessions.end(self.t_s, reason, out);
        self.view.session = self.sessions.view();
    }

    /// No input arrived; the stream clock is estimated at `now_s` (for the readout's clock only).
    pub fn idle(&mut self, now_s: f64) {
        if now_s.is_finite() && now_s > self.view.elapsed_s {
            self.view.elapsed_s = now_s;
            self.view.apnea_s = self.apnea_since_s.map(|s| (now_s - s).max(0.0) as f32);
        }
    }

    /// What the readout shows now.
    pub fn view(&self) -> &Readout {
        &self.view
    }

    /// Frames that gave no chest measurement so far.
    pub fn unusable_frames(&self) -> u64 {
        self.unusable
    }

    /// Time of the latest frame, s on the stream's clock.
    pub fn t_s(&self) -> f64 {
        self.t_s
    }

    /// The chest ROI the tracker uses now, pixels (`None` while no chest is tracked).
    pub fn chest_roi(&self) -> Option<crate::types::Roi> {
        self.tracker.roi()
    }

    fn frame(&mut self, frame: &DepthFrame, out: &mut Vec<Event>) {
        let sample = self.tracker.process(frame);
        let t_s = frame.timestamp_s;
        self.t_s = t_s;
        let present = sample.person_present;
        if present != self.view.person_present {
            self.view.person_present = present;
            out.push(Event::Person { t_s, present });
            if !present {
                self.analyzer.reset();
                self.apnea_since_s = None;
                self.view.rate_bpm = None;
                self.view.pattern = None;
                self.view.quality = 0.0;
            }
        }
        let before = out.len();
        self.sessions.on_presence(t_s, present, out);
        let displacement = sample.displacement_mm.filter(|_| present);
        if displacement.is_none() {
            self.unusable += 1;
        }
        if t_s >= self.next_wave_t {
            self.next_wave_t = t_s + 1.0 / WAVEFORM_HZ;
            self.view.waveform.push(displacement.unwrap_or(f32::NAN));
        }
        let (classifier, sessions, view, apnea_since) = (
            &mut self.classifier,
            &mut self.sessions,
            &mut self.view,
            &mut self.apnea_since_s,
        );
        let mut readings = false;
        self.analyzer
            .push(t_s, displacement, &mut |step: Step<'_>| match step {
                Step::Window(w) => {
                    let r = read_window(classifier.as_mut(), &w);
                    view.rate_bpm = r.rate_bpm;
                    view.pattern = Some(r.scores.best());
                    view.quality = r.quality;
                    out.push(Event::Breathing(r.clone()));
                    sessions.on_reading(&r, &w, out);
                    readings = true;
                }
                Step::Apnea(ApneaChange::Started { start_s }) => {
                    *apnea_since = Some(start_s);
                    out.push(Event::ApneaStarted { t_s, start_s });
                }
                Step::Apnea(
                    change @ (ApneaChange::Ended(interval) | ApneaChange::Lost(interval)),
                ) => {
                    *apnea_since = None;
                    out.push(Event::ApneaEnded {
                        t_s,
                        interval,
                        duration_s: interval.duration_s(),
                        signal_lost: matches!(change, ApneaChange::Lost(_)),
                    });
                }
            });
        self.view.elapsed_s = t_s;
        self.view.apnea_s = self.apnea_since_s.map(|s| (t_s - s).max(0.0) as f32);
        if readings || out.len() > before && session_changed(&out[before..]) {
            self.view.session = self.sessions.view();
        }
    }

    fn message(&mut self, m: Message, out: &mut Vec<Event>) {
        let t_s = self.t_s;
        match m {
            Message::Camera { status, message } => {
                self.view.camera = match status {
                    CameraState::Recovered => CameraStatus::Ok,
                    CameraState::Lost => CameraStatus::Lost,
                    CameraState::Error => CameraStatus::Message("CAMERA ERROR".into()),
                };
                out.push(Event::Camera {
                    t_s,
                    status: status.name(),
                    message,
                });
                if status != CameraState::Recovered {
                    self.sessions.end(t_s, EndReason::CameraLost, out);
                }
            }
            Message::Xray {
                report,
                session_id,
                moved_to,
            } => {
                self.view.xray = Some(shown(&report));
                // The `xray` event goes before the `session_result` it may cause.
                let at = out.len();
                let joined = self
                    .sessions
                    .on_xray(t_s, &report, session_id.as_deref(), out);
                out.insert(
                    at,
                    Event::Xray {
                        t_s,
                        report,
                        moved_to,
                        session_id: joined,
                    },
                );
            }
            Message::Records { saving } => {
                self.view.records_saving = saving;
            }
            Message::XrayFailed {
                file,
                error,
                moved_to,
            } => out.push(Event::XrayFailed {
                t_s,
                file,
                error,
                moved_to,
            }),
        }
        self.view.session = self.sessions.view();
    }
}

/// Whether `events` change what the session part of the readout shows.
fn session_changed(events: &[Event]) -> bool {
    events.iter().any(|e| {
        matches!(
            e,
            Event::SessionStarted { .. } | Event::SessionResult(_) | Event::SessionEnded { .. }
        )
    })
}

/// The X-ray line of the readout: the finding with its own probability ("normal 93%" for a covid
/// probability of 0.07).
fn shown(r: &XrayReport) -> XrayResult {
    let (finding, probability) = match (r.finding, r.covid_probability) {
        (Finding::Covid, Some(p)) => ("covid".to_string(), Some(p)),
        (Finding::Normal, Some(p)) => ("normal".to_string(), Some(1.0 - p)),
        _ => (
            r.scope_reason
                .map_or("out of scope".into(), |reason| reason.short()),
            None,
        ),
    };
    XrayResult {
        finding,
        probability,
        source: r.file.display().to_string(),
        site_validated: r.site_validated,
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
