//! Unit tests of the visit queue: spec parsing and its errors, the frame timeline across visits,
//! the subjects drawn per visit, determinism and what the frames show.

use super::*;
use crate::types::Roi;

const EXAMPLE: &str = "empty:20,eupnea@15:100,empty:20,tachypnea@30:100,empty:10";

/// A small, fast camera: 212x120 at 10 fps.
fn small() -> SimCameraSettings {
    SimCameraSettings {
        width: 212,
        height: 120,
        fps: 10.0,
        ..SimCameraSettings::default()
    }
}

fn queue(spec: &str, seed: u64) -> VisitQueue {
    let visits = parse_visits(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
    VisitQueue::new(small(), visits, seed, true).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

fn next(q: &mut VisitQueue, f: &mut DepthFrame) {
    if let Err(e) = q.read_frame(f) {
        panic!("frame {}: {e}", q.next);
    }
}

#[test]
fn parses_the_example_and_round_trips() {
    let v = parse_visits(EXAMPLE).unwrap_or_default();
    let person = |pattern, rate_bpm, seconds| Visit::Person {
        pattern,
        rate_bpm,
        seconds,
    };
    let expected = vec![
        Visit::Empty { seconds: 20.0 },
        person(Pattern::Eupnea, Some(15.0), 100.0),
        Visit::Empty { seconds: 20.0 },
        person(Pattern::Tachypnea, Some(30.0), 100.0),
        Visit::Empty { seconds: 10.0 },
    ];
    assert_eq!(v, expected);
    let text: Vec<String> = v.iter().map(Visit::to_string).collect();
    assert_eq!(text.join(","), EXAMPLE);
    let spaced = " empty : 20 , eupnea @ 15 :100,\tempty:20 ,tachypnea@30:100, EMPTY:10 ";
    assert_eq!(parse_visits(spaced).ok(), Some(expected));
    let other = parse_visits("cheyne-stokes:60.5,central_apnea@14:90,biots:30").unwrap_or_default();
    assert_eq!(
        other.first().and_then(Visit::pattern),
        Some(Pattern::CheyneStokes)
    );
    assert_eq!(other.first().map(Visit::seconds), Some(60.5));
    let text: Vec<String> = other.iter().map(Visit::to_string).collect();
    assert_eq!(
        text.join(","),
        "cheyne_stokes:60.5,central_apnea@14:90,biots:30"
    );
    assert_eq!(
        "bradypnea@8:5".parse::<Visit>().ok(),
        Some(person(Pattern::Bradypnea, Some(8.0), 5.0))
    );
}

#[test]
fn errors_name_the_item_and_the_problem() {
    // (spec, text that must appear in the message)
    let cases = [
        (
            "empty:20,eupnoea:10",
            "visit 2 `eupnoea:10`: unknown pattern `eupnoea`",
        ),
        ("eupnea:10,empty", "visit 2 `empty`: missing `:SECONDS`"),
        (
            "eupnea:ten",
            "visit 1 `eupnea:ten`: seconds `ten` is not a finite number",
        ),
        ("eupnea:nan", "visit 1 `eupnea:nan`: seconds `nan` is not"),
        ("empty:inf", "visit 1 `empty:inf`: seconds `inf` is not"),
        (
            "eupnea:0.5",
            "visit 1 `eupnea:0.5`: seconds 0.5 is outside 1-86400",
        ),
        (
            "empty:1,empty:86401",
            "visit 2 `empty:86401`: seconds 86401 is outside 1-86400",
        ),
        (
            "eupnea@fast:10",
            "visit 1 `eupnea@fast:10`: rate `fast` is not a finite number",
        ),
        ("eupnea@:10", "visit 1 `eupnea@:10`: rate `` is not"),
        ("bradypnea@3:10", "rate 3 breaths/min is outside 4-60"),
        ("tachypnea@61:10", "rate 61 breaths/min is outside 4-60"),
        (
            "empty:5,eupnea@30:10",
            "visit 2 `eupnea@30:10`: rate 30 breaths/min is outside eupnea's range 12-20",
        ),
        (
            "empty@12:10",
            "visit 1 `empty@12:10`: `empty` takes no `@RATE`",
        ),
        ("empty:5,,empty:5", "visit 2 ``: the item is empty"),
        ("empty:5,", "visit 2 ``: the item is empty"),
        ("", "visit spec is empty"),
        (" \t ", "visit spec is empty"),
    ];
    for (spec, want) in cases {
        let msg = parse_visits(spec).map(|_| ()).err().map(|e| e.to_string());
        let msg = msg.unwrap_or_else(|| panic!("accepted {spec:?}"));
        assert!(msg.contains(want), "{spec:?}: {msg}");
    }
    let long = vec!["empty:1"; 1001].join(",");
    assert_eq!(parse_visits(&long), Err(VisitSpecError::TooManyItems(1001)));
    assert_eq!(parse_visits(&long[8..]).map(|v| v.len()).ok(), Some(1000));
}

#[test]
fn new_rejects_bad_visits_and_settings() {
    let msg =
        |r: Result<VisitQueue, VisitQueueError>| r.err().map(|e| e.to_string()).unwrap_or_default();
    let bad = vec![Visit::Empty { seconds: 5.0 }, Visit::Empty { seconds: 0.0 }];
    assert!(msg(VisitQueue::new(small(), bad, 1, true)).contains("visit 2 `empty:0`"));
    assert!(msg(VisitQueue::new(small(), Vec::new(), 1, true)).contains("empty"));
    let narrow = SimCameraSettings {
        width: 10,
        ..small()
    };
    let ok = vec![Visit::Empty { seconds: 5.0 }];
    assert!(msg(VisitQueue::new(narrow, ok, 1, true)).contains("width"));
}

#[test]
fn timeline_is_continuous_and_presence_follows_the_visits() {
    let mut q = queue("empty:2,eupnea@15:3,empty:1,tachypnea@30:2", 7);
    assert_eq!(q.frame_count(), 80);
    assert_eq!(
        q.describe(),
        "simulated 212x120@10 queue of 4 visits (2 people) seed 7"
    );
    let mut f = DepthFrame::new(1, 1, 0.001);
    let mut visits_seen = Vec::new();
    for k in 0..80u64 {
        next(&mut q, &mut f);
        assert_eq!((f.seq, f.width, f.height), (k, 212, 120));
        assert!(
            (f.timestamp_s - k as f64 * 0.1).abs() < 1e-9,
            "frame {k} at {}",
            f.timestamp_s
        );
        let truth = q
            .last_frame_truth()
            .unwrap_or_else(|| panic!("no truth at {k}"));
        let v = q
            .schedule()
            .get(truth.visit)
            .cloned()
            .unwrap_or_else(|| panic!("visit {}", truth.visit));
        assert!(
            v.start_s <= f.timestamp_s && f.timestamp_s < v.end_s,
            "frame {k} in {v:?}"
        );
        assert_eq!(truth.frame.present, v.subject.is_some(), "frame {k}");
        // The visit's own clock restarts at 0 on its first frame.
        assert!((truth.frame.t_s - (k - v.first_frame) as f64 * 0.1).abs() < 1e-9);
        if visits_seen.last() != Some(&truth.visit) {
            visits_seen.push(truth.visit);
        }
    }
    assert_eq!(visits_seen, [0, 1, 2, 3]);
    let firsts: Vec<u64> = q.schedule().iter().map(|v| v.first_frame).collect();
    assert_eq!(firsts, [0, 20, 50, 60]);
    for _ in 0..2 {
        assert!(matches!(
            q.read_frame(&mut f),
            Err(CameraError::EndOfStream)
        ));
    }
    assert!(
        q.camera().is_none(),
        "the last camera is dropped at the end"
    );
    assert_eq!(q.end_reason(), "end_of_visits");
}

#[test]
fn visit_boundaries_off_the_frame_grid() {
    // 1.05 s at 10 fps: boundaries fall between frames; each frame still has exactly one visit.
    let mut q = queue("eupnea:1.05,empty:1.05,biots:1.05", 3);
    let total = q.frame_count();
    assert_eq!(
        total,
        (0..100u64)
            .filter(|&k| (k as f64 / 10.0) < q.duration_s())
            .count() as u64
    );
    let mut f = DepthFrame::new(1, 1, 0.001);
    for k in 0..total {
        next(&mut q, &mut f);
        let t = k as f64 / 10.0;
        let owner: Vec<usize> = (0..3)
            .filter(|&i| {
                q.schedule()
                    .get(i)
                    .is_some_and(|v| v.start_s <= t && t < v.end_s)
            })
            .collect();
        assert_eq!(
            owner,
            [q.last_frame_truth().map_or(9, |x| x.visit)],
            "frame {k}"
        );
    }
    assert!(q.read_frame(&mut f).is_err());
}

#[test]
fn subjects_follow_the_requested_rates_and_seeds() {
    let q = queue(
        "eupnea@13.5:5,empty:5,tachypnea@33:5,bradypnea:5,eupnea:5",
        40,
    );
    let s = q.schedule();
    let seeds: Vec<u64> = s.iter().map(|v| v.seed).collect();
    assert_eq!(seeds, [40, 41, 42, 43, 44]);
    let rates: Vec<Option<f32>> = s.iter().map(ScheduledVisit::rate_bpm).collect();
    // Requested rates exactly; default rates as `params_for` draws them for the visit's seed.
    let drawn = |p, seed| params_for(p, None, seed).map(|p| p.rate_bpm).ok();
    let want = [
        Some(13.5),
        None,
        Some(33.0),
        drawn(Pattern::Bradypnea, 43),
        drawn(Pattern::Eupnea, 44),
    ];
    assert_eq!(rates, want);
    assert!(rates.iter().flatten().all(|r| r.is_finite()));
    // Same pattern, different visits: different subjects.
    assert_ne!(
        s.first()
            .and_then(|v| v.subject.clone())
            .map(|p| p.depth_mm),
        s.get(4).and_then(|v| v.subject.clone()).map(|p| p.depth_mm)
    );
    let still = VisitQueue::new(
        small(),
        parse_visits("bradypnea:5").unwrap_or_default(),
        43,
        false,
    );
    let p = still
        .ok()
        .and_then(|q| q.schedule().first().and_then(|v| v.subject.clone()));
    assert_eq!(p.map(|p| p.artefacts_per_min), Some(0.0));
}

fn frames(spec: &str, seed: u64, n: usize) -> Vec<Vec<u16>> {
    let mut q = queue(spec, seed);
    let mut f = DepthFrame::new(1, 1, 0.001);
    (0..n)
        .map(|_| {
            next(&mut q, &mut f);
            f.data.clone()
        })
        .collect()
}

#[test]
fn same_seed_same_frames_and_visit_zero_is_the_single_subject() {
    let spec = "eupnea:2,empty:1,biots@20:2";
    let a = frames(spec, 9, 50);
    assert!(a == frames(spec, 9, 50), "same seed gave different frames");
    assert!(
        a != frames(spec, 10, 50),
        "another seed gave the same frames"
    );
    // Visit 0 is the subject `--pattern eupnea --seed 9` simulates (as `commands::camera::sim_person` builds it).
    let params = params_for(Pattern::Eupnea, None, 9).unwrap_or_else(|e| panic!("{e}"));
    let mut cam = SimCamera::new(small(), Rsm::new(params, 9), 9).unwrap_or_else(|e| panic!("{e}"));
    let mut f = DepthFrame::new(1, 1, 0.001);
    for (k, qf) in a.iter().take(20).enumerate() {
        next_single(&mut cam, &mut f);
        assert!(&f.data == qf, "frame {k} differs from the single subject");
    }
}

fn next_single(cam: &mut SimCamera, f: &mut DepthFrame) {
    if let Err(e) = cam.read_frame(f) {
        panic!("{e}");
    }
}

/// Median of the non-zero raw values in `b`, mm at a 1 mm depth unit.
fn median_in(f: &DepthFrame, b: Roi) -> f32 {
    let mut v: Vec<u16> = (b.y0..b.y1)
        .flat_map(|y| (b.x0..b.x1).filter_map(move |x| f.get(x, y)))
        .filter(|&r| r > 0)
        .collect();
    v.sort_unstable();
    v.get(v.len() / 2).map_or(0.0, |&r| f32::from(r))
}

#[test]
fn the_chest_is_there_only_during_a_person_visit() {
    let mut q = queue("eupnea:1,empty:1", 5);
    let mut f = DepthFrame::new(1, 1, 0.001);
    next(&mut q, &mut f);
    let torso = q
        .camera()
        .map(SimCamera::torso_box)
        .unwrap_or_else(|| panic!("no camera"));
    // Subject at 1.1 m (±100 mm for breathing, sway and the torso's own shape), wall at 3 m.
    let person = median_in(&f, torso);
    assert!(
        (person - 1100.0).abs() < 100.0,
        "person frame: torso median {person} mm"
    );
    for _ in 0..10 {
        next(&mut q, &mut f);
    }
    assert_eq!(
        q.last_frame_truth().map(|t| (t.visit, t.frame.present)),
        Some((1, false))
    );
    let empty = median_in(&f, torso);
    assert!(empty > 2500.0, "empty frame: torso median {empty} mm");
}
