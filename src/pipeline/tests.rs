//! The pipeline driven frame by frame by the simulated camera, with X-ray and camera messages.

use super::*;
use crate::breathing::baseline::RuleBaseline;
use crate::camera::simulated::{SimCamera, SimCameraSettings};
use crate::camera::FrameSource;
use crate::screening::ids::Counter;
use crate::screening::{Outcome, SessionView};
use crate::types::Pattern;

fn settings() -> PipelineSettings {
    let respiration = RespirationSettings::default();
    PipelineSettings {
        chest: ChestSettings::default(),
        session: SessionSettings {
            min_signal_s: 60.0,
            max_measure_s: 180.0,
            quality_gate: 0.3,
            absence_s: 5.0,
            apnea_min_s: respiration.apnea_min_s,
        },
        respiration,
    }
}

fn pipeline() -> Pipeline {
    Pipeline::new(
        &settings(),
        Box::new(RuleBaseline),
        Box::new(Counter::new("t")),
    )
}

/// A small, fast simulated camera with a person present from `present_from_s`.
fn camera(pattern: Pattern, present_from_s: f64) -> SimCamera {
    let params = crate::rsm::io::params_for(pattern, None, 3).expect("params");
    let cam = SimCameraSettings {
        width: 212,
        height: 120,
        fps: 15.0,
        absent: vec![(0.0, present_from_s)],
        ..SimCameraSettings::default()
    };
    SimCamera::new(cam, crate::rsm::Rsm::new(params, 3), 3).expect("camera")
}

fn run(p: &mut Pipeline, cam: &mut SimCamera, until_s: f64, out: &mut Vec<Event>) {
    let mut frame = DepthFrame::new(0, 0, 0.001);
    while p.t_s() < until_s {
        cam.read_frame(&mut frame).expect("frame");
        p.push(Input::Frame(&frame), out);
    }
}

fn xray(p: f32) -> XrayReport {
    XrayReport::example(p)
}

#[test]
fn a_seated_person_gets_a_session_result_with_the_xray_sent_during_it() {
    let mut p = pipeline();
    let mut cam = camera(Pattern::Eupnea, 2.0);
    let mut out = Vec::new();
    run(&mut p, &mut cam, 20.0, &mut out);
    let kinds: Vec<&str> = out.iter().map(Event::kind).collect();
    assert_eq!(kinds, ["person", "session_started"]);
    assert!(matches!(p.view().session, SessionView::Measuring { .. }));
    p.push(
        Input::Message(Message::Xray {
            report: xray(0.01),
            session_id: None,
            moved_to: None,
        }),
        &mut out,
    );
    match out.last() {
        Some(Event::Xray { session_id, .. }) => assert_eq!(session_id.as_deref(), Some("t-000001")),
        other => panic!("{other:?}"),
    }
    run(&mut p, &mut cam, 70.0, &mut out);
    let results: Vec<&crate::screening::SessionResult> = out
        .iter()
        .filter_map(|e| match e {
            Event::SessionResult(r) => Some(r.as_ref()),
            _ => None,
        })
        .collect();
    assert_eq!(
        results.len(),
        1,
        "{:?}",
        out.iter().map(Event::kind).collect::<Vec<_>>()
    );
    let r = results[0];
    // Seated at about 2 s, 60 s of good signal: the result about a minute later.
    assert!((60.0..66.0).contains(&r.t_s), "{}", r.t_s);
    assert_eq!(r.outcome, Outcome::NoConcernFound, "{r:?}");
    assert_eq!(
        r.xray.as_ref().and_then(|x| x.covid_probability),
        Some(0.01)
    );
    let b = r.breathing.as_ref().expect("breathing");
    assert_eq!(b.pattern, Some(Pattern::Eupnea));
    assert!(
        matches!(&p.view().session, SessionView::Result(shown) if shown.session_id == "t-000001")
    );
    assert!(out.iter().filter(|e| e.kind() == "breathing").count() >= 15);
}

#[test]
fn losing_the_camera_ends_the_session_and_is_shown() {
    let mut p = pipeline();
    let mut cam = camera(Pattern::Tachypnea, 0.0);
    let mut out = Vec::new();
    run(&mut p, &mut cam, 10.0, &mut out);
    out.clear();
    p.push(
        Input::Message(Message::Camera {
            status: CameraState::Lost,
            message: "unplugged".into(),
        }),
        &mut out,
    );
    let kinds: Vec<&str> = out.iter().map(Event::kind).collect();
    assert_eq!(kinds, ["camera", "session_ended"]);
    assert!(matches!(
        out[1],
        Event::SessionEnded {
            reason: EndReason::CameraLost,
            ..
        }
    ));
    assert_eq!(p.view().camera, CameraStatus::Lost);
    assert_eq!(p.view().session, SessionView::Waiting);
    p.idle(12.5);
    assert_eq!(p.view().elapsed_s, 12.5);
}

#[test]
fn finishing_ends_the_open_session_as_shutdown() {
    let mut p = pipeline();
    let mut cam = camera(Pattern::Eupnea, 0.0);
    let mut out = Vec::new();
    run(&mut p, &mut cam, 5.0, &mut out);
    out.clear();
    p.finish(EndReason::Shutdown, &mut out);
    assert!(matches!(
        out.as_slice(),
        [Event::SessionEnded {
            reason: EndReason::Shutdown,
            ..
        }]
    ));
    out.clear();
    p.finish(EndReason::Shutdown, &mut out);
    assert!(out.is_empty(), "nothing left to end");
}
