//! Every branch of the fusion rule, with one modality missing and with both.

use super::*;
use crate::types::{ApneaInterval, PatternScores};

fn breathing(eupnea: f32, apnea: bool) -> BreathingSummary {
    let rest = (1.0 - eupnea) / 5.0;
    let mut s = [rest; 6];
    s[Pattern::Eupnea.index()] = eupnea;
    BreathingSummary {
        pattern: Some(PatternScores(s).best().0),
        insufficient_signal: false,
        scores: PatternScores(s),
        rate_bpm: Some(15.0),
        quality: 0.9,
        apneas: if apnea {
            vec![ApneaInterval {
                start_s: 40.0,
                end_s: 52.0,
            }]
        } else {
            Vec::new()
        },
        hypopneas: Vec::new(),
        artefacts: Vec::new(),
        windows: 16,
    }
}

fn insufficient() -> BreathingSummary {
    BreathingSummary {
        pattern: None,
        insufficient_signal: true,
        rate_bpm: None,
        quality: 0.1,
        ..breathing(1.0 / 6.0, false)
    }
}

/// The referral probability of an assessed X-ray.
fn xprob(x: &XrayReport) -> f32 {
    xray_probability(x).expect("an assessed X-ray has a probability")
}

fn xray(p: f32) -> XrayReport {
    XrayReport::example(p)
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-5
}

#[test]
fn confident_eupnea_alone_finds_no_concern() {
    let f = fuse(Some(&breathing(0.95, false)), None);
    assert_eq!(f.outcome, Outcome::NoConcernFound);
    assert!(close(f.refer_probability, 0.05), "{f:?}");
    assert_eq!(f.modalities.xray, None);
}

#[test]
fn an_abnormal_pattern_alone_refers() {
    let f = fuse(Some(&breathing(0.2, false)), None);
    assert_eq!(f.outcome, Outcome::ReferForClinicalAssessment);
    assert!(close(f.refer_probability, 0.8), "{f:?}");
}

#[test]
fn a_measured_apnea_refers_whatever_the_pattern_scores() {
    let f = fuse(Some(&breathing(0.99, true)), None);
    assert_eq!(f.outcome, Outcome::ReferForClinicalAssessment);
    assert!(close(f.refer_probability, 1.0), "{f:?}");
}

#[test]
fn insufficient_breathing_alone_asks_for_a_repeat() {
    let f = fuse(Some(&insufficient()), None);
    assert_eq!(f.outcome, Outcome::RepeatMeasurement);
    assert_eq!(f.refer_probability, 0.0);
    assert_eq!(f.modalities, ModalityProbabilities::default());
}

#[test]
fn no_modality_at_all_asks_for_a_repeat() {
    let f = fuse(None, None);
    assert_eq!(f.outcome, Outcome::RepeatMeasurement);
    assert_eq!(f.refer_probability, 0.0);
}

#[test]
fn the_xray_operating_threshold_maps_to_the_referral_threshold() {
    assert!(close(xprob(&xray(0.08)), REFER_AT));
    assert!(close(xprob(&xray(0.0)), 0.0));
    assert!(close(xprob(&xray(1.0)), 1.0));
    // Odds scaled by (1 - 0.08) / 0.08 = 11.5: p = 0.02 → 0.23/1.21.
    assert!(close(xprob(&xray(0.02)), 0.23 / 1.21));
    let mut last = -1.0;
    for i in 0..=100 {
        let p = xprob(&xray(i as f32 / 100.0));
        assert!(p > last, "monotone at {i}");
        last = p;
    }
}

#[test]
fn a_positive_xray_refers_even_without_usable_breathing() {
    for b in [None, Some(insufficient())] {
        let f = fuse(b.as_ref(), Some(&xray(0.3)));
        assert_eq!(f.outcome, Outcome::ReferForClinicalAssessment, "{f:?}");
        assert!(f.refer_probability > 0.8, "{f:?}");
    }
}

