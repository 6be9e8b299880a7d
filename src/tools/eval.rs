//! Accuracy of the whole chain on simulated camera runs: RSM → simulated camera → [`Pipeline`].
//!
//! For every pattern, seed and distance, one run is driven frame by frame (every frame processed,
//! as with `--speed max`) and its events are scored against the simulator's ground truth:
//! - rate: each breathing reading of a regular pattern against the true mean rate over the same
//!   window (error in breaths/min);
//! - apneas: a true pause of at least the apnea threshold counts as detected when a reported apnea
//!   overlaps it; a reported apnea that overlaps no true pause is a false alarm; for each detected
//!   apnea, the reported start and end against the true ones (signed, s; goal: within
//!   [`TIMING_TOLERANCE_S`]);
//! - pattern: the session verdict (mean of the window scores) against the simulated pattern.

use crate::camera::simulated::{SimCamera, SimCameraSettings};
use crate::camera::FrameSource;
use crate::pipeline::{Input, Pipeline, PipelineSettings};
use crate::rsm::{ArtefactKind, MotionArtefact, Rsm};
use crate::screening::ids::Counter;
use crate::screening::Event;
use crate::types::{ApneaInterval, DepthFrame, Pattern, PatternScores};
use serde::Serialize;

/// Tolerance on a measured pause's length when judging false alarms, s: a 9.5 s pause measured as
/// 10.2 s is a measurement error of the duration, not an invented apnea.
pub const DURATION_TOLERANCE_S: f64 = 1.0;

/// How far a reported apnea's start or end may be from the true one, s (issue 16: a monitor's
/// apnea event starts and ends within 1.5 s of the pause).
pub const TIMING_TOLERANCE_S: f64 = 1.5;

/// One evaluation run's set-up.
#[derive(Debug, Clone, Serialize)]
pub struct RunSpec {
    /// Simulated pattern.
    pub pattern: Pattern,
    /// Seed of the subject draw, the scene and the noise.
    pub seed: u64,
    /// Camera-to-chest distance, m.
    pub distance_m: f64,
}

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// The set-up.
    pub spec: RunSpec,
    /// The drawn subject's mean rate, breaths/min.
    pub true_rate_bpm: f32,
    /// Absolute rate errors of the readings, breaths/min (regular patterns only).
    pub rate_errors_bpm: Vec<f32>,
    /// True pauses of at least the apnea threshold inside the scored span.
    pub true_apneas: usize,
    /// True apneas during which the person moved (not scored).
    pub unscorable_apneas: usize,
    /// How many of the unscorable ones were reported anyway (for transparency).
    pub unscorable_detected: usize,
    /// How many of the scored apneas were detected.
    pub detected_apneas: usize,
    /// For each detected scored apnea: (reported start − true start, reported end − true end), s.
    pub apnea_timing_errors_s: Vec<(f64, f64)>,
    /// Reported apneas that overlap no true pause.
    pub false_alarms: usize,
    /// Time over which apneas were scored, s.
    pub scored_s: f64,
    /// Session verdict (mean of window scores).
    pub verdict: Option<Pattern>,
    /// Movement artefacts (coughs, jolts) in each reading's window, in order.
    pub artefacts: Vec<usize>,
    /// Readings emitted.
    pub readings: usize,
    /// Frames after which the pipeline tracked a chest ROI.
    pub roi_frames: usize,
    /// Of those, frames whose ROI lay inside the seated person's torso box (shoulder line to
    /// waist, see [`SimCamera::torso_box`]), within [`ROI_SLACK_PX`].
    pub roi_on_torso: usize,
    /// Of those, frames whose ROI overlapped the second person's torso box (if there is one)
    /// and did not lie inside the seated person's.
    pub roi_on_bystander: usize,
}

/// How far (pixels) an ROI may reach past the torso box and still count as on the torso: the
/// box is at the body's rounded position, the ROI is placed on a coarse grid.
pub const ROI_SLACK_PX: u32 = 3;

