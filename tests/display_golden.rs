//! Golden images of the readout: fixed readouts rendered at 480x320 and 800x480 (and the apnea
//! case at 320x240) must match the committed PNGs in `tests/golden/` pixel for pixel. One readout
//! per screen of the session: waiting (and paused, camera lost), measuring with partial progress
//! (`breathing`, `apnea_with_xray`), and each outcome of a result, built from the real session
//! types and fused by the real rule.
//!
//! Regenerate after an intended layout change with `UPDATE_GOLDEN=1 cargo test --test
//! display_golden`, look at the PNGs, and commit them. On a mismatch the rendered image is
//! written to `target/golden-actual/NAME.png` and the test fails with the number of differing
//! pixels.

use edge_screen::breathing::session::BreathingSummary;
use edge_screen::display::{draw_readout, read_png, write_png_atomic, RgbImage};
use edge_screen::pipeline::view::{CameraStatus, Readout, XrayResult};
use edge_screen::screening::fusion::{fuse, Outcome};
use edge_screen::screening::{SessionResult, SessionView};
use edge_screen::types::{ApneaInterval, Pattern, PatternScores};
use edge_screen::xray::screen::{Finding, ModelRef, XrayReport};
use std::path::{Path, PathBuf};

/// Chest displacement in mm for the golden waveform: 15.2 breaths/min, 4 mm peak to peak, with a
/// slower drift, rounded to 0.01 mm so that platform `sin` differences cannot change a pixel.
fn golden_wave_mm(i: usize) -> f32 {
    let t = i as f64 / 10.0;
    let breath = 2.0 * (std::f64::consts::TAU * 15.2 / 60.0 * t).sin();
    let drift = 0.6 * (std::f64::consts::TAU * t / 23.0).sin();
    ((breath + drift) * 100.0).round() as f32 / 100.0
}

/// A session identifier as the daemon makes them (a ULID); the screen shows "4F2K9Q".
const SESSION: &str = "01J2Q8M5TZ3W7X9K4F2R4F2K9Q";

/// Measuring, `signal_s` of 60 s of good signal so far.
fn measuring(signal_s: f64) -> SessionView {
    SessionView::Measuring {
        session_id: SESSION.into(),
        signal_s,
        needed_s: 60.0,
    }
}

/// Person breathing normally, measured for 42.5 s of 60 s: rate 15.2, eupnea 0.93, quality
/// 0.87, no X-ray yet.
fn breathing() -> Readout {
    let mut r = Readout {
        rate_bpm: Some(15.2),
        pattern: Some((Pattern::Eupnea, 0.93)),
        person_present: true,
        quality: 0.87,
        elapsed_s: 754.0,
        session: measuring(42.5),
        ..Readout::default()
    };
    for i in 0..300 {
        r.waveform.push(golden_wave_mm(i));
    }
    r
}

/// Camera lost while nobody is in view (the session ended with it, so the kiosk waits, paused):
/// no rate, no pattern, a short flat waveform.
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

/// Ongoing apnea with an X-ray result and a camera warning, 18 s of 60 s measured, on the
/// smallest supported size.
fn apnea_with_xray() -> Readout {
    let mut r = breathing();
    r.session = measuring(18.0);
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
        probability: Some(0.82),
        source: "/var/lib/edge-screen/inbox/chest_0042.png".into(),
        site_validated: true,
    });
    r
}

/// Nobody screened yet, camera fine, the previous person's X-ray still on the staff line.
fn waiting() -> Readout {
    Readout {
        elapsed_s: 5432.0,
        xray: Some(shown(&xray_report(0.03))),
        ..Readout::default()
    }
}

/// A film with covid probability `p` from a model whose operating threshold is 0.08.
fn xray_report(p: f32) -> XrayReport {
    XrayReport {
        file: "/var/lib/edge-screen/inbox/chest_0042.png".into(),
        covid_probability: Some(p),
        scope_reason: None,
        scope_text: None,
        finding: if p >= 0.08 {
            Finding::Covid
        } else {
            Finding::Normal
        },
        threshold: 0.08,
        // The goldens show a kiosk with a site calibration; the advisory texts are unit-tested
        // (src/display/texts.rs, session_texts_tests.rs).
        site_validated: true,
        model: ModelRef {
            name: "xray-cnn-int8".into(),
            version: "golden".into(),
        },
        format: "PNG 8-bit gray".into(),
        heatmap: None,
    }
}

/// The X-ray line as the pipeline shows a report: the finding with its own probability.
fn shown(x: &XrayReport) -> XrayResult {
    let p = x.covid_probability.expect("an assessed film");
    let p = match x.finding {
        Finding::Covid => p,
        _ => 1.0 - p,
    };
    XrayResult {
        finding: x.finding.name().into(),
        probability: Some(p),
        source: x.file.display().to_string(),
        site_validated: x.site_validated,
    }
}

