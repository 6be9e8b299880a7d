//! Accuracy of the signal side on RSM recordings: all six patterns, several seeds and parameter
//! draws, realistic noise, drift, sway and motion artefacts (the RSM's own), fed to the live
//! `BreathAnalyzer` at 30 fps with 2 % dropped frames and 0.15 mm extra camera-like noise, and to
//! `analyze_series` at 10 Hz.
//!
//! Prints rate errors, apnea sensitivity / false alarms and the baseline's confusion matrices.

use edge_screen::breathing::baseline::RuleBaseline;
use edge_screen::breathing::read_window;
use edge_screen::pipeline::recording::analyze_series;
use edge_screen::respiration::apnea::ApneaChange;
use edge_screen::respiration::{BreathAnalyzer, RespirationSettings, Schedule, Step};
use edge_screen::rsm::{Rsm, RsmParams};
use edge_screen::types::{ApneaInterval, Pattern};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

const SECONDS: f64 = 600.0;
const SEEDS: u64 = 10;
/// Extra white noise on the live (camera-rate) path, mm RMS.
const CAMERA_NOISE_MM: f32 = 0.15;

#[derive(Default)]
struct Tally {
    rate_n: usize,
    rate_within_1: usize,
    rate_missing: usize,
    rate_abs_err_sum: f64,
    rate_max_err: f32,
    apneas_truth: usize,
    apneas_hit: usize,
    false_alarms: usize,
    minutes: f64,
    windows: [[usize; 6]; 6],
    sessions: [[usize; 6]; 6],
}

fn score_apneas(t: &mut Tally, truth: &[ApneaInterval], detected: &[ApneaInterval], from_s: f64) {
    for a in truth
        .iter()
        .filter(|a| a.duration_s() >= 10.0 && a.start_s >= from_s)
    {
        t.apneas_truth += 1;
        if detected.iter().any(|d| d.overlaps(a)) {
            t.apneas_hit += 1;
        }
    }
    t.false_alarms += detected
        .iter()
        .filter(|d| !truth.iter().any(|a| a.overlaps(d)))
        .count();
}

fn run(pattern: Pattern, seed: u64, tally: &mut Tally) {
    let settings = RespirationSettings::default();
    let params = RsmParams::draw(pattern, &mut ChaCha8Rng::seed_from_u64(seed));
    let rec = Rsm::new(params.clone(), seed).sample(30.0, SECONDS);
    let truth = &rec.truth;
    let mut drop = ChaCha8Rng::seed_from_u64(seed ^ 0xd5);
    // Camera-like extra noise on top of the RSM's own sensor noise (0.02-0.2 mm) and drift.
    let camera = Normal::new(0.0f32, CAMERA_NOISE_MM).expect("valid sigma");
    let mut an = BreathAnalyzer::new(&settings, Schedule::live(&settings));
    let (mut readings, mut detected) = (Vec::new(), Vec::new());
    let mut on = |step: Step<'_>| match step {
        Step::Window(w) => readings.push(read_window(&mut RuleBaseline, &w)),
        Step::Apnea(ApneaChange::Ended(a) | ApneaChange::Lost(a)) => detected.push(a),
        Step::Apnea(_) => {}
    };
    for (t, v) in rec.t_s.iter().zip(&rec.resp_mm) {
        let v = (!drop.gen_bool(0.02)).then_some(*v + camera.sample(&mut drop));
        an.push(*t, v, &mut on);
    }
    for r in readings.iter().filter(|r| r.t_s >= settings.window_s) {
        tally.windows[pattern.index()][r.scores.best().0.index()] += 1;
        if pattern.is_regular() {
            let Some(want) = truth.mean_rate_bpm(r.t_s - settings.window_s, r.t_s) else {
                continue;
            };
            tally.rate_n += 1;
            match r.rate_bpm {
                Some(got) => {
                    let err = (got - want).abs();
                    tally.rate_abs_err_sum += err as f64;
                    tally.rate_max_err = tally.rate_max_err.max(err);
                    tally.rate_within_1 += usize::from(err <= 1.0);
                    if err > 1.0 && std::env::var("RESP_DEBUG").is_ok() {
                        println!("{pattern} seed {seed} t {:.0}: {got:.2} vs {want:.2} spec {:?} count {:?} q {:.2}", r.t_s, r.spectral_rate_bpm, r.count_rate_bpm, r.quality);
                    }
                }
                None => tally.rate_missing += 1,
            }
        }
    }
    if let Some(start_s) = an.ongoing_apnea() {
        detected.push(ApneaInterval {
            start_s,
            end_s: SECONDS,
        });
    }
    // The live detector needs one analysis (30 s) for its threshold.
    score_apneas(tally, &truth.apneas, &detected, 30.0);
    tally.minutes += (SECONDS - 30.0) / 60.0;
    let rec10 = Rsm::new(params, seed).sample(settings.resample_hz, SECONDS);
    let r = analyze_series(
        &rec10.resp_mm,
        settings.resample_hz,
        &settings,
        &mut RuleBaseline,
    )
    .expect("RSM recording is analysable");
    tally.sessions[pattern.index()][r.breathing.scores.best().0.index()] += 1;
}