/// Whether `roi` lies inside `torso` give or take [`ROI_SLACK_PX`].
pub fn roi_inside(roi: crate::types::Roi, torso: crate::types::Roi) -> bool {
    let s = ROI_SLACK_PX;
    roi.x0 + s >= torso.x0
        && roi.y0 + s >= torso.y0
        && roi.x1 <= torso.x1 + s
        && roi.y1 <= torso.y1 + s
}

/// Whether two boxes share any pixel.
fn overlaps(a: crate::types::Roi, b: crate::types::Roi) -> bool {
    a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1
}

/// Evaluation settings.
#[derive(Debug, Clone)]
pub struct EvalSpec {
    /// Patterns to simulate.
    pub patterns: Vec<Pattern>,
    /// Seeds per pattern and distance (seeds 1..=n).
    pub seeds: u64,
    /// Distances, m.
    pub distances: Vec<f64>,
    /// Length of each run, s.
    pub seconds: f64,
    /// Camera settings (size, fps); distance and seed are set per run.
    pub camera: SimCameraSettings,
    /// Chest finding, signal and session settings.
    pub pipeline: PipelineSettings,
    /// The breathing classifier (one instance per run).
    pub classifier: crate::breathing::ClassifierKind,
}

/// Runs every combination, using all cores; results in spec order.
pub fn run_all(spec: &EvalSpec) -> Result<Vec<RunResult>, String> {
    let mut runs = Vec::new();
    for &pattern in &spec.patterns {
        for &distance_m in &spec.distances {
            for seed in 1..=spec.seeds {
                runs.push(RunSpec {
                    pattern,
                    seed,
                    distance_m,
                });
            }
        }
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(runs.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(vec![None; runs.len()]);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(run) = runs.get(i) else { break };
                let r = run_one(run, spec);
                results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("run did not finish".into())))
        .collect()
}

/// Drives one simulated run through the pipeline and scores it.
pub fn run_one(run: &RunSpec, spec: &EvalSpec) -> Result<RunResult, String> {
    let params =
        crate::rsm::io::params_for(run.pattern, None, run.seed).map_err(|e| e.to_string())?;
    let true_rate_bpm = params.rate_bpm;
    let rsm = Rsm::new(params, run.seed);
    let cam_settings = SimCameraSettings {
        subject_distance_m: run.distance_m as f32,
        ..spec.camera.clone()
    };
    let mut camera = SimCamera::new(cam_settings, rsm, run.seed).map_err(|e| e.to_string())?;
    let mut pipeline = Pipeline::new(
        &spec.pipeline,
        crate::breathing::build_classifier(&spec.classifier).map_err(|e| e.to_string())?,
        Box::new(Counter::new("eval")),
    );
    let mut frame = DepthFrame::new(0, 0, 0.001);
    let mut events = Vec::new();
    let n_frames = (spec.seconds * camera.fps()).round() as u64;
    let mut rois = RoiCounts::default();
    for _ in 0..n_frames {
        camera.read_frame(&mut frame).map_err(|e| e.to_string())?;
        pipeline.push(Input::Frame(&frame), &mut events);
        if let Some(roi) = pipeline.chest_roi() {
            rois.frames += 1;
            let on_torso = roi_inside(roi, camera.torso_box());
            rois.on_torso += usize::from(on_torso);
            // A person behind is hidden where the seated torso is: only an ROI off that torso
            // and on the second person's counts.
            let stray = camera.bystander_box().is_some_and(|b| overlaps(roi, b));
            rois.on_bystander += usize::from(stray && !on_torso);
        }
    }
    let mut truth = camera.truth().clone();
    // The camera's own seat shifts move the body as the RSM's artefacts do.
    truth
        .motion_artefacts
        .extend(
            camera
                .seat_shift_intervals(spec.seconds)
                .into_iter()
                .map(|(start_s, end_s)| MotionArtefact {
                    start_s,
                    end_s,
                    kind: ArtefactKind::Shift,
                    offset_mm: [0.0; 3],
                }),
        );
    let mut r = score(run.clone(), true_rate_bpm, &events, &truth, spec);
    (r.roi_frames, r.roi_on_torso, r.roi_on_bystander) =
        (rois.frames, rois.on_torso, rois.on_bystander);
    Ok(r)
}

