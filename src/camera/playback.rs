//! A `.bag` recording played through librealsense's playback device and its depth sensor
//! (feature `realsense`), with the one thing a pipeline cannot give: the pacing chosen before the
//! player reads its first frame.
//!
//! The recording is loaded into a context, its pacing is set ([`ReplayPace`]), and then the
//! sensor holding its Z16 depth stream is opened and started with a callback that hands every
//! frame to the reader through a bounded channel. With pacing off librealsense marks every frame
//! as blocking: the player's dispatcher waits in the callback until the reader has room, so the
//! file is read as fast as the caller takes frames and none is lost; and at the end of the file
//! the player hands over every frame it read before it reports that it stopped
//! ([`PlayerStatus::Stopped`]), so the end is known from the player, not from a silence.
//! (Through a pipeline the pacing can only be set after the player has started: on a busy
//! machine it could read a second frame in real time and replace the first, as a fresh-clone CI
//! run once saw, 499 of 500 frames.)
//!
//! Frames come out as realsense-rust [`RsDepthFrame`]s, as from a live pipeline. The calls are
//! made through `realsense-sys` (librealsense 2.56's C API).

use super::bag_writer::take_error;
use realsense_rust::frame::DepthFrame as RsDepthFrame;
use realsense_sys as sys;
use std::ffi::{c_void, CStr};
use std::path::Path;
use std::ptr::{self, NonNull};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::Duration;

/// A playing recording that gives no frame for this long while its read position stands still
/// has stalled (a recording has no pauses; a file librealsense cannot read on must not hang the
/// run).
pub const STALL: Duration = Duration::from_secs(30);
/// How long a stopped player may take to hand over its last frame (it hands every frame over
/// before it reports that it stopped, unless the reader took over 10 s for one frame, when
/// librealsense stops waiting for it).
const END_GRACE: Duration = Duration::from_secs(1);
/// Frames waiting for the reader: the player's dispatcher waits (pacing off) while this many
/// are unread.
const CHANNEL_FRAMES: usize = 2;

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
    /// The next depth frame.
    Frame(RsDepthFrame),
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

/// A frame handed from librealsense's dispatcher to the reader; released unless taken.
struct FramePtr(NonNull<sys::rs2_frame>);

// SAFETY: a librealsense frame is reference counted and may be released from any thread.
unsafe impl Send for FramePtr {}

impl FramePtr {
    /// The frame as a depth frame (which then owns it); an error releases it.
    fn into_depth(self) -> Result<RsDepthFrame, String> {
        let raw = self.0;
        std::mem::forget(self);
        RsDepthFrame::try_from(raw).map_err(|e| {
            // SAFETY: the conversion failed before taking ownership; the frame is still ours.
            unsafe { sys::rs2_release_frame(raw.as_ptr()) };
            format!("not a depth frame: {e}")
        })
    }
}

impl Drop for FramePtr {
    fn drop(&mut self) {
        // SAFETY: the frame was handed to us by librealsense's callback and not taken.
        unsafe { sys::rs2_release_frame(self.0.as_ptr()) }
    }
}

/// librealsense's frame callback: hands the frame (ours to release) to the reader, waiting for
/// room; once the reader is gone the frame is released.
unsafe extern "C" fn on_frame(frame: *mut sys::rs2_frame, user: *mut c_void) {
    let Some(frame) = NonNull::new(frame) else {
        return;
    };
    let frame = FramePtr(frame);
    // SAFETY: `user` is the sender boxed by `BagPlayer::start`, freed only after the sensor has
    // stopped and every librealsense handle is deleted.
    let tx = unsafe { &*(user as *const SyncSender<FramePtr>) };
    // A closed channel gives the frame back inside the error, and dropping it releases it.
    let _ = tx.send(frame);
}

/// The raw handles, freed in reverse order of creation (null ones are skipped).
struct Handles {
    context: *mut sys::rs2_context,
    device: *mut sys::rs2_device,
    sensors: *mut sys::rs2_sensor_list,
    sensor: *mut sys::rs2_sensor,
    profiles: *mut sys::rs2_stream_profile_list,
    opened: bool,
    started: bool,
    /// The callback's sender (a `Box<SyncSender<FramePtr>>`).
    sink: *mut SyncSender<FramePtr>,
}

