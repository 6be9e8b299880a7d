//! Reading a source for a fixed stretch of stream time (`edge-screen record`): every frame is
//! handed to the caller (a `.bag` writer), time-outs and corrupt frames are counted, anything else
//! ends the recording with the time it reached.

use super::{CameraError, FrameSource};
use crate::types::DepthFrame;

/// What a recording met on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Faults {
    /// Reads that timed out.
    pub timeouts: u64,
    /// Frames the source reported as corrupt.
    pub corrupt: u64,
}

/// Why a recording stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The source failed.
    #[error("stopped after {t_s:.1} s: {source}")]
    Source {
        /// Stream time reached, s.
        t_s: f64,
        /// The source's error.
        source: CameraError,
    },
    /// The caller could not keep a frame (e.g. the file could not be written).
    #[error("stopped after {t_s:.1} s: {source}")]
    Keep {
        /// Stream time reached, s.
        t_s: f64,
        /// The caller's error.
        source: anyhow::Error,
    },
}

/// Reads `source` until a frame's timestamp reaches `seconds`, passing every earlier frame to
/// `keep`. Returns the faults met and the last frame read.
pub fn record_for(
    source: &mut dyn FrameSource,
    seconds: f64,
    mut keep: impl FnMut(&DepthFrame) -> anyhow::Result<()>,
) -> Result<(Faults, DepthFrame), RecordError> {
    let mut frame = DepthFrame::new(0, 0, 0.001);
    let mut faults = Faults::default();
    loop {
        match source.read_frame(&mut frame) {
            Ok(()) if frame.timestamp_s >= seconds => return Ok((faults, frame)),
            Ok(()) => keep(&frame).map_err(|source| RecordError::Keep {
                t_s: frame.timestamp_s,
                source,
            })?,
            Err(CameraError::Timeout(_)) => faults.timeouts += 1,
            Err(CameraError::Corrupt(_)) => faults.corrupt += 1,
            Err(source) => {
                return Err(RecordError::Source {
                    t_s: frame.timestamp_s,
                    source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::simulated::{SimCamera, SimCameraSettings};
    use crate::rsm::{Rsm, RsmParams};
    use crate::types::Pattern;

    fn camera() -> SimCamera {
        let s = SimCameraSettings {
            width: 64,
            height: 48,
            fps: 10.0,
            ..SimCameraSettings::default()
        };
        SimCamera::new(s, Rsm::new(RsmParams::typical(Pattern::Eupnea), 1), 1).unwrap()
    }

    #[test]
    fn every_frame_before_the_end_is_kept_once() {
        let mut seqs = Vec::new();
        let (faults, last) = record_for(&mut camera(), 2.0, |f| {
            seqs.push(f.seq);
            Ok(())
        })
        .unwrap();
        assert_eq!(seqs, (0..20).collect::<Vec<_>>());
        assert_eq!((faults, last.seq), (Faults::default(), 20));
    }

    #[test]
    fn a_frame_that_cannot_be_kept_stops_the_recording_with_its_time() {
        let e = record_for(&mut camera(), 2.0, |f| {
            anyhow::ensure!(f.seq < 5, "disk full");
            Ok(())
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "stopped after 0.5 s: disk full");
    }
}
