//! The one event type: what the kiosk tells the world, one JSON object per line.
//!
//! Every event has a `type` and `t_s`, the time on the stream's own clock (seconds since the first
//! frame for the simulated camera), so a replay produces the same events as the live run. The
//! pipeline, the session state machine and the daemon all emit these; the outputs (event sinks,
//! display, records) only read them.

use super::fusion::{ModalityProbabilities, Outcome};
use super::session::EndReason;
use crate::breathing::session::BreathingSummary;
use crate::types::{ApneaInterval, BreathingReading};
use crate::xray::screen::XrayReport;
use serde::Serialize;

/// A session's outcome (the `session_result` event).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionResult {
    /// Stream time, s.
    pub t_s: f64,
    /// The session.
    pub session_id: String,
    /// 0 for the first result; each later X-ray for the session gives the next revision.
    pub revision: u32,
    /// What the kiosk says (a screening aid, not a diagnosis).
    pub outcome: Outcome,
    /// The fused probability that the person should be referred, 0-1.
    pub refer_probability: f32,
    /// Each modality's probability behind it (see `screening::fusion`).
    pub modalities: ModalityProbabilities,
    /// The breathing verdict; `null` when the person left before being measured (a late X-ray).
    pub breathing: Option<BreathingSummary>,
    /// The chest X-ray joined to the session, if any.
    pub xray: Option<XrayReport>,
}

/// Frame accounting, reported periodically and when the run stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct FrameStats {
    /// Frames delivered by the camera.
    pub received: u64,
    /// Frames run through the pipeline.
    pub processed: u64,
    /// Frames that never reached processing: replaced by a newer one before processing could
    /// take them (latest frame wins), or lost before the source handed them out (gaps in a
    /// RealSense camera's or recording's frame numbers).
    pub dropped: u64,
    /// Processed frames that gave no chest measurement (no person, all invalid, wrong size).
    pub unusable: u64,
    /// Reads that timed out.
    pub timeouts: u64,
    /// Frames the camera reported as corrupt.
    pub corrupt: u64,
}

/// One event. Serialised with an internal `type` tag, e.g. `{"type":"breathing","t_s":62.0,...}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The run started.
    Started {
        /// Stream time, s.
        t_s: f64,
        /// The frame source, as it describes itself.
        camera: String,
        /// The breathing classifier in use.
        classifier: String,
        /// edge-screen version.
        version: String,
    },
    /// Someone sat down in front of the camera, or left.
    Person {
        /// Stream time, s.
        t_s: f64,
        /// Whether a person is now in front of the camera.
        present: bool,
    },
    /// A breathing reading over the latest analysis window.
    Breathing(BreathingReading),
    /// A person sat down: a screening session began.
    SessionStarted {
        /// Stream time, s.
        t_s: f64,
        /// The new session, unique across restarts and kiosks.
        session_id: String,
    },
    /// A session's outcome, or a revision of it (a late X-ray).
    SessionResult(Box<SessionResult>),
    /// A session ended.
    SessionEnded {
        /// Stream time, s.
        t_s: f64,
        /// The session.
        session_id: String,
        /// `left`, `left_early`, `shutdown` or `camera_lost`.
        reason: EndReason,
        /// How long the person was in front of the camera, s.
        seated_s: f64,
    },
    /// A pause in breathing reached the apnea threshold (10 s by default).
    ApneaStarted {
        /// Stream time, s.
        t_s: f64,
        /// When the pause began, s.
        start_s: f64,
    },
    /// Breathing resumed after an apnea.
    ApneaEnded {
        /// Stream time, s.
        t_s: f64,
        /// The pause.
        #[serde(flatten)]
        interval: ApneaInterval,
        /// Its length, s.
        duration_s: f64,
        /// The end was not seen: the chest signal was lost while the apnea went on, and the
        /// interval ends where the chest was last seen still (written only when true).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        signal_lost: bool,
    },
    /// The camera stopped delivering, or came back.
    Camera {
        /// Stream time of the last frame, s.
        t_s: f64,
        /// `lost`, `recovered` or `error`.
        status: &'static str,
        /// What happened.
        message: String,
    },
    /// A chest X-ray from the inbox was screened (a screening aid, not a diagnosis).
    Xray {
        /// Stream time, s.
        t_s: f64,
        /// The result (`file` is where the image was found).
        #[serde(flatten)]
        report: XrayReport,
        /// Where the image was moved (`done/` in the inbox); `null` when it did not come from the
        /// inbox or could not be moved.
        moved_to: Option<String>,
        /// The session the X-ray was joined to, if any.
        session_id: Option<String>,
    },
    /// A file in the X-ray inbox could not be screened.
    XrayFailed {
        /// Stream time, s.
        t_s: f64,
        /// Where the file was found.
        file: String,
        /// Why (names the file and what is wrong with it).
        error: String,
        /// Where the file was moved (`failed/` in the inbox); `null` if it could not be moved.
        moved_to: Option<String>,
    },
    /// Periodic frame accounting.
    Frames {
        /// Stream time, s.
        t_s: f64,
        /// Counters since the start of the run.
        #[serde(flatten)]
        stats: FrameStats,
    },
    /// The run stopped.
    Stopped {
        /// Stream time of the last frame, s.
        t_s: f64,
        /// Why: `duration`, `signal`, `end_of_stream`, `end_of_visits` or an error.
        reason: String,
        /// Final counters.
        #[serde(flatten)]
        stats: FrameStats,
    },
}

