//! Chest region of interest and its displacement signal, from depth alone.
//!
//! [`ChestTracker::process`] turns each depth frame into one [`ChestSample`]: the displacement of
//! the chest along the normal of its surface, toward the camera, in mm. The valid chest-ROI pixels
//! within a depth gate (robust to zeros, holes and background showing through) are deprojected
//! with the frame's pinhole intrinsics (or a pinhole from `horizontal_fov_deg` when the source
//! gives none); a least-squares plane through a bounded grid of them (at most
//! [`MAX_PLANE_POINTS`], see `plane.rs`) gives a reference normal and point, fitted when an ROI is
//! adopted and then updated slowly (time constant [`PLANE_TIME_CONSTANT_S`]); the sample is minus
//! the mean signed distance of all the gated points from that reference plane. A tilted camera or
//! a person sitting at an angle thus reads the motion along the chest's normal, not its depth.
//! When no plane can be trusted (too few points, a near-singular fit, a surface seen nearly
//! edge-on) the sample is minus the mean depth, as before the plane. The ROI is found by
//! `chest.rs`, re-found every `redetect_interval_s` and whenever its pixels stop looking like the
//! chest; when it moves, an offset measured on the same frame keeps the signal continuous.
//! Presence has hysteresis. Scratch space is allocated on the first frame (or a size change),
//! never per frame.

use super::chest::{Detection, Detector};
use super::plane::{deproject, fit_plane, Degenerate, Plane};
use crate::types::{DepthFrame, Intrinsics, Roi};
use nalgebra::Vector3;

/// Most ROI pixels deprojected for one plane fit (a grid over the ROI).
pub const MAX_PLANE_POINTS: usize = 400;

/// Time constant of the slow update of the reference plane's normal, s.
pub const PLANE_TIME_CONSTANT_S: f64 = 20.0;

/// Time between two refits of the plane for the slow update, s (the fit costs more than the
/// per-frame measurement; at 30 fps it runs on one frame in eight).
pub const PLANE_REFIT_INTERVAL_S: f64 = 0.25;

/// Settings of the chest tracker.
#[derive(Debug, Clone, PartialEq)]
pub struct ChestSettings {
    /// Nearest distance at which a person is looked for, metres.
    pub min_distance_m: f32,
    /// Farthest distance at which a person is looked for, metres.
    pub max_distance_m: f32,
    /// Horizontal field of view of the depth camera, degrees (D435: 87), for metric sizes, and
    /// the centred pinhole used when a frame carries no intrinsics.
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
    /// Measure the chest's displacement along the normal of its surface (a fitted plane); `false`
    /// measures the mean depth of the ROI, as before the plane (for comparison).
    pub along_normal: bool,
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
            along_normal: true,
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
    /// Chest displacement toward the camera, mm, along the normal of the chest's surface (minus
    /// the change of the mean gated ROI point's distance from the reference plane; minus the
    /// change of the mean ROI depth when no plane could be fitted), with an arbitrary offset;
    /// `None` when this frame gave no usable chest measurement.
    pub displacement_mm: Option<f32>,
    /// Whether a person is in front of the camera (with hysteresis).
    pub person_present: bool,
    /// Fraction of ROI pixels that were valid and inside the depth gate (0 without an ROI).
    pub valid_fraction: f32,
    /// The chest ROI in use, pixels.
    pub roi: Option<Roi>,
}

/// Sums over the raw values in a depth gate inside an ROI (see [`roi_gated_moments`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GatedSums {
    /// Sum of the raw values.
    pub sum: u64,
    /// Sum of each raw value times its column's distance from the ROI's first column.
    pub sum_x: u64,
    /// Sum of each raw value times its row's distance from the ROI's first row.
    pub sum_y: u64,
    /// Number of values summed.
    pub n: u32,
}