#[derive(Default)]
struct RoiCounts {
    frames: usize,
    on_torso: usize,
    on_bystander: usize,
}

fn score(
    spec_run: RunSpec,
    true_rate_bpm: f32,
    events: &[Event],
    truth: &crate::rsm::GroundTruth,
    spec: &EvalSpec,
) -> RunResult {
    let window = spec.pipeline.respiration.window_s;
    let mut rate_errors = Vec::new();
    let mut sum = [0f32; 6];
    let mut readings = 0;
    let mut artefacts = Vec::new();
    let mut detected: Vec<ApneaInterval> = Vec::new();
    let mut open: Option<f64> = None;
    let mut last_t = 0.0;
    for ev in events {
        match ev {
            Event::Breathing(r) => {
                readings += 1;
                artefacts.push(r.artefacts);
                last_t = r.t_s;
                for (s, v) in sum.iter_mut().zip(r.scores.0) {
                    *s += v;
                }
                // Rates are scored once the window is full, against the truth over that window.
                if spec_run.pattern.is_regular() && r.t_s >= window {
                    if let (Some(est), Some(t)) =
                        (r.rate_bpm, truth.mean_rate_bpm(r.t_s - window, r.t_s))
                    {
                        rate_errors.push((est - t).abs());
                    }
                }
            }
            Event::ApneaStarted { start_s, .. } => open = Some(*start_s),
            Event::ApneaEnded { interval, .. } => {
                open = None;
                detected.push(*interval);
            }
            _ => {}
        }
    }
    if let Some(start_s) = open {
        detected.push(ApneaInterval {
            start_s,
            end_s: spec.seconds,
        });
    }
    // Apneas are scored after a warm-up (the detector needs breaths to know what "no breath" is)
    // and only when they ended before the run did. A pause during which the simulated person
    // moved (a fidget or a change of position) is unscorable for any movement-based sensor, as
    // artefact epochs are in polysomnography: it is counted apart, not as detected or missed.
    let warm_up = 30.0;
    let moved = |a: &ApneaInterval| {
        truth
            .motion_artefacts
            .iter()
            .any(|m| m.start_s < a.end_s && a.start_s < m.end_s)
    };
    let in_span = |a: &ApneaInterval| a.start_s >= warm_up && a.end_s <= spec.seconds - 1.0;
    let candidates: Vec<&ApneaInterval> = truth.apneas.iter().filter(|a| in_span(a)).collect();
    let unscorable = candidates.iter().filter(|a| moved(a)).count();
    let unscorable_detected = candidates
        .iter()
        .filter(|a| moved(a) && detected.iter().any(|d| d.overlaps(a)))
        .count();
    let true_apneas: Vec<&ApneaInterval> = candidates.into_iter().filter(|a| !moved(a)).collect();
    let detected_apneas = true_apneas
        .iter()
        .filter(|t| detected.iter().any(|d| d.overlaps(t)))
        .count();
    // Timing: the reported apnea that overlaps the true one most.
    let overlap = |a: &ApneaInterval, b: &ApneaInterval| {
        (a.end_s.min(b.end_s) - a.start_s.max(b.start_s)).max(0.0)
    };
    let apnea_timing_errors_s = true_apneas
        .iter()
        .filter_map(|t| {
            detected
                .iter()
                .filter(|d| d.overlaps(t))
                .max_by(|a, b| overlap(a, t).total_cmp(&overlap(b, t)))
                .map(|d| (d.start_s - t.start_s, d.end_s - t.end_s))
        })
        .collect();
    // A reported apnea is a false alarm when it overlaps no true pause of at least the threshold
    // less the duration tolerance ([`DURATION_TOLERANCE_S`]).
    let min_true = spec.pipeline.respiration.apnea_min_s - DURATION_TOLERANCE_S;
    let false_alarms = detected
        .iter()
        .filter(|d| d.start_s >= warm_up)
        .filter(|d| {
            !truth
                .pauses
                .iter()
                .any(|t| t.duration_s() >= min_true && t.overlaps(d))
        })
        .count();
    log::debug!(
        "{} seed {} at {} m: true pauses {:?}; reported apneas {:?}",
        spec_run.pattern.name(),
        spec_run.seed,
        spec_run.distance_m,
        truth
            .pauses
            .iter()
            .map(|p| (p.start_s, p.end_s))
            .collect::<Vec<_>>(),
        detected
            .iter()
            .map(|p| (p.start_s, p.end_s))
            .collect::<Vec<_>>()
    );
    let verdict = (readings > 0).then(|| PatternScores::from_evidence(sum).best().0);
    let _ = last_t;
    RunResult {
        spec: spec_run,
        true_rate_bpm,
        rate_errors_bpm: rate_errors,
        true_apneas: true_apneas.len(),
        unscorable_apneas: unscorable,
        unscorable_detected,
        detected_apneas,
        apnea_timing_errors_s,
        false_alarms,
        scored_s: spec.seconds - warm_up,
        verdict,
        artefacts,
        readings,
        roi_frames: 0,
        roi_on_torso: 0,
        roi_on_bystander: 0,
    }
}

