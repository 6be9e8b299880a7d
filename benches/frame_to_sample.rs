//! Frame → signal sample: `ChestTracker::process` on 848x480 simulated frames, beside a baseline
//! that copies the same frame once (`copy_from_slice` into a preallocated buffer), and the
//! simulated camera's render time for reference.
//!
//! The tracker sees a pre-rendered 4 s sequence (one breath at 15/min, with sway) in steady state,
//! with timestamps kept increasing so routine re-detection runs once a second as in the kiosk.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use edge_screen::camera::simulated::{SimCamera, SimCameraSettings};
use edge_screen::camera::FrameSource;
use edge_screen::respiration::roi::{ChestSettings, ChestTracker};
use edge_screen::rsm::{Rsm, RsmParams};
use edge_screen::types::{DepthFrame, Pattern};

const FRAMES: usize = 120;
const FPS: f64 = 30.0;

fn camera() -> SimCamera {
    let rsm = Rsm::new(RsmParams::typical(Pattern::Eupnea), 1);
    match SimCamera::new(SimCameraSettings::default(), rsm, 1) {
        Ok(c) => c,
        Err(e) => panic!("default settings rejected: {e}"),
    }
}

fn frames(cam: &mut SimCamera) -> Vec<DepthFrame> {
    (0..FRAMES)
        .map(|_| {
            let mut f = DepthFrame::new(848, 480, 0.001);
            if let Err(e) = cam.read_frame(&mut f) {
                panic!("simulated camera failed: {e}");
            }
            f
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut cam = camera();
    let mut seq = frames(&mut cam);
    let mut tracker = ChestTracker::new(ChestSettings::default());
    for f in &seq {
        let _ = tracker.process(f);
    }
    let mut k = FRAMES;
    c.bench_function("frame_to_sample/848x480", |b| {
        b.iter(|| {
            let f = &mut seq[k % FRAMES];
            f.timestamp_s = k as f64 / FPS;
            k += 1;
            black_box(tracker.process(black_box(f)))
        })
    });
    let mut dst = vec![0u16; 848 * 480];
    let mut j = 0;
    c.bench_function("copy_frame/848x480", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&seq[j % FRAMES].data));
            j += 1;
            black_box(&dst);
        })
    });
    let mut out = DepthFrame::new(848, 480, 0.001);
    c.bench_function("sim_render/848x480", |b| {
        b.iter(|| black_box(cam.read_frame(black_box(&mut out)).is_ok()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
