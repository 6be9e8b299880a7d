//! Tests of the chest tracker: reference tests of the gated ROI mean, ROI placement on the
//! simulated person, signal correlation with the RSM, presence and robustness to bad frames.

use super::*;
use crate::camera::simulated::{SimCamera, SimCameraSettings};
use crate::camera::FrameSource;
use crate::rsm::{Rsm, RsmParams};
use crate::types::Pattern;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Naive reference: f64 sum over `frame.get` of values within the gate.
fn naive_gated(frame: &DepthFrame, roi: Roi, lo: u16, hi: u16) -> (f64, u32) {
    let (mut s, mut n) = (0.0, 0);
    for y in roi.y0..roi.y1 {
        for x in roi.x0..roi.x1 {
            if let Some(v) = frame.get(x, y).filter(|v| (lo..=hi).contains(v)) {
                s += f64::from(v);
                n += 1;
            }
        }
    }
    (s, n)
}

#[test]
fn gated_sum_on_analytic_image() {
    // Column x holds value 1000 + x: an ROI of columns 10..20 over 5 rows sums to
    // 5 * (10 * 1000 + (10 + ... + 19)) = 5 * 10145.
    let mut f = DepthFrame::new(40, 10, 0.001);
    for (i, v) in f.data.iter_mut().enumerate() {
        *v = 1000 + (i % 40) as u16;
    }
    let roi = Roi {
        x0: 10,
        y0: 2,
        x1: 20,
        y1: 7,
    };
    let sum_n = |lo, hi| {
        let m = roi_gated_moments(&f.data, 40, roi, lo, hi);
        (m.sum, m.n)
    };
    assert_eq!(sum_n(1, 65_535), (5 * 10_145, 50));
    // A gate of 1012..=1014 keeps 3 columns.
    assert_eq!(sum_n(1012, 1014), (5 * 3039, 15));
    assert_eq!(sum_n(20, 10), (0, 0));
}

#[test]
fn gated_sum_matches_naive_reference_on_random_frames() {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    for _ in 0..200 {
        let (w, h) = (rng.gen_range(1..120u32), rng.gen_range(1..90u32));
        let mut f = DepthFrame::new(w, h, 0.001);
        for v in f.data.iter_mut() {
            *v = if rng.gen_bool(0.1) {
                0
            } else {
                rng.gen_range(0..4000)
            };
        }
        let (x0, y0) = (rng.gen_range(0..w), rng.gen_range(0..h));
        let roi = Roi {
            x0,
            y0,
            x1: rng.gen_range(x0..=w),
            y1: rng.gen_range(y0..=h),
        };
        let lo = rng.gen_range(1..3000u16);
        let hi = lo + rng.gen_range(0..1500u16);
        let m = roi_gated_moments(&f.data, w, roi, lo, hi);
        let (rs, rn) = naive_gated(&f, roi, lo, hi);
        assert_eq!(
            (m.sum as f64, m.n),
            (rs, rn),
            "roi {roi:?} gate {lo}..={hi}"
        );
        // The depth-weighted column and row offsets.
        let (mut sx, mut sy) = (0u64, 0u64);
        for y in roi.y0..roi.y1 {
            for x in roi.x0..roi.x1 {
                if let Some(v) = f.get(x, y).filter(|v| (lo..=hi).contains(v)) {
                    sx += u64::from(v) * u64::from(x - roi.x0);
                    sy += u64::from(v) * u64::from(y - roi.y0);
                }
            }
        }
        assert_eq!((m.sum_x, m.sum_y), (sx, sy), "roi {roi:?}");
    }
}

fn camera(d: f32, sway: bool, artefacts: bool, seed: u64) -> SimCamera {
    let s = SimCameraSettings {
        subject_distance_m: d,
        sway,
        seat_shifts: artefacts,
        ..SimCameraSettings::default()
    };
    let rsm = Rsm::new(RsmParams::typical(Pattern::Eupnea), seed);
    SimCamera::new(s, rsm, seed).unwrap_or_else(|e| panic!("settings rejected: {e}"))
}

