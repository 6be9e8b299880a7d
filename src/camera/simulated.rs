//! Simulated RealSense-D4xx-like depth camera looking at a seated, breathing person.
//!
//! The static scene (see `scene.rs`) is rendered once; each frame shifts the body by the RSM's
//! posture sway and the camera's own occasional larger movements, pushes the chest surface toward
//! the camera by [`Rsm::chest_mm`] with a smooth spatial weight, and adds D4xx-like noise: error
//! growing with the square of distance, quantisation to the depth unit, random dropouts, holes, a
//! stereo-shadow band left of the person and zero outside the measurable range. Frame `k` carries
//! `seq = k` and `timestamp_s = k / fps`; the camera never sleeps (the daemon paces real time).

use super::noise::{splitmix64, NoiseTable};
use super::raster::{BodyRow, FrameParams, Layers, RowInputs, Units};
use super::scene::{Intrinsics, Layout, Pose, StaticScene};
use super::{CameraError, FrameSource};
use crate::rsm::{BodyMotion, GroundTruth, Rsm};
use crate::types::{DepthFrame, Roi};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use super::bystander::Bystander;
use super::bystander::{BystanderFrame, BystanderLayer, MainRow};
use super::motion::ShiftEvents;
use super::speech::Speech;

/// Stereo baseline of a D435, metres.
const BASELINE_M: f32 = 0.05;
/// Subpixel disparity accuracy of a D4xx (RMS, pixels).
const SUBPIXEL: f32 = 0.08;
/// Nearest measurable distance at 848x480, mm (closer gives 0).
const MIN_Z_MM: f32 = 200.0;
/// Farthest reported distance, mm (farther gives 0).
const MAX_Z_MM: f32 = 10_000.0;

/// Settings of the simulated camera. Every field is checked by [`SimCamera::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct SimCameraSettings {
    /// Image width, pixels (64..=1920).
    pub width: u32,
    /// Image height, pixels (48..=1080).
    pub height: u32,
    /// Frame rate, frames per second (1..=90).
    pub fps: f64,
    /// Metres per raw Z16 unit (0.0001..=0.01; librealsense default 0.001).
    pub depth_unit_m: f32,
    /// Camera to the front of the chest, metres (0.5..=3.0).
    pub subject_distance_m: f32,
    /// Camera to the wall behind the person, metres (subject + 0.5 ..= 9.0).
    pub background_distance_m: f32,
    /// Height of the camera above the floor, metres (0.3..=3.0); the floor fills the lower image.
    pub camera_height_m: f32,
    /// Multiplier of the D4xx depth-noise model (0..=10; 1 = about 3.6 mm RMS at 1 m).
    pub noise_scale: f32,
    /// Fraction of pixels randomly invalid (0) in each frame, besides holes and shadow (0..=0.5).
    pub invalid_fraction: f32,
    /// Apply the RSM's whole-body motion (posture sway, drift, its motion artefacts).
    pub sway: bool,
    /// Add frequent extra seat shifts (every 30-90 s, up to 60 mm sideways and 25 mm in depth) on
    /// top of the RSM's own motion artefacts: a stress test of chest tracking, off by default.
    pub seat_shifts: bool,
    /// Intervals `(start_s, end_s)` during which nobody is in front of the camera, seconds.
    pub absent: Vec<(f64, f64)>,
    /// Probability (0..=1) that a frame is a fault frame made entirely of zeros.
    pub fault_probability: f32,
    /// Dark, matte clothing: the fraction (0..=0.8) of the torso's pixels that never have depth,
    /// as blobs fixed on the clothing (they move with the body), on top of the scene's few holes.
    pub clothing_holes: f32,
    /// A second person standing behind or beside the seated one (`None` = nobody else).
    pub bystander: Option<Bystander>,
    /// Intervals `(start_s, end_s)` during which the person talks: speech vibration and speech
    /// breathing on the chest (see `speech.rs` for the model), seconds.
    pub talking: Vec<(f64, f64)>,
    /// Times at which the person coughs (a sharp chest jerk, see `speech.rs`), seconds.
    pub coughs: Vec<f64>,
    /// Strength of a cough: how far the chest drops below rest, mm (1..=30).
    pub cough_mm: f32,
    /// The torso turned about the vertical axis, degrees (-60..=60; positive: the person's left
    /// side, on the image's right, comes toward the camera), about the front of the chest. The
    /// breathing moves the chest along its turned normal.
    pub torso_yaw_deg: f32,
    /// The torso leaning back, degrees (-30..=30), as a camera above the chest looking down sees
    /// it (negative: leaning toward the camera), applied after the yaw.
    pub torso_pitch_deg: f32,
}

