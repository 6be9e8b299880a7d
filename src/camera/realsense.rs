//! Intel RealSense depth cameras and `.bag` recordings, through librealsense 2.56 with
//! `realsense-rust` (feature `realsense`).
//!
//! [`RealSenseCamera`] is a [`FrameSource`]: a live camera chosen by index or serial number
//! ([`RealSenseCamera::open`]), or a recording played back by librealsense
//! ([`RealSenseCamera::replay`]), either paced by its recorded times or as fast as its frames are
//! read, every frame kept ([`ReplayPace`]). Frames come out as raw Z16 with the stream's depth
//! unit, after the post-processing filters of `[camera.filters]`; their times are the recorded
//! (device) timestamps, never the wall clock.
//!
//! Faults are sorted into [`CameraError`]s for the daemon: a frame that does not come within
//! `frame_timeout_ms` is a time-out; a frame of the wrong format or size is corrupt; a camera that
//! is silent for [`SILENT_TIMEOUTS`] time-outs and has left the device list (or that librealsense
//! reports as disconnected) is [`CameraError::Disconnected`], and every later read tries to reopen
//! it; the end of a recording (the player reports that it stopped) is
//! [`CameraError::EndOfStream`]. Gaps in the frame numbers are frames librealsense dropped; they
//! are counted ([`FrameSource::frames_lost`]).

use super::hardware::{CameraSelector, Emitter, RealSenseSettings};
pub use super::playback::ReplayPace;
use super::playback::{BagPlayer, Next, RecordedStream};
use super::{CameraError, FrameSource};
use crate::types::DepthFrame;
use realsense_rust::{
    config::Config,
    context::Context,
    device::Device,
    frame::{CompositeFrame, DepthFrame as RsDepthFrame, FrameEx},
    kind::{Rs2CameraInfo, Rs2Exception, Rs2Extension, Rs2Format, Rs2Option, Rs2StreamKind},
    pipeline::{ActivePipeline, FrameWaitError, InactivePipeline},
    processing_blocks::{
        decimation::Decimation as DecimationFilter,
        hole_filling::HoleFillingFilter,
        options::{DecimationOptions, HoleFillingOptions},
        spatial_filter::SpatialFilter,
        temporal_filter::TemporalFilter,
    },
};
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Consecutive time-outs after which a live camera is looked for in the device list.
pub const SILENT_TIMEOUTS: u32 = 3;

/// How long the first frame of a recording may take (librealsense opens the file first).
const FIRST_REPLAY_FRAME: Duration = Duration::from_secs(5);

/// One connected RealSense device, as `edge-screen cameras` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CameraInfo {
    /// Position in librealsense's device list (what `--camera N` means).
    pub index: usize,
    /// Product name, e.g. "Intel RealSense D435".
    pub name: String,
    /// Serial number (what `--camera SERIAL` means).
    pub serial: String,
    /// Firmware version.
    pub firmware: String,
    /// USB type the camera is connected with, e.g. "3.2" (a D4xx on USB 2 is limited to low
    /// resolutions and frame rates).
    pub usb_type: String,
    /// Product line, e.g. "D400".
    pub product_line: String,
}