fn inside(inner: Roi, outer: Roi, tol: u32) -> bool {
    inner.x0 + tol >= outer.x0
        && inner.y0 + tol >= outer.y0
        && inner.x1 <= outer.x1 + tol
        && inner.y1 <= outer.y1 + tol
}

#[test]
fn roi_lands_on_the_chest_at_each_distance() {
    for (i, d) in [0.8f32, 1.15, 1.5].into_iter().enumerate() {
        let mut cam = camera(d, false, false, 20 + i as u64);
        let mut tr = ChestTracker::new(ChestSettings::default());
        let mut f = DepthFrame::new(1, 1, 0.001);
        let mut last = None;
        for _ in 0..10 {
            let _ = cam.read_frame(&mut f);
            last = Some(tr.process(&f));
        }
        let s = last.unwrap_or_else(|| panic!("no sample"));
        let (roi, torso) = (
            s.roi.unwrap_or_else(|| panic!("no ROI at {d} m")),
            cam.torso_box(),
        );
        eprintln!(
            "d {d} m: roi {roi:?} torso {torso:?} valid {:.2}",
            s.valid_fraction
        );
        assert!(
            inside(roi, torso, 0),
            "ROI {roi:?} outside torso {torso:?} at {d} m"
        );
        // On the upper half of the torso (the chest), at least 35 % of its width (0.16 of 0.40 m).
        assert!(
            roi.y1 <= torso.y0 + torso.height() * 3 / 4,
            "ROI too low at {d} m"
        );
        assert!(
            roi.width() * 20 >= torso.width() * 7,
            "ROI too narrow at {d} m"
        );
        assert!(s.person_present && s.displacement_mm.is_some() && s.valid_fraction > 0.8);
    }
}

#[test]
fn roi_follows_lateral_shifts() {
    let mut cam = camera(1.1, true, true, 11);
    let mut tr = ChestTracker::new(ChestSettings::default());
    let mut f = DepthFrame::new(1, 1, 0.001);
    let (mut boxes, mut checked, mut moved) = (Vec::new(), 0, 0u32);
    for k in 0..(150 * 30) {
        let _ = cam.read_frame(&mut f);
        let s = tr.process(&f);
        let torso = cam.torso_box();
        boxes.push(torso);
        moved = moved.max(torso.x0.abs_diff(boxes[0].x0));
        // Once the body has been still for 2 s, the ROI must be on it.
        if k >= 60 && boxes[k - 60] == torso {
            let roi = s.roi.unwrap_or_else(|| panic!("lost the ROI at frame {k}"));
            assert!(
                inside(roi, torso, 2),
                "frame {k}: ROI {roi:?} torso {torso:?}"
            );
            checked += 1;
        }
    }
    eprintln!("max torso shift {moved} px, {checked} frames checked");
    assert!(
        moved >= 10 && checked > 1000,
        "shift {moved} px, checked {checked}"
    );
}

/// Subtract a centred moving average of `win` samples (removes drift and sway).
fn detrend(x: &[f64], win: usize) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            let (a, b) = (i.saturating_sub(win / 2), (i + win / 2 + 1).min(x.len()));
            x[i] - x[a..b].iter().sum::<f64>() / (b - a) as f64
        })
        .collect()
}

fn pearson_and_slope(x: &[f64], y: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let syy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    (sxy / (sxx * syy).sqrt(), sxy / sxx)
}

/// Run 60 s at 30 fps; returns (chest truth, chest + forward-motion truth, measured) per frame
/// that gave a measurement.
fn run_60s(d: f32, artefacts: bool, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut cam = camera(d, true, artefacts, seed);
    let mut tr = ChestTracker::new(ChestSettings::default());
    let mut f = DepthFrame::new(1, 1, 0.001);
    let (mut chest, mut total, mut got) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..(60 * 30) {
        let _ = cam.read_frame(&mut f);
        let s = tr.process(&f);
        if let Some(v) = s.displacement_mm {
            let t = cam.last_frame_truth();
            chest.push(f64::from(t.chest_mm));
            total.push(f64::from(t.chest_mm + t.motion.forward_mm));
            got.push(f64::from(v));
        }
    }
    (chest, total, got)
}

