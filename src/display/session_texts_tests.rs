//! Exact strings of the screening screens.

use super::*;
use crate::breathing::session::BreathingSummary;
use crate::screening::fusion::ModalityProbabilities;
use crate::types::{ApneaInterval, Pattern, PatternScores};
use crate::xray::screen::ModelRef;

fn summary(pattern: Option<Pattern>, rate: Option<f32>, quality: f32) -> BreathingSummary {
    BreathingSummary {
        pattern,
        insufficient_signal: pattern.is_none(),
        scores: PatternScores::default(),
        rate_bpm: rate,
        quality,
        apneas: vec![],
        hypopneas: vec![],
        artefacts: vec![],
        windows: 12,
    }
}

fn report(covid_probability: f32, finding: Finding) -> XrayReport {
    XrayReport {
        file: "/inbox/chest_01.png".into(),
        covid_probability: Some(covid_probability),
        finding,
        scope_reason: None,
        scope_text: None,
        threshold: 0.5,
        site_validated: true,
        model: ModelRef {
            name: "xray".into(),
            version: "1".into(),
        },
        format: "png".into(),
        heatmap: None,
    }
}

fn result(breathing: Option<BreathingSummary>, xray: Option<XrayReport>) -> SessionResult {
    let measured = breathing.as_ref().is_some_and(|b| !b.insufficient_signal);
    SessionResult {
        t_s: 80.0,
        session_id: "01J2Q8M5TZ3W7X9K4F2R4F2K9Q".into(),
        revision: 0,
        outcome: Outcome::NoConcernFound,
        refer_probability: 0.124,
        modalities: ModalityProbabilities {
            breathing: measured.then_some(0.1),
            xray: xray.as_ref().map(|_| 0.03),
        },
        breathing,
        xray,
    }
}

fn rows(r: &SessionResult) -> Vec<String> {
    result_details(r)
        .iter()
        .map(|(l, v)| format!("{l}: {v}"))
        .collect()
}

#[test]
fn waiting_invites_unless_the_camera_is_lost() {
    assert_eq!(
        waiting_text(&CameraStatus::Ok),
        (
            "Please take a seat",
            "The breathing check starts when you sit down"
        )
    );
    assert_eq!(
        waiting_text(&CameraStatus::Message("camera: 3 dropped".into())).0,
        "Please take a seat"
    );
    assert_eq!(
        waiting_text(&CameraStatus::Lost),
        ("Screening paused", "Please ask a member of staff")
    );
}

#[test]
fn progress() {
    assert_eq!(progress_text(42.7, 60.0), "Measuring... 42 s of 60 s");
    assert_eq!(progress_text(42.0, 60.0), "Measuring... 42 s of 60 s");
    assert_eq!(progress_text(-3.0, 60.0), "Measuring... 0 s of 60 s");
    assert_eq!(progress_text(75.0, 60.0), "Measuring... 60 s of 60 s");
    assert_eq!(progress_text(f64::NAN, 45.0), "Measuring... 0 s of 45 s");
    assert_eq!(progress_text(999.0, 999.0).len(), PROGRESS_CHARS);
    assert_eq!(progress_text(10.0, 0.0), "Measuring...");
    assert_eq!(progress_text(10.0, f64::INFINITY), "Measuring...");
    assert_eq!(progress_fraction(42.0, 60.0), 0.7);
    assert_eq!(progress_fraction(-1.0, 60.0), 0.0);
    assert_eq!(progress_fraction(90.0, 60.0), 1.0);
    assert_eq!(progress_fraction(5.0, 0.0), 1.0);
    assert_eq!(progress_fraction(f64::NAN, 60.0), 0.0);
    assert_eq!(progress_fraction(5.0, f64::INFINITY), 0.0);
}