fn info(device: &Device, what: Rs2CameraInfo) -> String {
    device
        .info(what)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn describe_device(index: usize, device: &Device) -> CameraInfo {
    CameraInfo {
        index,
        name: info(device, Rs2CameraInfo::Name),
        serial: info(device, Rs2CameraInfo::SerialNumber),
        firmware: info(device, Rs2CameraInfo::FirmwareVersion),
        usb_type: info(device, Rs2CameraInfo::UsbTypeDescriptor),
        product_line: info(device, Rs2CameraInfo::ProductLine),
    }
}

fn new_context() -> Result<Context, CameraError> {
    Context::new().map_err(|e| CameraError::Fatal(format!("librealsense: cannot start: {e}")))
}

/// The RealSense cameras connected now, in librealsense's order.
pub fn list_cameras() -> Result<Vec<CameraInfo>, CameraError> {
    let ctx = new_context()?;
    Ok(ctx
        .query_devices(HashSet::new())
        .iter()
        .enumerate()
        .map(|(i, d)| describe_device(i, d))
        .collect())
}

fn connected_list(cams: &[CameraInfo]) -> String {
    if cams.is_empty() {
        return "no RealSense camera is connected (check the USB cable; `edge-screen cameras` lists them)".into();
    }
    let list: Vec<String> = cams
        .iter()
        .map(|c| format!("{} = {} (serial {})", c.index, c.name, c.serial))
        .collect();
    format!("connected: {}", list.join(", "))
}

/// Finds the serial number `selector` stands for among the connected cameras.
fn resolve_serial(ctx: &Context, selector: &CameraSelector) -> Result<String, CameraError> {
    let cams: Vec<CameraInfo> = ctx
        .query_devices(HashSet::new())
        .iter()
        .enumerate()
        .map(|(i, d)| describe_device(i, d))
        .collect();
    let found = match selector {
        CameraSelector::Simulated => {
            return Err(CameraError::Fatal(
                "\"sim\" is the simulated camera, not a RealSense camera".into(),
            ))
        }
        CameraSelector::Index(i) => cams.get(*i),
        CameraSelector::Serial(s) => cams.iter().find(|c| &c.serial == s),
    };
    match found {
        Some(c) => Ok(c.serial.clone()),
        None => Err(CameraError::Fatal(format!(
            "--camera {}: no such camera; {}",
            match selector {
                CameraSelector::Index(i) => i.to_string(),
                CameraSelector::Serial(s) => s.clone(),
                CameraSelector::Simulated => "sim".into(),
            },
            connected_list(&cams)
        ))),
    }
}

fn is_present(ctx: &Context, serial: &str) -> bool {
    ctx.query_devices(HashSet::new())
        .iter()
        .any(|d| info(d, Rs2CameraInfo::SerialNumber) == serial)
}

/// librealsense's post-processing blocks, in Intel's order.
struct Filters {
    decimation: Option<DecimationFilter>,
    spatial: Option<SpatialFilter>,
    temporal: Option<TemporalFilter>,
    hole_filling: Option<HoleFillingFilter>,
}

/// Frames waiting in each processing block's output queue; 1 keeps latency lowest.
const FILTER_QUEUE: i32 = 1;
const FILTER_WAIT: Duration = Duration::from_millis(500);

// SAFETY: librealsense's processing blocks and frame queues are thread-safe C++ objects; the
// handles are only used through `&mut self`, i.e. from one thread at a time. (realsense-rust leaves
// them !Send only because they hold raw pointers.)
unsafe impl Send for Filters {}

impl Filters {
    fn new(s: &RealSenseSettings) -> Result<Self, CameraError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            CameraError::Fatal(format!("librealsense {what} filter: {e}"))
        };
        let f = &s.filters;
        let decimation = if f.decimation > 1 {
            let mut b = DecimationFilter::new(FILTER_QUEUE).map_err(|e| fail("decimation", &e))?;
            b.apply_options(&DecimationOptions {
                filter_magnitude: Some(f.decimation as f32),
            })
            .map_err(|e| fail("decimation", &e))?;
            Some(b)
        } else {
            None
        };
        let spatial = if f.spatial {
            Some(SpatialFilter::new(FILTER_QUEUE).map_err(|e| fail("spatial", &e))?)
        } else {
            None
        };
        let temporal = if f.temporal {
            Some(TemporalFilter::new(FILTER_QUEUE).map_err(|e| fail("temporal", &e))?)
        } else {
            None
        };
        let hole_filling = match f.hole_filling.mode_value() {
            Some(mode) => {
                let mut b =
                    HoleFillingFilter::new(FILTER_QUEUE).map_err(|e| fail("hole filling", &e))?;
                b.apply_options(&HoleFillingOptions {
                    holes_fill: Some(mode),
                })
                .map_err(|e| fail("hole filling", &e))?;
                Some(b)
            }
            None => None,
        };
        Ok(Self {
            decimation,
            spatial,
            temporal,
            hole_filling,
        })
    }

    fn apply(&mut self, mut frame: RsDepthFrame) -> Result<RsDepthFrame, CameraError> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            CameraError::Corrupt(format!("{what} filter: {e}"))
        };
        macro_rules! step {
            ($block:expr, $name:literal) => {
                if let Some(b) = $block.as_mut() {
                    b.queue(frame).map_err(|e| corrupt($name, &e))?;
                    frame = b.wait(FILTER_WAIT).map_err(|e| corrupt($name, &e))?;
                }
            };
        }
        step!(self.decimation, "decimation");
        step!(self.spatial, "spatial");
        step!(self.temporal, "temporal");
        step!(self.hole_filling, "hole filling");
        Ok(frame)
    }
}

