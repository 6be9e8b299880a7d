//! Writes depth frames to a librealsense `.bag` recording through librealsense's own
//! software-device and recorder (feature `realsense`).
//!
//! This is how test fixtures and demo recordings are made without a camera: frames from the
//! simulated camera go into a software device, librealsense's recorder writes them exactly as it
//! writes a real camera's, and [`super::realsense::RealSenseCamera::replay`] plays them back through
//! the same librealsense pipeline as a live camera.
//!
//! The recorder stamps each frame with the wall-clock time it arrived, and playback is paced by
//! those stamps, so frames must be written at the rate they were captured: [`BagWriter::write`]
//! sleeps until each frame is due. Writing a 60 s recording takes 60 s.
//!
//! The software-device and recorder functions are not in `realsense-sys`'s bindings; the few used
//! here are declared below from librealsense 2.56's `rs_internal.h`.

use crate::types::DepthFrame;
use realsense_sys as sys;
use std::ffi::{c_void, CStr, CString};
use std::os::raw::{c_char, c_int};
use std::path::{Path, PathBuf};
use std::ptr;
use std::time::{Duration, Instant};

/// `rs2_video_stream` (rs_internal.h, librealsense 2.56).
#[repr(C)]
struct VideoStream {
    kind: sys::rs2_stream,
    index: c_int,
    uid: c_int,
    width: c_int,
    height: c_int,
    fps: c_int,
    bpp: c_int,
    format: sys::rs2_format,
    intrinsics: sys::rs2_intrinsics,
}

/// `rs2_software_video_frame` (rs_internal.h, librealsense 2.56).
#[repr(C)]
struct SoftwareVideoFrame {
    pixels: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut c_void)>,
    stride: c_int,
    bpp: c_int,
    timestamp_ms: f64,
    domain: sys::rs2_timestamp_domain,
    frame_number: c_int,
    profile: *const sys::rs2_stream_profile,
    depth_units: f32,
}

unsafe extern "C" {
    fn rs2_create_software_device(error: *mut *mut sys::rs2_error) -> *mut sys::rs2_device;
    fn rs2_software_device_add_sensor(
        dev: *mut sys::rs2_device,
        name: *const c_char,
        error: *mut *mut sys::rs2_error,
    ) -> *mut sys::rs2_sensor;
    fn rs2_software_device_register_info(
        dev: *mut sys::rs2_device,
        info: sys::rs2_camera_info,
        value: *const c_char,
        error: *mut *mut sys::rs2_error,
    );
    fn rs2_software_sensor_add_video_stream_ex(
        sensor: *mut sys::rs2_sensor,
        stream: VideoStream,
        is_default: c_int,
        error: *mut *mut sys::rs2_error,
    ) -> *mut sys::rs2_stream_profile;
    fn rs2_software_sensor_add_read_only_option(
        sensor: *mut sys::rs2_sensor,
        option: sys::rs2_option,
        value: f32,
        error: *mut *mut sys::rs2_error,
    );
    fn rs2_software_sensor_on_video_frame(
        sensor: *mut sys::rs2_sensor,
        frame: SoftwareVideoFrame,
        error: *mut *mut sys::rs2_error,
    );
}

/// Why a recording could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct BagError {
    /// The recording.
    pub file: PathBuf,
    /// What went wrong (librealsense's message where it gave one).
    pub message: String,
}

/// Turns an `rs2_error` into a message and frees it.
pub(super) fn take_error(e: *mut sys::rs2_error) -> Option<String> {
    if e.is_null() {
        return None;
    }
    // SAFETY: `e` is a live rs2_error from librealsense; its message lives until we free it.
    let msg = unsafe {
        let m = sys::rs2_get_error_message(e);
        let s = if m.is_null() {
            "unknown librealsense error".to_string()
        } else {
            CStr::from_ptr(m).to_string_lossy().into_owned()
        };
        sys::rs2_free_error(e);
        s
    };
    Some(msg)
}

/// Identity of the software camera, stored in the recording's device info.
#[derive(Debug, Clone)]
pub struct BagDevice {
    /// Name, e.g. "edge-screen simulated camera".
    pub name: String,
    /// Serial number.
    pub serial: String,
    /// Firmware version field (the writer's version).
    pub firmware: String,
}

/// Pixel buffers handed to librealsense carry their length in front of the pixels, so that the
/// deleter (which gets only the pixel pointer) can free them.
const HEADER: usize = 4; // u16s = 8 bytes, holding the pixel count as u64