#[test]
fn a_negative_xray_without_usable_breathing_asks_for_a_repeat() {
    for b in [None, Some(insufficient())] {
        let f = fuse(b.as_ref(), Some(&xray(0.01)));
        assert_eq!(f.outcome, Outcome::RepeatMeasurement, "{f:?}");
        assert_eq!(f.modalities.breathing, None);
    }
}

#[test]
fn a_negative_xray_and_normal_breathing_find_no_concern() {
    let f = fuse(Some(&breathing(0.95, false)), Some(&xray(0.01)));
    assert_eq!(f.outcome, Outcome::NoConcernFound);
    let (b, x) = (0.05, xprob(&xray(0.01)));
    assert!(
        close(f.refer_probability, 1.0 - (1.0 - b) * (1.0 - x)),
        "{f:?}"
    );
}

#[test]
fn two_moderate_findings_together_refer_though_neither_does_alone() {
    // Breathing 0.3; an X-ray at p = 0.036 is 0.3 after the prior shift (odds 0.0373 × 11.5).
    let b = breathing(0.7, false);
    let x = xray(0.036);
    let xp = xprob(&x);
    assert!((xp - 0.3).abs() < 0.01, "{xp}");
    assert_eq!(fuse(Some(&b), None).outcome, Outcome::NoConcernFound);
    assert_eq!(fuse(None, Some(&x)).outcome, Outcome::RepeatMeasurement);
    let f = fuse(Some(&b), Some(&x));
    assert_eq!(f.outcome, Outcome::ReferForClinicalAssessment, "{f:?}");
    assert!(close(f.refer_probability, 1.0 - 0.7 * (1.0 - xp)));
}

/// An X-ray with covid probability `p` from a kiosk without a site calibration.
fn advisory_xray(p: f32) -> XrayReport {
    XrayReport {
        site_validated: false,
        ..xray(p)
    }
}

#[test]
fn an_xray_not_validated_at_the_site_is_reported_but_moves_nothing() {
    // 0.3 refers on its own when validated (see above); advisory, it leaves breathing's verdict.
    let f = fuse(Some(&breathing(0.95, false)), Some(&advisory_xray(0.3)));
    assert_eq!(f.outcome, Outcome::NoConcernFound);
    assert!(close(f.refer_probability, 0.05), "{f:?}");
    let reported = f
        .modalities
        .xray
        .expect("the advisory X-ray is still reported");
    assert!(
        close(reported, xray_probability(&xray(0.3)).unwrap()),
        "{f:?}"
    );
    assert!(reported > REFER_AT);
}

#[test]
fn an_advisory_xray_alone_cannot_refer_or_vouch_for_the_person() {
    for p in [0.01, 0.9] {
        let f = fuse(None, Some(&advisory_xray(p)));
        assert_eq!(f.outcome, Outcome::RepeatMeasurement, "p {p}: {f:?}");
        assert_eq!(f.refer_probability, 0.0, "p {p}: {f:?}");
    }
    // Breathing that refers still refers beside an advisory normal X-ray.
    let f = fuse(Some(&breathing(0.2, false)), Some(&advisory_xray(0.01)));
    assert_eq!(f.outcome, Outcome::ReferForClinicalAssessment);
    assert!(close(f.refer_probability, 0.8), "{f:?}");
}

#[test]
fn an_out_of_scope_xray_contributes_no_probability() {
    use crate::xray::scope::ScopeReason;
    let x = XrayReport::example_out_of_scope(ScopeReason::Rotated);
    assert_eq!(xray_probability(&x), None);
    // Alone: nothing vouches for the person, and nothing refers.
    let f = fuse(None, Some(&x));
    assert_eq!(f.outcome, Outcome::RepeatMeasurement, "{f:?}");
    assert_eq!((f.refer_probability, f.modalities.xray), (0.0, None));
    // With breathing: exactly the breathing result.
    let b = breathing(0.7, false);
    assert_eq!(fuse(Some(&b), Some(&x)), fuse(Some(&b), None));
}
