//! Golden images of the readout: fixed readouts rendered at 480x320 and 800x480 must match the
//! committed PNGs in `tests/golden/` pixel for pixel.
//!
//! Regenerate after an intended layout change with `UPDATE_GOLDEN=1 cargo test --test
//! display_golden`, look at the PNGs, and commit them. On a mismatch the rendered image is
//! written to `target/golden-actual/NAME.png` and the test fails with the number of differing
//! pixels.

use edge_screen::display::{draw_readout, read_png, write_png_atomic, RgbImage};
use edge_screen::pipeline::view::{CameraStatus, Readout, XrayResult};
use edge_screen::types::Pattern;
use std::path::{Path, PathBuf};

/// Chest displacement in mm for the golden waveform: 15.2 breaths/min, 4 mm peak to peak, with a
/// slower drift, rounded to 0.01 mm so that platform `sin` differences cannot change a pixel.
fn golden_wave_mm(i: usize) -> f32 {
    let t = i as f64 / 10.0;
    let breath = 2.0 * (std::f64::consts::TAU * 15.2 / 60.0 * t).sin();
    let drift = 0.6 * (std::f64::consts::TAU * t / 23.0).sin();
    ((breath + drift) * 100.0).round() as f32 / 100.0
}

/// Person breathing normally: rate 15.2, eupnea 0.93, quality 0.87, no X-ray yet.
fn breathing() -> Readout {
    let mut r = Readout {
        rate_bpm: Some(15.2),
        pattern: Some((Pattern::Eupnea, 0.93)),
        person_present: true,
        quality: 0.87,
        elapsed_s: 754.0,
        ..Readout::default()
    };
    for i in 0..300 {
        r.waveform.push(golden_wave_mm(i));
    }
    r
}

/// Camera lost while nobody is in view: no rate, no pattern, a short flat waveform.
fn camera_lost() -> Readout {
    let mut r = Readout {
        camera: CameraStatus::Lost,
        quality: 0.05,
        elapsed_s: 3601.0,
        ..Readout::default()
    };
    for i in 0..120 {
        r.waveform.push(0.02 * ((i % 7) as f32 - 3.0));
    }
    r
}

/// Ongoing apnea with an X-ray result and a camera warning, on the smallest supported size.
fn apnea_with_xray() -> Readout {
    let mut r = breathing();
    r.rate_bpm = Some(9.8);
    r.pattern = Some((Pattern::CentralApnea, 0.61));
    r.quality = 0.52;
    r.apnea_s = Some(14.0);
    r.camera = CameraStatus::Message("camera: 12 dropped".into());
    for _ in 0..140 {
        r.waveform.push(0.01);
    }
    r.xray = Some(XrayResult {
        finding: "consolidation".into(),
        probability: 0.82,
        source: "/var/lib/edge-screen/inbox/chest_0042.png".into(),
    });
    r
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn actual_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("golden-actual")
}

fn check(name: &str, w: u32, h: u32, r: &Readout) {
    let mut img = RgbImage::new(w, h);
    match draw_readout(&mut img, r) {
        Ok(()) => {}
        Err(never) => match never {},
    }
    let golden = golden_dir().join(format!("{name}.png"));
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        write_png_atomic(&img, &golden).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("updated {}", golden.display());
        return;
    }
    let expected = read_png(&golden)
        .unwrap_or_else(|e| panic!("{e}; run with UPDATE_GOLDEN=1 to create the golden"));
    assert_eq!(
        (expected.width, expected.height),
        (w, h),
        "{name}: golden size"
    );
    let differing = img
        .pixels
        .chunks_exact(3)
        .zip(expected.pixels.chunks_exact(3))
        .filter(|(a, b)| a != b)
        .count();
    if differing > 0 {
        let dir = actual_dir();
        let _ = std::fs::create_dir_all(&dir);
        let actual = dir.join(format!("{name}.png"));
        let saved = write_png_atomic(&img, &actual).map(|_| actual.display().to_string());
        panic!(
            "{name}: {differing} of {} pixels differ from {}; actual image: {saved:?}",
            w * h,
            golden.display()
        );
    }
}

#[test]
fn breathing_480x320() {
    check("breathing_480x320", 480, 320, &breathing());
}

#[test]
fn breathing_800x480() {
    check("breathing_800x480", 800, 480, &breathing());
}

#[test]
fn camera_lost_480x320() {
    check("camera_lost_480x320", 480, 320, &camera_lost());
}

#[test]
fn camera_lost_800x480() {
    check("camera_lost_800x480", 800, 480, &camera_lost());
}

#[test]
fn apnea_with_xray_320x240() {
    check("apnea_with_xray_320x240", 320, 240, &apnea_with_xray());
}

#[test]
fn apnea_with_xray_800x480() {
    check("apnea_with_xray_800x480", 800, 480, &apnea_with_xray());
}

/// Not a golden: renders the largest size to `target/golden-actual/` for a look, and checks that
/// the disclaimer band spans the bottom rows.
#[test]
fn largest_size_renders() {
    let mut img = RgbImage::new(1920, 1080);
    match draw_readout(&mut img, &apnea_with_xray()) {
        Ok(()) => {}
        Err(never) => match never {},
    }
    let _ = std::fs::create_dir_all(actual_dir());
    let _ = write_png_atomic(&img, &actual_dir().join("apnea_with_xray_1920x1080.png"));
    let band = edge_screen::display::palette::BAND;
    assert_eq!(img.get(0, 1079), Some(band));
    assert_eq!(img.get(1919, 1079), Some(band));
}

/// The golden waveform itself, checked against its analytic properties.
#[test]
fn golden_wave_is_what_it_claims() {
    let v: Vec<f32> = (0..300).map(golden_wave_mm).collect();
    let max = v.iter().cloned().fold(f32::MIN, f32::max);
    let min = v.iter().cloned().fold(f32::MAX, f32::min);
    assert!(
        (max - min) > 4.0 && (max - min) < 5.3,
        "peak to peak {}",
        max - min
    );
    assert!(v
        .iter()
        .all(|x| (x * 100.0 - (x * 100.0).round()).abs() < 1e-3));
}