fn boxed_pixels(data: &[u16]) -> *mut c_void {
    let mut b = vec![0u16; HEADER + data.len()].into_boxed_slice();
    let n = (data.len() as u64).to_le_bytes();
    for (i, pair) in n.chunks_exact(2).enumerate() {
        b[i] = u16::from_le_bytes([pair[0], pair[1]]);
    }
    b[HEADER..].copy_from_slice(data);
    let base = Box::into_raw(b) as *mut u16;
    // SAFETY: the allocation holds HEADER + len u16s.
    unsafe { base.add(HEADER) as *mut c_void }
}

unsafe extern "C" fn free_pixels(pixels: *mut c_void) {
    if pixels.is_null() {
        return;
    }
    // SAFETY: `pixels` came from `boxed_pixels`: HEADER u16s before it hold the pixel count, and
    // the whole block is one boxed slice of HEADER + count u16s.
    unsafe {
        let base = (pixels as *mut u16).sub(HEADER);
        let mut n = [0u8; 8];
        for i in 0..HEADER {
            n[2 * i..2 * i + 2].copy_from_slice(&(*base.add(i)).to_le_bytes());
        }
        let len = HEADER + u64::from_le_bytes(n) as usize;
        drop(Box::from_raw(ptr::slice_from_raw_parts_mut(base, len)));
    }
}

unsafe extern "C" fn release_frame(frame: *mut sys::rs2_frame, _user: *mut c_void) {
    // SAFETY: librealsense hands the callback one reference to the frame, which we give back.
    unsafe { sys::rs2_release_frame(frame) };
}

/// A `.bag` recording being written. Frames must all have the size given to [`BagWriter::create`].
pub struct BagWriter {
    file: PathBuf,
    device: *mut sys::rs2_device,
    recorder: *mut sys::rs2_device,
    sensor: *mut sys::rs2_sensor,
    profile: *const sys::rs2_stream_profile,
    width: u32,
    height: u32,
    depth_unit_m: f32,
    started: Option<(Instant, f64)>,
    frames: u64,
    streaming: bool,
}

// SAFETY: the librealsense handles are used from one thread at a time (`&mut self`), and
// librealsense's objects are themselves thread-safe.
unsafe impl Send for BagWriter {}