/// Where the frames come from.
enum Origin {
    /// A connected camera, by serial number once resolved.
    Live {
        serial: String,
        record_to: Option<PathBuf>,
    },
    /// A `.bag` recording.
    Replay { path: PathBuf, pace: ReplayPace },
}

/// The started stream: a live pipeline, or a recording's player.
enum Stream {
    Live(ActivePipeline),
    Replay(BagPlayer),
}

impl Stream {
    /// The camera's name and serial number, the depth stream's rate and its image size.
    fn summary(&self) -> RecordedStream {
        match self {
            Stream::Live(p) => {
                let profile = p.profile();
                let device = profile.device();
                let mut out = RecordedStream {
                    name: info(device, Rs2CameraInfo::Name),
                    serial: info(device, Rs2CameraInfo::SerialNumber),
                    fps: 0.0,
                    size: None,
                };
                for stream in profile.streams() {
                    if stream.kind() == Rs2StreamKind::Depth {
                        out.fps = stream.framerate() as f64;
                        if let Ok(intr) = stream.intrinsics() {
                            out.size = Some((intr.width() as u32, intr.height() as u32));
                        }
                    }
                }
                out
            }
            Stream::Replay(p) => p.stream().clone(),
        }
    }
}

fn pace_text(pace: ReplayPace) -> &'static str {
    match pace {
        ReplayPace::RealTime => "paced by librealsense in real time",
        ReplayPace::AsFastAsRead => "every frame",
    }
}

/// A RealSense camera or a `.bag` recording as a [`FrameSource`].
pub struct RealSenseCamera {
    ctx: Context,
    origin: Origin,
    settings: RealSenseSettings,
    stream: Option<Stream>,
    filters: Filters,
    describe: String,
    fps: f64,
    /// Time-outs in a row.
    silent: u32,
    /// Frames delivered so far (all streams, across reconnections).
    delivered: u64,
    /// Stream-clock continuity across reconnections: seconds added to (device ms / 1000).
    t_offset_s: f64,
    /// The last timestamp handed out, s.
    last_t_s: f64,
    /// A new stream started (first frame, or after a reconnection): re-anchor its clock.
    reanchor: bool,
    /// Frame number of the last frame handed out, in this stream.
    last_seq: Option<u64>,
    /// The first frame number seen (a recording's log names the range it delivered).
    first_seq: Option<u64>,
    /// Frames missing from the frame numbers (dropped inside librealsense), all streams.
    lost: u64,
}

fn start_failed(what: &str, e: impl std::fmt::Display) -> CameraError {
    CameraError::Fatal(format!("{what}: {e}"))
}