fn print_matrix(name: &str, m: &[[usize; 6]; 6]) {
    println!("{name} (rows truth, columns predicted: eup tachy brady biots cs ca)");
    for p in Pattern::ALL {
        let row = m[p.index()];
        let n: usize = row.iter().sum();
        println!(
            "  {:<14} {:?}  acc {:.2}",
            p.name(),
            row,
            row[p.index()] as f32 / n.max(1) as f32
        );
    }
}

#[test]
fn rsm_rate_apnea_and_pattern_accuracy() {
    let mut t = Tally::default();
    let mut offline_apnea = Tally::default();
    for p in Pattern::ALL {
        for seed in 1..=SEEDS {
            run(p, seed, &mut t);
        }
    }
    // Offline apneas (whole recording, including the first 30 s).
    for p in Pattern::ALL {
        for seed in 1..=SEEDS {
            let s = RespirationSettings::default();
            let params = RsmParams::draw(p, &mut ChaCha8Rng::seed_from_u64(seed));
            let rec = Rsm::new(params, seed).sample(s.resample_hz, SECONDS);
            let r = analyze_series(&rec.resp_mm, s.resample_hz, &s, &mut RuleBaseline).expect("ok");
            score_apneas(
                &mut offline_apnea,
                &rec.truth.apneas,
                &r.breathing.apneas,
                0.0,
            );
            offline_apnea.minutes += SECONDS / 60.0;
        }
    }
    let within = t.rate_within_1 as f32 / t.rate_n.max(1) as f32;
    println!(
        "rate (regular patterns, {} readings): within 1/min {:.3}, missing {}, mean |err| {:.2}, max {:.2}",
        t.rate_n,
        within,
        t.rate_missing,
        t.rate_abs_err_sum / (t.rate_n - t.rate_missing).max(1) as f64,
        t.rate_max_err
    );
    for (name, a) in [("live", &t), ("offline", &offline_apnea)] {
        println!(
            "apneas {name}: {}/{} detected ({:.3}), {} false alarms in {:.0} min ({:.2} per 10 min)",
            a.apneas_hit,
            a.apneas_truth,
            a.apneas_hit as f32 / a.apneas_truth.max(1) as f32,
            a.false_alarms,
            a.minutes,
            a.false_alarms as f64 / a.minutes * 10.0
        );
    }
    print_matrix(
        "window confusion (live readings with a full window)",
        &t.windows,
    );
    print_matrix("session confusion (analyze_series)", &t.sessions);
    assert!(within >= 0.97, "rate within 1/min in {within}");
    for a in [&t, &offline_apnea] {
        assert!(a.apneas_hit as f32 >= 0.95 * a.apneas_truth as f32);
        assert!(a.false_alarms as f64 <= a.minutes / 10.0);
    }
    for p in Pattern::ALL {
        let row = t.windows[p.index()];
        let acc = row[p.index()] as f32 / row.iter().sum::<usize>().max(1) as f32;
        assert!(acc >= 0.85, "{}: window accuracy {acc}", p.name());
    }
}
