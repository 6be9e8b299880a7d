//! A queue of simulated visitors for the kiosk: the simulated camera plays `empty:SECONDS` and
//! `PATTERN[@RATE]:SECONDS` items one after another (`--visits empty:20,eupnea@15:100,...`).
//!
//! Each visit gets its own [`SimCamera`], built when the visit starts and dropped when it ends, so
//! memory stays at one camera. Visit `i` (0-based, empty ones counted) uses the seed
//! `base.wrapping_add(i)` for its subject ([`params_for`]), its RSM and its camera noise; a person in
//! visit 0 is therefore exactly the single subject that `--pattern P --seed base` simulates. Frames
//! are numbered over the whole queue (`seq = k`, `timestamp_s = k / fps`) and frame `k` belongs to
//! the visit whose `[start_s, end_s)` holds `k / fps`.

mod spec;

pub use spec::{parse_visits, Visit, VisitProblem, VisitSpecError, MAX_VISITS, SECONDS_RANGE};

use super::simulated::{FrameTruth, SimCamera, SimCameraSettings, SimSettingError};
use super::{CameraError, FrameSource};
use crate::rsm::io::params_for;
use crate::rsm::{Rsm, RsmError, RsmParams};
use crate::types::{DepthFrame, Pattern};

/// Why a [`VisitQueue`] cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum VisitQueueError {
    /// The camera settings are out of range.
    #[error(transparent)]
    Camera(#[from] SimSettingError),
    /// The visits are empty, too many, or one is out of range.
    #[error(transparent)]
    Spec(#[from] VisitSpecError),
    /// The subject of a person visit could not be drawn.
    #[error("visit {index} `{item}`: {source}")]
    Subject {
        /// Position of the visit, from 1.
        index: usize,
        /// The visit as text.
        item: String,
        /// What the RSM rejected.
        source: RsmError,
    },
}

/// One visit's place on the queue's clock and the subject drawn for it (ground truth).
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledVisit {
    /// The visit as given.
    pub visit: Visit,
    /// Start on the queue's clock, s.
    pub start_s: f64,
    /// End on the queue's clock (exclusive), s.
    pub end_s: f64,
    /// Global index (`seq`) of the visit's first frame: the first `k` with `k / fps >= start_s`.
    pub first_frame: u64,
    /// One past the global index of the visit's last frame.
    pub end_frame: u64,
    /// Seed of the visit's subject, RSM and camera noise: `base.wrapping_add(index)`.
    pub seed: u64,
    /// Parameters of the person drawn by [`params_for`] (with `artefacts_per_min = 0` when the
    /// queue has no motion artefacts); `None` for an empty visit.
    pub subject: Option<RsmParams>,
}

impl ScheduledVisit {
    /// Mean breathing rate of the subject, breaths/min (the requested `@RATE` when one was given);
    /// `None` for an empty visit.
    pub fn rate_bpm(&self) -> Option<f32> {
        self.subject.as_ref().map(|p| p.rate_bpm)
    }
}

/// What the queue's latest frame showed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VisitFrameTruth {
    /// Global frame index (`seq`).
    pub seq: u64,
    /// Time on the queue's clock, s.
    pub t_s: f64,
    /// Index of the visit in the schedule, from 0.
    pub visit: usize,
    /// The visit's camera truth; its `t_s` is the visit's own time (0 at its first frame), s.
    pub frame: FrameTruth,
}

/// The simulated camera playing a queue of visits; see the module documentation.
#[derive(Debug)]
pub struct VisitQueue {
    settings: SimCameraSettings,
    schedule: Vec<ScheduledVisit>,
    seed: u64,
    /// Global index of the next frame.
    next: u64,
    /// Index in `schedule` of the visit that frame `next` belongs to (`schedule.len()` at the end).
    cursor: usize,
    /// The camera of visit `cursor`, built at its first frame.
    camera: Option<SimCamera>,
    last: Option<VisitFrameTruth>,
}

/// The first frame index `k` with `k / fps >= t_s`, computed as frame times are.
fn first_frame_at(t_s: f64, fps: f64) -> u64 {
    let mut k = (t_s * fps).ceil().max(0.0) as u64;
    while k > 0 && (k - 1) as f64 / fps >= t_s {
        k -= 1;
    }
    while (k as f64 / fps) < t_s {
        k += 1;
    }
    k
}