impl Drop for Handles {
    fn drop(&mut self) {
        // SAFETY: each pointer is null or a live handle this struct alone owns. The reader's end
        // of the channel is gone by now (`BagPlayer` drops it first), so a dispatcher waiting in
        // the callback has been released and stopping cannot wait on the reader.
        unsafe {
            if self.started {
                let _ = call(|e| sys::rs2_stop(self.sensor, e));
            }
            if self.opened {
                let _ = call(|e| sys::rs2_close(self.sensor, e));
            }
            if !self.profiles.is_null() {
                sys::rs2_delete_stream_profiles_list(self.profiles);
            }
            if !self.sensor.is_null() {
                sys::rs2_delete_sensor(self.sensor);
            }
            if !self.sensors.is_null() {
                sys::rs2_delete_sensor_list(self.sensors);
            }
            if !self.device.is_null() {
                sys::rs2_delete_device(self.device);
            }
            if !self.context.is_null() {
                sys::rs2_delete_context(self.context);
            }
            if !self.sink.is_null() {
                drop(Box::from_raw(self.sink));
            }
        }
    }
}

/// What the recording holds: its camera and its depth stream.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedStream {
    /// The recorded camera's name (empty if the file does not say).
    pub name: String,
    /// The recorded camera's serial number (empty if the file does not say).
    pub serial: String,
    /// The depth stream's frame rate, frames/s.
    pub fps: f64,
    /// The depth image's width and height, pixels, if the file has its intrinsics.
    pub size: Option<(u32, u32)>,
}

/// A recording being played: its playback device, its depth sensor and the reader's end of the
/// frame channel.
pub struct BagPlayer {
    /// Dropped before `h` (see `Handles::drop`).
    rx: Option<Receiver<FramePtr>>,
    h: Handles,
    stream: RecordedStream,
    /// The read position when a frame last came or the position last moved, ns.
    position_ns: u64,
    /// Time waited without a frame since then.
    silence: Duration,
}

impl Drop for BagPlayer {
    fn drop(&mut self) {
        // The reader's end first: frames waiting in the channel are released, and a dispatcher
        // waiting for room returns, before the sensor is stopped.
        self.rx = None;
    }
}

// SAFETY: librealsense's device and sensor handles are thread-safe C++ objects; a player is used
// through `&mut self` or `&self` from one thread at a time.
unsafe impl Send for BagPlayer {}

fn non_null<T>(p: *mut T, what: &str) -> Result<*mut T, String> {
    if p.is_null() {
        Err(format!("librealsense returned no {what}"))
    } else {
        Ok(p)
    }
}

/// A camera-info string of `device`, empty when the recording does not have it.
///
/// # Safety
/// `device` must be a live device handle.
unsafe fn device_info(device: *mut sys::rs2_device, what: sys::rs2_camera_info) -> String {
    let supported = call(|e| sys::rs2_supports_device_info(device, what, e)).unwrap_or(0);
    if supported == 0 {
        return String::new();
    }
    match call(|e| sys::rs2_get_device_info(device, what, e)) {
        Ok(p) if !p.is_null() => CStr::from_ptr(p).to_string_lossy().into_owned(),
        _ => String::new(),
    }
}

impl BagPlayer {
    /// Starts playing `path`'s Z16 depth stream once (no looping) with the given pacing.
    /// The error is librealsense's message, or says that the file has no Z16 depth stream (the
    /// caller names the file).
    pub fn start(path: &Path, pace: ReplayPace) -> Result<Self, String> {
        let file = path
            .to_str()
            .and_then(|s| std::ffi::CString::new(s).ok())
            .ok_or("the path is not valid UTF-8 without NUL bytes")?;
        let mut h = Handles {
            context: ptr::null_mut(),
            device: ptr::null_mut(),
            sensors: ptr::null_mut(),
            sensor: ptr::null_mut(),
            profiles: ptr::null_mut(),
            opened: false,
            started: false,
            sink: ptr::null_mut(),
        };
        // SAFETY: every handle passed on was checked non-null and is owned by `h`, which frees it.
        unsafe {
            h.context = call(|e| sys::rs2_create_context(sys::RS2_API_VERSION as i32, e))?;
            non_null(h.context, "context")?;
            h.device = non_null(
                call(|e| sys::rs2_context_add_device(h.context, file.as_ptr(), e))?,
                "playback device",
            )?;
            // Before any sensor starts: the player reads its first frame with this pacing.
            let real_time = i32::from(pace == ReplayPace::RealTime);
            call(|e| sys::rs2_playback_device_set_real_time(h.device, real_time, e))?;
            let stream = RecordedStream {
                name: device_info(h.device, sys::rs2_camera_info_RS2_CAMERA_INFO_NAME),
                serial: device_info(h.device, sys::rs2_camera_info_RS2_CAMERA_INFO_SERIAL_NUMBER),
                fps: 0.0,
                size: None,
            };
            h.sensors = non_null(
                call(|e| sys::rs2_query_sensors(h.device, e))?,
                "sensor list",
            )?;
            let stream = Self::find_depth(&mut h, stream)?;
            let (tx, rx) = mpsc::sync_channel::<FramePtr>(CHANNEL_FRAMES);
            h.sink = Box::into_raw(Box::new(tx));
            call(|e| sys::rs2_start(h.sensor, Some(on_frame), h.sink.cast(), e))?;
            h.started = true;
            Ok(Self {
                rx: Some(rx),
                h,
                stream,
                position_ns: 0,
                silence: Duration::ZERO,
            })
        }
    }