#[test]
fn displacement_tracks_the_simulated_chest() {
    for (i, d) in [0.8f32, 1.15, 1.5].into_iter().enumerate() {
        let (chest, _, got) = run_60s(d, false, 30 + i as u64);
        assert!(
            got.len() >= 1790,
            "only {} of 1800 frames measured at {d} m",
            got.len()
        );
        let (r, slope) = pearson_and_slope(&detrend(&chest, 300), &detrend(&got, 300));
        eprintln!("d {d} m, sway: Pearson r {r:.4}, gain {slope:.3}");
        assert!(r > 0.95, "r = {r} at {d} m");
        // The ROI averages the breathing weight (1 at mid-chest, less toward its edges).
        assert!((0.5..1.1).contains(&slope), "gain {slope} at {d} m");
    }
}

#[test]
fn displacement_tracks_chest_and_body_through_seat_shifts() {
    // With the occasional larger movements the depth really changes by the forward motion too,
    // so compare with chest + forward motion.
    for (i, d) in [0.8f32, 1.15, 1.5].into_iter().enumerate() {
        let (chest, total, got) = run_60s(d, true, 40 + i as u64);
        assert!(
            got.len() >= 1790,
            "only {} of 1800 frames measured at {d} m",
            got.len()
        );
        let (r, _) = pearson_and_slope(&detrend(&total, 300), &detrend(&got, 300));
        let (r_chest, _) = pearson_and_slope(&detrend(&chest, 300), &detrend(&got, 300));
        eprintln!("d {d} m, sway + shifts: r vs chest+forward {r:.4}, vs chest alone {r_chest:.4}");
        assert!(r > 0.9, "r = {r} at {d} m");
    }
}

#[test]
fn presence_follows_the_schedule() {
    let s = SimCameraSettings {
        absent: vec![(0.0, 3.0), (10.0, 20.0)],
        ..SimCameraSettings::default()
    };
    let rsm = Rsm::new(RsmParams::typical(Pattern::Eupnea), 3);
    let mut cam = SimCamera::new(s, rsm, 3).unwrap_or_else(|e| panic!("{e}"));
    let mut tr = ChestTracker::new(ChestSettings::default());
    let mut f = DepthFrame::new(1, 1, 0.001);
    for k in 0..(25 * 30) {
        let _ = cam.read_frame(&mut f);
        let s = tr.process(&f);
        let t = k as f64 / 30.0;
        // Allow 1.5 s for the hysteresis and re-detection after each change.
        if t < 3.0 || (11.5..20.0).contains(&t) {
            assert!(!s.person_present, "present at {t:.2} s");
        }
        if (4.5..10.0).contains(&t) || t >= 21.5 {
            assert!(
                s.person_present && s.displacement_mm.is_some(),
                "absent at {t:.2} s"
            );
        }
        if (11.5..20.0).contains(&t) {
            assert!(
                s.displacement_mm.is_none(),
                "signal from an empty scene at {t:.2} s"
            );
        }
    }
}

#[test]
fn zero_and_wrong_size_frames_give_no_displacement() {
    let mut cam = camera(1.1, false, false, 5);
    let mut tr = ChestTracker::new(ChestSettings::default());
    let mut f = DepthFrame::new(1, 1, 0.001);
    for _ in 0..10 {
        let _ = cam.read_frame(&mut f);
        assert!(tr.process(&f).displacement_mm.is_some() || f.seq < 2);
    }
    let zero = DepthFrame::new(848, 480, 0.001);
    assert_eq!(tr.process(&zero).displacement_mm, None);
    let mut bad = f.clone();
    bad.data.truncate(1000);
    assert_eq!(tr.process(&bad).displacement_mm, None);
    // Tracking resumes, continuous with the signal before the bad frames.
    let before = tr.last_disp_mm.unwrap_or(f32::NAN);
    let _ = cam.read_frame(&mut f);
    let after = tr.process(&f).displacement_mm.unwrap_or(f32::NAN);
    assert!((after - before).abs() < 8.0, "jump {before} -> {after}");
    let mut empty = ChestTracker::new(ChestSettings::default());
    let s = empty.process(&zero);
    assert!(!s.person_present && s.displacement_mm.is_none() && s.roi.is_none());
}

