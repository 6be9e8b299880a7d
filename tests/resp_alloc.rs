//! The live analyser allocates nothing in steady state: per camera sample and per window analysis
//! and reading (with a classifier that itself does not allocate), counted by a global allocator.

use edge_screen::breathing::{read_window, PatternClassifier};
use edge_screen::respiration::window::BreathWindow;
use edge_screen::respiration::{BreathAnalyzer, RespirationSettings, Schedule, Step};
use edge_screen::types::PatternScores;
#[path = "util/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{allocations, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Scores from the spectral rate only; allocation-free.
struct Fixed;
impl PatternClassifier for Fixed {
    fn name(&self) -> &'static str {
        "fixed"
    }
    fn classify(&mut self, w: &BreathWindow<'_>) -> PatternScores {
        let r = w.spectral_rate_bpm.unwrap_or(0.0);
        PatternScores::from_evidence([1.0, r / 60.0, 0.1, 0.1, 0.1, 0.1])
    }
}

#[test]
fn steady_state_push_and_analysis_do_not_allocate() {
    let s = RespirationSettings::default();
    let mut an = BreathAnalyzer::new(&s, Schedule::live(&s));
    let mut cls = Fixed;
    let readings = std::cell::Cell::new(0usize);
    let mut on = |step: Step<'_>| {
        if let Step::Window(w) = step {
            let r = read_window(&mut cls, &w);
            readings.set(readings.get() + usize::from(r.scores.0.iter().sum::<f32>() > 0.99));
        }
    };
    let signal = |i: u64| {
        let t = i as f64 / 30.0;
        let pause = (t % 90.0) > 70.0; // a 20 s pause every 90 s exercises the apnea path
        let v = if pause {
            0.0
        } else {
            3.0 * (1.0 - (2.0 * std::f64::consts::PI * 0.27 * t).cos())
        };
        let noise = ((i.wrapping_mul(2654435761) >> 7) % 100) as f64 / 500.0;
        (t, (i % 17 != 0).then_some((v + noise) as f32))
    };
    // Warm-up: fill the window and let scratch buffers reach their working size.
    let warm = 400 * 30;
    for i in 0..warm {
        let (t, v) = signal(i);
        an.push(t, v, &mut on);
    }
    let warm_readings = readings.get();
    let before = allocations();
    for i in warm..warm + 200 * 30 {
        let (t, v) = signal(i);
        an.push(t, v, &mut on);
    }
    let allocs = allocations() - before;
    let readings = readings.get() - warm_readings;
    assert!(readings >= 99, "{readings} readings");
    assert_eq!(allocs, 0, "{allocs} allocations in 200 s of steady state");
}