impl Event {
    /// The event's `type` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Started { .. } => "started",
            Event::Person { .. } => "person",
            Event::Breathing(_) => "breathing",
            Event::SessionStarted { .. } => "session_started",
            Event::SessionResult(_) => "session_result",
            Event::SessionEnded { .. } => "session_ended",
            Event::ApneaStarted { .. } => "apnea_started",
            Event::ApneaEnded { .. } => "apnea_ended",
            Event::Camera { .. } => "camera",
            Event::Xray { .. } => "xray",
            Event::XrayFailed { .. } => "xray_failed",
            Event::Frames { .. } => "frames",
            Event::Stopped { .. } => "stopped",
        }
    }

    /// One JSON line (without the newline).
    pub fn to_json_line(&self) -> String {
        // Serialising plain data with string keys cannot fail; fall back to a visible error.
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"type\":\"error\",\"message\":\"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Pattern, PatternScores};

    #[test]
    fn breathing_event_has_type_and_reading_fields() {
        let mut s = [0.0; 6];
        s[Pattern::Tachypnea.index()] = 0.75;
        s[Pattern::Eupnea.index()] = 0.25;
        let e = Event::Breathing(BreathingReading {
            t_s: 62.0,
            rate_bpm: Some(24.5),
            spectral_rate_bpm: Some(24.4),
            count_rate_bpm: Some(24.6),
            pattern: Pattern::Tachypnea,
            scores: PatternScores(s),
            quality: 0.9,
            artefacts: 1,
            classifier: "rule_baseline",
        });
        let v: serde_json::Value = serde_json::from_str(&e.to_json_line()).unwrap();
        assert_eq!(v["type"], "breathing");
        assert_eq!(v["pattern"], "tachypnea");
        assert_eq!(v["rate_bpm"], 24.5);
        assert_eq!(v["artefacts"], 1);
        assert_eq!(v["scores"]["tachypnea"], 0.75);
        assert_eq!(v["scores"].as_object().unwrap().len(), 6);
        assert_eq!(e.kind(), "breathing");
    }

    #[test]
    fn apnea_and_stats_are_flattened() {
        let e = Event::ApneaEnded {
            t_s: 80.0,
            interval: ApneaInterval {
                start_s: 60.0,
                end_s: 75.5,
            },
            duration_s: 15.5,
            signal_lost: false,
        };
        let v: serde_json::Value = serde_json::from_str(&e.to_json_line()).unwrap();
        assert_eq!(
            (
                v["type"].as_str(),
                v["start_s"].as_f64(),
                v["duration_s"].as_f64()
            ),
            (Some("apnea_ended"), Some(60.0), Some(15.5))
        );
        assert!(v.get("signal_lost").is_none(), "{v}");
        let lost = Event::ApneaEnded {
            t_s: 80.0,
            interval: ApneaInterval {
                start_s: 60.0,
                end_s: 75.5,
            },
            duration_s: 15.5,
            signal_lost: true,
        };
        let v: serde_json::Value = serde_json::from_str(&lost.to_json_line()).unwrap();
        assert_eq!(v["signal_lost"], true, "{v}");
        let e = Event::Stopped {
            t_s: 1.0,
            reason: "signal".into(),
            stats: FrameStats {
                dropped: 3,
                ..Default::default()
            },
        };
        let v: serde_json::Value = serde_json::from_str(&e.to_json_line()).unwrap();
        assert_eq!(v["dropped"], 3);
    }
}
