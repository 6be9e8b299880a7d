//! Chest region of interest and its displacement signal, from depth alone.
//!
//! [`ChestTracker::process`] turns each depth frame into one [`ChestSample`]: the mean depth of
//! the valid chest-ROI pixels within a depth gate (robust to zeros, holes and background showing
//! through), as displacement in mm toward the camera. The ROI is found by `chest.rs`, re-found
//! every `redetect_interval_s` and whenever its pixels stop looking like the chest; when it moves,
//! an offset measured on the same frame keeps the signal continuous. Presence has hysteresis.
//! Scratch space is allocated on the first frame (or a size change), never per frame.

use super::chest::{Detection, Detector};
use crate::types::{DepthFrame, Roi};

/// Settings of the chest tracker.
#[derive(Debug, Clone, PartialEq)]
pub struct ChestSettings {
    /// Nearest distance at which a person is looked for, metres.
    pub min_distance_m: f32,
    /// Farthest distance at which a person is looked for, metres.
    pub max_distance_m: f32,
    /// Horizontal field of view of the depth camera, degrees (D435: 87), for metric sizes.
    pub horizontal_fov_deg: f32,
    /// Time between two routine re-detections of the chest, s.
    pub redetect_interval_s: f64,
    /// Half-width of the depth gate around the previous ROI mean, mm.
    pub gate_mm: f32,
    /// Fewest ROI pixels (fraction) valid and inside the gate for a usable measurement.
    pub min_valid_fraction: f32,
    /// A re-detected ROI replaces the current one when a corner moved more than this, metres.
    pub move_threshold_m: f32,
    /// Consecutive frames with a usable chest before `person_present` turns true.
    pub present_after_frames: u32,
    /// Consecutive frames without one before `person_present` turns false.
    pub absent_after_frames: u32,
    /// Consecutive failed detections after which the ROI is dropped.
    pub lost_after_frames: u32,
}

impl Default for ChestSettings {
    fn default() -> Self {
        Self {
            min_distance_m: 0.3,
            max_distance_m: 2.5,
            horizontal_fov_deg: 87.0,
            redetect_interval_s: 1.0,
            gate_mm: 100.0,
            min_valid_fraction: 0.3,
            move_threshold_m: 0.02,
            present_after_frames: 5,
            absent_after_frames: 30,
            lost_after_frames: 10,
        }
    }
}

/// A chest setting outside its allowed range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("chest tracker: {name} = {value} is outside the allowed range {range}")]
pub struct ChestSettingError {
    /// Name of the field in [`ChestSettings`].
    pub name: &'static str,
    /// The rejected value, formatted.
    pub value: String,
    /// The allowed range, in words.
    pub range: String,
}

fn check(name: &'static str, v: f64, lo: f64, hi: f64) -> Result<(), ChestSettingError> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        return Ok(());
    }
    Err(ChestSettingError {
        name,
        value: v.to_string(),
        range: format!("{lo}..={hi}"),
    })
}

/// A setting that has a configuration key, checked against its [`crate::limits::Limit`].
fn limit(l: crate::limits::Limit, v: f64) -> Result<(), ChestSettingError> {
    l.check(v).map_err(|e| ChestSettingError {
        name: e.key,
        value: e.value,
        range: e.allowed,
    })
}

impl ChestSettings {
    /// Check every field against its allowed range. [`ChestTracker`] never panics on settings
    /// that fail this, but it may never find a chest with them.
    pub fn validate(&self) -> Result<(), ChestSettingError> {
        use crate::limits::{CHEST_MAX_DISTANCE, CHEST_MIN_DISTANCE, CHEST_REDETECT};
        let min = f64::from(self.min_distance_m);
        limit(CHEST_MIN_DISTANCE, min)?;
        limit(CHEST_MAX_DISTANCE, self.max_distance_m.into())?;
        check(
            "max_distance_m",
            self.max_distance_m.into(),
            min + 0.1,
            CHEST_MAX_DISTANCE.max,
        )?;
        limit(CHEST_REDETECT, self.redetect_interval_s)?;
        check(
            "horizontal_fov_deg",
            self.horizontal_fov_deg.into(),
            30.0,
            150.0,
        )?;
        check("gate_mm", self.gate_mm.into(), 5.0, 1000.0)?;
        check(
            "min_valid_fraction",
            self.min_valid_fraction.into(),
            0.01,
            1.0,
        )?;
        check("move_threshold_m", self.move_threshold_m.into(), 0.0, 0.5)?;
        check(
            "present_after_frames",
            self.present_after_frames.into(),
            1.0,
            1000.0,
        )?;
        check(
            "absent_after_frames",
            self.absent_after_frames.into(),
            1.0,
            10_000.0,
        )?;
        check(
            "lost_after_frames",
            self.lost_after_frames.into(),
            1.0,
            10_000.0,
        )
    }
}

