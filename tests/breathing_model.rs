//! The shipped BI-AT-GRU in the product: session verdicts on fresh RSM subjects through the
//! recording path and through the simulated camera and the full pipeline, and its behaviour on bad
//! or odd input (never a panic, never a confident wrong label).
//!
//! Subjects here use seeds the training set never draws (the training set hashes its seeds; these
//! are small plain seeds given straight to the RSM), so these are held-out checks of the model.

use edge_screen::breathing::build_classifier;
use edge_screen::breathing::model_input::{InputPrep, INPUT_LEN};
use edge_screen::breathing::ClassifierKind;
use edge_screen::camera::simulated::SimCameraSettings;
use edge_screen::config::Settings;
use edge_screen::pipeline::recording::analyze_series;
use edge_screen::respiration::RespirationSettings;
use edge_screen::rsm::{io::params_for, Rsm};
use edge_screen::tools::eval::{run_one, EvalSpec, RunSpec};
use edge_screen::types::Pattern;

const GRU: ClassifierKind = ClassifierKind::BiAtGru { model: None };

/// Recording path: 300 s at 10 Hz, 3 subjects per pattern; at most one wrong verdict in 18.
#[test]
fn recording_verdicts_on_fresh_subjects() {
    let settings = RespirationSettings::default();
    let mut cls = build_classifier(&GRU).expect("model loads");
    let mut wrong = Vec::new();
    for pattern in Pattern::ALL {
        for seed in 101..=103u64 {
            let params = params_for(pattern, None, seed).expect("params");
            let rec = Rsm::new(params, seed).sample(10.0, 300.0);
            let a = analyze_series(&rec.resp_mm, 10.0, &settings, cls.as_mut()).expect("analysed");
            let sum: f32 = a.breathing.scores.0.iter().sum();
            assert!((sum - 1.0).abs() < 1e-4);
            if a.breathing.scores.best().0 != pattern {
                wrong.push(format!(
                    "{pattern} seed {seed}: {} {:?}",
                    a.breathing.scores.best().0,
                    a.breathing.scores
                ));
            }
        }
    }
    assert!(wrong.len() <= 1, "wrong verdicts: {wrong:#?}");
}

/// Camera path: RSM → simulated camera (424x240) → pipeline → BI-AT-GRU, 240 s per pattern; every
/// session verdict right.
#[test]
fn camera_pipeline_verdicts() {
    let spec = EvalSpec {
        patterns: Pattern::ALL.to_vec(),
        seeds: 1,
        distances: vec![1.1],
        seconds: 240.0,
        camera: SimCameraSettings {
            width: 424,
            height: 240,
            ..SimCameraSettings::default()
        },
        pipeline: Settings::embedded().unwrap().pipeline,
        classifier: GRU,
    };
    for pattern in Pattern::ALL {
        let run = RunSpec {
            pattern,
            seed: 7,
            distance_m: 1.1,
        };
        let r = run_one(&run, &spec).expect("run completes");
        assert_eq!(r.verdict, Some(pattern), "{pattern}: {r:?}");
    }
}

fn sine(bpm: f64, seconds: f64) -> Vec<f32> {
    (0..(seconds * 10.0) as usize)
        .map(|i| (std::f64::consts::TAU * bpm / 60.0 * i as f64 / 10.0).sin() as f32)
        .collect()
}

/// A clipped (saturated) sensor keeps its rhythm: regular breathing at 15/min clipped to 30 % of
/// its swing is still eupnea.
#[test]
fn clipped_breathing_keeps_its_label() {
    let settings = RespirationSettings::default();
    let mut cls = build_classifier(&GRU).expect("model loads");
    let x: Vec<f32> = sine(15.0, 240.0)
        .iter()
        .map(|v| v.clamp(-0.3, 0.3))
        .collect();
    let a = analyze_series(&x, 10.0, &settings, cls.as_mut()).expect("analysed");
    assert_eq!(
        a.breathing.scores.best().0,
        Pattern::Eupnea,
        "{:?}",
        a.breathing.scores
    );
}

/// Noise with no breathing gets no confident label: the quality is low, so the scores are tempered
/// toward uniform (`breathing` then prints "insufficient signal").
#[test]
fn noise_gets_no_confident_label() {
    use rand::{Rng, SeedableRng};
    let settings = RespirationSettings::default();
    let mut cls = build_classifier(&GRU).expect("model loads");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let x: Vec<f32> = (0..2400).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let a = analyze_series(&x, 10.0, &settings, cls.as_mut()).expect("analysed");
    assert!(a.breathing.quality < 0.3, "quality {}", a.breathing.quality);
    assert!(
        a.breathing.scores.best().1 < 0.5,
        "{:?}",
        a.breathing.scores
    );
}

