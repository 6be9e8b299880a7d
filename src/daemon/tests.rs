//! Camera faults at the trait level: a scripted [`FrameSource`] around the simulated camera that
//! times out, sends corrupt frames and disappears, run through the real daemon (threads, handoff,
//! pipeline), with an event sink and a display that record what they are given.

use super::*;
use crate::breathing::baseline::RuleBaseline;
use crate::camera::simulated::{SimCamera, SimCameraSettings};
use crate::camera::{CameraError, FrameSource};
use crate::display::{Display, DisplayError};
use crate::pipeline::view::{CameraStatus, Readout};
use crate::records::sink::EventSink;
use crate::rsm::{Rsm, RsmParams};
use crate::screening::ids::Counter;
use crate::types::DepthFrame;
use crate::types::Pattern;
use std::collections::VecDeque;
use std::io;

/// One stretch of the script.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// This many good frames from the simulated camera.
    Frames(u32),
    /// This many time-outs.
    Timeouts(u32),
    /// This many corrupt frames.
    Corrupt(u32),
    /// The camera is gone for this many reads (the daemon backs off between them).
    Unplugged(u32),
    /// This many frames lost inside the source (a gap in a RealSense camera's frame numbers).
    Lost(u32),
}

struct ScriptedCamera {
    inner: SimCamera,
    script: VecDeque<Step>,
    /// Wall-clock time of every read while unplugged.
    unplugged_reads: Arc<Mutex<Vec<Instant>>>,
    /// Frames lost so far.
    lost: u64,
}

impl FrameSource for ScriptedCamera {
    fn read_frame(&mut self, frame: &mut DepthFrame) -> Result<(), CameraError> {
        let Some(step) = self.script.front_mut() else {
            return Err(CameraError::EndOfStream);
        };
        if let Step::Lost(n) = *step {
            // The camera made these frames; they never come out.
            for _ in 0..n {
                self.inner.read_frame(frame)?;
            }
            self.lost += u64::from(n);
            self.script.pop_front();
            return self.read_frame(frame);
        }
        let (left, result) = match step {
            Step::Frames(n) => (n, self.inner.read_frame(frame)),
            Step::Timeouts(n) => (n, Err(CameraError::Timeout(1000))),
            Step::Corrupt(n) => (n, Err(CameraError::Corrupt("frame of 0x0 px".into()))),
            Step::Unplugged(n) => {
                self.unplugged_reads.lock().unwrap().push(Instant::now());
                (
                    n,
                    Err(CameraError::Disconnected("camera 123456 is gone".into())),
                )
            }
            Step::Lost(_) => unreachable!("handled above"),
        };
        *left -= 1;
        if *left == 0 {
            self.script.pop_front();
        }
        result
    }

    fn fps(&self) -> f64 {
        self.inner.fps()
    }

    fn describe(&self) -> String {
        "scripted faults around the simulated camera".into()
    }

    fn frames_lost(&self) -> u64 {
        self.lost
    }
}

#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<Event>>>);

impl EventSink for Collect {
    fn emit(&mut self, event: &Event) -> io::Result<()> {
        self.0.lock().unwrap().push(event.clone());
        Ok(())
    }
}

/// Records the camera status of every readout it is asked to draw.
#[derive(Clone, Default)]
struct Screenshots(Arc<Mutex<Vec<CameraStatus>>>);

impl Display for Screenshots {
    fn update(&mut self, _now_s: f64, r: &Readout) -> Result<bool, DisplayError> {
        self.0.lock().unwrap().push(r.camera.clone());
        Ok(true)
    }
    fn describe(&self) -> String {
        "screenshots".into()
    }
}

