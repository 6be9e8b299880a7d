//! Per-pattern tests: properties measured on the generated signal and its truth, checked against
//! the pattern definitions (rates, pauses, clusters, waxing/waning) and the real-data shape.

use super::tests::{breathing, cv, subject, SEEDS};
use super::*;
use crate::types::Pattern;

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
        let (lo, hi) = rate_range(Pattern::Biots);
        let r = t.mean_rate_bpm(0.0, 900.0).unwrap_or(0.0);
        assert!(r >= lo && r <= hi, "seed {seed}: in-cluster rate {r}");
    }
}

#[test]
fn cheyne_stokes_cycles_wax_and_wane() {
    for seed in SEEDS {
        let (rsm, _) = breathing(Pattern::CheyneStokes, seed, 5.0, 900.0);
        let t = rsm.truth();
        assert!(t.cycle_starts_s.len() >= 6, "seed {seed}");
        let (lo, hi) = rate_range(Pattern::CheyneStokes);
        let r = t.mean_rate_bpm(0.0, 900.0).unwrap_or(0.0);
        assert!(r >= lo && r <= hi, "seed {seed}: rate {r}");
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
fn cheyne_stokes_hypopnea_variant_has_shallow_breathing_instead_of_apnea() {
    let mut params = RsmParams::typical(Pattern::CheyneStokes);
    params.hypopnea = true;
    let mut rsm = Rsm::new(params.clone(), 8);
    rsm.chest_mm(600.0);
    let t = rsm.truth();
    assert!(t.apneas.is_empty() && t.pauses.is_empty());
    assert!(t.cycle_starts_s.len() >= 6);
    let shallow = t
        .breaths
        .iter()
        .filter(|b| b.depth_mm < 0.13 * params.depth_mm)
        .count();
    assert!(
        shallow >= 2 * t.cycle_starts_s.len(),
        "{shallow} shallow breaths"
    );
}

#[test]
fn sighs_are_deep_single_breaths_followed_by_stillness_never_an_apnea() {
    let mut params = RsmParams::typical(Pattern::Bradypnea);
    params.sighs_per_min = 1.5;
    let mut rsm = Rsm::new(params.clone(), 4);
    rsm.chest_mm(600.0);
    let t = rsm.truth();
    let deep: Vec<_> = t
        .breaths
        .iter()
        .filter(|b| b.depth_mm > 1.45 * params.depth_mm)
        .collect();
    // 1.5 per minute for 10 min, binomial over about 80 breaths: 15 expected.
    assert!((6..=26).contains(&deep.len()), "{} sighs", deep.len());
    assert!(t.apneas.is_empty(), "{:?}", t.apneas);
    assert_eq!(t.pauses.len(), deep.len());
    for (q, b) in t.pauses.iter().zip(&deep) {
        assert!((1.5..4.0).contains(&q.duration_s()), "{q:?}");
        assert!((q.start_s - (b.onset_s + b.duration_s)).abs() < 1e-9);
    }
}

#[test]
fn central_apnea_recovery_breaths_are_deeper_and_follow_each_pause() {
    let mut params = RsmParams::typical(Pattern::CentralApnea);
    params.recovery_depth = Some(1.5);
    params.depth_cv = 0.0;
    params.period_cv = 0.0;
    let mut rsm = Rsm::new(params.clone(), 9);
    rsm.chest_mm(900.0);
    let t = rsm.truth();
    assert!(t.apneas.len() >= 5, "{} apneas", t.apneas.len());
    for a in &t.apneas {
        let after: Vec<_> = t.breaths.iter().filter(|b| b.onset_s >= a.end_s).collect();
        if after.len() < 4 {
            continue;
        }
        let deep = after
            .iter()
            .take_while(|b| b.depth_mm > 1.3 * params.depth_mm)
            .count();
        assert!(
            (1..=3).contains(&deep),
            "{deep} recovery breaths after {a:?}"
        );
        assert!((after[deep].depth_mm - params.depth_mm).abs() < 0.01);
    }
}

#[test]
fn cheyne_stokes_runs_peak_where_cs_peak_says_and_reach_the_floor() {
    for (peak, lo, hi) in [(0.3, 0.2, 0.42), (0.7, 0.58, 0.8)] {
        let mut params = RsmParams::typical(Pattern::CheyneStokes);
        params.cs_peak = Some(peak);
        params.cs_floor = Some(0.25);
        params.depth_cv = 0.0;
        let mut rsm = Rsm::new(params.clone(), 3);
        rsm.chest_mm(600.0);
        let t = rsm.truth();
        let starts = &t.cycle_starts_s;
        assert!(starts.len() >= 6);
        for w in starts.windows(2) {
            let run: Vec<_> = t
                .breaths
                .iter()
                .filter(|b| b.onset_s >= w[0] && b.onset_s < w[1])
                .collect();
            let (imax, _) = run
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.depth_mm.total_cmp(&b.1.depth_mm))
                .expect("a run has breaths");
            let at = (imax as f64 + 0.5) / run.len() as f64;
            assert!(
                (lo..=hi).contains(&at),
                "peak {peak}: largest breath at {at}"
            );
            let smallest = run.iter().map(|b| b.depth_mm).fold(f32::MAX, f32::min);
            // The first and last breaths sit half a breath from the envelope's zero.
            assert!(
                smallest >= 0.25 * params.depth_mm && smallest < 0.45 * params.depth_mm,
                "smallest {smallest}"
            );
        }
    }
}

#[test]
fn biots_cluster_depths_spread_as_set() {
    let mut params = RsmParams::typical(Pattern::Biots);
    params.cluster_depth_spread = Some(0.5);
    params.depth_cv = 0.0;
    params.group = [1.0, 6.0];
    let mut rsm = Rsm::new(params.clone(), 5);
    rsm.chest_mm(900.0);
    let t = rsm.truth();
    let d0 = params.depth_mm;
    let (min, max) = t.breaths.iter().fold((f32::MAX, 0.0f32), |(a, b), x| {
        (a.min(x.depth_mm), b.max(x.depth_mm))
    });
    assert!(
        min >= 0.5 * d0 - 1e-3 && max <= 1.5 * d0 + 1e-3,
        "{min}..{max}"
    );
    assert!(min < 0.7 * d0 && max > 1.3 * d0, "{min}..{max}");
}
