//! The conditions of a real kiosk (issue 16 item 3) on the simulated camera: image size, frame
//! rate, distance, seat shifts, missing depth (random dropout, dark clothing), a person leaving
//! while the next one sits down, a second person behind or beside the seated one, talking and
//! coughing (their `.bag` recordings are in `tests/conditions_bag.rs`). Each condition is a full run RSM → simulated camera → pipeline
//! (every frame processed, the kiosk's own classifier) scored against the simulator's truth with
//! `tools::eval`; each test prints a table (`--nocapture`) and asserts the rate error, the pattern
//! verdict and the apnea detection with stated tolerances. The README's "Conditions" table is
//! these numbers.
//!
//! Where resolution is not the point the runs use 424x240; a condition is two people (a regular
//! pattern for the rate, central apnea for pauses and a non-regular verdict), one seed, 150 s.

use edge_screen::camera::simulated::SimCameraSettings;
use edge_screen::config::Settings;
use edge_screen::tools::eval::{run_all, EvalSpec, RunResult};
use edge_screen::types::Pattern;

/// Length of each run, s: the 60 s warm-up of the first analysis window, then 90 s scored.
const SECONDS: f64 = 150.0;

/// Largest mean rate error of a regular pattern's readings, breaths/min (the kiosk's target,
/// as in `tests/accuracy.rs`).
const RATE_TOLERANCE_BPM: f32 = 1.0;

/// One condition's results.
struct Condition {
    label: String,
    seconds: f64,
    results: Vec<RunResult>,
}

fn settings() -> Settings {
    Settings::embedded().expect("the embedded configuration loads")
}

/// The kiosk's camera at 424x240 and 30 fps (change what the condition changes).
fn base_camera(s: &Settings) -> SimCameraSettings {
    SimCameraSettings {
        width: 424,
        height: 240,
        fps: 30.0,
        ..s.camera.sim.clone()
    }
}

/// Runs `patterns` under `camera` at `distance_m`, seed 1, with the configured classifier.
fn run_condition(
    label: &str,
    s: &Settings,
    camera: SimCameraSettings,
    distance_m: f64,
    patterns: &[Pattern],
    seconds: f64,
) -> Condition {
    let spec = EvalSpec {
        patterns: patterns.to_vec(),
        seeds: 1,
        distances: vec![distance_m],
        seconds,
        camera,
        pipeline: s.pipeline.clone(),
        classifier: s.classifier.clone(),
    };
    let results = run_all(&spec).unwrap_or_else(|e| panic!("{label}: {e}"));
    Condition {
        label: label.to_string(),
        seconds,
        results,
    }
}

fn mean(v: &[f32]) -> Option<f32> {
    (!v.is_empty()).then(|| v.iter().sum::<f32>() / v.len() as f32)
}

fn print_table(title: &str, conditions: &[Condition]) {
    println!("\n{title}");
    println!(
        "{:<14} {:<14} {:>8} {:>9} {:>9} {:>7} {:>3} {:>6} {:<14}",
        "condition",
        "pattern",
        "true_bpm",
        "mean_err",
        "max_err",
        "apneas",
        "FA",
        "artef",
        "verdict"
    );
    for c in conditions {
        for r in &c.results {
            let fmt = |v: Option<f32>| v.map_or("-".to_string(), |e| format!("{e:.2}"));
            let max = r.rate_errors_bpm.iter().copied().reduce(f32::max);
            println!(
                "{:<14} {:<14} {:>8.1} {:>9} {:>9} {:>3}/{:<3} {:>3} {:>6} {:<14}",
                c.label,
                r.spec.pattern.name(),
                r.true_rate_bpm,
                fmt(mean(&r.rate_errors_bpm)),
                fmt(max),
                r.detected_apneas,
                r.true_apneas,
                r.false_alarms,
                r.artefacts.iter().max().copied().unwrap_or(0),
                r.verdict.map_or("-", |p| p.name()),
            );
        }
    }
}

/// Still breathing with nothing but the camera's own noise and holes: no reading's window holds a
/// movement artefact (`artef` in the table: the most in any reading's window).
fn assert_no_artefacts(c: &Condition) {
    for r in &c.results {
        let most = r.artefacts.iter().max().copied().unwrap_or(0);
        assert_eq!(most, 0, "{} {}: artefacts", c.label, r.spec.pattern.name());
    }
}

