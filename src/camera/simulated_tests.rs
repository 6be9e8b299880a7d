//! Unit tests of the simulated camera (kept beside `simulated.rs` to keep that file readable).

use super::*;
use crate::rsm::RsmParams;
use crate::types::Pattern;

fn camera(settings: SimCameraSettings, seed: u64) -> SimCamera {
    let rsm = Rsm::new(RsmParams::typical(Pattern::Eupnea), seed);
    match SimCamera::new(settings, rsm, seed) {
        Ok(c) => c,
        Err(e) => panic!("valid settings rejected: {e}"),
    }
}

fn still() -> SimCameraSettings {
    SimCameraSettings {
        sway: false,
        seat_shifts: false,
        ..SimCameraSettings::default()
    }
}

#[test]
fn rejects_out_of_range_settings() {
    let rsm = Rsm::new(RsmParams::typical(Pattern::Eupnea), 1);
    let bad = [
        SimCameraSettings {
            width: 32,
            ..Default::default()
        },
        SimCameraSettings {
            height: 2000,
            ..Default::default()
        },
        SimCameraSettings {
            fps: 0.0,
            ..Default::default()
        },
        SimCameraSettings {
            fps: f64::NAN,
            ..Default::default()
        },
        SimCameraSettings {
            subject_distance_m: 3.5,
            ..Default::default()
        },
        SimCameraSettings {
            invalid_fraction: 0.9,
            ..Default::default()
        },
        SimCameraSettings {
            absent: vec![(5.0, 2.0)],
            ..Default::default()
        },
    ];
    for s in bad {
        let name = SimCamera::new(s.clone(), rsm.clone(), 1)
            .err()
            .map(|e| e.name);
        assert!(name.is_some(), "accepted {s:?}");
    }
}

#[test]
fn frames_are_numbered_timed_and_resized() {
    let mut cam = camera(SimCameraSettings::default(), 2);
    let mut f = DepthFrame::new(10, 10, 0.001);
    for k in 0..3u64 {
        assert!(cam.read_frame(&mut f).is_ok());
        assert_eq!((f.width, f.height, f.seq), (848, 480, k));
        assert!((f.timestamp_s - k as f64 / 30.0).abs() < 1e-12);
        assert!(f.is_consistent());
    }
}

/// Median of the raw values in a box, ignoring zeros.
fn median_in(f: &DepthFrame, b: Roi) -> Option<f32> {
    let mut v: Vec<u16> = (b.y0..b.y1)
        .flat_map(|y| (b.x0..b.x1).filter_map(move |x| f.get(x, y)))
        .filter(|&r| r > 0)
        .collect();
    v.sort_unstable();
    v.get(v.len() / 2).map(|&r| r as f32)
}

#[test]
fn noise_grows_with_square_of_distance() {
    // Centre patch of the chest over many frames with breathing removed: RMS of frame-to-frame
    // differences / sqrt(2) is the per-pixel sigma. Model: 0.08 * z^2 / (446.8 px * 50 mm).
    for d in [0.8f32, 1.5] {
        let s = SimCameraSettings {
            subject_distance_m: d,
            invalid_fraction: 0.0,
            ..still()
        };
        let mut cam = camera(s, 4);
        let (mut a, mut b) = (DepthFrame::new(1, 1, 0.001), DepthFrame::new(1, 1, 0.001));
        let c = cam.torso_box();
        let (x, y) = ((c.x0 + c.x1) / 2, c.y0 + c.height() / 3);
        let (mut sum2, mut n) = (0.0f64, 0usize);
        for _ in 0..20 {
            let _ = cam.read_frame(&mut a);
            let _ = cam.read_frame(&mut b);
            for yy in y..y + 10 {
                for xx in x..x + 10 {
                    if let (Some(p), Some(q)) = (a.get(xx, yy), b.get(xx, yy)) {
                        if p > 0 && q > 0 {
                            sum2 += (f64::from(p) - f64::from(q)).powi(2);
                            n += 1;
                        }
                    }
                }
            }
        }
        let sigma = (sum2 / n as f64 / 2.0).sqrt();
        let model = 0.08 * (d as f64 * 1000.0).powi(2) / (446.8 * 50.0);
        // Breathing changes little between consecutive frames (< 0.5 mm); allow 15 %.
        assert!(
            (sigma - model).abs() < 0.15 * model + 0.3,
            "d {d}: sigma {sigma:.2} model {model:.2}"
        );
    }
}

#[test]
fn chest_depth_follows_distance_and_breathing() {
    let mut cam = camera(
        SimCameraSettings {
            noise_scale: 0.0,
            invalid_fraction: 0.0,
            ..still()
        },
        5,
    );
    let mut f = DepthFrame::new(1, 1, 0.001);
    let c = cam.torso_box();
    let patch = Roi {
        x0: (c.x0 + c.x1) / 2 - 3,
        x1: (c.x0 + c.x1) / 2 + 3,
        y0: c.y0 + c.height() * 2 / 5 - 3,
        y1: c.y0 + c.height() * 2 / 5 + 3,
    };
    for _ in 0..120 {
        let _ = cam.read_frame(&mut f);
        let truth = cam.last_frame_truth();
        let med = median_in(&f, patch).unwrap_or(0.0);
        // Patch near mid-chest: weight about 1, curvature about 1 mm.
        let expect = 1100.0 - truth.chest_mm;
        assert!((med - expect).abs() < 2.5, "median {med} expected {expect}");
    }
}