impl Default for SimCameraSettings {
    fn default() -> Self {
        Self {
            width: 848,
            height: 480,
            fps: 30.0,
            depth_unit_m: 0.001,
            subject_distance_m: 1.1,
            background_distance_m: 3.0,
            camera_height_m: 1.2,
            noise_scale: 1.0,
            invalid_fraction: 0.02,
            sway: true,
            seat_shifts: false,
            absent: Vec::new(),
            fault_probability: 0.0,
            clothing_holes: 0.0,
            bystander: None,
            talking: Vec::new(),
            coughs: Vec::new(),
            cough_mm: 10.0,
            torso_yaw_deg: 0.0,
            torso_pitch_deg: 0.0,
        }
    }
}

/// A setting outside its allowed range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("simulated camera: {name} = {value} is outside the allowed range {range}")]
pub struct SimSettingError {
    /// Name of the field in [`SimCameraSettings`].
    pub name: &'static str,
    /// The rejected value, formatted.
    pub value: String,
    /// The allowed range, in words.
    pub range: String,
}

fn check(name: &'static str, v: f64, lo: f64, hi: f64) -> Result<(), SimSettingError> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        return Ok(());
    }
    Err(SimSettingError {
        name,
        value: v.to_string(),
        range: format!("{lo}..={hi}"),
    })
}

/// A setting that has a configuration key, checked against its [`crate::limits::Limit`].
fn limit(l: crate::limits::Limit, v: f64) -> Result<(), SimSettingError> {
    l.check(v).map_err(|e| SimSettingError {
        name: e.key,
        value: e.value,
        range: e.allowed,
    })
}

impl SimCameraSettings {
    /// Check every field against its documented range.
    pub fn validate(&self) -> Result<(), SimSettingError> {
        use crate::limits::{
            CAMERA_DEPTH_UNIT, CAMERA_FPS, CAMERA_HEIGHT, CAMERA_WIDTH, SIM_DISTANCE, SIM_NOISE,
        };
        limit(CAMERA_WIDTH, self.width.into())?;
        limit(CAMERA_HEIGHT, self.height.into())?;
        limit(CAMERA_FPS, self.fps)?;
        limit(CAMERA_DEPTH_UNIT, f64::from(self.depth_unit_m) * 1000.0)?;
        let d = f64::from(self.subject_distance_m);
        limit(SIM_DISTANCE, d)?;
        limit(SIM_NOISE, self.noise_scale.into())?;
        check(
            "background_distance_m",
            self.background_distance_m.into(),
            d + 0.5,
            9.0,
        )?;
        check("camera_height_m", self.camera_height_m.into(), 0.3, 3.0)?;
        check("invalid_fraction", self.invalid_fraction.into(), 0.0, 0.5)?;
        check("fault_probability", self.fault_probability.into(), 0.0, 1.0)?;
        check("clothing_holes", self.clothing_holes.into(), 0.0, 0.8)?;
        check("torso_yaw_deg", self.torso_yaw_deg.into(), -60.0, 60.0)?;
        check("torso_pitch_deg", self.torso_pitch_deg.into(), -30.0, 30.0)?;
        for &(a, b) in &self.absent {
            check("absent.start_s", a, 0.0, f64::MAX)?;
            check("absent.end_s", b, a, f64::MAX)?;
        }
        self.validate_people()
    }

    /// The second person, talking and coughing.
    fn validate_people(&self) -> Result<(), SimSettingError> {
        if let Some(p) = &self.bystander {
            let wall = f64::from(self.background_distance_m);
            check("bystander.distance_m", p.distance_m.into(), 0.5, wall - 0.2)?;
            check("bystander.offset_m", p.offset_m.into(), -3.0, 3.0)?;
            check("bystander.walk_m", p.walk_m.into(), 0.0, 2.0)?;
            check(
                "bystander.walk_speed_m_s",
                p.walk_speed_m_s.into(),
                0.02,
                1.5,
            )?;
            check("bystander.rate_bpm", p.rate_bpm.into(), 4.0, 60.0)?;
        }
        for &(a, b) in &self.talking {
            check("talking.start_s", a, 0.0, 1.0e7)?;
            check("talking.end_s", b, a, 1.0e7)?;
        }
        for &c in &self.coughs {
            check("coughs", c, 0.0, 1.0e7)?;
        }
        check("cough_mm", self.cough_mm.into(), 1.0, 30.0)
    }
}

/// What the camera rendered in its latest frame (for tests and evaluation).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FrameTruth {
    /// Frame time, s.
    pub t_s: f64,
    /// Breathing displacement at mid-chest, mm, positive toward the camera.
    pub chest_mm: f32,
    /// Whole-body movement applied (RSM sway plus the camera's own movements), mm.
    pub motion: BodyMotion,
    /// Whether a person was in the image.
    pub present: bool,
    /// Whether the frame was a fault frame (all zeros).
    pub fault: bool,
}