/// Sum and count of the raw values in `lo..=hi` (so zeros are skipped when `lo >= 1`) inside
/// `roi` of a `width`-wide row-major image, with their first moments along x and y: enough to
/// deproject the mean of the gated pixels exactly (deprojection is linear in the raw value for a
/// fixed pixel). Pixels outside `data` are ignored. Branch-free so it vectorises; a row is at most
/// 1920 values, so u32 partial sums fit.
pub fn roi_gated_moments(data: &[u16], width: u32, roi: Roi, lo: u16, hi: u16) -> GatedSums {
    let mut g = GatedSums::default();
    if hi < lo {
        return g;
    }
    let (w, span) = (width as usize, hi - lo);
    for (dy, y) in (roi.y0 as usize..roi.y1 as usize).enumerate() {
        let (a, b) = (y * w + roi.x0 as usize, y * w + roi.x1.min(width) as usize);
        let row = data.get(a..b.max(a)).unwrap_or(&[]);
        let (mut rs, mut rn, mut rx) = (0u32, 0u32, 0u64);
        for (dx, &v) in row.iter().enumerate() {
            let ok = u32::from(v.wrapping_sub(lo) <= span);
            let kept = u32::from(v) * ok;
            rs += kept;
            rn += ok;
            rx += u64::from(kept) * dx as u64;
        }
        g.sum += u64::from(rs);
        g.sum_x += rx;
        g.sum_y += u64::from(rs) * dy as u64;
        g.n += rn;
    }
    g
}

/// The reference plane the displacement is measured from, mm in camera coordinates.
#[derive(Debug, Clone, Copy)]
struct Reference {
    /// Unit normal, away from the camera.
    normal: Vector3<f64>,
    /// A point of the plane (the mean gated point when the reference was set).
    point: Vector3<f64>,
}

/// One frame's gated ROI measurement.
#[derive(Debug, Clone, Copy)]
struct Gated {
    /// Mean raw depth of the gated pixels.
    mean_raw: f32,
    /// Fraction of the ROI's pixels that were gated.
    frac: f32,
    /// Mean of the gated pixels deprojected, mm.
    centroid: Vector3<f64>,
}

/// The current ROI and its running state.
#[derive(Debug, Clone, Copy)]
struct Track {
    roi: Roi,
    /// Previous mean depth in the ROI, raw units (the gate's centre).
    mean_raw: f32,
    /// Added to minus [`Track::signal_mm`] to give the displacement.
    offset_mm: f64,
    /// The chest plane; `None`: no trustworthy plane, the mean depth is measured instead.
    reference: Option<Reference>,
    /// Time of the last update of the reference, s.
    updated_s: f64,
}

