//! Steady-state capture and chest tracking allocate nothing: a counting global allocator wraps
//! the system one, and 300 frames after warm-up must not allocate even once.

use edge_screen::camera::simulated::{SimCamera, SimCameraSettings};
use edge_screen::camera::FrameSource;
use edge_screen::respiration::roi::{ChestSettings, ChestTracker};
use edge_screen::rsm::{Rsm, RsmParams};
use edge_screen::types::{DepthFrame, Pattern};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts every allocation and reallocation made through it.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        System.realloc(ptr, layout, new_size)
    }
}

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
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let mut measured = 0;
    for _ in 0..300 {
        let ok = cam.read_frame(&mut frame).is_ok();
        let s = tracker.process(&frame);
        measured += usize::from(ok && s.displacement_mm.is_some());
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert!(measured >= 280, "only {measured} of 300 frames measured");
    assert_eq!(
        after - before,
        0,
        "{} allocations in 300 frames",
        after - before
    );
}
