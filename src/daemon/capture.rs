//! The capture thread: reads the frame source, paces simulated and recorded time, counts faults,
//! and hands frames and camera-status messages to the processing thread.

use super::handoff::Handoff;
use super::{wait_or_cancel, RunOptions, Shared, Speed};
use crate::camera::{CameraError, FrameSource};
use crate::pipeline::{CameraState, Message};
use crate::types::DepthFrame;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn camera(handoff: &Handoff, status: CameraState, message: String) {
    handoff.send(Message::Camera { status, message });
}

/// Reads frames until the source ends, fails for good, the duration is reached or `shutdown`.
pub(super) fn capture_loop(
    mut source: Box<dyn FrameSource>,
    handoff: &Handoff,
    shared: &Shared,
    opts: &RunOptions,
    shutdown: &CancellationToken,
) {
    let mut buf = DepthFrame::new(0, 0, 0.001);
    let mut pace_origin: Option<(Instant, f64)> = None;
    let mut backoff = Duration::from_millis(250);
    while !shutdown.is_cancelled() {
        match source.read_frame(&mut buf) {
            Ok(()) => {
                if shared.camera_lost.swap(false, Relaxed) {
                    camera(
                        handoff,
                        CameraState::Recovered,
                        "frames are arriving again".into(),
                    );
                }
                backoff = Duration::from_millis(250);
                if opts.duration_s.is_some_and(|d| buf.timestamp_s >= d) {
                    shared.set_reason("duration");
                    break;
                }
                if let Speed::Paced(factor) = opts.speed {
                    let (t0, ts0) = *pace_origin.get_or_insert((Instant::now(), buf.timestamp_s));
                    let due =
                        t0 + Duration::from_secs_f64(((buf.timestamp_s - ts0) / factor).max(0.0));
                    let now = Instant::now();
                    if due > now && wait_or_cancel(shutdown, due - now) {
                        break;
                    }
                }
                shared.received.fetch_add(1, Relaxed);
                shared.source_lost.store(source.frames_lost(), Relaxed);
                shared.last_t_bits.store(buf.timestamp_s.to_bits(), Relaxed);
                match handoff.put(std::mem::replace(&mut buf, DepthFrame::new(0, 0, 0.001))) {
                    Some(next) => buf = next,
                    None => break,
                }
            }
            Err(CameraError::Timeout(_)) => {
                shared.timeouts.fetch_add(1, Relaxed);
            }
            Err(CameraError::Corrupt(why)) => {
                shared.corrupt.fetch_add(1, Relaxed);
                log::debug!("corrupt frame: {why}");
            }
            Err(CameraError::Disconnected(why)) => {
                if !shared.camera_lost.swap(true, Relaxed) {
                    log::warn!("camera lost: {why}");
                    camera(handoff, CameraState::Lost, why);
                }
                if wait_or_cancel(shutdown, backoff) {
                    break;
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
            Err(CameraError::EndOfStream) => {
                shared.source_lost.store(source.frames_lost(), Relaxed);
                shared.set_reason(source.end_reason());
                break;
            }
            Err(CameraError::Fatal(why)) => {
                log::error!("camera: {why}");
                camera(handoff, CameraState::Error, why.clone());
                shared.set_reason(&format!("camera error: {why}"));
                break;
            }
        }
    }
    shared.set_reason("signal");
}