/// The checks every condition must pass: the regular pattern's rate within
/// [`RATE_TOLERANCE_BPM`] on average over at least `min_readings` readings, every verdict right,
/// every scored apnea found and no false alarm. A reading comes every update interval once the
/// first window is full; at least 80% of them must carry a rate (none is given while the body
/// moves, e.g. during a seat shift).
fn assert_survives(c: &Condition, s: &Settings) {
    let r = &s.pipeline.respiration;
    let full = ((c.seconds - r.window_s) / r.update_interval_s).floor();
    let min_readings = (0.8 * full).ceil() as usize;
    for r in &c.results {
        let what = format!("{} {}", c.label, r.spec.pattern.name());
        assert_eq!(r.verdict, Some(r.spec.pattern), "{what}: verdict");
        if r.spec.pattern.is_regular() {
            assert!(
                r.rate_errors_bpm.len() >= min_readings,
                "{what}: only {} rate readings",
                r.rate_errors_bpm.len()
            );
            let m = mean(&r.rate_errors_bpm).unwrap_or(f32::INFINITY);
            assert!(m <= RATE_TOLERANCE_BPM, "{what}: mean rate error {m:.2}");
        } else {
            assert!(r.true_apneas >= 1, "{what}: no apnea in the scored span");
            assert_eq!(r.detected_apneas, r.true_apneas, "{what}: apneas detected");
        }
        assert_eq!(r.false_alarms, 0, "{what}: false apnea alarms");
    }
}

#[test]
fn image_sizes_from_424x240_to_1280x720() {
    let s = settings();
    let mut conditions = Vec::new();
    for (w, h) in [(424, 240), (640, 480), (848, 480), (1280, 720)] {
        let camera = SimCameraSettings {
            width: w,
            height: h,
            ..base_camera(&s)
        };
        // 1280x720 costs five 424x240 runs: 130 s gives its first five full-window readings.
        let seconds = if w == 1280 { 130.0 } else { SECONDS };
        conditions.push(run_condition(
            &format!("{w}x{h}"),
            &s,
            camera,
            1.1,
            &[Pattern::Eupnea, Pattern::CentralApnea],
            seconds,
        ));
    }
    print_table("image size (1.1 m, 30 fps)", &conditions);
    for c in &conditions {
        assert_survives(c, &s);
        assert_no_artefacts(c);
    }
}

#[test]
fn frame_rates_from_6_to_60_fps() {
    let s = settings();
    let conditions: Vec<Condition> = [6.0, 15.0, 30.0, 60.0]
        .into_iter()
        .map(|fps| {
            let camera = SimCameraSettings {
                fps,
                ..base_camera(&s)
            };
            run_condition(
                &format!("{fps} fps"),
                &s,
                camera,
                1.1,
                &[Pattern::Eupnea, Pattern::CentralApnea],
                SECONDS,
            )
        })
        .collect();
    print_table("frame rate (424x240, 1.1 m)", &conditions);
    for c in &conditions {
        assert_survives(c, &s);
        assert_no_artefacts(c);
    }
}

#[test]
fn distances_from_half_a_metre_to_two_metres() {
    let s = settings();
    // At 2 m the chest is a quarter of the pixels it is at 1 m; at 424x240 that is too few (mean
    // rate error 1.4 /min and two false apnea alarms, see the README), so 2 m runs at the kiosk's
    // 848x480.
    let conditions: Vec<Condition> = [0.5, 1.0, 1.5, 2.0]
        .into_iter()
        .map(|d| {
            let (width, height) = if d >= 2.0 { (848, 480) } else { (424, 240) };
            let camera = SimCameraSettings {
                width,
                height,
                ..base_camera(&s)
            };
            run_condition(
                &format!("{d} m {width}x{height}"),
                &s,
                camera,
                d,
                &[Pattern::Eupnea, Pattern::CentralApnea],
                SECONDS,
            )
        })
        .collect();
    print_table("distance (30 fps)", &conditions);
    for c in &conditions {
        assert_survives(c, &s);
        assert_no_artefacts(c);
    }
}