/// Totals over many runs.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Rate readings scored (regular patterns).
    pub rate_readings: usize,
    /// Fraction of them within 1 breath/min of the truth.
    pub rate_within_1bpm: f64,
    /// Largest rate error, breaths/min.
    pub rate_max_error_bpm: f32,
    /// True apneas scored.
    pub apneas: usize,
    /// True apneas not scored because the person moved during them.
    pub unscorable_apneas: usize,
    /// How many of those were reported anyway.
    pub unscorable_detected: usize,
    /// Fraction detected.
    pub apnea_sensitivity: f64,
    /// Detected apneas whose start and end are both within [`TIMING_TOLERANCE_S`] of the truth.
    pub apneas_timed_within_tolerance: usize,
    /// Largest |start error| of a detected apnea, s.
    pub apnea_start_max_error_s: f64,
    /// Largest |end error| of a detected apnea, s.
    pub apnea_end_max_error_s: f64,
    /// Mean start error (signed: negative = reported early), s.
    pub apnea_start_mean_error_s: f64,
    /// Mean end error (signed), s.
    pub apnea_end_mean_error_s: f64,
    /// False alarms per 10 minutes of scored time.
    pub false_alarms_per_10min: f64,
    /// Confusion matrix of session verdicts, `[true][predicted]` in [`Pattern::ALL`] order.
    pub confusion: [[usize; 6]; 6],
}