impl VisitQueue {
    /// A queue playing `visits` in front of the camera `settings` (whose `absent` is ignored:
    /// each visit sets its own). `seed` is the base of the visits' seeds; `motion_artefacts`
    /// false gives every person `artefacts_per_min = 0` (`[simulation] motion_artefacts`).
    /// Subjects are drawn here; cameras are built lazily, one at a time.
    pub fn new(
        settings: SimCameraSettings,
        visits: Vec<Visit>,
        seed: u64,
        motion_artefacts: bool,
    ) -> Result<Self, VisitQueueError> {
        settings.validate()?;
        if visits.is_empty() {
            return Err(VisitSpecError::EmptySpec.into());
        }
        if visits.len() > MAX_VISITS {
            return Err(VisitSpecError::TooManyItems(visits.len()).into());
        }
        let mut schedule = Vec::with_capacity(visits.len());
        let mut start_s = 0.0;
        for (i, visit) in visits.into_iter().enumerate() {
            let item = || visit.to_string();
            visit.check().map_err(|problem| VisitSpecError::Item {
                index: i + 1,
                item: item(),
                problem,
            })?;
            let vseed = seed.wrapping_add(i as u64);
            let subject = match visit {
                Visit::Empty { .. } => None,
                Visit::Person {
                    pattern, rate_bpm, ..
                } => {
                    let mut p = params_for(pattern, rate_bpm, vseed).map_err(|source| {
                        VisitQueueError::Subject {
                            index: i + 1,
                            item: item(),
                            source,
                        }
                    })?;
                    if !motion_artefacts {
                        p.artefacts_per_min = 0.0;
                    }
                    Some(p)
                }
            };
            let end_s = start_s + visit.seconds();
            schedule.push(ScheduledVisit {
                first_frame: first_frame_at(start_s, settings.fps),
                end_frame: first_frame_at(end_s, settings.fps),
                visit,
                start_s,
                end_s,
                seed: vseed,
                subject,
            });
            start_s = end_s;
        }
        Ok(Self {
            settings,
            schedule,
            seed,
            next: 0,
            cursor: 0,
            camera: None,
            last: None,
        })
    }

    /// Every visit with its times, frames, seed and subject (ground truth for tests).
    pub fn schedule(&self) -> &[ScheduledVisit] {
        &self.schedule
    }

    /// Length of the whole queue, s.
    pub fn duration_s(&self) -> f64 {
        self.schedule.last().map_or(0.0, |v| v.end_s)
    }

    /// Number of frames the queue delivers before [`CameraError::EndOfStream`].
    pub fn frame_count(&self) -> u64 {
        self.schedule.last().map_or(0, |v| v.end_frame)
    }

    /// What the latest frame showed; `None` before the first frame.
    pub fn last_frame_truth(&self) -> Option<VisitFrameTruth> {
        self.last
    }

    /// The camera of the current visit (its breathing truth, torso box, settings); `None` before
    /// the first frame and after the last.
    pub fn camera(&self) -> Option<&SimCamera> {
        self.camera.as_ref()
    }

    /// The camera for visit `i`: the room with the subject, or with nobody for the whole visit.
    fn build_camera(&self, i: usize) -> Result<SimCamera, CameraError> {
        let v = self.schedule.get(i).ok_or(CameraError::EndOfStream)?;
        let mut s = self.settings.clone();
        let params = match &v.subject {
            Some(p) => {
                s.absent = Vec::new();
                p.clone()
            }
            None => {
                s.absent = vec![(0.0, f64::MAX)];
                RsmParams::typical(Pattern::Eupnea)
            }
        };
        log::info!(
            "visit {}/{} `{}` from {:.1} s (seed {})",
            i + 1,
            self.schedule.len(),
            v.visit,
            v.start_s,
            v.seed
        );
        SimCamera::new(s, Rsm::new(params, v.seed), v.seed)
            .map_err(|e| CameraError::Fatal(format!("visit {}: {e}", i + 1)))
    }
}

impl FrameSource for VisitQueue {
    fn read_frame(&mut self, frame: &mut DepthFrame) -> Result<(), CameraError> {
        let k = self.next;
        let before = self.cursor;
        while self
            .schedule
            .get(self.cursor)
            .is_some_and(|v| k >= v.end_frame)
        {
            self.cursor += 1;
        }
        if self.cursor != before || self.camera.is_none() {
            // Drop the old camera before building the next: one static scene in memory.
            self.camera = None;
            if self.cursor >= self.schedule.len() {
                return Err(CameraError::EndOfStream);
            }
            self.camera = Some(self.build_camera(self.cursor)?);
        }
        let cam = self.camera.as_mut().ok_or(CameraError::EndOfStream)?;
        cam.read_frame(frame)?;
        frame.seq = k;
        frame.timestamp_s = k as f64 / self.settings.fps;
        self.last = Some(VisitFrameTruth {
            seq: k,
            t_s: frame.timestamp_s,
            visit: self.cursor,
            frame: cam.last_frame_truth(),
        });
        self.next += 1;
        Ok(())
    }

    fn fps(&self) -> f64 {
        self.settings.fps
    }

    fn describe(&self) -> String {
        let s = &self.settings;
        let people = self.schedule.iter().filter(|v| v.subject.is_some()).count();
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        format!(
            "simulated {}x{}@{} queue of {} ({}) seed {}",
            s.width,
            s.height,
            s.fps,
            plural(self.schedule.len(), "visit", "visits"),
            plural(people, "person", "people"),
            self.seed
        )
    }

    fn end_reason(&self) -> &'static str {
        "end_of_visits"
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
