//! The session state machine driven by hand: presence per frame, windows every 2 s, X-rays.

use super::*;
use crate::screening::ids::Counter;
use crate::screening::Outcome;
use crate::types::{Pattern, PatternScores};

const HZ: f64 = 10.0;

fn settings() -> SessionSettings {
    SessionSettings {
        min_signal_s: 60.0,
        max_measure_s: 180.0,
        quality_gate: 0.3,
        absence_s: 5.0,
        apnea_min_s: 10.0,
    }
}

fn sessions() -> Sessions {
    Sessions::new(settings(), Box::new(Counter::new("s")))
}

/// A kiosk's stream: frames at 10 fps with presence, and a window every 2 s once 30 s of signal
/// are held since the person (re)appeared.
struct Stream {
    s: Sessions,
    out: Vec<Event>,
    t: f64,
    held_since: Option<f64>,
    next_window: f64,
    samples: Vec<f32>,
    quality: f32,
    eupnea: f32,
}

impl Stream {
    fn new() -> Self {
        Self {
            s: sessions(),
            out: Vec::new(),
            t: 0.0,
            held_since: None,
            next_window: 0.0,
            samples: vec![0.0; 1200],
            quality: 0.9,
            eupnea: 0.95,
        }
    }

    /// Run until `to_s` with the person `present` or not.
    fn run(&mut self, to_s: f64, present: bool) {
        while self.t < to_s - 1e-9 {
            self.s.on_presence(self.t, present, &mut self.out);
            if !present {
                self.held_since = None;
            } else {
                let since = *self.held_since.get_or_insert(self.t);
                if self.t - since >= 30.0 - 1e-9 && self.t >= self.next_window - 1e-9 {
                    self.next_window = self.t + 2.0;
                    self.window(since);
                }
            }
            self.t = ((self.t + 0.1) * HZ).round() / HZ;
        }
    }

    fn window(&mut self, since: f64) {
        let len = (((self.t - since).min(120.0)) * HZ).round() as usize;
        let w = BreathWindow {
            hz: HZ,
            t_end_s: self.t,
            samples: &self.samples[..len],
            breaths: &[],
            pauses: &[],
            hypopneas: &[],
            artefacts: &[],
            apnea_min_s: 10.0,
            spectral_rate_bpm: Some(15.0),
            spectral_prominence: 0.8,
            count_rate_bpm: Some(15.0),
            rate_bpm: Some(15.0),
            quality: self.quality,
            amplitude: 6.0,
            unseen_s: 0.0,
        };
        let rest = (1.0 - self.eupnea) / 5.0;
        let mut sc = [rest; 6];
        sc[Pattern::Eupnea.index()] = self.eupnea;
        let r = BreathingReading {
            t_s: self.t,
            rate_bpm: w.rate_bpm,
            spectral_rate_bpm: w.spectral_rate_bpm,
            count_rate_bpm: w.count_rate_bpm,
            pattern: Pattern::Eupnea,
            scores: PatternScores(sc),
            quality: self.quality,
            artefacts: 0,
            classifier: "test",
        };
        self.s.on_reading(&r, &w, &mut self.out);
    }

    fn kinds(&self) -> Vec<&'static str> {
        self.out.iter().map(Event::kind).collect()
    }

    fn results(&self) -> Vec<&SessionResult> {
        self.out
            .iter()
            .filter_map(|e| match e {
                Event::SessionResult(r) => Some(r.as_ref()),
                _ => None,
            })
            .collect()
    }

    fn ended(&self) -> Vec<(f64, EndReason, f64)> {
        self.out
            .iter()
            .filter_map(|e| match e {
                Event::SessionEnded {
                    t_s,
                    reason,
                    seated_s,
                    ..
                } => Some((*t_s, *reason, *seated_s)),
                _ => None,
            })
            .collect()
    }
}

fn xray(p: f32) -> XrayReport {
    XrayReport::example(p)
}

#[test]
fn a_visit_gives_one_start_one_result_and_one_left() {
    let mut st = Stream::new();
    st.run(10.0, false);
    assert_eq!(st.s.view(), SessionView::Waiting);
    st.run(100.0, true);
    st.run(110.0, false);
    assert_eq!(
        st.kinds(),
        ["session_started", "session_result", "session_ended"]
    );
    let r = st.results()[0];
    // First window at 40 s covers 30 s; then 2 s per window: 60 s of signal at 70 s.
    assert!((r.t_s - 70.0).abs() < 1e-6, "{}", r.t_s);
    assert_eq!((r.session_id.as_str(), r.revision), ("s-000001", 0));
    assert_eq!(r.outcome, Outcome::NoConcernFound);
    let b = r.breathing.as_ref().expect("breathing verdict");
    assert_eq!((b.pattern, b.windows), (Some(Pattern::Eupnea), 16));
    assert_eq!(b.rate_bpm, Some(15.0));
    let (t, reason, seated) = st.ended()[0];
    assert_eq!(reason, EndReason::Left);
    assert!(
        (t - 105.0).abs() < 1e-6 && (seated - 90.0).abs() < 1e-6,
        "{t} {seated}"
    );
    assert_eq!(st.s.view(), SessionView::Waiting);
}

