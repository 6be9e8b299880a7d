//! A `.bag` recording played through a librealsense pipeline, with the one handle realsense-rust
//! keeps private: the playback device of the pipeline's profile (feature `realsense`).
//!
//! Through it the player's pacing is chosen ([`ReplayPace`]) and its status read: a recording has
//! ended when the player says [`PlayerStatus::Stopped`], not when frames stop coming for a while.
//! With pacing off librealsense marks every frame as blocking, so each stage inside librealsense
//! (the playback sensor's dispatcher, the pipeline's one-frame queue) waits until the next stage
//! has room instead of dropping a frame: the file is read as fast as the caller takes frames, and
//! no frame is lost. Frames come out as realsense-rust [`CompositeFrame`]s, as from a live pipeline.
//!
//! The pipeline functions are called through `realsense-sys` (librealsense 2.56's C API).

use super::bag_writer::take_error;
use realsense_rust::{frame::CompositeFrame, pipeline::PipelineProfile};
use realsense_sys as sys;
use std::path::Path;
use std::ptr::{self, NonNull};
use std::time::Duration;

/// A playing recording that gives no frame for this long while its read position stands still
/// has stalled (a recording has no pauses; a file librealsense cannot read on must not hang the
/// run).
pub const STALL: Duration = Duration::from_secs(30);
/// How long a stopped player's pipeline may take to hand over its last frame.
const END_GRACE: Duration = Duration::from_secs(1);

/// How librealsense paces a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayPace {
    /// By the recorded capture times, as a live camera: a frame that the reader does not take
    /// before the next one comes is replaced. (On a busy machine the file's last frame can also
    /// be lost, with no later frame number to show the gap.)
    RealTime,
    /// As fast as the reader takes the frames: librealsense waits for each frame to be taken
    /// before it reads the next one from the file, so none is dropped.
    AsFastAsRead,
}

/// What the player says it is doing (`rs2_playback_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayerStatus {
    /// Reading the file.
    Playing,
    /// Paused (never by this program).
    Paused,
    /// At the end of the file (or stopped): every frame it read has been handed on.
    Stopped,
    /// librealsense could not tell.
    Unknown,
}

/// What [`BagPlayer::next`] found.
pub enum Next {
    /// The next frame set.
    Frame(CompositeFrame),
    /// No frame within the time-out while the player is playing.
    Silent,
    /// The player reached the end of the file and every frame it read has been taken.
    Ended,
    /// No frame for [`STALL`] while the read position stood still: why, for the error.
    Stalled(String),
}

/// Calls `f` with an error slot; a librealsense error becomes its message.
///
/// # Safety
/// `f` must be a librealsense call that only writes an `rs2_error` into the slot it is given.
unsafe fn call<T>(f: impl FnOnce(*mut *mut sys::rs2_error) -> T) -> Result<T, String> {
    let mut e = ptr::null_mut();
    let out = f(&mut e);
    match take_error(e) {
        Some(m) => Err(m),
        None => Ok(out),
    }
}

/// The raw handles, freed in reverse order of creation (null ones are skipped).
struct Handles {
    context: *mut sys::rs2_context,
    config: *mut sys::rs2_config,
    pipeline: *mut sys::rs2_pipeline,
    device: *mut sys::rs2_device,
    started: bool,
}

impl Drop for Handles {
    fn drop(&mut self) {
        // SAFETY: each pointer is null or a live handle this struct alone owns.
        unsafe {
            if self.started {
                // Stopping clears the pipeline's queue first, which releases a player that is
                // waiting (pacing off) for room in it.
                let _ = call(|e| sys::rs2_pipeline_stop(self.pipeline, e));
            }
            if !self.device.is_null() {
                sys::rs2_delete_device(self.device);
            }
            if !self.pipeline.is_null() {
                sys::rs2_delete_pipeline(self.pipeline);
            }
            if !self.config.is_null() {
                sys::rs2_delete_config(self.config);
            }
            if !self.context.is_null() {
                sys::rs2_delete_context(self.context);
            }
        }
    }
}