impl RealSenseCamera {
    /// Opens a connected camera (by index or serial) with `settings`; with `record_to`, everything
    /// the camera streams is also written to that `.bag` file.
    pub fn open(
        selector: &CameraSelector,
        settings: &RealSenseSettings,
        record_to: Option<&Path>,
    ) -> Result<Self, CameraError> {
        let ctx = new_context()?;
        let serial = resolve_serial(&ctx, selector)?;
        let origin = Origin::Live {
            serial,
            record_to: record_to.map(Path::to_path_buf),
        };
        Self::started(ctx, origin, settings)
    }

    /// Plays back a `.bag` recording once. [`ReplayPace::RealTime`]: librealsense paces it by its
    /// capture times; frames the reader cannot take in time are dropped, as with a live camera,
    /// and counted. [`ReplayPace::AsFastAsRead`]: librealsense reads the next frame from the file
    /// only when the last one was taken; every frame is delivered (the caller may pace them).
    pub fn replay(
        path: &Path,
        settings: &RealSenseSettings,
        pace: ReplayPace,
    ) -> Result<Self, CameraError> {
        let shown = path.display();
        match std::fs::metadata(path) {
            Err(e) => return Err(CameraError::Fatal(format!("{shown}: {e}"))),
            Ok(m) if !m.is_file() => {
                return Err(CameraError::Fatal(format!("{shown}: not a file")))
            }
            Ok(m) if m.len() == 0 => {
                return Err(CameraError::Fatal(format!("{shown}: empty file")))
            }
            Ok(_) => {}
        }
        let origin = Origin::Replay {
            path: path.to_path_buf(),
            pace,
        };
        Self::started(new_context()?, origin, settings)
    }

    /// A source for `origin`, with its stream started.
    fn started(
        ctx: Context,
        origin: Origin,
        settings: &RealSenseSettings,
    ) -> Result<Self, CameraError> {
        let mut cam = Self {
            filters: Filters::new(settings)?,
            ctx,
            origin,
            settings: settings.clone(),
            stream: None,
            describe: String::new(),
            fps: settings.fps as f64,
            silent: 0,
            delivered: 0,
            t_offset_s: 0.0,
            last_t_s: 0.0,
            reanchor: true,
            last_seq: None,
            first_seq: None,
            lost: 0,
        };
        cam.start()?;
        Ok(cam)
    }

    /// Frames delivered so far.
    pub fn frames_delivered(&self) -> u64 {
        self.delivered
    }

    fn start(&mut self) -> Result<(), CameraError> {
        let stream = match &self.origin {
            Origin::Live { serial, record_to } => {
                Stream::Live(self.start_live(serial, record_to.as_deref())?)
            }
            Origin::Replay { path, pace } => {
                let player = BagPlayer::start(path, *pace).map_err(|e| {
                    CameraError::Fatal(format!(
                        "{}: not a playable RealSense recording with a Z16 depth stream: {e}",
                        path.display()
                    ))
                })?;
                log::debug!(
                    "replay {}: {:.1} s, librealsense pacing {}",
                    path.display(),
                    player.duration_ns() as f64 * 1e-9,
                    if player.is_real_time() { "on" } else { "off" }
                );
                Stream::Replay(player)
            }
        };
        let s = &self.settings;
        let summary = stream.summary();
        let (dev_name, dev_serial) = (summary.name, summary.serial);
        let (mut w, mut h, mut fps) = (s.width_px, s.height_px, s.fps as f64);
        if summary.fps > 0.0 {
            fps = summary.fps;
        }
        if let Some((sw, sh)) = summary.size {
            (w, h) = (sw, sh);
        }
        self.fps = fps;
        let mode = format!("{w}x{h}@{fps:.0}");
        self.describe = match &self.origin {
            Origin::Live { record_to, .. } => format!(
                "realsense {dev_name} serial {dev_serial} {mode}, {}{}",
                s.filters,
                record_to
                    .as_ref()
                    .map(|p| format!(", recording to {}", p.display()))
                    .unwrap_or_default()
            ),
            Origin::Replay { path, pace } => format!(
                "replay {} ({dev_name} serial {dev_serial}) {mode}, {}, {}",
                path.display(),
                s.filters,
                pace_text(*pace)
            ),
        };
        self.stream = Some(stream);
        self.silent = 0;
        self.reanchor = true;
        self.last_seq = None;
        self.first_seq = None;
        Ok(())
    }

