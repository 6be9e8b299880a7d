//! Tests of the whole RSM: determinism, sample-rate independence, streaming memory, noise,
//! motion sizes and robustness. Per-pattern properties are in `pattern_tests.rs`.

use super::*;
use crate::types::Pattern;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub(super) const SEEDS: [u64; 4] = [1, 2, 3, 4];

/// A random subject for `pattern` ([`RsmParams::draw`] seeded from `seed`), simulated with `seed`.
pub(super) fn subject(pattern: Pattern, seed: u64) -> Rsm {
    let mut rng = ChaCha8Rng::seed_from_u64(seed * 7919);
    Rsm::new(RsmParams::draw(pattern, &mut rng), seed)
}

/// Breathing-only chest signal (no cardiac ripple) at `hz` for `seconds`.
pub(super) fn breathing(pattern: Pattern, seed: u64, hz: f64, seconds: f64) -> (Rsm, Vec<f64>) {
    let mut rsm = subject(pattern, seed);
    let n = (hz * seconds) as usize;
    let x = (0..n).map(|i| rsm.breathing_mm(i as f64 / hz)).collect();
    (rsm, x)
}

/// Coefficient of variation (SD / mean).
pub(super) fn cv(x: &[f64]) -> f64 {
    let m = x.iter().sum::<f64>() / x.len() as f64;
    (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / x.len() as f64).sqrt() / m
}

#[test]
fn same_seed_same_output_different_seed_different() {
    for p in Pattern::ALL {
        let a = subject(p, 5).sample(20.0, 120.0);
        let b = subject(p, 5).sample(20.0, 120.0);
        assert_eq!(a, b, "{p}");
        let c = subject(p, 5);
        let c = Rsm::new(c.params().clone(), 6).sample(20.0, 120.0);
        let diff = a
            .resp_mm
            .iter()
            .zip(&c.resp_mm)
            .filter(|(x, y)| (*x - *y).abs() > 0.01)
            .count();
        assert!(
            diff > a.resp_mm.len() / 2,
            "{p}: seeds 5 and 6 differ in only {diff} samples"
        );
    }
}

#[test]
fn sample_rate_independent_and_random_access() {
    for p in Pattern::ALL {
        let a = subject(p, 9).sample(10.0, 300.0);
        let b = subject(p, 9).sample(30.0, 300.0);
        for (i, (t, v)) in a.t_s.iter().zip(&a.resp_mm).enumerate() {
            assert_eq!(b.t_s.get(3 * i), Some(t));
            assert_eq!(b.resp_mm.get(3 * i), Some(v), "{p} at {t} s");
        }
        // Querying backwards (before the working set) replays and gives the same values.
        let mut r = subject(p, 9);
        let late = (r.chest_mm(290.0), r.body_motion(290.0));
        let early = (r.chest_mm(12.3), r.body_motion(12.3));
        let mut fresh = subject(p, 9);
        assert_eq!(
            early,
            (fresh.chest_mm(12.3), fresh.body_motion(12.3)),
            "{p}"
        );
        assert_eq!(
            late,
            (fresh.chest_mm(290.0), fresh.body_motion(290.0)),
            "{p}"
        );
        assert_eq!(
            r.truth().breaths,
            fresh.truth().breaths[..r.truth().breaths.len()]
        );
    }
}

#[test]
fn sample_at_5_and_1000_hz() {
    let lo = subject(Pattern::Eupnea, 3).sample(5.0, 60.0);
    let hi = subject(Pattern::Eupnea, 3).sample(1000.0, 60.0);
    assert_eq!((lo.resp_mm.len(), hi.resp_mm.len()), (300, 60_000));
    assert!(hi.resp_mm.iter().all(|v| v.is_finite() && v.abs() < 200.0));
    for (i, v) in lo.resp_mm.iter().enumerate() {
        assert_eq!(hi.resp_mm.get(200 * i), Some(v));
    }
    // Over 1 ms the signal moves little apart from white noise: breathing is smooth.
    let p = &hi.params;
    let steps: Vec<f64> = hi
        .resp_mm
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64)
        .collect();
    let rms = (steps.iter().map(|d| d * d).sum::<f64>() / steps.len() as f64).sqrt();
    let noise_step = p.noise_mm as f64 * 2f64.sqrt();
    assert!(
        rms < noise_step * 1.2 + 0.01,
        "step rms {rms} vs noise {noise_step}"
    );
}