fn run_script(
    script: &[Step],
    speed: Speed,
) -> (RunSummary, Vec<Event>, Vec<CameraStatus>, Vec<Instant>) {
    let settings = SimCameraSettings {
        width: 212,
        height: 120,
        ..Default::default()
    };
    let inner = SimCamera::new(
        settings,
        Rsm::new(RsmParams::typical(Pattern::Eupnea), 7),
        7,
    )
    .expect("simulated camera");
    let unplugged = Arc::new(Mutex::new(Vec::new()));
    let source = ScriptedCamera {
        inner,
        script: script.iter().copied().collect(),
        unplugged_reads: Arc::clone(&unplugged),
        lost: 0,
    };
    let sink = Collect::default();
    let shots = Screenshots::default();
    let pipeline = Pipeline::new(
        &crate::config::Settings::embedded().unwrap().pipeline,
        Box::new(RuleBaseline),
        Box::new(Counter::new("daemon")),
    );
    let opts = RunOptions {
        speed,
        duration_s: None,
        frames_interval_s: 10.0,
        classifier: "rule_baseline".into(),
        inbox: None,
        ops: None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let summary = rt
        .block_on(run(
            Box::new(source),
            pipeline,
            Box::new(sink.clone()),
            None,
            Some(Box::new(shots.clone())),
            opts,
            CancellationToken::new(),
        ))
        .expect("daemon run");
    let events = sink.0.lock().unwrap().clone();
    let statuses = shots.0.lock().unwrap().clone();
    let reads = unplugged.lock().unwrap().clone();
    (summary, events, statuses, reads)
}

fn camera_events(events: &[Event]) -> Vec<&'static str> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Camera { status, .. } => Some(*status),
            _ => None,
        })
        .collect()
}

#[test]
fn timeouts_and_corrupt_frames_are_counted_not_fatal() {
    let script = [
        Step::Frames(60),
        Step::Timeouts(3),
        Step::Frames(30),
        Step::Corrupt(5),
        Step::Frames(30),
    ];
    let (summary, events, _, _) = run_script(&script, Speed::Max);
    assert_eq!(summary.reason, "end_of_stream");
    assert_eq!(summary.stats.timeouts, 3);
    assert_eq!(summary.stats.corrupt, 5);
    assert_eq!(summary.stats.received, 120);
    assert_eq!(summary.stats.processed, 120);
    // No camera event: a few silent or bad frames are not a lost camera.
    assert!(camera_events(&events).is_empty(), "{events:?}");
    assert!(matches!(events.last(), Some(Event::Stopped { .. })));
}

#[test]
fn frames_the_source_lost_are_reported_as_dropped() {
    // Every frame handed over is processed (full speed); the 7 the source lost are dropped.
    let script = [Step::Frames(30), Step::Lost(7), Step::Frames(30)];
    let (summary, events, _, _) = run_script(&script, Speed::Max);
    assert_eq!(summary.reason, "end_of_stream");
    assert_eq!(summary.stats.received, 60);
    assert_eq!(summary.stats.processed, 60);
    assert_eq!(summary.stats.dropped, 7);
    let Some(Event::Stopped { stats, .. }) = events.last() else {
        panic!("no stopped event: {events:?}");
    };
    assert_eq!(stats.dropped, 7);
}

#[test]
fn an_unplugged_camera_is_reported_shown_retried_with_back_off_and_resumed() {
    // 2 s of frames, unplugged for 4 reads, then 3 s of frames; real-time speed so that the
    // display refreshes while nothing arrives.
    let script = [Step::Frames(60), Step::Unplugged(4), Step::Frames(90)];
    let (summary, events, statuses, reads) = run_script(&script, Speed::Paced(1.0));
    assert_eq!(summary.reason, "end_of_stream");
    assert_eq!(summary.stats.received, 150, "{:?}", summary.stats);
    // One `lost`, then one `recovered`, in that order, however many retries there were.
    assert_eq!(camera_events(&events), ["lost", "recovered"], "{events:?}");
    let lost_at = events
        .iter()
        .position(|e| matches!(e, Event::Camera { status: "lost", .. }))
        .unwrap();
    let Event::Camera { t_s, message, .. } = &events[lost_at] else {
        unreachable!()
    };
    assert!(message.contains("gone"), "{message}");
    // The loss is stamped with the last frame's time: 60 frames at 30 frames/s.
    assert!((t_s - 59.0 / 30.0).abs() < 0.05, "lost at {t_s}");
    // Back-off between retries: 0.25 s, then doubling (lower bounds: sleeping never ends early).
    assert_eq!(reads.len(), 4);
    for (i, pair) in reads.windows(2).enumerate() {
        let gap = pair[1] - pair[0];
        let want = Duration::from_millis(250) * 2u32.pow(i as u32);
        assert!(gap >= want.mul_f64(0.95), "retry {i}: {gap:?} < {want:?}");
    }
    // The display said so while the camera was away, and went back to normal after.
    let first_lost = statuses
        .iter()
        .position(|s| *s == CameraStatus::Lost)
        .expect("display never showed the camera as lost");
    assert!(
        statuses[first_lost..].contains(&CameraStatus::Ok),
        "display stayed on 'camera lost'"
    );
    assert_eq!(statuses.last(), Some(&CameraStatus::Ok));
}