#[test]
fn seat_shifts_depth_dropout_and_dark_clothing() {
    let s = settings();
    // Seat shifts: up to 60 mm sideways and 25 mm in depth every 30-90 s, on top of the RSM's
    // sway and motion artefacts. Dropout: 20% of the pixels invalid in every frame, besides the
    // scene's holes and stereo shadow (random, a new draw every frame).
    let shifts = SimCameraSettings {
        seat_shifts: true,
        ..base_camera(&s)
    };
    let dropout = SimCameraSettings {
        invalid_fraction: 0.2,
        ..base_camera(&s)
    };
    // Dark clothing: 10% of the torso without depth, in blobs fixed on the clothing. This is
    // what the chest finding survives; at 15% (this seed) the rate is lost and apneas are
    // invented, at 30% nobody is found at all (see the README).
    let dark = SimCameraSettings {
        clothing_holes: 0.1,
        ..base_camera(&s)
    };
    let patterns = [Pattern::Eupnea, Pattern::CentralApnea];
    let conditions = vec![
        run_condition(
            "seat shifts",
            &s,
            shifts.clone(),
            1.1,
            &[Pattern::Eupnea],
            SECONDS,
        ),
        // Eupnea over 300 s meets four or five shifts: each is found as a body shift and the
        // level after it moved back (see the README).
        run_condition(
            "shifts 300 s",
            &s,
            shifts.clone(),
            1.1,
            &[Pattern::Eupnea],
            2.0 * SECONDS,
        ),
        // Twice as long: an apnea that a shift interrupts is not scored (the body moved), and
        // in 150 s the only one is.
        run_condition(
            "seat shifts",
            &s,
            shifts,
            1.1,
            &[Pattern::CentralApnea],
            2.0 * SECONDS,
        ),
        run_condition("20% dropout", &s, dropout, 1.1, &patterns, SECONDS),
        run_condition("dark clothing", &s, dark, 1.1, &patterns, SECONDS),
    ];
    print_table(
        "movement and missing depth (424x240, 30 fps, 1.1 m)",
        &conditions,
    );
    for c in &conditions {
        assert_survives(c, &s);
    }
}

#[test]
fn a_person_leaves_and_the_next_sits_down() {
    use edge_screen::camera::visits::{parse_visits, VisitQueue};
    use edge_screen::camera::FrameSource;
    use edge_screen::pipeline::{Input, Pipeline};
    use edge_screen::screening::{ids::Counter, Event};
    use edge_screen::types::DepthFrame;

    let s = settings();
    // Six seconds between the two: one more than a person must be away for the session to end.
    let visits = parse_visits("empty:5,bradypnea:100,empty:6,tachypnea:100,empty:8").unwrap();
    let mut queue = VisitQueue::new(base_camera(&s), visits, 1, true).expect("queue");
    let schedule = queue.schedule().to_vec();
    let classifier = edge_screen::breathing::build_classifier(&s.classifier).expect("classifier");
    let mut pipeline = Pipeline::new(&s.pipeline, classifier, Box::new(Counter::new("c")));
    let mut frame = DepthFrame::new(0, 0, 0.001);
    let mut events = Vec::new();
    for _ in 0..queue.frame_count() {
        queue.read_frame(&mut frame).expect("frame");
        pipeline.push(Input::Frame(&frame), &mut events);
    }
    let started: Vec<(f64, &str)> = events
        .iter()
        .filter_map(|e| match e {
            Event::SessionStarted { t_s, session_id } => Some((*t_s, session_id.as_str())),
            _ => None,
        })
        .collect();
    let results: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::SessionResult(r) => Some(r.as_ref()),
            _ => None,
        })
        .collect();
    let ended = events
        .iter()
        .filter(|e| matches!(e, Event::SessionEnded { .. }))
        .count();
    assert_eq!((started.len(), results.len(), ended), (2, 2, 2));
    println!("\nperson leaving, another sitting down (424x240, 30 fps, 1.1 m)");
    println!("visit          true_bpm  rate_bpm  error  verdict        started_s  result_s");
    // Each session's verdict and rate are its own person's, within 1 /min (tachypnea 1.5 /min,
    // as in tests/sessions.rs), and the session lies within that person's visit.
    let people = schedule.iter().filter(|v| v.subject.is_some());
    for ((visit, (t0, id)), r) in people.zip(&started).zip(&results) {
        let truth = visit.rate_bpm().expect("a person");
        let pattern = visit.visit.pattern().expect("a person");
        let b = r.breathing.as_ref().expect("measured");
        let rate = b.rate_bpm.expect("a rate");
        println!(
            "{:<14} {:>8.1} {:>9.1} {:>6.2}  {:<14} {:>9.1} {:>9.1}",
            pattern.name(),
            truth,
            rate,
            rate - truth,
            b.pattern.map_or("-", |p| p.name()),
            t0,
            r.t_s
        );
        assert_eq!(r.session_id, *id);
        assert_eq!(b.pattern, Some(pattern), "{r:?}");
        let tol = if pattern == Pattern::Tachypnea {
            1.5
        } else {
            1.0
        };
        assert!((rate - truth).abs() <= tol, "{pattern}: {rate} vs {truth}");
        assert!((t0 - visit.start_s).abs() < 1.5, "started at {t0}");
        assert!(
            r.t_s > visit.start_s && r.t_s < visit.end_s,
            "result at {}",
            r.t_s
        );
    }
}

