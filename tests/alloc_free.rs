//! Steady-state capture and chest tracking allocate nothing: a counting global allocator wraps
//! the system one, and 300 frames after warm-up must not allocate even once.

use edge_screen::camera::simulated::{SimCamera, SimCameraSettings};
use edge_screen::camera::FrameSource;
use edge_screen::respiration::roi::{ChestSettings, ChestTracker};
use edge_screen::rsm::{Rsm, RsmParams};
use edge_screen::types::{DepthFrame, Pattern};
#[path = "util/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{allocations, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_frames_allocate_nothing() {
    // One test in this binary, so no other thread allocates while we count.
    let settings = SimCameraSettings {
        fault_probability: 0.02,
        ..SimCameraSettings::default()
    };
    let rsm = Rsm::new(RsmParams::typical(Pattern::Eupnea), 8);
    let mut cam = match SimCamera::new(settings, rsm, 8) {
        Ok(c) => c,
        Err(e) => panic!("settings rejected: {e}"),
    };
    let mut tracker = ChestTracker::new(ChestSettings::default());
    let mut frame = DepthFrame::new(848, 480, 0.001);
    // Warm-up: first detection, scratch buffers, RSM history growth settles.
    for _ in 0..60 {
        assert!(cam.read_frame(&mut frame).is_ok());
        let _ = tracker.process(&frame);
    }
    let before = allocations();
    let mut measured = 0;
    for _ in 0..300 {
        let ok = cam.read_frame(&mut frame).is_ok();
        let s = tracker.process(&frame);
        measured += usize::from(ok && s.displacement_mm.is_some());
    }
    let after = allocations();
    assert!(measured >= 280, "only {measured} of 300 frames measured");
    assert_eq!(
        after - before,
        0,
        "{} allocations in 300 frames",
        after - before
    );
}
