//! Tests of the whole RSM: determinism, sample-rate independence, and per-pattern properties
//! measured on the generated signal and checked against the truth and the pattern definitions.

use super::*;
use crate::types::Pattern;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const SEEDS: [u64; 4] = [1, 2, 3, 4];

/// A drawn subject for `pattern` and `seed` (same draw as `simulate`).
fn subject(pattern: Pattern, seed: u64) -> Rsm {
    let mut rng = ChaCha8Rng::seed_from_u64(seed * 7919);
    Rsm::new(RsmParams::draw(pattern, &mut rng), seed)
}

/// Breathing-only chest signal (no cardiac ripple) at `hz` for `seconds`.
fn breathing(pattern: Pattern, seed: u64, hz: f64, seconds: f64) -> (Rsm, Vec<f64>) {
    let mut rsm = subject(pattern, seed);
    let n = (hz * seconds) as usize;
    let x = (0..n).map(|i| rsm.breathing_mm(i as f64 / hz)).collect();
    (rsm, x)
}

fn cv(x: &[f64]) -> f64 {
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
fn regular_patterns_rate_in_range_and_no_pause() {
    for p in [Pattern::Eupnea, Pattern::Tachypnea, Pattern::Bradypnea] {
        let (lo, hi) = rate_range(p);
        for seed in SEEDS {
            let (rsm, x) = breathing(p, seed, 20.0, 600.0);
            let half = 0.5 * rsm.params().depth_mm as f64;
            // Measured from the signal: upward crossings of half the mean depth.
            let ups = x.windows(2).filter(|w| w[0] < half && w[1] >= half).count();
            let rate = ups as f64 / 10.0;
            assert!(
                rate >= lo as f64 - 0.3 && rate <= hi as f64 + 0.3,
                "{p} seed {seed}: {rate}"
            );
            let truth_rate = rsm.truth().mean_rate_bpm(0.0, 600.0).unwrap_or(0.0);
            assert!(
                (truth_rate as f64 - rate).abs() < 0.5,
                "{p}: truth {truth_rate} vs {rate}"
            );
            assert!(rsm.truth().pauses.is_empty() && rsm.truth().apneas.is_empty());
            // Longest flat stretch (below 5 % of depth) stays under 7 s.
            let flat = 0.05 * rsm.params().depth_mm as f64;
            let longest = x.split(|v| *v > flat).map(|r| r.len()).max().unwrap_or(0);
            assert!(
                (longest as f64 / 20.0) < 7.0,
                "{p} seed {seed}: flat {} s",
                longest / 20
            );
        }
    }
}

#[test]
fn apneas_are_flat_long_and_present_where_required() {
    for p in [Pattern::CentralApnea, Pattern::CheyneStokes, Pattern::Biots] {
        for seed in SEEDS {
            let mut rsm = subject(p, seed);
            if p == Pattern::CheyneStokes {
                let mut params = rsm.params().clone();
                params.hypopnea = false;
                rsm = Rsm::new(params, seed);
            }
            let rec = rsm.sample(20.0, 600.0);
            let t = &rec.truth;
            assert!(
                !t.apneas.is_empty() || p == Pattern::Biots,
                "{p} seed {seed}: no apnea"
            );
            let min = if p == Pattern::Biots { 10.0 } else { 11.0 };
            for a in t.apneas.iter().filter(|a| a.end_s < 599.0) {
                assert!(
                    a.duration_s() >= min && a.duration_s() <= 36.0,
                    "{p}: {a:?}"
                );
            }
            let long_pauses = t.pauses.iter().filter(|q| q.duration_s() >= 10.0).count();
            assert_eq!(long_pauses, t.apneas.len());
            // Inside a pause only the cardiac ripple moves the chest.
            let card = rsm.params().cardiac_mm;
            for q in &t.pauses {
                let mut tt = q.start_s + 0.01;
                while tt < q.end_s {
                    let v = rsm.chest_mm(tt);
                    assert!(
                        v.abs() <= card * 1.01 + 1e-6,
                        "{p} seed {seed}: {v} mm at {tt} in pause"
                    );
                    tt += 0.37;
                }
            }
        }
    }
}

#[test]
fn biots_clusters_of_two_to_six_similar_breaths() {
    for seed in SEEDS {
        let (rsm, _) = breathing(Pattern::Biots, seed, 5.0, 900.0);
        let t = rsm.truth();
        let mut sizes = Vec::new();
        let mut b = 0;
        for q in t.pauses.iter().filter(|q| q.end_s < 880.0) {
            let n = t.breaths[b..]
                .iter()
                .take_while(|x| x.onset_s < q.start_s)
                .count();
            let depths: Vec<f64> = t.breaths[b..b + n]
                .iter()
                .map(|x| x.depth_mm as f64)
                .collect();
            assert!(
                depths.len() < 2 || cv(&depths) < 0.15,
                "seed {seed}: depths {depths:?}"
            );
            sizes.push(n);
            b += n;
        }
        assert!(sizes.len() >= 10, "seed {seed}: {} clusters", sizes.len());
        assert!(
            sizes.iter().all(|n| (2..=6).contains(n)),
            "seed {seed}: {sizes:?}"
        );
        let pauses: Vec<f64> = t.pauses.iter().map(|q| q.duration_s()).collect();
        assert!(
            pauses.iter().all(|d| (3.0..=30.0).contains(d)),
            "{pauses:?}"
        );
        assert!(cv(&pauses) > 0.25, "pauses should be irregular: {pauses:?}");
    }
}

#[test]
fn cheyne_stokes_cycles_wax_and_wane() {
    for seed in SEEDS {
        let (rsm, _) = breathing(Pattern::CheyneStokes, seed, 5.0, 900.0);
        let t = rsm.truth();
        assert!(t.cycle_starts_s.len() >= 6, "seed {seed}");
        for w in t.cycle_starts_s.windows(2) {
            let len = w[1] - w[0];
            assert!((40.0..=120.0).contains(&len), "seed {seed}: cycle {len} s");
            let d: Vec<f32> = t
                .breaths
                .iter()
                .filter(|b| {
                    b.onset_s >= w[0]
                        && b.onset_s < w[1]
                        && b.depth_mm > 0.2 * rsm.params().depth_mm
                })
                .map(|b| b.depth_mm)
                .collect();
            let (imax, max) =
                d.iter()
                    .enumerate()
                    .fold((0, 0.0f32), |a, (i, v)| if *v > a.1 { (i, *v) } else { a });
            let n = d.len();
            assert!(n >= 4, "seed {seed}: {d:?}");
            assert!(
                imax > 0 && imax + 1 < n,
                "seed {seed}: peak at the edge {d:?}"
            );
            assert!(
                d[0] < 0.7 * max && d[n - 1] < 0.7 * max,
                "seed {seed}: no crescendo {d:?}"
            );
        }
    }
}

#[test]
fn central_apnea_depth_steady_and_breaths_eupneic() {
    for seed in SEEDS {
        let (rsm, _) = breathing(Pattern::CentralApnea, seed, 5.0, 600.0);
        let t = rsm.truth();
        let depths: Vec<f64> = t.breaths.iter().map(|b| b.depth_mm as f64).collect();
        assert!(cv(&depths) < 0.15, "seed {seed}: depth cv {}", cv(&depths));
        let r = t.mean_rate_bpm(0.0, 600.0).unwrap_or(0.0);
        assert!((12.0..=20.0).contains(&r), "seed {seed}: {r}");
        assert!(
            t.apneas.len() >= 4,
            "seed {seed}: {} apneas in 10 min",
            t.apneas.len()
        );
    }
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
fn breath_shape_dwell_matches_real_recordings() {
    // Real recordings (src/rsm/README.md): 34-37 % of each cycle within the bottom 15 % of the
    // amplitude (end-expiratory plateau), 16-20 % within the top 15 % (rounded peak). Drawn
    // subjects spread around that (I:E 1:1.1-1:2, expiration sharpness 3.5-6).
    for seed in SEEDS {
        let (rsm, x) = breathing(Pattern::Eupnea, seed, 50.0, 300.0);
        let (mut bottom, mut top, mut n) = (0usize, 0usize, 0usize);
        for b in rsm
            .truth()
            .breaths
            .iter()
            .filter(|b| b.onset_s + b.duration_s < 299.0)
        {
            let (i0, i1) = (
                (b.onset_s * 50.0).ceil() as usize,
                ((b.onset_s + b.duration_s) * 50.0) as usize,
            );
            let d = b.depth_mm as f64;
            for v in x.get(i0..i1).unwrap_or(&[]) {
                bottom += usize::from(*v < 0.15 * d);
                top += usize::from(*v > 0.85 * d);
                n += 1;
            }
        }
        let (fb, ft) = (bottom as f64 / n as f64, top as f64 / n as f64);
        assert!(
            (0.25..=0.50).contains(&fb),
            "seed {seed}: bottom dwell {fb}"
        );
        assert!((0.10..=0.25).contains(&ft), "seed {seed}: top dwell {ft}");
    }
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