/// Sums up run results.
pub fn summarize(results: &[RunResult]) -> Summary {
    let errs: Vec<f32> = results
        .iter()
        .flat_map(|r| r.rate_errors_bpm.iter().copied())
        .collect();
    let within = errs.iter().filter(|e| **e <= 1.0).count();
    let apneas: usize = results.iter().map(|r| r.true_apneas).sum();
    let det: usize = results.iter().map(|r| r.detected_apneas).sum();
    let fa: usize = results.iter().map(|r| r.false_alarms).sum();
    let scored_min: f64 = results.iter().map(|r| r.scored_s).sum::<f64>() / 60.0;
    let timing: Vec<(f64, f64)> = results
        .iter()
        .flat_map(|r| r.apnea_timing_errors_s.iter().copied())
        .collect();
    let mean = |f: fn(&(f64, f64)) -> f64| {
        if timing.is_empty() {
            0.0
        } else {
            timing.iter().map(f).sum::<f64>() / timing.len() as f64
        }
    };
    let mut confusion = [[0usize; 6]; 6];
    for r in results {
        if let Some(v) = r.verdict {
            confusion[r.spec.pattern.index()][v.index()] += 1;
        }
    }
    Summary {
        rate_readings: errs.len(),
        rate_within_1bpm: if errs.is_empty() {
            0.0
        } else {
            within as f64 / errs.len() as f64
        },
        rate_max_error_bpm: errs.iter().copied().fold(0.0, f32::max),
        apneas,
        unscorable_apneas: results.iter().map(|r| r.unscorable_apneas).sum(),
        unscorable_detected: results.iter().map(|r| r.unscorable_detected).sum(),
        apnea_sensitivity: if apneas == 0 {
            1.0
        } else {
            det as f64 / apneas as f64
        },
        apneas_timed_within_tolerance: timing
            .iter()
            .filter(|(s, e)| s.abs() <= TIMING_TOLERANCE_S && e.abs() <= TIMING_TOLERANCE_S)
            .count(),
        apnea_start_max_error_s: timing.iter().map(|t| t.0.abs()).fold(0.0, f64::max),
        apnea_end_max_error_s: timing.iter().map(|t| t.1.abs()).fold(0.0, f64::max),
        apnea_start_mean_error_s: mean(|t| t.0),
        apnea_end_mean_error_s: mean(|t| t.1),
        false_alarms_per_10min: if scored_min > 0.0 {
            fa as f64 * 10.0 / scored_min
        } else {
            0.0
        },
        confusion,
    }
}

/// Prints a human-readable report: one line per run, then the totals and the confusion matrix.
pub fn print_report(results: &[RunResult], s: &Summary) {
    println!(
        "{:<14} {:>4} {:>6} {:>9} {:>9} {:>8} {:>5} {:<14}",
        "pattern", "seed", "dist_m", "rate_bpm", "rate_err", "apneas", "FA", "verdict"
    );
    for r in results {
        let err = if r.rate_errors_bpm.is_empty() {
            "-".to_string()
        } else {
            format!(
                "{:.2}",
                r.rate_errors_bpm.iter().sum::<f32>() / r.rate_errors_bpm.len() as f32
            )
        };
        println!(
            "{:<14} {:>4} {:>6.2} {:>9.1} {:>9} {:>4}/{:<3} {:>5} {:<14}",
            r.spec.pattern.name(),
            r.spec.seed,
            r.spec.distance_m,
            r.true_rate_bpm,
            err,
            r.detected_apneas,
            r.true_apneas,
            r.false_alarms,
            r.verdict.map_or("-", |p| p.name()),
        );
    }
    println!();
    println!(
        "rate (regular patterns): {:.1}% of {} readings within 1 breath/min, max error {:.2}",
        100.0 * s.rate_within_1bpm,
        s.rate_readings,
        s.rate_max_error_bpm
    );
    println!(
        "apneas >= threshold: {:.1}% of {} detected, {:.2} false alarms per 10 min; not scored: {} during which the person moved ({} of them reported anyway)",
        100.0 * s.apnea_sensitivity,
        s.apneas,
        s.false_alarms_per_10min,
        s.unscorable_apneas,
        s.unscorable_detected,
    );
    println!(
        "apnea timing: {} of {} detected within {TIMING_TOLERANCE_S} s at both ends; start error mean {:+.2} s, max |{:.2}| s; end error mean {:+.2} s, max |{:.2}| s",
        s.apneas_timed_within_tolerance,
        (s.apnea_sensitivity * s.apneas as f64).round() as usize,
        s.apnea_start_mean_error_s,
        s.apnea_start_max_error_s,
        s.apnea_end_mean_error_s,
        s.apnea_end_max_error_s,
    );
    println!("session verdicts, rows = truth, columns = predicted:");
    print!("{:<14}", "");
    for p in Pattern::ALL {
        print!(" {:>8.8}", p.name());
    }
    println!();
    for t in Pattern::ALL {
        print!("{:<14}", t.name());
        for p in Pattern::ALL {
            print!(" {:>8}", s.confusion[t.index()][p.index()]);
        }
        println!();
    }
}