impl BagWriter {
    /// Creates `file` (overwriting it) for a Z16 depth stream of `width` x `height` at `fps`
    /// whose stream profile carries `intrinsics` (what a replay's frames then carry; `None`: a
    /// D435-like 87 degrees horizontal field of view, centred).
    pub fn create(
        file: &Path,
        width: u32,
        height: u32,
        fps: u32,
        depth_unit_m: f32,
        device: &BagDevice,
        intrinsics: Option<crate::types::Intrinsics>,
    ) -> Result<Self, BagError> {
        let fail = |message: String| BagError {
            file: file.to_path_buf(),
            message,
        };
        if !(1..=4096).contains(&width)
            || !(1..=4096).contains(&height)
            || !(1..=300).contains(&fps)
        {
            return Err(fail(format!("unsupported stream {width}x{height}@{fps}")));
        }
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(fail(format!("folder {} does not exist", dir.display())));
            }
        }
        let path_c = CString::new(file.to_string_lossy().as_bytes())
            .map_err(|_| fail("path contains a NUL byte".into()))?;
        let cstr = |s: &str| CString::new(s.replace('\0', " ")).unwrap_or_default();
        let (name, serial, firmware) = (
            cstr(&device.name),
            cstr(&device.serial),
            cstr(&device.firmware),
        );
        let sensor_name = cstr("Stereo Module");
        let mut w = BagWriter {
            file: file.to_path_buf(),
            device: ptr::null_mut(),
            recorder: ptr::null_mut(),
            sensor: ptr::null_mut(),
            profile: ptr::null(),
            width,
            height,
            depth_unit_m,
            started: None,
            frames: 0,
            streaming: false,
        };
        let mut e = ptr::null_mut();
        // SAFETY: plain librealsense C calls; every handle is checked before use and owned by
        // `w`, whose Drop releases them in reverse order.
        unsafe {
            w.device = rs2_create_software_device(&mut e);
            if let Some(m) = take_error(e) {
                return Err(fail(format!("software device: {m}")));
            }
            for (info, value) in [
                (sys::rs2_camera_info_RS2_CAMERA_INFO_NAME, &name),
                (sys::rs2_camera_info_RS2_CAMERA_INFO_SERIAL_NUMBER, &serial),
                (
                    sys::rs2_camera_info_RS2_CAMERA_INFO_FIRMWARE_VERSION,
                    &firmware,
                ),
            ] {
                rs2_software_device_register_info(w.device, info, value.as_ptr(), &mut e);
                if let Some(m) = take_error(e) {
                    return Err(fail(format!("device info: {m}")));
                }
                e = ptr::null_mut();
            }
            w.sensor = rs2_software_device_add_sensor(w.device, sensor_name.as_ptr(), &mut e);
            if let Some(m) = take_error(e) {
                return Err(fail(format!("software sensor: {m}")));
            }
            let k = intrinsics
                .filter(crate::types::Intrinsics::is_usable)
                .unwrap_or_else(|| {
                    crate::types::Intrinsics::from_horizontal_fov(width, height, 87.0)
                });
            let stream = VideoStream {
                kind: sys::rs2_stream_RS2_STREAM_DEPTH,
                index: 0,
                uid: 1,
                width: width as c_int,
                height: height as c_int,
                fps: fps as c_int,
                bpp: 2,
                format: sys::rs2_format_RS2_FORMAT_Z16,
                intrinsics: sys::rs2_intrinsics {
                    width: width as c_int,
                    height: height as c_int,
                    ppx: k.cx,
                    ppy: k.cy,
                    fx: k.fx,
                    fy: k.fy,
                    model: sys::rs2_distortion_RS2_DISTORTION_BROWN_CONRADY,
                    coeffs: [0.0; 5],
                },
            };
            e = ptr::null_mut();
            w.profile = rs2_software_sensor_add_video_stream_ex(w.sensor, stream, 1, &mut e);
            if let Some(m) = take_error(e) {
                return Err(fail(format!("depth stream: {m}")));
            }
            e = ptr::null_mut();
            rs2_software_sensor_add_read_only_option(
                w.sensor,
                sys::rs2_option_RS2_OPTION_DEPTH_UNITS,
                depth_unit_m,
                &mut e,
            );
            if let Some(m) = take_error(e) {
                return Err(fail(format!("depth units: {m}")));
            }
            e = ptr::null_mut();
            // Compressed (LZ4) chunks: a depth scene compresses several-fold.
            w.recorder = sys::rs2_create_record_device_ex(w.device, path_c.as_ptr(), 1, &mut e);
            if let Some(m) = take_error(e) {
                return Err(fail(format!("recorder: {m}")));
            }
            e = ptr::null_mut();
            sys::rs2_open(w.sensor, w.profile, &mut e);
            if let Some(m) = take_error(e) {
                return Err(fail(format!("open: {m}")));
            }
            e = ptr::null_mut();
            sys::rs2_start(w.sensor, Some(release_frame), ptr::null_mut(), &mut e);
            if let Some(m) = take_error(e) {
                sys::rs2_close(w.sensor, ptr::null_mut());
                return Err(fail(format!("start: {m}")));
            }
            w.streaming = true;
        }
        Ok(w)
    }

    /// Writes one frame, after sleeping until it is due: its `timestamp_s` after the first
    /// frame's, on the wall clock.
    pub fn write(&mut self, frame: &DepthFrame) -> Result<(), BagError> {
        let fail = |message: String| BagError {
            file: self.file.clone(),
            message,
        };
        if frame.width != self.width || frame.height != self.height || !frame.is_consistent() {
            return Err(fail(format!(
                "frame of {}x{} px ({} values) in a {}x{} stream",
                frame.width,
                frame.height,
                frame.data.len(),
                self.width,
                self.height
            )));
        }
        let (t0, ts0) = *self
            .started
            .get_or_insert_with(|| (Instant::now(), frame.timestamp_s));
        let due = t0 + Duration::from_secs_f64((frame.timestamp_s - ts0).max(0.0));
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let pixels = boxed_pixels(&frame.data);
        let sw = SoftwareVideoFrame {
            pixels,
            deleter: Some(free_pixels),
            stride: (self.width * 2) as c_int,
            bpp: 2,
            timestamp_ms: frame.timestamp_s * 1000.0,
            domain: sys::rs2_timestamp_domain_RS2_TIMESTAMP_DOMAIN_HARDWARE_CLOCK,
            frame_number: (frame.seq % (i32::MAX as u64)) as c_int,
            profile: self.profile,
            depth_units: self.depth_unit_m,
        };
        let mut e = ptr::null_mut();
        // SAFETY: the sensor is open and started; librealsense takes ownership of `pixels` and
        // frees it through `free_pixels` (also when it rejects the frame).
        unsafe { rs2_software_sensor_on_video_frame(self.sensor, sw, &mut e) };
        if let Some(m) = take_error(e) {
            return Err(fail(format!("frame {}: {m}", self.frames)));
        }
        self.frames += 1;
        Ok(())
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Stops the stream and closes the file (also done on drop, without the error).
    pub fn finish(mut self) -> Result<u64, BagError> {
        let n = self.frames;
        self.close().map_err(|message| BagError {
            file: self.file.clone(),
            message,
        })?;
        Ok(n)
    }

    fn close(&mut self) -> Result<(), String> {
        let mut first_err = None;
        // SAFETY: each handle is released once and nulled; the order mirrors creation.
        unsafe {
            if self.streaming {
                self.streaming = false;
                let mut e = ptr::null_mut();
                sys::rs2_stop(self.sensor, &mut e);
                if let Some(m) = take_error(e) {
                    first_err.get_or_insert(format!("stop: {m}"));
                }
                let mut e = ptr::null_mut();
                sys::rs2_close(self.sensor, &mut e);
                if let Some(m) = take_error(e) {
                    first_err.get_or_insert(format!("close: {m}"));
                }
            }
            // The recorder writes the file's index when it is deleted.
            if !self.recorder.is_null() {
                sys::rs2_delete_device(self.recorder);
                self.recorder = ptr::null_mut();
            }
            if !self.sensor.is_null() {
                sys::rs2_delete_sensor(self.sensor);
                self.sensor = ptr::null_mut();
            }
            if !self.device.is_null() {
                sys::rs2_delete_device(self.device);
                self.device = ptr::null_mut();
            }
        }
        match first_err {
            Some(m) => Err(m),
            None => Ok(()),
        }
    }
}