/// A recording being played: its pipeline, its playback device and its stream profile.
pub struct BagPlayer {
    h: Handles,
    profile: PipelineProfile,
    /// The read position when a frame last came or the position last moved, ns.
    position_ns: u64,
    /// Time waited without a frame since then.
    silence: Duration,
}

// SAFETY: librealsense's pipeline and device handles are thread-safe C++ objects; a player is used
// through `&mut self` or `&self` from one thread at a time.
unsafe impl Send for BagPlayer {}

fn non_null<T>(p: *mut T, what: &str) -> Result<*mut T, String> {
    if p.is_null() {
        Err(format!("librealsense returned no {what}"))
    } else {
        Ok(p)
    }
}

impl BagPlayer {
    /// Starts playing `path`'s Z16 depth stream once (no looping) with the given pacing.
    /// The error is librealsense's message (the caller names the file).
    pub fn start(path: &Path, pace: ReplayPace) -> Result<Self, String> {
        let file = path
            .to_str()
            .and_then(|s| std::ffi::CString::new(s).ok())
            .ok_or("the path is not valid UTF-8 without NUL bytes")?;
        let mut h = Handles {
            context: ptr::null_mut(),
            config: ptr::null_mut(),
            pipeline: ptr::null_mut(),
            device: ptr::null_mut(),
            started: false,
        };
        // SAFETY: every handle passed on was checked non-null and is owned by `h`, which frees it.
        unsafe {
            h.context = call(|e| sys::rs2_create_context(sys::RS2_API_VERSION as i32, e))?;
            non_null(h.context, "context")?;
            h.config = non_null(call(|e| sys::rs2_create_config(e))?, "config")?;
            call(|e| {
                sys::rs2_config_enable_device_from_file_repeat_option(h.config, file.as_ptr(), 0, e)
            })?;
            call(|e| {
                sys::rs2_config_enable_stream(
                    h.config,
                    sys::rs2_stream_RS2_STREAM_DEPTH,
                    -1,
                    0,
                    0,
                    sys::rs2_format_RS2_FORMAT_Z16,
                    0,
                    e,
                )
            })?;
            h.pipeline = non_null(
                call(|e| sys::rs2_create_pipeline(h.context, e))?,
                "pipeline",
            )?;
            let started = call(|e| sys::rs2_pipeline_start_with_config(h.pipeline, h.config, e))?;
            h.started = true;
            let started = non_null(started, "pipeline profile")?;
            let device = call(|e| sys::rs2_pipeline_profile_get_device(started, e));
            sys::rs2_delete_pipeline_profile(started);
            h.device = non_null(device?, "playback device")?;
            // The player has started in real time. It reads this flag for each frame it reads from
            // the file, and in real time the second frame is not due before a frame period after
            // the first: from here on every frame is blocking. (Should one slip through first,
            // the caller sees a gap in the frame numbers.)
            let real_time = i32::from(pace == ReplayPace::RealTime);
            call(|e| sys::rs2_playback_device_set_real_time(h.device, real_time, e))?;
            // realsense-rust's profile (device info, stream profiles) from a second reference.
            let active = call(|e| sys::rs2_pipeline_get_active_profile(h.pipeline, e))?;
            let active = NonNull::new(active).ok_or("librealsense returned no active profile")?;
            let profile = PipelineProfile::try_from(active).map_err(|e| e.to_string())?;
            Ok(Self {
                h,
                profile,
                position_ns: 0,
                silence: Duration::ZERO,
            })
        }
    }

    /// The device (the recording's camera info) and streams being played.
    pub fn profile(&self) -> &PipelineProfile {
        &self.profile
    }

