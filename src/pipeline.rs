//! The step-driven, clock-free processing core: `push(frame) -> events`.
//!
//! [`Pipeline`] owns no threads and does no IO; time comes from the frames' own timestamps. The
//! daemon, the replay, the evaluation command, the tests and the benchmarks all drive this same
//! code, so what is tested is what runs on the kiosk.

use crate::breathing::PatternClassifier;
use crate::records::events::Event;
use crate::respiration::analyzer::{BreathAnalyzer, RespEvent};
use crate::respiration::roi::{ChestSettings, ChestTracker};
use crate::respiration::RespirationSettings;
use crate::types::{BreathingReading, DepthFrame};
use heapless::HistoryBuffer;

/// Samples kept for the display's waveform: 30 s at [`WAVEFORM_HZ`].
pub const WAVEFORM_LEN: usize = 300;
/// Rate of the display waveform, Hz.
pub const WAVEFORM_HZ: f64 = 10.0;

/// What the readout needs to know about the current state.
#[derive(Debug)]
pub struct PipelineState {
    /// Whether a person is in front of the camera.
    pub person_present: bool,
    /// The latest breathing reading, if any since the person arrived.
    pub last_reading: Option<BreathingReading>,
    /// Start of an ongoing apnea, s.
    pub apnea_since_s: Option<f64>,
    /// Time of the latest frame, s.
    pub t_s: f64,
    /// Recent chest displacement, mm, oldest first, at [`WAVEFORM_HZ`].
    pub waveform: HistoryBuffer<f32, WAVEFORM_LEN>,
}

/// Depth frames in, screening events out.
pub struct Pipeline {
    tracker: ChestTracker,
    analyzer: BreathAnalyzer,
    resp_events: Vec<RespEvent>,
    state: PipelineState,
    next_wave_t: f64,
    unusable: u64,
}

impl Pipeline {
    /// A pipeline with the given settings and breathing classifier.
    pub fn new(
        chest: ChestSettings,
        respiration: &RespirationSettings,
        classifier: Box<dyn PatternClassifier>,
    ) -> Self {
        Self {
            tracker: ChestTracker::new(chest),
            analyzer: BreathAnalyzer::new(respiration, classifier),
            resp_events: Vec::with_capacity(8),
            state: PipelineState {
                person_present: false,
                last_reading: None,
                apnea_since_s: None,
                t_s: 0.0,
                waveform: HistoryBuffer::new(),
            },
            next_wave_t: f64::NEG_INFINITY,
            unusable: 0,
        }
    }

    /// Processes one frame, appending any events it causes to `out`.
    pub fn push(&mut self, frame: &DepthFrame, out: &mut Vec<Event>) {
        let sample = self.tracker.process(frame);
        let t_s = frame.timestamp_s;
        self.state.t_s = t_s;
        if sample.person_present != self.state.person_present {
            self.state.person_present = sample.person_present;
            out.push(Event::Person {
                t_s,
                present: sample.person_present,
            });
            if !sample.person_present {
                self.analyzer.reset();
                self.state.last_reading = None;
                self.state.apnea_since_s = None;
            }
        }
        let displacement = sample.displacement_mm.filter(|_| sample.person_present);
        if displacement.is_none() {
            self.unusable += 1;
        }
        if t_s >= self.next_wave_t {
            self.next_wave_t = t_s + 1.0 / WAVEFORM_HZ;
            self.state.waveform.write(displacement.unwrap_or(f32::NAN));
        }
        self.resp_events.clear();
        self.analyzer.push(t_s, displacement, &mut self.resp_events);
        for ev in self.resp_events.drain(..) {
            out.push(match ev {
                RespEvent::Reading(r) => {
                    self.state.last_reading = Some(r.clone());
                    Event::Breathing(r)
                }
                RespEvent::ApneaStarted { start_s } => {
                    self.state.apnea_since_s = Some(start_s);
                    Event::ApneaStarted { t_s, start_s }
                }
                RespEvent::ApneaEnded(interval) => {
                    self.state.apnea_since_s = None;
                    Event::ApneaEnded {
                        t_s,
                        interval,
                        duration_s: interval.duration_s(),
                    }
                }
            });
        }
    }

    /// The current state, for the display.
    pub fn state(&self) -> &PipelineState {
        &self.state
    }

    /// Frames that gave no chest measurement so far.
    pub fn unusable_frames(&self) -> u64 {
        self.unusable
    }
}