/// One frame's chest measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChestSample {
    /// Frame time, s (the frame's own timestamp).
    pub t_s: f64,
    /// Chest displacement toward the camera, mm (minus the change of the mean ROI depth, with an
    /// arbitrary offset); `None` when this frame gave no usable chest measurement.
    pub displacement_mm: Option<f32>,
    /// Whether a person is in front of the camera (with hysteresis).
    pub person_present: bool,
    /// Fraction of ROI pixels that were valid and inside the depth gate (0 without an ROI).
    pub valid_fraction: f32,
    /// The chest ROI in use, pixels.
    pub roi: Option<Roi>,
}

/// Sum and count of the raw values in `lo..=hi` (so zeros are skipped when `lo >= 1`) inside
/// `roi` of a `width`-wide row-major image. Pixels outside `data` are ignored.
pub fn roi_gated_sum(data: &[u16], width: u32, roi: Roi, lo: u16, hi: u16) -> (u64, u32) {
    let (mut sum, mut n) = (0u64, 0u32);
    if hi < lo {
        return (sum, n);
    }
    let (w, span) = (width as usize, hi - lo);
    for y in roi.y0 as usize..roi.y1 as usize {
        let (a, b) = (y * w + roi.x0 as usize, y * w + roi.x1.min(width) as usize);
        let row = data.get(a..b.max(a)).unwrap_or(&[]);
        // Branch-free so it vectorises; a row is at most 1920 values, so u32 partials fit.
        let (mut rs, mut rn) = (0u32, 0u32);
        for &v in row {
            let ok = u32::from(v.wrapping_sub(lo) <= span);
            rs += u32::from(v) * ok;
            rn += ok;
        }
        sum += u64::from(rs);
        n += rn;
    }
    (sum, n)
}

/// The current ROI and its running state.
#[derive(Debug, Clone, Copy)]
struct Track {
    roi: Roi,
    /// Previous mean depth in the ROI, raw units (the gate's centre).
    mean_raw: f32,
    /// Added to minus the mean depth (mm) to give the displacement.
    offset_mm: f32,
}

/// Per-frame chest tracker; see the module documentation.
#[derive(Debug, Clone)]
pub struct ChestTracker {
    settings: ChestSettings,
    detector: Detector,
    size: (u32, u32),
    track: Option<Track>,
    last_detect_s: f64,
    misses: u32,
    last_disp_mm: Option<f32>,
    present: bool,
    streak: u32,
}

impl ChestTracker {
    /// A tracker with no ROI yet; scratch space is allocated on the first frame.
    pub fn new(settings: ChestSettings) -> Self {
        Self {
            settings,
            detector: Detector::default(),
            size: (0, 0),
            track: None,
            last_detect_s: f64::NEG_INFINITY,
            misses: 0,
            last_disp_mm: None,
            present: false,
            streak: 0,
        }
    }

    /// The settings in use.
    pub fn settings(&self) -> &ChestSettings {
        &self.settings
    }

    /// The chest ROI being tracked, pixels (`None` before a chest was found or once lost).
    pub fn roi(&self) -> Option<Roi> {
        self.track.map(|tr| tr.roi)
    }

    /// Measure the chest in `frame`. Never panics; allocates only on the first frame or when the
    /// frame size changes (which also restarts tracking).
    pub fn process(&mut self, frame: &DepthFrame) -> ChestSample {
        let t = frame.timestamp_s;
        let unit_ok = frame.depth_unit_m.is_finite() && frame.depth_unit_m > 0.0;
        if !frame.is_consistent() || !unit_ok || frame.width == 0 || frame.height == 0 {
            return self.sample(t, None, 0.0, false);
        }
        if self.size != (frame.width, frame.height) {
            self.size = (frame.width, frame.height);
            self.detector.resize(frame.width, frame.height);
            self.track = None;
            self.last_disp_mm = None;
        }
        let unit_mm = frame.depth_unit_m * 1000.0;
        let current = self
            .track
            .map(|tr| self.measure(frame, tr.roi, tr.mean_raw));
        let usable =
            |m: Option<(f32, f32)>| m.filter(|&(_, f)| f >= self.settings.min_valid_fraction);
        let since = t - self.last_detect_s;
        let due = since.is_nan() || since < 0.0 || since >= self.settings.redetect_interval_s;
        if self.track.is_none() || due || usable(current.flatten()).is_none() {
            self.last_detect_s = t;
            match self.detector.detect(frame, &self.settings) {
                Some(d) => self.adopt(frame, d, usable(current.flatten()), unit_mm),
                None if usable(current.flatten()).is_none() => self.missed(),
                None => {}
            }
        }
        let Some(tr) = self.track else {
            return self.sample(t, None, 0.0, false);
        };
        let Some((mean_raw, frac)) = self.measure(frame, tr.roi, tr.mean_raw) else {
            return self.sample(t, None, 0.0, false);
        };
        if frac < self.settings.min_valid_fraction {
            return self.sample(t, None, frac, false);
        }
        let disp = tr.offset_mm - mean_raw * unit_mm;
        if let Some(tr) = self.track.as_mut() {
            tr.mean_raw = mean_raw;
        }
        self.last_disp_mm = Some(disp);
        self.sample(t, Some(disp), frac, true)
    }