#[test]
fn dropouts_and_fault_frames() {
    let s = SimCameraSettings {
        invalid_fraction: 0.05,
        ..still()
    };
    let mut cam = camera(s, 6);
    let mut f = DepthFrame::new(1, 1, 0.001);
    let _ = cam.read_frame(&mut f);
    let zeros = f.data.iter().filter(|&&v| v == 0).count() as f64 / f.data.len() as f64;
    assert!(zeros > 0.05 && zeros < 0.12, "zero fraction {zeros}");
    let mut faulty = camera(
        SimCameraSettings {
            fault_probability: 1.0,
            ..still()
        },
        6,
    );
    let _ = faulty.read_frame(&mut f);
    assert!(f.data.iter().all(|&v| v == 0) && faulty.last_frame_truth().fault);
}

#[test]
fn stereo_shadow_left_of_the_person_has_the_predicted_width() {
    let s = SimCameraSettings {
        noise_scale: 0.0,
        invalid_fraction: 0.0,
        ..still()
    };
    let mut cam = camera(s, 6);
    let mut f = DepthFrame::new(1, 1, 0.001);
    let _ = cam.read_frame(&mut f);
    let c = cam.torso_box();
    let row = c.y0 + c.height() / 2;
    // Leftmost person pixel (the left arm, nearer than 2 m), then the zeros just left of it.
    let edge = (0..f.width).find(|&x| f.get(x, row).is_some_and(|v| v > 0 && v < 2000));
    let edge = edge.unwrap_or_else(|| panic!("no person in row {row}"));
    let zeros = (0..edge)
        .rev()
        .take_while(|&x| f.get(x, row) == Some(0))
        .count();
    // fx * baseline * (1/z_arm - 1/z_wall) = 446.8 * 50 * (1/1140 - 1/3000) = 12.1 px; the
    // outline is ragged by one pixel.
    assert!(
        (10..=15).contains(&zeros),
        "shadow band {zeros} px at x {edge}"
    );
}

#[test]
fn absent_schedule_removes_the_person() {
    let s = SimCameraSettings {
        absent: vec![(0.0, 1.0)],
        ..still()
    };
    let mut cam = camera(s, 7);
    let mut f = DepthFrame::new(1, 1, 0.001);
    let _ = cam.read_frame(&mut f);
    let c = cam.torso_box();
    assert!(!cam.last_frame_truth().present);
    assert!(median_in(&f, c).unwrap_or(0.0) > 2500.0);
}

#[test]
fn lateral_shift_moves_the_torso_box() {
    let mut shifts = ShiftEvents::new(11, true);
    let m = (0..3000)
        .map(|i| shifts.at(i as f64 * 0.1))
        .find(|m| m.lateral_mm.abs() > 20.0);
    assert!(m.is_some(), "no lateral shift drawn");
    let mut cam = camera(
        SimCameraSettings {
            seat_shifts: true,
            sway: false,
            ..Default::default()
        },
        11,
    );
    let b0 = cam.scene.torso_box;
    let mut f = DepthFrame::new(1, 1, 0.001);
    let mut max_dx = 0i64;
    for _ in 0..(300 * 30) {
        let _ = cam.read_frame(&mut f);
        max_dx = max_dx.max((i64::from(cam.torso_box().x0) - i64::from(b0.x0)).abs());
    }
    assert!(
        max_dx > 8,
        "torso never moved more than {max_dx} px in 300 s"
    );
}

#[test]
fn turned_torso_settings_are_checked_and_frames_carry_intrinsics() {
    let rsm = || Rsm::new(RsmParams::typical(Pattern::Eupnea), 1);
    for (yaw, pitch, name) in [
        (61.0, 0.0, "torso_yaw_deg"),
        (-61.0, 0.0, "torso_yaw_deg"),
        (f32::NAN, 0.0, "torso_yaw_deg"),
        (0.0, 31.0, "torso_pitch_deg"),
    ] {
        let s = SimCameraSettings {
            torso_yaw_deg: yaw,
            torso_pitch_deg: pitch,
            ..still()
        };
        match SimCamera::new(s, rsm(), 1) {
            Err(e) => assert_eq!(e.name, name),
            Ok(_) => panic!("yaw {yaw} pitch {pitch} accepted"),
        }
    }
    let s = SimCameraSettings {
        torso_yaw_deg: 50.0,
        torso_pitch_deg: -20.0,
        ..still()
    };
    let mut cam = SimCamera::new(s, rsm(), 1).expect("50 degrees is allowed");
    let mut f = DepthFrame::new(0, 0, 0.001);
    cam.read_frame(&mut f).expect("frame");
    let k = f
        .intrinsics
        .expect("the simulated camera knows its intrinsics");
    assert_eq!(k, cam.intrinsics());
    // 87 degrees across 848 px, centred.
    assert!((k.fx - 446.8).abs() < 0.5 && k.fx == k.fy, "{k:?}");
    assert!(
        (k.cx - 423.5).abs() < 1e-4 && (k.cy - 239.5).abs() < 1e-4,
        "{k:?}"
    );
}