    /// Starts streaming from the connected camera `serial` (and recording, if asked).
    fn start_live(
        &self,
        serial: &str,
        record_to: Option<&Path>,
    ) -> Result<ActivePipeline, CameraError> {
        let s = &self.settings;
        let what = format!("camera {serial}");
        let mut config = Config::new();
        let serial_c = std::ffi::CString::new(serial)
            .map_err(|_| start_failed("camera serial", "contains a NUL byte"))?;
        config
            .enable_device_from_serial(&serial_c)
            .map_err(|e| start_failed("librealsense", e))?;
        config
            .enable_stream(
                Rs2StreamKind::Depth,
                None,
                s.width_px as usize,
                s.height_px as usize,
                Rs2Format::Z16,
                s.fps as usize,
            )
            .map_err(|e| start_failed("librealsense", e))?;
        if let Some(file) = record_to {
            config
                .enable_record_to_file(file)
                .map_err(|e| start_failed(&file.display().to_string(), e))?;
        }
        let pipeline = InactivePipeline::try_from(&self.ctx)
            .map_err(|e| start_failed("librealsense pipeline", e))?;
        let mut active = pipeline.start(Some(config)).map_err(|e| {
            CameraError::Fatal(format!(
                "{what}: cannot stream {}x{} Z16 depth at {} frames/s: {e} (see camera.width_px, height_px, fps)",
                s.width_px, s.height_px, s.fps
            ))
        })?;
        Self::apply_options(&mut active, s)?;
        Ok(active)
    }

    /// Writes the configured options to the camera's depth sensor.
    fn apply_options(
        active: &mut ActivePipeline,
        s: &RealSenseSettings,
    ) -> Result<(), CameraError> {
        let device = active.profile().device();
        let Some(mut sensor) = device
            .sensors()
            .into_iter()
            .find(|x| x.extension() == Rs2Extension::DepthSensor)
        else {
            return Err(CameraError::Fatal("the camera has no depth sensor".into()));
        };
        let mut set = |option: Rs2Option, value: f32, key: &str| -> Result<(), CameraError> {
            if !sensor.supports_option(option) {
                log::warn!("camera: {key} is not supported by this camera; left as it is");
                return Ok(());
            }
            sensor
                .set_option(option, value)
                .map_err(|e| CameraError::Fatal(format!("camera: cannot set {key} = {value}: {e}")))
        };
        if let Some(v) = s.visual_preset.rs400_value() {
            set(Rs2Option::VisualPreset, v, "camera.visual_preset")?;
        }
        match s.emitter {
            Emitter::Keep => {}
            Emitter::On => set(Rs2Option::EmitterEnabled, 1.0, "camera.emitter")?,
            Emitter::Off => set(Rs2Option::EmitterEnabled, 0.0, "camera.emitter")?,
        }
        set(
            Rs2Option::DepthUnits,
            s.depth_unit_m,
            "camera.depth_unit_mm",
        )?;
        Ok(())
    }

    /// After a time-out or error on a live camera: is it gone?
    fn check_gone(&mut self, why: String) -> Result<(), CameraError> {
        if let Origin::Live { serial, .. } = &self.origin {
            if !is_present(&self.ctx, serial) {
                self.stream = None;
                return Err(CameraError::Disconnected(format!(
                    "camera {serial} is gone ({why})"
                )));
            }
        }
        Ok(())
    }