/// The simulated camera. Deterministic for given (settings, RSM, seed).
#[derive(Debug, Clone)]
pub struct SimCamera {
    settings: SimCameraSettings,
    rsm: Rsm,
    seed: u64,
    k: Intrinsics,
    scene: Layers,
    noise: NoiseTable,
    dropout_threshold: i16,
    rng: ChaCha8Rng,
    shifts: ShiftEvents,
    seq: u64,
    shift_px: (i64, i64),
    last: FrameTruth,
    bystander: Option<BystanderLayer>,
    bystander_at: BystanderFrame,
    speech: Speech,
}

impl SimCamera {
    /// A camera for `settings` looking at a person breathing as `rsm` says; `seed` fixes noise,
    /// holes and movements.
    pub fn new(settings: SimCameraSettings, rsm: Rsm, seed: u64) -> Result<Self, SimSettingError> {
        settings.validate()?;
        let k = Intrinsics::d435_like(settings.width, settings.height);
        let layout = Layout {
            width: settings.width,
            height: settings.height,
            subject_m: settings.subject_distance_m,
            background_m: settings.background_distance_m,
            camera_height_m: settings.camera_height_m,
            chest_below_axis_m: 0.05,
            baseline_m: BASELINE_M,
            clothing_holes: settings.clothing_holes,
            pose: Pose {
                yaw_deg: settings.torso_yaw_deg,
                pitch_deg: settings.torso_pitch_deg,
            },
        };
        let units = Units {
            raw_per_mm: 0.001 / settings.depth_unit_m,
            sigma_per_mm2: settings.noise_scale * SUBPIXEL / (k.fx * BASELINE_M * 1000.0),
            min_mm: MIN_Z_MM,
            max_mm: MAX_Z_MM,
        };
        let scene = Layers::new(&StaticScene::render(&layout, &k, seed), &units);
        let bystander = settings.bystander.as_ref().map(|p| {
            BystanderLayer::new(
                p,
                &k,
                (settings.width, settings.height),
                settings.camera_height_m,
                settings.background_distance_m,
                BASELINE_M,
                &units,
            )
        });
        let speech = Speech::new(&settings.talking, &settings.coughs, settings.cough_mm, seed);
        let noise = NoiseTable::new(settings.width as usize, seed);
        let dropout_threshold = noise.abs_threshold(settings.invalid_fraction);
        Ok(Self {
            shifts: ShiftEvents::new(seed, settings.seat_shifts),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x0066_6175_6c74),
            settings,
            rsm,
            seed,
            k,
            scene,
            noise,
            dropout_threshold,
            seq: 0,
            shift_px: (0, 0),
            last: FrameTruth::default(),
            bystander,
            bystander_at: BystanderFrame::default(),
            speech,
        })
    }

    /// Ground truth of the breathing simulated so far (delegates to the RSM).
    pub fn truth(&self) -> &GroundTruth {
        self.rsm.truth()
    }

    /// The settings in use.
    pub fn settings(&self) -> &SimCameraSettings {
        &self.settings
    }

    /// The camera's pinhole intrinsics (a D435-like 87 degrees, centred), as its frames carry them.
    pub fn intrinsics(&self) -> crate::types::Intrinsics {
        crate::types::Intrinsics {
            fx: self.k.fx,
            fy: self.k.fy,
            cx: self.k.cx,
            cy: self.k.cy,
        }
    }

    /// What the latest frame showed.
    pub fn last_frame_truth(&self) -> FrameTruth {
        self.last
    }

    /// The torso (shoulder line to waist, without arms) in the latest frame, pixels, including
    /// the body's image shift; a chest ROI should lie inside it.
    pub fn torso_box(&self) -> Roi {
        let b = self.scene.torso_box;
        let mv = |v: u32, d: i64, max: u32| (i64::from(v) + d).clamp(0, i64::from(max)) as u32;
        let (w, h) = (self.settings.width, self.settings.height);
        Roi {
            x0: mv(b.x0, self.shift_px.0, w),
            y0: mv(b.y0, self.shift_px.1, h),
            x1: mv(b.x1, self.shift_px.0, w),
            y1: mv(b.y1, self.shift_px.1, h),
        }
    }

    /// The camera's own seat shifts ([`SimCameraSettings::seat_shifts`]) that begin before
    /// `until_s`, as (start, end) of their movement, s (empty when they are off).
    pub fn seat_shift_intervals(&self, until_s: f64) -> Vec<(f64, f64)> {
        ShiftEvents::intervals(self.seed, self.settings.seat_shifts, until_s)
    }

    /// The second person's torso (shoulder line to waist) in the latest frame, pixels, clipped
    /// to the image; `None` without a second person or when they are out of view.
    pub fn bystander_box(&self) -> Option<Roi> {
        let l = self.bystander.as_ref()?;
        l.torso_box(&self.bystander_at, self.settings.height)
    }

    fn present_at(&self, t: f64) -> bool {
        !self.settings.absent.iter().any(|&(a, b)| a <= t && t < b)
    }

    /// Render the frame at time `t` into `data` (`width * height` values).
    fn render(&mut self, t: f64, data: &mut [u16]) {
        let chest = self.rsm.chest_mm(t);
        let mut motion = self.rsm.body_motion(t);
        if !self.settings.sway {
            motion = BodyMotion::default();
        }
        let speech = self.speech.at(t);
        motion.forward_mm += speech.forward_mm;
        let extra = self.shifts.at(t);
        motion.forward_mm += extra.forward_mm;
        motion.lateral_mm += extra.lateral_mm;
        motion.vertical_mm += extra.vertical_mm;
        let present = self.present_at(t);
        let subject_mm = 1000.0 * self.settings.subject_distance_m;
        let dx = (motion.lateral_mm * self.k.fx / subject_mm).round() as i64;
        let dy = (-motion.vertical_mm * self.k.fy / subject_mm).round() as i64;
        self.shift_px = (dx, dy);
        self.last = FrameTruth {
            t_s: t,
            chest_mm: chest,
            motion,
            present,
            fault: false,
        };
        let w = self.settings.width as usize;
        let q_per_mm = 16.0 * 0.001 / self.settings.depth_unit_m;
        let px = FrameParams {
            away_q: (-motion.forward_mm * q_per_mm).round() as i32,
            chest_q: ((chest + speech.chest_mm) * q_per_mm).round() as i32,
            dropout: self.dropout_threshold,
        };
        let frame_key = splitmix64(self.seed ^ self.seq.wrapping_mul(0x2545_f491_4f6c_dd1d));
        if let Some(b) = &self.bystander {
            self.bystander_at = b.frame(t);
        }
        let (l, second, at) = (&self.scene, &self.bystander, self.bystander_at);
        for (y, out) in data.chunks_exact_mut(w).enumerate() {
            let key = frame_key.wrapping_add(2 * y as u64);
            let row = y * w..(y + 1) * w;
            let rows = RowInputs {
                gauss: self.noise.row(key, w),
                drop: self.noise.row(key ^ 0x5555_5555, w),
                background: l.background.get(row.clone()).unwrap_or(&[]),
                background_sigma: l.background_sigma.get(row).unwrap_or(&[]),
            };
            let ys = y as i64 - dy;
            let body = (present && ys >= 0).then_some(ys as usize);
            let body = body.and_then(|ys| {
                let r = ys * w..(ys + 1) * w;
                Some(BodyRow {
                    depth: l.body.get(r.clone())?,
                    sigma: l.body_sigma.get(r.clone())?,
                    weight: l.weight.get(r)?,
                    span: l.spans.get(ys)?.clone(),
                    dx,
                })
            });
            let main = body.as_ref().map(|b| MainRow {
                depth: b.depth,
                dx: b.dx,
                away_q: px.away_q,
            });
            px.render_row(out, &rows, body);
            if let Some(b) = second {
                b.overlay_row(out, y, &rows, main, &at, px.dropout);
            }
        }
    }
}