    /// Mean raw depth of the ROI pixels within the gate around `centre_raw`, and the fraction of
    /// ROI pixels that were; `None` when none were.
    fn measure(&self, frame: &DepthFrame, roi: Roi, centre_raw: f32) -> Option<(f32, f32)> {
        let gate = self.settings.gate_mm / (frame.depth_unit_m * 1000.0);
        let lo = (centre_raw - gate).clamp(1.0, 65_535.0) as u16;
        let hi = (centre_raw + gate).clamp(1.0, 65_535.0) as u16;
        let (sum, n) = roi_gated_sum(&frame.data, frame.width, roi, lo, hi);
        let area = roi.area().max(1);
        (n > 0).then(|| (sum as f32 / n as f32, n as f32 / area as f32))
    }

    /// Take a fresh detection, keeping the displacement continuous across the change of ROI.
    fn adopt(&mut self, frame: &DepthFrame, d: Detection, old: Option<(f32, f32)>, unit_mm: f32) {
        self.misses = 0;
        let ppm = 0.5 * frame.width as f32
            / (0.5 * self.settings.horizontal_fov_deg.to_radians()).tan()
            / (d.median_raw as f32 * unit_mm / 1000.0).max(0.1);
        let tol = (self.settings.move_threshold_m * ppm) as i64;
        if let (Some(tr), Some(_)) = (self.track, old) {
            let moved = |a: u32, b: u32| (i64::from(a) - i64::from(b)).abs() > tol;
            let (r, n) = (tr.roi, d.roi);
            if !(moved(r.x0, n.x0) || moved(r.y0, n.y0) || moved(r.x1, n.x1) || moved(r.y1, n.y1)) {
                return;
            }
        }
        let Some((new_mean, _)) = self.measure(frame, d.roi, f32::from(d.median_raw)) else {
            return;
        };
        let offset_mm = match (self.track, old, self.last_disp_mm) {
            // Same frame, both ROIs valid: carry the difference of their means.
            (Some(tr), Some((old_mean, _)), _) => {
                tr.offset_mm - old_mean * unit_mm + new_mean * unit_mm
            }
            // Old ROI unusable: continue from the last output.
            (_, _, Some(last)) => last + new_mean * unit_mm,
            (_, _, None) => new_mean * unit_mm,
        };
        log::debug!("chest ROI {:?} at {:.0} mm", d.roi, new_mean * unit_mm);
        self.track = Some(Track {
            roi: d.roi,
            mean_raw: new_mean,
            offset_mm,
        });
    }

    fn missed(&mut self) {
        self.misses = self.misses.saturating_add(1);
        if self.misses >= self.settings.lost_after_frames {
            self.track = None;
        }
    }

    /// Build the sample and update presence with hysteresis from this frame's evidence.
    fn sample(&mut self, t_s: f64, disp: Option<f32>, frac: f32, evidence: bool) -> ChestSample {
        if evidence == self.present {
            self.streak = 0;
        } else {
            self.streak = self.streak.saturating_add(1);
            let need = if evidence {
                self.settings.present_after_frames
            } else {
                self.settings.absent_after_frames
            };
            if self.streak >= need {
                self.present = evidence;
                self.streak = 0;
            }
        }
        ChestSample {
            t_s,
            displacement_mm: disp,
            person_present: self.present,
            valid_fraction: frac,
            roi: self.track.map(|tr| tr.roi),
        }
    }
}

#[cfg(test)]
#[path = "roi_tests.rs"]
mod tests;