    fn copy_out(&mut self, f: &RsDepthFrame, out: &mut DepthFrame) -> Result<(), CameraError> {
        let (w, h) = (f.width(), f.height());
        if w == 0 || h == 0 || w > 4096 || h > 4096 {
            return Err(CameraError::Corrupt(format!("frame of {w}x{h} px")));
        }
        if f.bits_per_pixel() != 16 {
            return Err(CameraError::Corrupt(format!(
                "{} bits per pixel, expected 16 (Z16)",
                f.bits_per_pixel()
            )));
        }
        let stride = f.stride();
        if stride < w * 2 || f.get_data_size() < stride * (h - 1) + w * 2 {
            return Err(CameraError::Corrupt(format!(
                "{} bytes for {w}x{h} px with a stride of {stride}",
                f.get_data_size()
            )));
        }
        let unit = f.depth_units().unwrap_or(self.settings.depth_unit_m);
        if !(unit.is_finite() && unit > 0.0) {
            return Err(CameraError::Corrupt(format!("depth unit {unit}")));
        }
        // SAFETY: librealsense owns `get_data_size()` bytes behind this pointer while `f` lives;
        // we checked above that every row we read lies inside them.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (f.get_data() as *const std::os::raw::c_void).cast::<u8>(),
                f.get_data_size(),
            )
        };
        out.width = w as u32;
        out.height = h as u32;
        out.depth_unit_m = unit;
        out.data.resize(w * h, 0);
        for (row, dst) in out.data.chunks_exact_mut(w).enumerate() {
            let src = &bytes[row * stride..row * stride + w * 2];
            for (d, s) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *d = u16::from_le_bytes([s[0], s[1]]);
            }
        }
        let t_dev_s = f.timestamp() / 1000.0;
        if self.reanchor {
            // A new stream: continue the clock one frame period after the last frame handed out.
            let next = if self.delivered == 0 {
                0.0
            } else {
                self.last_t_s + 1.0 / self.fps.max(1.0)
            };
            self.t_offset_s = next - t_dev_s;
            self.reanchor = false;
        }
        let t = t_dev_s + self.t_offset_s;
        if !t.is_finite() || t < self.last_t_s - 1e-6 {
            return Err(CameraError::Corrupt(format!(
                "timestamp {t:.3} s goes back from {:.3} s",
                self.last_t_s
            )));
        }
        out.timestamp_s = t;
        out.seq = f.frame_number();
        out.intrinsics = frame_intrinsics(f, w, h);
        self.last_t_s = t;
        self.delivered += 1;
        Ok(())
    }
}

/// The pinhole intrinsics of a (filtered) depth frame's stream profile, when librealsense has
/// them for exactly this `w` x `h` image (the decimation filter's output profile has its own,
/// scaled ones); `None` sends the chest tracker to its field-of-view pinhole.
fn frame_intrinsics(f: &RsDepthFrame, w: usize, h: usize) -> Option<crate::types::Intrinsics> {
    let k = f.stream_profile().intrinsics().ok()?;
    let k2 = crate::types::Intrinsics {
        fx: k.fx(),
        fy: k.fy(),
        cx: k.ppx(),
        cy: k.ppy(),
    };
    (k.width() == w && k.height() == h && k2.is_usable()).then_some(k2)
}

