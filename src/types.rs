//! Plain data passed between pipeline stages. No IO, no clocks, no hardware.
//!
//! Units are part of every name or doc comment: metres (`_m`), millimetres (`_mm`), seconds (`_s`),
//! hertz (`_hz`), breaths per minute (`_bpm`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One depth image in the camera's native Z16 format.
///
/// `data` holds `width * height` raw depth values, row-major; the distance of a pixel in metres is
/// `raw * depth_unit_m`. A raw value of 0 means "no depth" (invalid pixel), as in librealsense.
/// The buffer is reused from frame to frame by [`crate::camera::FrameSource::read_frame`], so the
/// capture loop allocates nothing in steady state.
#[derive(Debug, Clone, PartialEq)]
pub struct DepthFrame {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Metres per raw depth unit (librealsense's default is 0.001).
    pub depth_unit_m: f32,
    /// Capture time in seconds on the source's own clock (monotonic within one stream).
    pub timestamp_s: f64,
    /// Frame number from the source; gaps mean frames were lost before they reached us.
    pub seq: u64,
    /// Raw Z16 depth values, `width * height` of them, row-major.
    pub data: Vec<u16>,
    /// The pinhole intrinsics of this frame's pixels, where the source knows them (a RealSense
    /// stream profile, a `.bag` recording's stream, the simulated camera); `None` otherwise, and
    /// consumers fall back to a pinhole from a configured field of view
    /// ([`Intrinsics::from_horizontal_fov`]).
    pub intrinsics: Option<Intrinsics>,
}

/// Pinhole camera intrinsics in pixels, as librealsense gives them (distortion ignored: D4xx depth
/// streams have none). A pixel (u, v) at depth z deprojects to `((u - cx) z / fx, (v - cy) z / fy, z)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Intrinsics {
    /// Focal length along x, pixels.
    pub fx: f32,
    /// Focal length along y, pixels.
    pub fy: f32,
    /// Principal point, column (pixels from the left edge of the first column's centre).
    pub cx: f32,
    /// Principal point, row.
    pub cy: f32,
}

impl Intrinsics {
    /// A centred pinhole with square pixels and the given horizontal field of view (degrees) for a
    /// `width x height` image: the fallback when a source gives no intrinsics.
    pub fn from_horizontal_fov(width: u32, height: u32, fov_deg: f32) -> Self {
        let fx = 0.5 * width as f32 / (0.5 * fov_deg.to_radians()).tan();
        Self {
            fx,
            fy: fx,
            cx: 0.5 * (width as f32 - 1.0),
            cy: 0.5 * (height as f32 - 1.0),
        }
    }

    /// Whether the values can be used to deproject: finite, positive focal lengths.
    pub fn is_usable(&self) -> bool {
        let finite = [self.fx, self.fy, self.cx, self.cy]
            .iter()
            .all(|v| v.is_finite());
        finite && self.fx > 1e-3 && self.fy > 1e-3
    }
}

impl DepthFrame {
    /// An all-invalid (zero) frame of the given size, with its buffer allocated once.
    pub fn new(width: u32, height: u32, depth_unit_m: f32) -> Self {
        Self {
            width,
            height,
            depth_unit_m,
            timestamp_s: 0.0,
            seq: 0,
            data: vec![0; width as usize * height as usize],
            intrinsics: None,
        }
    }

    /// Raw value at column `x`, row `y`; `None` outside the image.
    pub fn get(&self, x: u32, y: u32) -> Option<u16> {
        if x >= self.width || y >= self.height {
            return None;
        }
        self.data
            .get(y as usize * self.width as usize + x as usize)
            .copied()
    }

    /// Whether `data` has exactly `width * height` values.
    pub fn is_consistent(&self) -> bool {
        self.data.len() == self.width as usize * self.height as usize
    }
}

/// A rectangle of pixels, `x0..x1` by `y0..y1` (end-exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roi {
    /// First column.
    pub x0: u32,
    /// First row.
    pub y0: u32,
    /// One past the last column.
    pub x1: u32,
    /// One past the last row.
    pub y1: u32,
}

impl Roi {
    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.x1.saturating_sub(self.x0)
    }
    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.y1.saturating_sub(self.y0)
    }
    /// Number of pixels.
    pub fn area(&self) -> u32 {
        self.width() * self.height()
    }
}

/// The six breathing patterns. Their definitions (shared by the simulator, the classifiers and the
/// evaluation) are in the README, section "Breathing patterns".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// Regular breathing at 12-20 breaths/min, steady depth, no pause of 10 s or more.
    Eupnea,
    /// Regular breathing faster than 20/min, often shallow.
    Tachypnea,
    /// Regular breathing slower than 12/min.
    Bradypnea,
    /// Clusters of about 2-6 quick breaths of similar depth separated by irregular pauses.
    Biots,
    /// Depth waxes and wanes in 40-120 s cycles between central apneas or hypopneas.
    CheyneStokes,
    /// Otherwise normal breathing interrupted by pauses of 10 s or more.
    CentralApnea,
}