/// Odd windows handed straight to the model's input preparation: errors, not panics.
#[test]
fn model_input_rejects_bad_windows() {
    let mut prep = InputPrep::new();
    let mut out = [0.0f32; INPUT_LEN];
    let x = sine(15.0, 120.0);
    for (samples, hz) in [
        (&x[..], f64::NAN),
        (&x[..], 1e9),
        (&x[..], 0.0),
        (&x[..50], 10.0),
        (&[f32::INFINITY; 1200][..], 10.0),
        (&[0.0; 1200][..], 10.0),
    ] {
        assert!(prep.prepare_samples(samples, hz, &mut out).is_err());
    }
}

/// The real recordings with a breathing rate (file, approximate rate from the data's README and
/// tests/resp_real.rs).
const REAL: [(&str, f32); 4] = [
    ("biosppy_resp_1000hz.csv", 21.0),
    ("bidmc01_resp_125hz.csv", 20.6),
    ("wfdb_03700181_resp.csv", 19.6),
    ("wfdb_v102s_resp.csv", 9.0),
];

/// Checks that every real recording, transformed by `how`, gets a pattern consistent with its rate.
fn check_real_recordings(how: &str, transform: fn(f32) -> f32) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/resp/csv");
    if !dir.is_dir() {
        println!("SKIPPED: {} not found", dir.display());
        return;
    }
    let settings = RespirationSettings::default();
    let mut cls = build_classifier(&GRU).expect("model loads");
    let mut wrong = Vec::new();
    for (file, rate) in REAL {
        let rec = edge_screen::recording::load_csv(&dir.join(file)).expect("loads");
        let x: Vec<f32> = edge_screen::recording::resample(&rec, settings.resample_hz)
            .into_iter()
            .map(transform)
            .collect();
        let a =
            analyze_series(&x, settings.resample_hz, &settings, cls.as_mut()).expect("analysable");
        let consistent: &[Pattern] = if (rate - 20.0).abs() < 1.5 {
            &[Pattern::Eupnea, Pattern::Tachypnea]
        } else if rate < 12.0 {
            &[Pattern::Bradypnea]
        } else {
            &[Pattern::Eupnea]
        };
        if !consistent.contains(&a.breathing.scores.best().0) {
            wrong.push(format!(
                "{file} {how}: {} at ~{rate}/min {:?}",
                a.breathing.scores.best().0,
                a.breathing.scores
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    let rec =
        edge_screen::recording::load_csv(&dir.join("wfdb_mixedsignals_resp.csv")).expect("loads");
    let x = edge_screen::recording::resample(&rec, settings.resample_hz);
    let a = analyze_series(&x, settings.resample_hz, &settings, cls.as_mut()).expect("analysable");
    assert!(
        a.breathing.quality < 0.3 && a.breathing.scores.best().1 < 0.5,
        "{a:?}"
    );
}

/// The real contact-sensor recordings (no apneas, unlabelled) get patterns consistent with their
/// rates; the clipped one gets no confident label. Two of them are hard: wfdb_v102s (about 9/min,
/// ECG spikes and interference bursts bleeding in, irregular depth) and biosppy (60 s, a motion
/// artefact, irregular depth).
#[test]
fn real_recordings_get_rate_consistent_patterns() {
    check_real_recordings("as recorded", |v| v);
}

/// The same recordings upside down and in other units.
///
/// KNOWN FAILURE of the shipped model (issue 3 stays open on it): biosppy inverted is called
/// Biot's (0.65), while as recorded it is eupnea; its breaths are nearly symmetric, so the
/// product cannot restore the polarity, and the model's answer depends on it. Run with
/// `cargo test --test breathing_model -- --ignored`.
#[test]
#[ignore = "known failure: biosppy inverted is called Biot's; see the model card"]
fn inverted_real_recordings_get_rate_consistent_patterns() {
    check_real_recordings("inverted and scaled", |v| -250.0 * v + 7.0);
}

/// Single-window (120 s) eupnea recordings are eupnea (an earlier model called some of them
/// Cheyne-Stokes).
#[test]
fn short_eupnea_recordings_are_eupnea() {
    let settings = RespirationSettings::default();
    let mut cls = build_classifier(&GRU).expect("model loads");
    for seed in 1..=5u64 {
        let params = params_for(Pattern::Eupnea, None, seed).expect("params");
        let rec = Rsm::new(params, seed).sample(10.0, 120.0);
        let a = analyze_series(&rec.resp_mm, 10.0, &settings, cls.as_mut()).expect("analysed");
        assert_eq!(
            a.breathing.scores.best().0,
            Pattern::Eupnea,
            "seed {seed}: {:?}",
            a.breathing.scores
        );
    }
}