impl RealSenseCamera {
    /// The next frame set from a live camera, sorting faults.
    fn next_live(&mut self) -> Result<CompositeFrame, CameraError> {
        if self.stream.is_none() {
            let Origin::Live { serial, .. } = &self.origin else {
                return Err(CameraError::EndOfStream);
            };
            let serial = serial.clone();
            if !is_present(&self.ctx, &serial) {
                return Err(CameraError::Disconnected(format!(
                    "waiting for camera {serial} to return"
                )));
            }
            log::info!("camera {serial} is back; restarting the stream");
            self.start().map_err(|e| {
                CameraError::Disconnected(format!("camera {serial} is back but: {e}"))
            })?;
        }
        let timeout = Duration::from_millis(self.settings.frame_timeout_ms as u64);
        let Some(Stream::Live(pipeline)) = self.stream.as_mut() else {
            return Err(CameraError::EndOfStream);
        };
        match pipeline.wait(Some(timeout)) {
            Ok(f) => {
                self.silent = 0;
                Ok(f)
            }
            Err(FrameWaitError::DidTimeoutBeforeFrameArrival) => {
                self.silent += 1;
                if self.silent >= SILENT_TIMEOUTS {
                    self.check_gone(format!("no frame for {} time-outs", self.silent))?;
                }
                Err(CameraError::Timeout(timeout.as_millis() as u32))
            }
            Err(FrameWaitError::DidErrorDuringFrameWait(Rs2Exception::CameraDisconnected, m))
            | Err(FrameWaitError::DidErrorDuringFramePoll(Rs2Exception::CameraDisconnected, m)) => {
                self.stream = None;
                Err(CameraError::Disconnected(m))
            }
            Err(e) => {
                let why = e.to_string();
                self.check_gone(why.clone())?;
                Err(CameraError::Corrupt(why))
            }
        }
    }

    /// The next frame set from a recording: silence while the player plays is a time-out (a
    /// busy machine, or a gap in the recording); the recording has ended when the player has
    /// stopped and handed over every frame.
    fn next_recorded(&mut self, path: &Path) -> Result<RsDepthFrame, CameraError> {
        let first = self.delivered == 0;
        let timeout = if first {
            FIRST_REPLAY_FRAME
        } else {
            Duration::from_millis(self.settings.frame_timeout_ms as u64)
        };
        let Some(Stream::Replay(player)) = self.stream.as_mut() else {
            return Err(CameraError::EndOfStream);
        };
        let next = player
            .next(timeout)
            .map_err(|e| CameraError::Corrupt(format!("{}: {e}", path.display())))?;
        match next {
            Next::Frame(f) => Ok(f),
            Next::Silent if first => Err(CameraError::Fatal(format!(
                "{}: no depth frame within {} s",
                path.display(),
                FIRST_REPLAY_FRAME.as_secs()
            ))),
            Next::Silent => Err(CameraError::Timeout(timeout.as_millis() as u32)),
            Next::Stalled(why) => {
                self.stream = None;
                Err(CameraError::Fatal(format!("{}: {why}", path.display())))
            }
            Next::Ended => {
                log::info!(
                    "{}: end of the recording; {} frames delivered (numbers {:?} to {:?}), {} missing from the frame numbers",
                    path.display(),
                    self.delivered,
                    self.first_seq,
                    self.last_seq,
                    self.lost
                );
                self.stream = None;
                Err(CameraError::EndOfStream)
            }
        }
    }

    /// Counts the frames missing between the last frame number seen and `seq`.
    fn note_frame_number(&mut self, seq: u64) {
        if let Some(last) = self.last_seq {
            if seq > last + 1 {
                log::trace!("frames {}..{seq} are missing", last + 1);
                self.lost += seq - last - 1;
            }
        }
        self.last_seq = Some(seq);
        self.first_seq.get_or_insert(seq);
    }
}

impl FrameSource for RealSenseCamera {
    fn read_frame(&mut self, frame: &mut DepthFrame) -> Result<(), CameraError> {
        let depth = match &self.origin {
            Origin::Live { .. } => {
                let frames = self.next_live()?;
                let Some(depth) = frames.frames_of_type::<RsDepthFrame>().into_iter().next() else {
                    return Err(CameraError::Corrupt(
                        "frame set without a depth frame".into(),
                    ));
                };
                depth
            }
            Origin::Replay { path, .. } => {
                let path = path.clone();
                self.next_recorded(&path)?
            }
        };
        self.note_frame_number(depth.frame_number());
        let depth = self.filters.apply(depth)?;
        self.copy_out(&depth, frame)
    }

    fn fps(&self) -> f64 {
        self.fps
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn frames_lost(&self) -> u64 {
        self.lost
    }
}