// ---- A second person, talking and coughing (issue 16 item 3) ----------------------------------

/// Smallest share of the frames with a chest ROI whose ROI lies inside the seated person's torso
/// box when a second person is in view.
const ROI_ON_TORSO_SHARE: f64 = 0.99;

fn print_roi(conditions: &[Condition]) {
    println!(
        "{:<14} {:<14} {:>10} {:>9} {:>12}",
        "condition", "pattern", "roi_frames", "on_torso", "on_bystander"
    );
    for c in conditions {
        for r in &c.results {
            println!(
                "{:<14} {:<14} {:>10} {:>9} {:>12}",
                c.label,
                r.spec.pattern.name(),
                r.roi_frames,
                r.roi_on_torso,
                r.roi_on_bystander
            );
        }
    }
}

#[test]
fn a_second_person_behind_or_beside_does_not_take_over_the_chest() {
    use edge_screen::camera::simulated::Bystander;
    let s = settings();
    // Behind: 0.8 m behind, walking slowly (0.1 m/s) back and forth over ±0.5 m, so that they
    // pass behind the seated person and out beside them. Beside: at about the same
    // distance, 0.95 m to the right at the image's edge (partly out of it), swaying and shuffling ±0.15 m. Both
    // breathe at 22/min, so a chest ROI on them would show in the rate.
    let behind = SimCameraSettings {
        bystander: Some(Bystander::behind(1.1)),
        ..base_camera(&s)
    };
    let beside = SimCameraSettings {
        bystander: Some(Bystander::beside(1.1)),
        ..base_camera(&s)
    };
    // Close beside: nearer the camera than the seated person (1.0 m) and only 0.6 m to the side,
    // their torso from 0.4 m right of the seated person's centre, well inside the image.
    let close = SimCameraSettings {
        bystander: Some(Bystander {
            distance_m: 1.0,
            offset_m: 0.6,
            walk_m: 0.1,
            walk_speed_m_s: 0.05,
            rate_bpm: 22.0,
        }),
        ..base_camera(&s)
    };
    let patterns = [Pattern::Eupnea, Pattern::CentralApnea];
    let conditions = vec![
        run_condition("person behind", &s, behind, 1.1, &patterns, SECONDS),
        run_condition("person beside", &s, beside, 1.1, &patterns, SECONDS),
        run_condition("close beside", &s, close, 1.1, &patterns, SECONDS),
    ];
    print_table("a second person (424x240, 30 fps, 1.1 m)", &conditions);
    print_roi(&conditions);
    for c in &conditions {
        assert_survives(c, &s);
        for r in &c.results {
            let what = format!("{} {}", c.label, r.spec.pattern.name());
            let frames = (SECONDS * 30.0) as usize;
            assert!(
                r.roi_frames >= frames * 9 / 10,
                "{what}: ROI in {} frames",
                r.roi_frames
            );
            let share = r.roi_on_torso as f64 / r.roi_frames as f64;
            assert!(
                share >= ROI_ON_TORSO_SHARE,
                "{what}: ROI on the torso in {share:.3}"
            );
            assert_eq!(r.roi_on_bystander, 0, "{what}: ROI on the second person");
        }
    }
}