#[test]
fn outcomes_in_plain_words() {
    assert_eq!(
        outcome_text(Outcome::NoConcernFound),
        (
            "No concern found",
            "This is a screening aid, not a diagnosis"
        )
    );
    assert_eq!(
        outcome_text(Outcome::ReferForClinicalAssessment),
        (
            "Please see a clinician",
            "We suggest a check by a clinician"
        )
    );
    assert_eq!(
        outcome_text(Outcome::RepeatMeasurement),
        (
            "Please repeat the measurement",
            "We could not get a clear enough reading"
        )
    );
    for o in [
        Outcome::NoConcernFound,
        Outcome::ReferForClinicalAssessment,
        Outcome::RepeatMeasurement,
    ] {
        assert!(HEADLINES.contains(&outcome_text(o).0), "{o:?}");
    }
}

#[test]
fn short_ids() {
    assert_eq!(short_id("01J2Q8M5TZ3W7X9K4F2R4F2K9Q"), "4F2K9Q");
    assert_eq!(short_id("abc"), "abc");
    assert_eq!(short_id(""), "");
    assert_eq!(short_id("x\u{e9}123456"), "123456");
    assert_eq!(short_id("\u{e9}12345"), "\u{e9}12345");
}

#[test]
fn details_of_a_measured_result_with_an_xray() {
    let mut b = summary(Some(Pattern::CheyneStokes), Some(9.84), 0.874);
    let gap = ApneaInterval {
        start_s: 20.0,
        end_s: 32.0,
    };
    b.apneas = vec![gap, gap];
    let r = result(Some(b), Some(report(0.82, Finding::Covid)));
    assert_eq!(
        rows(&r),
        vec![
            "Pattern: Cheyne-Stokes",
            "Rate: 9.8 breaths/min",
            "Quality: 87%",
            "Apneas: 2",
            "Refer p: 12%",
            "X-ray: covid 82%",
            "Session: 4F2K9Q",
        ]
    );
    let normal = report(0.07, Finding::Normal);
    assert_eq!(session_xray_text(Some(&normal)), "normal 93%");
    let advisory = XrayReport {
        site_validated: false,
        ..normal
    };
    assert_eq!(session_xray_text(Some(&advisory)), "normal 93% (advisory)");
}

#[test]
fn details_of_an_insufficient_signal_and_of_no_breathing() {
    let r = result(Some(summary(None, None, 0.12)), None);
    assert_eq!(
        rows(&r),
        vec![
            "Pattern: --",
            "Rate: --",
            "Quality: insufficient signal",
            "Apneas: 0",
            "Refer p: --",
            "X-ray: no X-ray",
            "Session: 4F2K9Q",
        ]
    );
    let r = result(None, Some(report(0.07, Finding::Normal)));
    assert_eq!(
        &rows(&r)[..6],
        [
            "Pattern: --",
            "Rate: --",
            "Quality: --",
            "Apneas: --",
            "Refer p: 12%",
            "X-ray: normal 93%"
        ]
    );
}

#[test]
fn every_string_is_ascii_and_labels_fit_their_column() {
    let r = result(Some(summary(Some(Pattern::Biots), Some(15.0), 0.9)), None);
    for (label, value) in result_details(&r) {
        assert!(label.len() < DETAIL_LABEL_CHARS, "{label}");
        assert!(value.is_ascii(), "{value}");
    }
    let lines = [
        SEAT_LINE,
        PAUSED_LINE,
        MEASURING_INSTRUCTION,
        outcome_text(Outcome::NoConcernFound).1,
        outcome_text(Outcome::ReferForClinicalAssessment).1,
        outcome_text(Outcome::RepeatMeasurement).1,
    ];
    for s in HEADLINES.iter().chain(lines.iter()) {
        assert!(s.is_ascii(), "{s}");
    }
}

#[test]
fn an_out_of_scope_xray_says_not_assessable_and_why() {
    use crate::xray::scope::ScopeReason;
    let x = XrayReport::example_out_of_scope(ScopeReason::LateralView);
    assert_eq!(session_xray_text(Some(&x)), "not assessable: lateral view");
}