#[test]
fn a_short_occlusion_keeps_the_session_and_a_new_person_gets_a_new_one() {
    let mut st = Stream::new();
    st.run(50.0, true);
    st.run(53.0, false);
    st.run(130.0, true);
    assert_eq!(st.kinds(), ["session_started", "session_result"]);
    // The analysis restarted after the occlusion: 20 s before it, 30 s at 83 s, then 2 s a window.
    assert!(
        (st.results()[0].t_s - 83.0).abs() < 1e-6,
        "{}",
        st.results()[0].t_s
    );
    st.run(140.0, false);
    st.run(150.0, true);
    assert_eq!(
        st.kinds(),
        [
            "session_started",
            "session_result",
            "session_ended",
            "session_started"
        ]
    );
    assert_eq!(st.s.open_id(), Some("s-000002"));
}

#[test]
fn leaving_before_the_result_ends_the_session_early_without_a_result() {
    let mut st = Stream::new();
    st.run(2.0, false);
    st.run(32.0, true);
    match st.s.view() {
        SessionView::Measuring {
            signal_s, needed_s, ..
        } => assert_eq!((signal_s, needed_s), (0.0, 60.0)),
        other => panic!("{other:?}"),
    }
    st.run(40.0, false);
    assert_eq!(st.kinds(), ["session_started", "session_ended"]);
    let (t, reason, seated) = st.ended()[0];
    assert_eq!(reason, EndReason::LeftEarly);
    assert!((t - 37.0).abs() < 1e-6 && (seated - 30.0).abs() < 1e-6);
}

#[test]
fn poor_signal_gives_a_repeat_after_the_longest_measurement() {
    let mut st = Stream::new();
    st.quality = 0.1;
    st.run(200.0, true);
    let r = st.results();
    assert_eq!(r.len(), 1);
    assert!((r[0].t_s - 180.0).abs() < 1e-6, "{}", r[0].t_s);
    assert_eq!(r[0].outcome, Outcome::RepeatMeasurement);
    assert!(r[0]
        .breathing
        .as_ref()
        .is_some_and(|b| b.insufficient_signal));
}

#[test]
fn an_abnormal_pattern_refers() {
    let mut st = Stream::new();
    st.eupnea = 0.1;
    st.run(80.0, true);
    assert_eq!(st.results()[0].outcome, Outcome::ReferForClinicalAssessment);
}

#[test]
fn xrays_join_the_open_session_before_or_after_its_result() {
    let mut st = Stream::new();
    st.run(20.0, true);
    let joined = st.s.on_xray(st.t, &xray(0.01), None, &mut st.out);
    assert_eq!(joined.as_deref(), Some("s-000001"));
    st.run(80.0, true);
    let r = st.results()[0].clone();
    assert_eq!(
        r.xray.as_ref().and_then(|x| x.covid_probability),
        Some(0.01)
    );
    assert_eq!(r.outcome, Outcome::NoConcernFound);
    // A second film after the result: a new revision, now referring.
    st.s.on_xray(st.t, &xray(0.5), None, &mut st.out);
    let r = st.results()[1].clone();
    assert_eq!(
        (r.revision, r.outcome),
        (1, Outcome::ReferForClinicalAssessment)
    );
    assert_eq!(r.breathing, st.results()[0].breathing);
    match st.s.view() {
        SessionView::Result(shown) => assert_eq!(shown.revision, 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_late_xray_updates_a_closed_session_by_id() {
    let mut st = Stream::new();
    st.run(100.0, true);
    st.run(110.0, false);
    // Nobody is seated: an X-ray without a session joins nothing.
    assert_eq!(st.s.on_xray(st.t, &xray(0.5), None, &mut st.out), None);
    assert_eq!(
        st.s.on_xray(st.t, &xray(0.5), Some("nope"), &mut st.out),
        None
    );
    assert_eq!(st.results().len(), 1);
    let joined =
        st.s.on_xray(st.t, &xray(0.5), Some("s-000001"), &mut st.out);
    assert_eq!(joined.as_deref(), Some("s-000001"));
    let r = st.results()[1].clone();
    assert_eq!(
        (r.revision, r.outcome),
        (1, Outcome::ReferForClinicalAssessment)
    );
    assert!(r.breathing.is_some());
    // A session that ended early has no breathing verdict: the X-ray alone decides.
    st.run(115.0, true);
    st.run(125.0, false);
    st.s.on_xray(st.t, &xray(0.01), Some("s-000002"), &mut st.out);
    let r = st.results()[2].clone();
    assert_eq!((r.revision, r.outcome), (0, Outcome::RepeatMeasurement));
    assert!(r.breathing.is_none());
}

#[test]
fn shutdown_and_camera_loss_end_the_open_session() {
    let mut st = Stream::new();
    st.run(20.0, true);
    st.s.end(st.t, EndReason::CameraLost, &mut st.out);
    st.s.end(st.t, EndReason::Shutdown, &mut st.out);
    assert_eq!(st.ended().len(), 1, "only the open session ends");
    assert_eq!(st.ended()[0].1, EndReason::CameraLost);
}