fn arbitrary_frame() -> impl Strategy<Value = DepthFrame> {
    (
        0u32..60,
        0u32..60,
        -1.0f32..0.02,
        any::<u64>(),
        0usize..4000,
    )
        .prop_map(|(w, h, unit, seed, len)| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let n = if seed % 3 == 0 { len } else { (w * h) as usize };
            let data = (0..n)
                .map(|_| {
                    if rng.gen_bool(0.3) {
                        0
                    } else {
                        rng.gen_range(0..3000)
                    }
                })
                .collect();
            DepthFrame {
                width: w,
                height: h,
                depth_unit_m: unit,
                timestamp_s: seed as f64,
                seq: seed,
                data,
                // Sometimes intrinsics, including unusable ones (zero, negative, NaN focal
                // lengths, a principal point far outside the image).
                intrinsics: (seed % 4 != 0).then(|| {
                    let pick =
                        |i: u64| [0.0, -5.0, f32::NAN, 1e-9, 80.0, 1e30][(seed >> i) as usize % 6];
                    Intrinsics {
                        fx: pick(2),
                        fy: pick(5),
                        cx: pick(8) - 40.0,
                        cy: pick(11) * 3.0,
                    }
                }),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]
    #[test]
    fn arbitrary_frames_never_panic(frames in proptest::collection::vec(arbitrary_frame(), 1..8)) {
        let mut tr = ChestTracker::new(ChestSettings::default());
        for f in &frames {
            let s = tr.process(f);
            prop_assert!((0.0..=1.0).contains(&s.valid_fraction));
            if !f.is_consistent() {
                prop_assert!(s.displacement_mm.is_none());
            }
        }
    }
}

#[test]
fn nonsense_settings_do_not_panic() {
    let mut cam = camera(1.1, false, false, 9);
    let mut f = DepthFrame::new(1, 1, 0.001);
    let _ = cam.read_frame(&mut f);
    let bad = [
        ChestSettings {
            horizontal_fov_deg: 0.0,
            ..ChestSettings::default()
        },
        ChestSettings {
            horizontal_fov_deg: f32::NAN,
            ..ChestSettings::default()
        },
        ChestSettings {
            min_distance_m: 3.0,
            max_distance_m: 0.1,
            ..ChestSettings::default()
        },
        ChestSettings {
            gate_mm: -5.0,
            redetect_interval_s: f64::NAN,
            ..ChestSettings::default()
        },
        ChestSettings {
            move_threshold_m: f32::INFINITY,
            present_after_frames: 0,
            ..ChestSettings::default()
        },
    ];
    assert_eq!(ChestSettings::default().validate(), Ok(()));
    for s in bad {
        assert!(s.validate().is_err(), "accepted {s:?}");
        let mut tr = ChestTracker::new(s.clone());
        for _ in 0..3 {
            let out = tr.process(&f);
            assert!((0.0..=1.0).contains(&out.valid_fraction), "{s:?}");
        }
    }
}

#[test]
fn roi_lands_on_the_chest_at_other_resolutions() {
    for (w, h) in [(424u32, 240u32), (640, 480), (1280, 720)] {
        let s = SimCameraSettings {
            width: w,
            height: h,
            sway: false,
            seat_shifts: false,
            ..SimCameraSettings::default()
        };
        let rsm = Rsm::new(RsmParams::typical(Pattern::Eupnea), 12);
        let mut cam = SimCamera::new(s, rsm, 12).unwrap_or_else(|e| panic!("{e}"));
        let mut tr = ChestTracker::new(ChestSettings::default());
        let mut f = DepthFrame::new(1, 1, 0.001);
        let mut roi = None;
        for _ in 0..5 {
            let _ = cam.read_frame(&mut f);
            roi = tr.process(&f).roi;
        }
        let (roi, torso) = (
            roi.unwrap_or_else(|| panic!("no ROI at {w}x{h}")),
            cam.torso_box(),
        );
        assert!(
            inside(roi, torso, 0),
            "{w}x{h}: ROI {roi:?} outside torso {torso:?}"
        );
        assert!(
            roi.width() * 20 >= torso.width() * 7,
            "{w}x{h}: ROI {roi:?} too narrow"
        );
    }
}