    /// Finds the sensor with a Z16 depth stream, opens it on that stream and fills in the
    /// stream's rate and size.
    ///
    /// # Safety
    /// `h.sensors` must be the device's live sensor list; the handles it creates go into `h`.
    unsafe fn find_depth(
        h: &mut Handles,
        mut out: RecordedStream,
    ) -> Result<RecordedStream, String> {
        let count = call(|e| sys::rs2_get_sensors_count(h.sensors, e))?;
        for i in 0..count {
            let sensor = non_null(call(|e| sys::rs2_create_sensor(h.sensors, i, e))?, "sensor")?;
            let profiles = match call(|e| sys::rs2_get_stream_profiles(sensor, e)) {
                Ok(p) if !p.is_null() => p,
                _ => {
                    sys::rs2_delete_sensor(sensor);
                    continue;
                }
            };
            let n = call(|e| sys::rs2_get_stream_profiles_count(profiles, e)).unwrap_or(0);
            for j in 0..n {
                let Ok(profile) = call(|e| sys::rs2_get_stream_profile(profiles, j, e)) else {
                    continue;
                };
                if profile.is_null() {
                    continue;
                }
                let (mut kind, mut format, mut index, mut id, mut fps) = (0, 0, 0, 0, 0);
                let data = call(|e| {
                    sys::rs2_get_stream_profile_data(
                        profile,
                        &mut kind,
                        &mut format,
                        &mut index,
                        &mut id,
                        &mut fps,
                        e,
                    )
                });
                if data.is_err()
                    || kind != sys::rs2_stream_RS2_STREAM_DEPTH
                    || format != sys::rs2_format_RS2_FORMAT_Z16
                {
                    continue;
                }
                h.sensor = sensor;
                h.profiles = profiles;
                call(|e| sys::rs2_open(sensor, profile, e))?;
                h.opened = true;
                out.fps = f64::from(fps);
                let mut k = std::mem::zeroed::<sys::rs2_intrinsics>();
                if call(|e| sys::rs2_get_video_stream_intrinsics(profile, &mut k, e)).is_ok()
                    && k.width > 0
                    && k.height > 0
                {
                    out.size = Some((k.width as u32, k.height as u32));
                }
                return Ok(out);
            }
            sys::rs2_delete_stream_profiles_list(profiles);
            sys::rs2_delete_sensor(sensor);
        }
        Err("the recording has no Z16 depth stream".into())
    }

    /// The recorded camera and depth stream being played.
    pub fn stream(&self) -> &RecordedStream {
        &self.stream
    }

    /// The next depth frame, waiting at most `timeout` for it; the end of the recording once
    /// the player has stopped and handed over every frame.
    pub fn next(&mut self, timeout: Duration) -> Result<Next, String> {
        if let Some(f) = self.wait(timeout)? {
            self.silence = Duration::ZERO;
            return Ok(Next::Frame(f));
        }
        if self.status() == PlayerStatus::Stopped {
            // The player hands over the frames it read before it reports that it stopped: what
            // is still in the channel is the tail of the recording. (With pacing off every frame
            // gets there; in real time the last ones may have been replaced.)
            return Ok(match self.wait(END_GRACE)? {
                Some(f) => Next::Frame(f),
                None => Next::Ended,
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

    /// The next frame, waiting at most `timeout`; `None` if none came in time.
    fn wait(&mut self, timeout: Duration) -> Result<Option<RsDepthFrame>, String> {
        let Some(rx) = self.rx.as_ref() else {
            return Ok(None);
        };
        let got = match rx.try_recv() {
            Ok(f) => Some(f),
            Err(TryRecvError::Empty) => match rx.recv_timeout(timeout) {
                Ok(f) => Some(f),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => None,
            },
            Err(TryRecvError::Disconnected) => None,
        };
        got.map(FramePtr::into_depth).transpose()
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