/// Talking: speech vibration (3-8 Hz bursts of 1-3 mm) and speech breathing (phrases of 2-5 s,
/// a quick 2-4 mm inhalation and a slow exhalation) on top of the breathing, for 40 s of the run
/// (70-90 s and 110-130 s) and for all of it; coughing: five coughs of 10 mm (a 13 mm drop within
/// 0.1 s and a 3 mm lean toward the camera) 15 s apart. The model is in `camera/speech.rs`.
#[test]
fn talking_and_coughing() {
    let s = settings();
    let talking = SimCameraSettings {
        talking: vec![(70.0, 90.0), (110.0, 130.0)],
        ..base_camera(&s)
    };
    let coughs = SimCameraSettings {
        coughs: vec![70.0, 85.0, 100.0, 115.0, 130.0],
        cough_mm: 10.0,
        ..base_camera(&s)
    };
    let throughout = SimCameraSettings {
        talking: vec![(0.0, SECONDS)],
        ..base_camera(&s)
    };
    let patterns = [Pattern::Eupnea, Pattern::CentralApnea];
    let conditions = vec![
        run_condition("talking", &s, talking, 1.1, &patterns, SECONDS),
        run_condition("coughing", &s, coughs, 1.1, &patterns, SECONDS),
        run_condition("talking all", &s, throughout, 1.1, &patterns, SECONDS),
    ];
    print_table("talking and coughing (424x240, 30 fps, 1.1 m)", &conditions);
    print_roi(&conditions);
    // Talking for 40 s of the 150 and five coughs survive as any other condition.
    for c in &conditions[..2] {
        assert_survives(c, &s);
    }
    // Each cough is marked once as a movement artefact: the last reading's window (30-150 s)
    // holds all five, and no window ever holds more.
    for r in &conditions[1].results {
        let what = format!("coughing {}", r.spec.pattern.name());
        assert_eq!(r.artefacts.last(), Some(&5), "{what}: {:?}", r.artefacts);
        assert!(
            r.artefacts.iter().all(|&k| k <= 5),
            "{what}: {:?}",
            r.artefacts
        );
    }
    // Talking all the time: the rate survives and nothing is invented, but a central apnea
    // talked through is no pause in the chest's movement (it is missed and the verdict is
    // eupnea; see the README): only the eupnea subject is held to the rate and verdict.
    let all = &conditions[2];
    for r in &all.results {
        assert_eq!(r.false_alarms, 0, "talking all {}", r.spec.pattern.name());
    }
    let eupnea = Condition {
        label: all.label.clone(),
        seconds: all.seconds,
        results: all
            .results
            .iter()
            .filter(|r| r.spec.pattern == Pattern::Eupnea)
            .cloned()
            .collect(),
    };
    assert_survives(&eupnea, &s);
    for c in &conditions {
        for r in &c.results {
            let what = format!("{} {}", c.label, r.spec.pattern.name());
            let share = r.roi_on_torso as f64 / r.roi_frames.max(1) as f64;
            assert!(
                share >= ROI_ON_TORSO_SHARE,
                "{what}: ROI on the torso in {share:.3}"
            );
        }
    }
}

// ---- The chest turned away from the camera (the plane measure) ------------------------------
//
// A person sitting at an angle: the torso turned about the vertical axis by 0, 30 and 50 degrees
// (`torso_yaw_deg`), breathing along the turned chest's normal. Checked:
// - amplitude: the chest tracker's displacement regressed on the simulator's true breathing
//   displacement (mid-chest, along the chest's normal) over 40 s without sway gives a gain, printed
//   for each angle beside the gain of the mean depth of the same ROI (the measure before the
//   plane). Facing the camera the two must agree within [`FACING_GAIN_TOLERANCE`]. Turned, both
//   lose amplitude (see the README: the ROI is centred on the torso's silhouette, which on a
//   turned torso lies toward its near side, where the chest moves less); that is printed, not
//   asserted;
// - the whole chain (eupnea for the rate, central apnea for the pauses) as every condition above.

/// How far the plane measure's gain may be from the mean depth's facing the camera.
const FACING_GAIN_TOLERANCE: f64 = 0.05;

