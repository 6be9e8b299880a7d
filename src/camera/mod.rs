//! Depth-frame sources behind one small trait: the simulated camera, a RealSense camera and a
//! `.bag` recording (both through librealsense, feature `realsense`). The pipeline never knows
//! which one it is fed by.

#[cfg(feature = "realsense")]
pub mod bag_writer;
mod bystander;
pub mod hardware;
mod motion;
mod noise;
#[cfg(feature = "realsense")]
pub mod playback;
mod raster;
#[cfg(feature = "realsense")]
pub mod realsense;
pub mod record;
mod scene;
pub mod simulated;
mod speech;
pub mod visits;

use crate::types::DepthFrame;

/// Why a source could not deliver a frame. The daemon branches on these: time-outs and corrupt
/// frames are counted and skipped, a disconnect is retried with back-off, the end of a recording
/// stops the run, anything else is fatal.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    /// No frame arrived within the time-out; the stream may recover.
    #[error("no frame within {0} ms")]
    Timeout(u32),
    /// A frame arrived but is unusable (wrong size, wrong format); the stream goes on.
    #[error("corrupt frame: {0}")]
    Corrupt(String),
    /// The device went away (unplugged, reset); it may come back.
    #[error("camera disconnected: {0}")]
    Disconnected(String),
    /// A finite source (a recording, a simulation with a duration) has no more frames.
    #[error("end of stream")]
    EndOfStream,
    /// Nothing more can be done with this source.
    #[error("{0}")]
    Fatal(String),
}

/// Something that produces depth frames one at a time.
///
/// `read_frame` fills a caller-owned frame so that capture allocates nothing in steady state; it
/// may resize `frame.data` when the source's resolution differs from the buffer's.
pub trait FrameSource: Send {
    /// Blocks until the next frame is available and writes it into `frame`.
    fn read_frame(&mut self, frame: &mut DepthFrame) -> Result<(), CameraError>;

    /// Nominal frame rate, frames per second.
    fn fps(&self) -> f64;

    /// One line for logs and the `started` event, e.g. "simulated 848x480@30 eupnea seed 1".
    fn describe(&self) -> String;

    /// The `reason` the daemon reports when this source returns [`CameraError::EndOfStream`]
    /// (a recording ends with "end_of_stream", a queue of simulated visitors "end_of_visits").
    fn end_reason(&self) -> &'static str {
        "end_of_stream"
    }

    /// Frames the source knows it lost before handing them out, so far: gaps in a RealSense
    /// camera's or recording's frame numbers (frames librealsense dropped). The daemon reports
    /// them with the frames it dropped itself.
    fn frames_lost(&self) -> u64 {
        0
    }
}
