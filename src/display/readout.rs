//! The data shown on the local readout: plain values the daemon fills on every refresh.
//!
//! Nothing here draws or does IO. [`Readout`] holds what the screen shows; [`Waveform`] is the
//! fixed-capacity history of the breathing signal (allocation-free once full); the `*_text`
//! functions turn values into the exact ASCII strings drawn, so that tests can check them directly.

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
    /// Short finding text, e.g. "no finding" or "consolidation".
    pub finding: String,
    /// Probability of the finding in 0..=1.
    pub probability: f32,
    /// File the image came from (only its file name is shown).
    pub source: String,
}

/// Everything the readout shows. The daemon owns one and updates it in place before each refresh.
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
        }
    }
}

/// The disclaimer line that is always drawn.
pub const DISCLAIMER: &str = "Screening aid only - not a diagnosis";

/// Rate as drawn: one decimal in breaths/min, "--" when unknown, non-finite or outside 0..200.
pub fn rate_text(rate_bpm: Option<f32>) -> String {
    match rate_bpm {
        Some(r) if r.is_finite() && (0.0..200.0).contains(&r) => format!("{r:.1}"),
        _ => "--".to_string(),
    }
}

/// A fraction in 0..=1 as a whole percentage ("87%"); "--" when non-finite; clamped otherwise.
pub fn percent_text(fraction: f32) -> String {
    if fraction.is_finite() {
        format!("{:.0}%", fraction.clamp(0.0, 1.0) * 100.0)
    } else {
        "--".to_string()
    }
}

/// Time since start as "t+HH:MM:SS" ("t+--:--:--" when negative or non-finite; hours wrap at 100).
pub fn time_text(elapsed_s: f64) -> String {
    if !elapsed_s.is_finite() || elapsed_s < 0.0 {
        return "t+--:--:--".to_string();
    }
    let s = elapsed_s.floor().min(1.0e12) as u64;
    format!(
        "t+{:02}:{:02}:{:02}",
        (s / 3600) % 100,
        (s / 60) % 60,
        s % 60
    )
}

/// The X-ray line: "X-ray: none" or "X-ray: FINDING 82% (FILE)", file name only.
pub fn xray_text(x: Option<&XrayResult>) -> String {
    match x {
        None => "X-ray: none".to_string(),
        Some(x) => {
            let file = std::path::Path::new(&x.source)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| x.source.clone());
            format!(
                "X-ray: {} {} ({})",
                x.finding,
                percent_text(x.probability),
                file
            )
        }
    }
}

/// Camera state as drawn in the header.
pub fn camera_text(c: &CameraStatus) -> String {
    match c {
        CameraStatus::Ok => "camera ok".to_string(),
        CameraStatus::Lost => "CAMERA LOST".to_string(),
        CameraStatus::Message(m) => m.clone(),
    }
}

/// The apnea indicator: `Some("APNEA 12 s")` while a pause is ongoing, else `None`.
pub fn apnea_text(apnea_s: Option<f32>) -> Option<String> {
    match apnea_s {
        Some(s) if s.is_finite() && s > 0.0 => Some(format!("APNEA {:.0} s", s.min(99_999.0))),
        _ => None,
    }
}

/// Replace every non-printable-ASCII character by '?', so mono ASCII fonts draw it predictably.
pub fn ascii_only(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
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

    #[test]
    fn texts() {
        assert_eq!(rate_text(None), "--");
        assert_eq!(rate_text(Some(f32::NAN)), "--");
        assert_eq!(rate_text(Some(15.24)), "15.2");
        assert_eq!(percent_text(0.874), "87%");
        assert_eq!(percent_text(1.7), "100%");
        assert_eq!(time_text(3725.9), "t+01:02:05");
        assert_eq!(time_text(-1.0), "t+--:--:--");
        assert_eq!(apnea_text(Some(12.4)).as_deref(), Some("APNEA 12 s"));
        assert_eq!(apnea_text(Some(0.0)), None);
        assert_eq!(ascii_only("Biot\u{2019}s"), "Biot?s");
        let x = XrayResult {
            finding: "consolidation".into(),
            probability: 0.82,
            source: "/inbox/chest_01.png".into(),
        };
        assert_eq!(
            xray_text(Some(&x)),
            "X-ray: consolidation 82% (chest_01.png)"
        );
        assert_eq!(xray_text(None), "X-ray: none");
    }
}