    /// The next frame set, waiting at most `timeout` for it; the end of the recording once the
    /// player has stopped and the pipeline holds no frame.
    pub fn next(&mut self, timeout: Duration) -> Result<Next, String> {
        if let Some(f) = self.wait(timeout)? {
            self.silence = Duration::ZERO;
            return Ok(Next::Frame(f));
        }
        if self.status() == PlayerStatus::Stopped {
            // The player flushes the frames it read into the pipeline before it reports that it
            // stopped: what is still queued is the tail of the recording. (With pacing off every
            // frame gets there; in real time the last one may have been lost.)
            // The pipeline's syncer may still be handing the last frame over (seen on a loaded
            // machine: 499 of 500 frames): give it END_GRACE before calling the recording over.
            return Ok(match self.poll()? {
                Some(f) => Next::Frame(f),
                None => match self.wait(END_GRACE)? {
                    Some(f) => Next::Frame(f),
                    None => Next::Ended,
                },
            });
        }
        let position = self.position_ns();
        if position != self.position_ns {
            self.position_ns = position;
            self.silence = Duration::ZERO;
        }
        self.silence += timeout;
        if self.silence >= STALL {
            return Ok(Next::Stalled(format!(
                "playback stalled at {:.1} s of {:.1} s (no frame for {} s)",
                position as f64 * 1e-9,
                self.duration_ns() as f64 * 1e-9,
                self.silence.as_secs()
            )));
        }
        Ok(Next::Silent)
    }

    /// The next frame set, waiting at most `timeout`; `None` if none came in time.
    fn wait(&mut self, timeout: Duration) -> Result<Option<CompositeFrame>, String> {
        let ms = timeout.as_millis().min(u32::MAX as u128) as u32;
        let mut frame = ptr::null_mut();
        // SAFETY: the pipeline is started; a frame handed out is owned by the CompositeFrame.
        let got = unsafe {
            call(|e| sys::rs2_pipeline_try_wait_for_frames(self.h.pipeline, &mut frame, ms, e))?
        };
        Ok(if got != 0 {
            NonNull::new(frame).map(CompositeFrame::from)
        } else {
            None
        })
    }

    /// The next frame set if one is waiting now.
    fn poll(&mut self) -> Result<Option<CompositeFrame>, String> {
        let mut frame = ptr::null_mut();
        // SAFETY: as in `wait`.
        let got =
            unsafe { call(|e| sys::rs2_pipeline_poll_for_frames(self.h.pipeline, &mut frame, e))? };
        Ok(if got != 0 {
            NonNull::new(frame).map(CompositeFrame::from)
        } else {
            None
        })
    }

    /// What the player is doing now.
    pub fn status(&self) -> PlayerStatus {
        // SAFETY: the device handle is live while `self` is.
        match unsafe { call(|e| sys::rs2_playback_device_get_current_status(self.h.device, e)) } {
            Ok(sys::rs2_playback_status_RS2_PLAYBACK_STATUS_PLAYING) => PlayerStatus::Playing,
            Ok(sys::rs2_playback_status_RS2_PLAYBACK_STATUS_PAUSED) => PlayerStatus::Paused,
            Ok(sys::rs2_playback_status_RS2_PLAYBACK_STATUS_STOPPED) => PlayerStatus::Stopped,
            _ => PlayerStatus::Unknown,
        }
    }

    /// How far into the file the player has read, ns of recording time.
    pub fn position_ns(&self) -> u64 {
        // SAFETY: as in `status`.
        unsafe { call(|e| sys::rs2_playback_get_position(self.h.device, e)) }.unwrap_or(0)
    }

    /// The recording's length, ns.
    pub fn duration_ns(&self) -> u64 {
        // SAFETY: as in `status`.
        unsafe { call(|e| sys::rs2_playback_get_duration(self.h.device, e)) }.unwrap_or(0)
    }

    /// Whether librealsense paces the playback by the recorded times.
    pub fn is_real_time(&self) -> bool {
        // SAFETY: as in `status`.
        unsafe { call(|e| sys::rs2_playback_device_is_real_time(self.h.device, e)) }
            .is_ok_and(|v| v != 0)
    }
}