impl FrameSource for SimCamera {
    fn read_frame(&mut self, frame: &mut DepthFrame) -> Result<(), CameraError> {
        let (w, h) = (self.settings.width, self.settings.height);
        let n = w as usize * h as usize;
        if frame.width != w || frame.height != h || frame.data.len() != n {
            frame.width = w;
            frame.height = h;
            frame.data.resize(n, 0);
        }
        let t = self.seq as f64 / self.settings.fps;
        frame.depth_unit_m = self.settings.depth_unit_m;
        frame.intrinsics = Some(self.intrinsics());
        frame.timestamp_s = t;
        frame.seq = self.seq;
        let p = self.settings.fault_probability;
        if p > 0.0 && self.rng.gen::<f32>() < p {
            // Keep the RSM streaming so later frames stay on its time line.
            let _ = self.rsm.chest_mm(t);
            let _ = self.rsm.body_motion(t);
            frame.data.fill(0);
            self.last = FrameTruth {
                t_s: t,
                fault: true,
                present: self.present_at(t),
                ..self.last
            };
        } else {
            self.render(t, &mut frame.data);
        }
        log::trace!("sim frame {} at {t:.3} s", self.seq);
        self.seq += 1;
        Ok(())
    }

    fn fps(&self) -> f64 {
        self.settings.fps
    }

    fn describe(&self) -> String {
        let s = &self.settings;
        format!(
            "simulated {}x{}@{} {} seed {} at {:.2} m",
            s.width,
            s.height,
            s.fps,
            self.rsm.params().pattern,
            self.seed,
            s.subject_distance_m
        )
    }
}

#[cfg(test)]
#[path = "simulated_tests.rs"]
mod tests;