impl Drop for BagWriter {
    fn drop(&mut self) {
        if let Err(m) = self.close() {
            log::warn!("{}: {m}", self.file.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_blocks_round_trip_through_the_deleter() {
        let data: Vec<u16> = (0..1000).map(|i| i * 7).collect();
        let p = boxed_pixels(&data);
        // SAFETY: p points at data.len() u16s.
        let back = unsafe { std::slice::from_raw_parts(p as *const u16, data.len()) };
        assert_eq!(back, &data[..]);
        // SAFETY: p came from boxed_pixels and is freed once.
        unsafe { free_pixels(p) };
    }

    #[test]
    fn a_replay_gives_its_frames_the_intrinsics_the_writer_stored() {
        use crate::camera::hardware::{
            Emitter, FilterSettings, HoleFilling, RealSenseSettings, VisualPreset,
        };
        use crate::camera::realsense::{RealSenseCamera, ReplayPace};
        use crate::camera::FrameSource;
        use crate::types::{DepthFrame, Intrinsics};
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("k.bag");
        let (w, h) = (64u32, 48u32);
        // Off-centre, non-square: nothing a default could produce.
        let k = Intrinsics {
            fx: 50.5,
            fy: 51.25,
            cx: 30.0,
            cy: 24.75,
        };
        let device = BagDevice {
            name: "test".into(),
            serial: "K1".into(),
            firmware: "0".into(),
        };
        let mut bag = BagWriter::create(&file, w, h, 30, 0.001, &device, Some(k)).expect("bag");
        let mut f = DepthFrame::new(w, h, 0.001);
        f.data.fill(1000);
        for i in 0..6 {
            f.seq = i;
            f.timestamp_s = i as f64 / 30.0;
            bag.write(&f).expect("frame written");
        }
        assert_eq!(bag.finish().expect("closed"), 6);
        let settings = RealSenseSettings {
            width_px: w,
            height_px: h,
            fps: 30,
            depth_unit_m: 0.001,
            emitter: Emitter::Keep,
            visual_preset: VisualPreset::Keep,
            frame_timeout_ms: 2000,
            filters: FilterSettings {
                decimation: 1,
                spatial: false,
                temporal: false,
                hole_filling: HoleFilling::Off,
            },
        };
        let mut replay =
            RealSenseCamera::replay(&file, &settings, ReplayPace::AsFastAsRead).expect("replay");
        let mut out = DepthFrame::new(0, 0, 0.001);
        replay.read_frame(&mut out).expect("a frame");
        assert_eq!((out.width, out.height), (w, h));
        let got = out
            .intrinsics
            .expect("the replayed frame carries intrinsics");
        let close = |a: f32, b: f32| (a - b).abs() < 1e-4;
        assert!(
            close(got.fx, k.fx)
                && close(got.fy, k.fy)
                && close(got.cx, k.cx)
                && close(got.cy, k.cy),
            "{got:?} vs {k:?}"
        );
    }
}