impl Pattern {
    /// All patterns, in the fixed class order used by score vectors and models.
    pub const ALL: [Pattern; 6] = [
        Pattern::Eupnea,
        Pattern::Tachypnea,
        Pattern::Bradypnea,
        Pattern::Biots,
        Pattern::CheyneStokes,
        Pattern::CentralApnea,
    ];

    /// The snake_case name used on the command line, in JSON and in CSV files.
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Eupnea => "eupnea",
            Pattern::Tachypnea => "tachypnea",
            Pattern::Bradypnea => "bradypnea",
            Pattern::Biots => "biots",
            Pattern::CheyneStokes => "cheyne_stokes",
            Pattern::CentralApnea => "central_apnea",
        }
    }

    /// A short human label for the display.
    pub fn label(self) -> &'static str {
        match self {
            Pattern::Eupnea => "Eupnea",
            Pattern::Tachypnea => "Tachypnea",
            Pattern::Bradypnea => "Bradypnea",
            Pattern::Biots => "Biot's",
            Pattern::CheyneStokes => "Cheyne-Stokes",
            Pattern::CentralApnea => "Central apnea",
        }
    }

    /// Position of this pattern in [`Pattern::ALL`] and in score vectors.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the pattern is regular breathing with one meaningful rate.
    pub fn is_regular(self) -> bool {
        matches!(
            self,
            Pattern::Eupnea | Pattern::Tachypnea | Pattern::Bradypnea
        )
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for an unknown pattern name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown breathing pattern '{0}' (expected one of: eupnea, tachypnea, bradypnea, biots, cheyne_stokes, central_apnea)")]
pub struct UnknownPattern(pub String);

impl FromStr for Pattern {
    type Err = UnknownPattern;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        let norm = norm.replace('\'', "");
        Pattern::ALL
            .into_iter()
            .find(|p| p.name() == norm)
            .ok_or_else(|| UnknownPattern(s.to_string()))
    }
}

/// Class scores, one per [`Pattern`] in [`Pattern::ALL`] order, non-negative and summing to 1.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PatternScores(pub [f32; 6]);

impl PatternScores {
    /// Normalise non-negative evidence into scores summing to 1 (uniform if all zero or invalid).
    pub fn from_evidence(evidence: [f32; 6]) -> Self {
        let clean = evidence.map(|v| if v.is_finite() && v > 0.0 { v } else { 0.0 });
        let sum: f32 = clean.iter().sum();
        if sum <= 0.0 {
            return Self([1.0 / 6.0; 6]);
        }
        Self(clean.map(|v| v / sum))
    }

    /// The most likely pattern and its score.
    pub fn best(&self) -> (Pattern, f32) {
        let mut best = 0;
        for i in 1..6 {
            if self.0[i] > self.0[best] {
                best = i;
            }
        }
        (Pattern::ALL[best], self.0[best])
    }

    /// Score of one pattern.
    pub fn get(&self, p: Pattern) -> f32 {
        self.0[p.index()]
    }
}

impl Serialize for PatternScores {
    /// Serialised as a JSON object `{ "eupnea": 0.9, ... }` in class order.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(6))?;
        for p in Pattern::ALL {
            m.serialize_entry(p.name(), &self.0[p.index()])?;
        }
        m.end()
    }
}

/// A pause in breathing of at least the configured minimum (10 s by default).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ApneaInterval {
    /// Start of the pause, seconds on the stream's clock.
    pub start_s: f64,
    /// End of the pause, seconds on the stream's clock.
    pub end_s: f64,
}

impl ApneaInterval {
    /// Length of the pause in seconds.
    pub fn duration_s(&self) -> f64 {
        self.end_s - self.start_s
    }
    /// Whether two intervals share any time.
    pub fn overlaps(&self, other: &ApneaInterval) -> bool {
        self.start_s < other.end_s && other.start_s < self.end_s
    }
}

/// The respiration stage's reading of the latest analysis window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreathingReading {
    /// Time of the newest sample in the window, seconds on the stream's clock.
    pub t_s: f64,
    /// Breathing rate in breaths/min, `None` when no rate is meaningful (too few breaths, poor signal).
    pub rate_bpm: Option<f32>,
    /// Rate from the spectrum's dominant peak, breaths/min (diagnostic).
    pub spectral_rate_bpm: Option<f32>,
    /// Rate from counted breaths, breaths/min (diagnostic).
    pub count_rate_bpm: Option<f32>,
    /// Most likely pattern.
    pub pattern: Pattern,
    /// Scores of all six patterns.
    pub scores: PatternScores,
    /// Signal-quality index in 0..=1 (1 = clean breathing signal).
    pub quality: f32,
    /// Movement artefacts (coughs, jolts) found in the window and taken out of its rate and
    /// pattern evidence.
    pub artefacts: usize,
    /// Which classifier produced `pattern` and `scores`.
    pub classifier: &'static str,
}