#[test]
fn measured_ie_ratio_and_variability_match_params() {
    for (ie, cvp) in [(1.2f32, 0.05f32), (1.9, 0.1)] {
        let mut params = RsmParams::typical(Pattern::Eupnea);
        (params.ie_ratio, params.period_cv, params.cardiac_mm) = (ie, cvp, 0.0);
        let mut rsm = Rsm::new(params, 11);
        let hz = 200.0;
        let x: Vec<f32> = (0..(hz * 300.0) as usize)
            .map(|i| rsm.chest_mm(i as f64 / hz))
            .collect();
        let mut ratios = Vec::new();
        let breaths = rsm.truth().breaths.clone();
        for b in breaths.iter().filter(|b| b.onset_s + b.duration_s < 299.0) {
            let (i0, i1) = (
                (b.onset_s * hz).ceil() as usize,
                ((b.onset_s + b.duration_s) * hz) as usize,
            );
            let seg = x.get(i0..i1).unwrap_or(&[]);
            let ipk = seg
                .iter()
                .enumerate()
                .fold(
                    (0, f32::MIN),
                    |a, (i, v)| if *v > a.1 { (i, *v) } else { a },
                )
                .0;
            let ti = (i0 + ipk) as f64 / hz - b.onset_s;
            ratios.push((b.duration_s - ti) / ti);
        }
        let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
        assert!(
            (mean - ie as f64).abs() < 0.05 * ie as f64,
            "I:E 1:{mean} vs 1:{ie}"
        );
        let periods: Vec<f64> = breaths.iter().map(|b| b.duration_s).collect();
        let c = cv(&periods);
        assert!(
            (c - cvp as f64).abs() < 0.3 * cvp as f64,
            "period cv {c} vs {cvp}"
        );
    }
}

#[test]
fn long_run_keeps_a_small_working_set() {
    let mut rsm = subject(Pattern::Tachypnea, 1);
    for i in 0..(2 * 3600 * 5) {
        let t = i as f64 / 5.0;
        rsm.chest_mm(t);
        rsm.body_motion(t);
    }
    assert!(rsm.window.len() < 40, "working set {}", rsm.window.len());
    let n = rsm.truth().breaths.len();
    assert!(n > 2 * 60 * 21 && n < 2 * 60 * 41, "{n} breaths in 2 h");
}

#[test]
fn sensor_noise_level_matches_params() {
    let mut params = RsmParams::typical(Pattern::Eupnea);
    (
        params.noise_mm,
        params.drift_mm,
        params.sway_mm,
        params.artefacts_per_min,
    ) = (0.2, 0.0, 0.0, 0.0);
    let rec = Rsm::new(params.clone(), 4).sample(50.0, 200.0);
    let mut clean = Rsm::new(params, 4);
    let res: Vec<f64> = rec
        .t_s
        .iter()
        .zip(&rec.resp_mm)
        .map(|(t, v)| (*v - clean.chest_mm(*t)) as f64)
        .collect();
    let rms = (res.iter().map(|r| r * r).sum::<f64>() / res.len() as f64).sqrt();
    assert!((rms - 0.2).abs() < 0.01, "noise rms {rms}");
}

#[test]
fn nonsense_parameters_do_not_panic() {
    for p in Pattern::ALL {
        let mut params = RsmParams::typical(p);
        (params.rate_bpm, params.depth_mm, params.cycle_s) = (f32::INFINITY, f32::NAN, f32::NAN);
        (params.pause_s, params.group) = ([f32::NAN, -3.0], [9.0, f32::NAN]);
        params.ie_ratio = -1.0;
        if p == Pattern::Eupnea {
            params.period_cv = f32::NAN;
        }
        let mut rsm = Rsm::new(params, 1);
        for i in 0..200 {
            let _ = (
                rsm.chest_mm(i as f64 * 0.5),
                rsm.body_motion(i as f64 * 0.5),
            );
        }
        assert_eq!(rsm.chest_mm(f64::NAN), 0.0);
        assert!(
            rsm.truth().breaths.len() < 1000,
            "{p}: {}",
            rsm.truth().breaths.len()
        );
    }
}

#[test]
fn drift_and_sway_sizes_match_params() {
    let mut params = RsmParams::typical(Pattern::Eupnea);
    (params.drift_mm, params.sway_mm, params.artefacts_per_min) = (0.0, 1.5, 0.0);
    let rms = |params: &RsmParams, f: fn(BodyMotion) -> f32| {
        let mut r = Rsm::new(params.clone(), 3);
        let n = 36_000;
        let xs: Vec<f64> = (0..n).map(|i| f(r.body_motion(i as f64)) as f64).collect();
        let m = xs.iter().sum::<f64>() / n as f64;
        (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64).sqrt()
    };
    let lat = rms(&params, |b| b.lateral_mm);
    let fwd = rms(&params, |b| b.forward_mm);
    assert!((lat - 1.5).abs() < 0.3, "lateral sway rms {lat}");
    assert!((fwd - 0.5).abs() < 0.1, "forward sway rms {fwd}");
    (params.drift_mm, params.sway_mm) = (1.0, 0.0);
    let drift = rms(&params, |b| b.forward_mm);
    assert!((0.6..=1.2).contains(&drift), "drift rms {drift}");
}
