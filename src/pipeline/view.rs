//! What the kiosk's readout shows: plain values the pipeline keeps current as it runs.
//!
//! Nothing here draws or does IO: the display (`crate::display`) draws a [`Readout`] as it is,
//! without copying it into a struct of its own. [`Waveform`] is the fixed-capacity history of the
//! breathing signal (allocation-free once full).

use crate::screening::SessionView;
use crate::types::Pattern;
use std::collections::VecDeque;

/// Ring buffer of the most recent breathing samples, in millimetres of chest displacement.
///
/// Capacity is fixed at construction (e.g. 300 samples = 30 s at 10 Hz); pushing into a full
/// buffer drops the oldest sample, so steady-state pushes do not allocate.
#[derive(Debug, Clone, PartialEq)]
pub struct Waveform {
    samples: VecDeque<f32>,
    capacity: usize,
    sample_hz: f32,
}

impl Waveform {
    /// An empty waveform holding at most `capacity` samples (at least 2) taken at `sample_hz` Hz.
    pub fn new(capacity: usize, sample_hz: f32) -> Self {
        let capacity = capacity.max(2);
        Self {
            samples: VecDeque::with_capacity(capacity),
            capacity,
            sample_hz,
        }
    }

    /// A waveform sized for `seconds` of history at `sample_hz` Hz (non-finite or negative → 2 samples).
    pub fn with_span(seconds: f32, sample_hz: f32) -> Self {
        let n = (seconds * sample_hz).round();
        let n = if n.is_finite() && n > 0.0 {
            n.min(1.0e6) as usize
        } else {
            2
        };
        Self::new(n, sample_hz)
    }

    /// Append one sample in mm; non-finite values are kept and drawn as a gap.
    pub fn push(&mut self, mm: f32) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(mm);
    }

    /// Append several samples in mm, oldest first.
    pub fn extend_from_slice(&mut self, mm: &[f32]) {
        for &v in mm {
            self.push(v);
        }
    }

    /// Remove all samples (capacity is kept).
    pub fn clear(&mut self) {
        self.samples.clear();
    }

    /// Samples in mm, oldest first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = f32> + '_ {
        self.samples.iter().copied()
    }

    /// Number of samples held.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether no sample is held.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Maximum number of samples held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sample rate in Hz, as given at construction.
    pub fn sample_hz(&self) -> f32 {
        self.sample_hz
    }

    /// Time span of a full buffer in seconds (0 if the sample rate is not positive).
    pub fn span_s(&self) -> f32 {
        if self.sample_hz > 0.0 && self.sample_hz.is_finite() {
            self.capacity as f32 / self.sample_hz
        } else {
            0.0
        }
    }

    /// Smallest and largest finite sample in mm; `None` if there is none.
    pub fn range_mm(&self) -> Option<(f32, f32)> {
        self.iter()
            .filter(|v| v.is_finite())
            .fold(None, |acc, v| match acc {
                None => Some((v, v)),
                Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
            })
    }
}

impl Default for Waveform {
    /// 30 s at 10 Hz (300 samples).
    fn default() -> Self {
        Self::new(300, 10.0)
    }
}

/// State of the depth camera as shown in the header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CameraStatus {
    /// Frames are arriving.
    #[default]
    Ok,
    /// The camera stopped delivering frames.
    Lost,
    /// Any other condition, shown verbatim (ASCII; other characters become '?').
    Message(String),
}

/// The latest chest X-ray screening result, shown on one line.
#[derive(Debug, Clone, PartialEq)]
pub struct XrayResult {
    /// Short finding text, e.g. "no finding" or "consolidation"; for an image out of scope, why
    /// (e.g. "rotated").
    pub finding: String,
    /// Probability of the finding in 0..=1; `None` = the image was not assessable.
    pub probability: Option<f32>,
    /// File the image came from (only its file name is shown).
    pub source: String,
    /// False when the finding is not validated at this site (no site calibration): the line
    /// says so, and the finding is advisory only.
    pub site_validated: bool,
}

/// Everything the readout shows. The pipeline owns one and updates it in place as inputs arrive.
#[derive(Debug, Clone, PartialEq)]
pub struct Readout {
    /// Recent chest displacement in mm (auto-scaled on screen; newest sample at the right).
    pub waveform: Waveform,
    /// Breathing rate in breaths/min; `None` (or non-finite) shows "--".
    pub rate_bpm: Option<f32>,
    /// Most likely pattern and its confidence in 0..=1; `None` shows "--".
    pub pattern: Option<(Pattern, f32)>,
    /// Whether a person is in front of the camera.
    pub person_present: bool,
    /// Signal-quality index in 0..=1 (drawn as a bar with a percentage).
    pub quality: f32,
    /// Length of the ongoing breathing pause in seconds; `None` or 0 when breathing.
    pub apnea_s: Option<f32>,
    /// Camera state for the header.
    pub camera: CameraStatus,
    /// Latest X-ray result; `None` shows "X-ray: none".
    pub xray: Option<XrayResult>,
    /// Seconds since the daemon started (clock-free: taken from the stream's timestamps).
    pub elapsed_s: f64,
    /// The screening session: waiting, measuring (with progress) or its result.
    pub session: SessionView,
    /// Whether results are being saved to the record store; `false` shows "RECORDS NOT SAVED".
    pub records_saving: bool,
}

impl Default for Readout {
    /// Empty readout: no data yet, no person, camera ok, 30 s waveform at 10 Hz.
    fn default() -> Self {
        Self {
            waveform: Waveform::default(),
            rate_bpm: None,
            pattern: None,
            person_present: false,
            quality: 0.0,
            apnea_s: None,
            camera: CameraStatus::Ok,
            xray: None,
            elapsed_s: 0.0,
            session: SessionView::Waiting,
            records_saving: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waveform_drops_oldest_when_full() {
        let mut w = Waveform::new(3, 10.0);
        w.extend_from_slice(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(w.iter().collect::<Vec<_>>(), vec![2.0, 3.0, 4.0]);
        assert_eq!(w.capacity(), 3);
        assert!((w.span_s() - 0.3).abs() < 1e-6);
        w.push(f32::NAN);
        assert_eq!(w.range_mm(), Some((3.0, 4.0)));
    }

    #[test]
    fn waveform_span_constructor() {
        assert_eq!(Waveform::with_span(30.0, 10.0).capacity(), 300);
        assert_eq!(Waveform::with_span(f32::NAN, 10.0).capacity(), 2);
    }
}