impl Track {
    /// Distance of the mean gated point from the reference plane along its normal (away from the
    /// camera), mm; the mean depth when there is no plane.
    fn signal_mm(&self, g: &Gated) -> f64 {
        match &self.reference {
            Some(r) => r.normal.dot(&(g.centroid - r.point)),
            None => g.centroid.z,
        }
    }
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
        let k = self.intrinsics(frame);
        let unit_mm = frame.depth_unit_m * 1000.0;
        let before = self.track.map(|tr| (tr.roi, tr.mean_raw));
        let current = self
            .track
            .map(|tr| self.measure(frame, tr.roi, tr.mean_raw, &k));
        let usable = |m: Option<Gated>| m.filter(|g| g.frac >= self.settings.min_valid_fraction);
        let since = t - self.last_detect_s;
        let due = since.is_nan() || since < 0.0 || since >= self.settings.redetect_interval_s;
        if self.track.is_none() || due || usable(current.flatten()).is_none() {
            self.last_detect_s = t;
            match self.detector.detect(frame, &self.settings) {
                Some(d) => self.adopt(frame, d, usable(current.flatten()), unit_mm, &k),
                None if usable(current.flatten()).is_none() => self.missed(),
                None => {}
            }
        }
        let Some(tr) = self.track else {
            return self.sample(t, None, 0.0, false);
        };
        // The measurement above stands unless a detection moved the ROI or its gate.
        let measured = match (before, current) {
            (Some(b), Some(m)) if b == (tr.roi, tr.mean_raw) => m,
            _ => self.measure(frame, tr.roi, tr.mean_raw, &k),
        };
        let Some(g) = measured else {
            return self.sample(t, None, 0.0, false);
        };
        if g.frac < self.settings.min_valid_fraction {
            return self.sample(t, None, g.frac, false);
        }
        self.update_reference(frame, &g, &k, t);
        let Some(tr) = self.track.as_mut() else {
            return self.sample(t, None, 0.0, false);
        };
        let disp = (tr.offset_mm - tr.signal_mm(&g)) as f32;
        tr.mean_raw = g.mean_raw;
        if !disp.is_finite() {
            return self.sample(t, None, g.frac, false);
        }
        self.last_disp_mm = Some(disp);
        self.sample(t, Some(disp), g.frac, true)
    }

    /// The frame's own intrinsics when it has usable ones, else the configured field of view's
    /// centred pinhole.
    fn intrinsics(&self, frame: &DepthFrame) -> Intrinsics {
        frame
            .intrinsics
            .filter(Intrinsics::is_usable)
            .unwrap_or_else(|| {
                Intrinsics::from_horizontal_fov(
                    frame.width,
                    frame.height,
                    self.settings.horizontal_fov_deg,
                )
            })
    }

    /// The raw depth gate around `centre_raw`.
    fn gate(&self, frame: &DepthFrame, centre_raw: f32) -> (u16, u16) {
        let gate = self.settings.gate_mm / (frame.depth_unit_m * 1000.0);
        let lo = (centre_raw - gate).clamp(1.0, 65_535.0) as u16;
        let hi = (centre_raw + gate).clamp(1.0, 65_535.0) as u16;
        (lo, hi)
    }

    /// The ROI pixels within the gate around `centre_raw`: their mean raw depth, the fraction of
    /// ROI pixels they are, and their deprojected mean; `None` when there were none.
    fn measure(
        &self,
        frame: &DepthFrame,
        roi: Roi,
        centre_raw: f32,
        k: &Intrinsics,
    ) -> Option<Gated> {
        let (lo, hi) = self.gate(frame, centre_raw);
        let m = roi_gated_moments(&frame.data, frame.width, roi, lo, hi);
        if m.n == 0 || m.sum == 0 {
            return None;
        }
        let (n, sum) = (f64::from(m.n), m.sum as f64);
        let unit_mm = f64::from(frame.depth_unit_m) * 1000.0;
        let mean_raw = sum / n;
        // Mean column and row of the gated pixels, weighted by depth (the deprojection's weight).
        let u = f64::from(roi.x0) + m.sum_x as f64 / sum;
        let v = f64::from(roi.y0) + m.sum_y as f64 / sum;
        let centroid = deproject(k, u, v, mean_raw * unit_mm);
        Some(Gated {
            mean_raw: mean_raw as f32,
            frac: m.n as f32 / roi.area().max(1) as f32,
            centroid,
        })
    }

    /// Least-squares plane through a grid of at most [`MAX_PLANE_POINTS`] of the ROI's pixels
    /// within the gate around `centre_raw`, deprojected.
    fn fit_roi(
        &self,
        frame: &DepthFrame,
        roi: Roi,
        centre_raw: f32,
        k: &Intrinsics,
    ) -> Result<Plane, Degenerate> {
        let (lo, hi) = self.gate(frame, centre_raw);
        let (w, h) = (roi.width().min(frame.width) as usize, roi.height() as usize);
        let mut step = ((w * h) as f64 / MAX_PLANE_POINTS as f64)
            .sqrt()
            .floor()
            .max(1.0) as usize;
        while w.div_ceil(step) * h.div_ceil(step) > MAX_PLANE_POINTS {
            step += 1;
        }
        let unit_mm = f64::from(frame.depth_unit_m) * 1000.0;
        let (x0, y0, half) = (roi.x0 as usize, roi.y0 as usize, step / 2);
        let points = (0..h.div_ceil(step)).flat_map(|j| {
            let y = y0 + (j * step + half).min(h.saturating_sub(1));
            (0..w.div_ceil(step)).filter_map(move |i| {
                let x = x0 + (i * step + half).min(w.saturating_sub(1));
                let raw = frame.get(x as u32, y as u32)?;
                (lo..=hi)
                    .contains(&raw)
                    .then(|| deproject(k, x as f64, y as f64, f64::from(raw) * unit_mm))
            })
        });
        fit_plane(points)
    }

    /// The reference plane of a newly adopted ROI, through its mean gated point `g`.
    fn reference_for(
        &self,
        frame: &DepthFrame,
        roi: Roi,
        g: &Gated,
        k: &Intrinsics,
    ) -> Option<Reference> {
        match self.fit_roi(frame, roi, g.mean_raw, k) {
            Ok(p) => Some(Reference {
                normal: p.normal,
                point: g.centroid,
            }),
            Err(why) => {
                log::debug!("chest plane: {why:?}; measuring depth");
                None
            }
        }
    }

    /// Slow update of the reference normal toward a fit of this frame, at most every
    /// [`PLANE_REFIT_INTERVAL_S`]; a track without a plane takes the first trustworthy one
    /// (keeping the displacement continuous).
    fn update_reference(&mut self, frame: &DepthFrame, g: &Gated, k: &Intrinsics, t: f64) {
        let Some(tr) = self.track.filter(|_| self.settings.along_normal) else {
            return;
        };
        let dt = t - tr.updated_s;
        if (0.0..PLANE_REFIT_INTERVAL_S).contains(&dt) {
            return;
        }
        let fit = self.fit_roi(frame, tr.roi, g.mean_raw, k);
        let Some(tr) = self.track.as_mut() else {
            return;
        };
        if t.is_finite() {
            tr.updated_s = t;
        }
        let Ok(p) = fit else { return };
        match tr.reference.as_mut() {
            Some(r) if dt.is_finite() && dt > 0.0 => {
                let fitted = if p.normal.dot(&r.normal) < 0.0 {
                    -p.normal
                } else {
                    p.normal
                };
                let a = 1.0 - (-dt / PLANE_TIME_CONSTANT_S).exp();
                let blended = r.normal * (1.0 - a) + fitted * a;
                let norm = blended.norm();
                if norm.is_finite() && norm > 1e-9 {
                    r.normal = blended / norm;
                }
            }
            Some(_) => {}
            None => {
                // Continue from the depth measure's current value, now along the plane's normal.
                let disp = tr.offset_mm - tr.signal_mm(g);
                tr.reference = Some(Reference {
                    normal: p.normal,
                    point: g.centroid,
                });
                tr.offset_mm = disp + tr.signal_mm(g);
            }
        }
    }

    /// Take a fresh detection, keeping the displacement continuous across the change of ROI.
    fn adopt(
        &mut self,
        frame: &DepthFrame,
        d: Detection,
        old: Option<Gated>,
        unit_mm: f32,
        k: &Intrinsics,
    ) {
        self.misses = 0;
        let ppm = k.fx / (d.median_raw as f32 * unit_mm / 1000.0).max(0.1);
        let tol = (self.settings.move_threshold_m * ppm) as i64;
        if let (Some(tr), Some(_)) = (self.track, old) {
            let moved = |a: u32, b: u32| (i64::from(a) - i64::from(b)).abs() > tol;
            let (r, n) = (tr.roi, d.roi);
            if !(moved(r.x0, n.x0) || moved(r.y0, n.y0) || moved(r.x1, n.x1) || moved(r.y1, n.y1)) {
                return;
            }
        }
        let Some(new) = self.measure(frame, d.roi, f32::from(d.median_raw), k) else {
            return;
        };
        let mut track = Track {
            roi: d.roi,
            mean_raw: new.mean_raw,
            offset_mm: 0.0,
            reference: if self.settings.along_normal {
                self.reference_for(frame, d.roi, &new, k)
            } else {
                None
            },
            updated_s: frame.timestamp_s,
        };
        let continued = match (self.track, old, self.last_disp_mm) {
            // Same frame, both ROIs valid: continue from the old ROI's value on this frame.
            (Some(tr), Some(old), _) => tr.offset_mm - tr.signal_mm(&old),
            // Old ROI unusable: continue from the last output.
            (_, _, Some(last)) => f64::from(last),
            (_, _, None) => 0.0,
        };
        track.offset_mm = continued + track.signal_mm(&new);
        log::debug!(
            "chest ROI {:?} at {:.0} mm, normal {:?}",
            d.roi,
            new.centroid.z,
            track.reference.map(|r| r.normal)
        );
        self.track = Some(track);
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