/// Least-squares slope of `y` on `x`.
fn slope(pairs: &[(f64, f64)]) -> f64 {
    let n = pairs.len() as f64;
    let (mx, my) = pairs
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (sxy, sxx) = pairs.iter().fold((0.0, 0.0), |(a, b), (x, y)| {
        (a + (x - mx) * (y - my), b + (x - mx) * (x - mx))
    });
    sxy / sxx
}

/// Gains (the plane measure; the mean depth, `along_normal` off) of the chest turned `yaw_deg`,
/// over 40 s of eupnea at 1.1 m without sway, after a 2 s warm-up; and how many ROIs were used.
fn turned_gains(s: &Settings, yaw_deg: f32) -> (f64, f64, usize) {
    use edge_screen::camera::simulated::SimCamera;
    use edge_screen::camera::FrameSource;
    use edge_screen::respiration::roi::{ChestSettings, ChestTracker};
    use edge_screen::rsm::Rsm;
    use edge_screen::types::DepthFrame;

    let camera = SimCameraSettings {
        torso_yaw_deg: yaw_deg,
        sway: false,
        ..base_camera(s)
    };
    let params = edge_screen::rsm::io::params_for(Pattern::Eupnea, None, 1).expect("params");
    let mut cam = SimCamera::new(camera, Rsm::new(params, 1), 1).expect("camera");
    let mut plane_tracker = ChestTracker::new(s.pipeline.chest.clone());
    let mut depth_tracker = ChestTracker::new(ChestSettings {
        along_normal: false,
        ..s.pipeline.chest.clone()
    });
    let mut frame = DepthFrame::new(0, 0, 0.001);
    let (mut plane, mut depth) = (Vec::new(), Vec::new());
    let mut rois = std::collections::HashSet::new();
    for _ in 0..(40.0 * cam.fps()) as usize {
        cam.read_frame(&mut frame).expect("frame");
        let (p, d) = (plane_tracker.process(&frame), depth_tracker.process(&frame));
        let truth = f64::from(cam.last_frame_truth().chest_mm);
        if frame.timestamp_s < 2.0 {
            continue;
        }
        if let (Some(disp), Some(roi)) = (p.displacement_mm, p.roi) {
            rois.insert((roi.x0, roi.y0, roi.x1, roi.y1));
            plane.push((truth, f64::from(disp)));
        }
        if let Some(disp) = d.displacement_mm {
            depth.push((truth, f64::from(disp)));
        }
    }
    assert!(
        plane.len() >= 1000 && depth.len() >= 1000,
        "yaw {yaw_deg}: {} / {} samples",
        plane.len(),
        depth.len()
    );
    (slope(&plane), slope(&depth), rois.len())
}

#[test]
fn chest_turned_0_30_50_degrees_keeps_its_breath_amplitude_and_rate() {
    let s = settings();
    let angles = [0.0f32, 30.0, 50.0];
    let gains: Vec<(f64, f64, usize)> = angles.iter().map(|&a| turned_gains(&s, a)).collect();
    let (plane0, depth0, _) = gains[0];
    println!("\nchest turned (424x240, 30 fps, 1.1 m, no sway): gain = measured / true mm");
    println!("yaw_deg  plane_gain  rel_to_0  depth_gain  rel_to_0  1/cos  rois");
    for (&a, &(p, d, rois)) in angles.iter().zip(&gains) {
        let inv_cos = 1.0 / f64::from(a).to_radians().cos();
        println!(
            "{a:>7.0} {p:>11.3} {:>9.3} {d:>11.3} {:>9.3} {inv_cos:>6.3} {rois:>5}",
            p / plane0,
            d / depth0
        );
    }
    // Facing the camera the plane measure reads what the depth did.
    assert!(
        (plane0 / depth0 - 1.0).abs() <= FACING_GAIN_TOLERANCE,
        "facing: plane {plane0:.3} depth {depth0:.3}"
    );
    let patterns = [Pattern::Eupnea, Pattern::CentralApnea];
    let conditions: Vec<Condition> = angles
        .iter()
        .map(|&a| {
            let camera = SimCameraSettings {
                torso_yaw_deg: a,
                ..base_camera(&s)
            };
            run_condition(&format!("turned {a}°"), &s, camera, 1.1, &patterns, SECONDS)
        })
        .collect();
    print_table("chest turned (424x240, 30 fps, 1.1 m)", &conditions);
    for c in &conditions {
        assert_survives(c, &s);
    }
}