/// A session's breathing verdict: `pattern` with score `score` (the rest shared evenly), or an
/// insufficient signal when `pattern` is `None`.
fn verdict(pattern: Option<Pattern>, score: f32, apneas: usize) -> BreathingSummary {
    let mut s = [(1.0 - score) / 5.0; 6];
    if let Some(p) = pattern {
        s[p.index()] = score;
    } else {
        s = [1.0 / 6.0; 6];
    }
    let gap = ApneaInterval {
        start_s: 700.0,
        end_s: 712.5,
    };
    BreathingSummary {
        pattern,
        insufficient_signal: pattern.is_none(),
        scores: PatternScores(s),
        rate_bpm: pattern.map(|_| 15.4),
        quality: if pattern.is_some() { 0.86 } else { 0.14 },
        apneas: vec![gap; apneas],
        hypopneas: Vec::new(),
        artefacts: Vec::new(),
        windows: 14,
    }
}

/// The result screen for a verdict and an optional X-ray, fused by the real rule; the live
/// numbers of the readout are those of [`breathing`].
fn result(b: BreathingSummary, x: Option<XrayReport>, expect: Outcome) -> Readout {
    let f = fuse(Some(&b), x.as_ref());
    assert_eq!(f.outcome, expect, "golden readout fuses to {f:?}");
    let mut r = breathing();
    r.xray = x.as_ref().map(shown);
    r.session = SessionView::Result(Box::new(SessionResult {
        t_s: 802.0,
        session_id: SESSION.into(),
        revision: 0,
        outcome: f.outcome,
        refer_probability: f.refer_probability,
        modalities: f.modalities,
        breathing: Some(b),
        xray: x,
    }));
    r
}

/// Eupnea at 0.94, no X-ray: no concern found.
fn result_no_concern() -> Readout {
    result(
        verdict(Some(Pattern::Eupnea), 0.94, 0),
        None,
        Outcome::NoConcernFound,
    )
}

/// Eupnea at 0.88 (breathing alone would find no concern) with a covid X-ray at 0.62 (threshold
/// 0.08): refer, at a fused 96%.
fn result_refer_xray() -> Readout {
    result(
        verdict(Some(Pattern::Eupnea), 0.88, 0),
        Some(xray_report(0.62)),
        Outcome::ReferForClinicalAssessment,
    )
}

/// Insufficient breathing signal and no X-ray: repeat the measurement.
fn result_repeat_insufficient() -> Readout {
    result(verdict(None, 0.0, 0), None, Outcome::RepeatMeasurement)
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

/// One golden test per line: `name: readout() at width x height`, the PNG named after the test.
macro_rules! goldens {
    ($($name:ident: $readout:ident() at $w:literal x $h:literal;)*) => {
        $(
            #[test]
            fn $name() {
                check(stringify!($name), $w, $h, &$readout());
            }
        )*
    };
}

goldens! {
    breathing_480x320: breathing() at 480 x 320;
    breathing_800x480: breathing() at 800 x 480;
    camera_lost_480x320: camera_lost() at 480 x 320;
    camera_lost_800x480: camera_lost() at 800 x 480;
    apnea_with_xray_320x240: apnea_with_xray() at 320 x 240;
    apnea_with_xray_800x480: apnea_with_xray() at 800 x 480;
    waiting_480x320: waiting() at 480 x 320;
    waiting_800x480: waiting() at 800 x 480;
    result_no_concern_480x320: result_no_concern() at 480 x 320;
    result_no_concern_800x480: result_no_concern() at 800 x 480;
    result_refer_xray_480x320: result_refer_xray() at 480 x 320;
    result_refer_xray_800x480: result_refer_xray() at 800 x 480;
    result_repeat_insufficient_480x320: result_repeat_insufficient() at 480 x 320;
    result_repeat_insufficient_800x480: result_repeat_insufficient() at 800 x 480;
}

/// Not a golden: renders every screen at the smallest size of each tier and at the largest to
/// `target/golden-actual/` for a look, and checks that the disclaimer band spans the bottom rows.
#[test]
fn tier_edge_sizes_render() {
    let screens = [
        ("waiting", waiting()),
        ("camera_lost", camera_lost()),
        ("apnea_with_xray", apnea_with_xray()),
        ("result_no_concern", result_no_concern()),
        ("result_refer_xray", result_refer_xray()),
        ("result_repeat_insufficient", result_repeat_insufficient()),
    ];
    let _ = std::fs::create_dir_all(actual_dir());
    let band = edge_screen::display::palette::BAND;
    for (w, h) in [(320, 240), (408, 272), (624, 416), (1920, 1080)] {
        for (name, r) in &screens {
            let mut img = RgbImage::new(w, h);
            match draw_readout(&mut img, r) {
                Ok(()) => {}
                Err(never) => match never {},
            }
            let file = actual_dir().join(format!("{name}_{w}x{h}.png"));
            let _ = write_png_atomic(&img, &file);
            let (x1, y1) = (w as i32 - 1, h as i32 - 1);
            assert_eq!(img.get(0, y1), Some(band), "{name} {w}x{h}");
            assert_eq!(img.get(x1, y1), Some(band), "{name} {w}x{h}");
        }
    }
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
