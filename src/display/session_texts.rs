//! The exact ASCII strings of the screening screens: what a visitor reads (the invitation, the
//! instruction and progress while measuring, the outcome in plain words) and the staff details of
//! a result, from the values of a [`SessionView`](crate::screening::SessionView), so that tests
//! can check them directly. No outcome is ever worded as a diagnosis.

use super::texts::{percent_text, rate_text};
use crate::pipeline::view::CameraStatus;
use crate::screening::fusion::Outcome;
use crate::screening::SessionResult;
use crate::xray::screen::{Finding, XrayReport};

/// Waiting headline: nobody is being screened.
pub const SEAT_HEADLINE: &str = "Please take a seat";
/// Waiting line under [`SEAT_HEADLINE`].
pub const SEAT_LINE: &str = "The breathing check starts when you sit down";
/// Waiting headline while the camera is lost: nobody can be screened.
pub const PAUSED_HEADLINE: &str = "Screening paused";
/// Line under [`PAUSED_HEADLINE`].
pub const PAUSED_LINE: &str = "Please ask a member of staff";
/// The visitor's instruction while measuring.
pub const MEASURING_INSTRUCTION: &str = "Please sit still and breathe normally";
/// Characters reserved for the progress text beside its bar: "Measuring... 999 s of 999 s".
pub const PROGRESS_CHARS: usize = 27;
/// Every headline a screen can show, for the layout's checks (they wrap onto at most two lines).
pub const HEADLINES: [&str; 5] = [
    SEAT_HEADLINE,
    PAUSED_HEADLINE,
    "No concern found",
    "Please see a clinician",
    "Please repeat the measurement",
];
/// Characters of the label column of the result details ("Quality " is 8).
pub const DETAIL_LABEL_CHARS: usize = 8;
/// Characters kept of a session identifier on screen (the end of a ULID, its random part).
pub const SHORT_ID_CHARS: usize = 6;

/// Headline and line under it while nobody is screened: an invitation, or "Screening paused"
/// while the camera is lost (the session state machine ends sessions then).
pub fn waiting_text(camera: &CameraStatus) -> (&'static str, &'static str) {
    match camera {
        CameraStatus::Lost => (PAUSED_HEADLINE, PAUSED_LINE),
        CameraStatus::Ok | CameraStatus::Message(_) => (SEAT_HEADLINE, SEAT_LINE),
    }
}

/// Share of the measurement done, 0..=1: `signal_s / needed_s` clamped; 1 when nothing is needed
/// (`needed_s <= 0`), 0 when either value is NaN or `needed_s` is infinite.
pub fn progress_fraction(signal_s: f64, needed_s: f64) -> f32 {
    if signal_s.is_nan() || needed_s.is_nan() || needed_s.is_infinite() {
        return 0.0;
    }
    if needed_s <= 0.0 {
        return 1.0;
    }
    (signal_s / needed_s).clamp(0.0, 1.0) as f32
}

/// Progress as drawn: "Measuring... 42 s of 60 s", whole seconds of good signal (rounded down,
/// clamped to 0..needed) of those needed (rounded); "Measuring..." alone when `needed_s` is not a
/// positive finite number.
pub fn progress_text(signal_s: f64, needed_s: f64) -> String {
    if !(needed_s.is_finite() && needed_s > 0.0) {
        return "Measuring...".to_string();
    }
    let needed = needed_s.min(99_999.0);
    let done = if signal_s.is_nan() {
        0.0
    } else {
        signal_s.clamp(0.0, needed)
    };
    format!("Measuring... {:.0} s of {:.0} s", done.floor(), needed)
}

/// The outcome in a visitor's words: a headline and the line under it.
pub fn outcome_text(outcome: Outcome) -> (&'static str, &'static str) {
    match outcome {
        Outcome::NoConcernFound => (HEADLINES[2], "This is a screening aid, not a diagnosis"),
        Outcome::ReferForClinicalAssessment => (HEADLINES[3], "We suggest a check by a clinician"),
        Outcome::RepeatMeasurement => (HEADLINES[4], "We could not get a clear enough reading"),
    }
}

/// The last [`SHORT_ID_CHARS`] characters of a session identifier (all of a shorter one).
pub fn short_id(id: &str) -> &str {
    let start = id
        .char_indices()
        .rev()
        .nth(SHORT_ID_CHARS - 1)
        .map_or(0, |(i, _)| i);
    &id[start..]
}

/// The X-ray of a result as drawn: its finding and that finding's own probability ("covid 82%",
/// "normal 93%" for a covid probability of 0.07, as on the X-ray line), with "(advisory)" when it
/// is not validated at this site and so did not count in the outcome; or "no X-ray".
pub fn session_xray_text(x: Option<&XrayReport>) -> String {
    match x {
        None => "no X-ray".to_string(),
        Some(x) => {
            let advisory = if x.site_validated { "" } else { " (advisory)" };
            match (x.finding, x.covid_probability) {
                (Finding::Covid, Some(p)) => format!("covid {}{advisory}", percent_text(p)),
                (Finding::Normal, Some(p)) => format!("normal {}{advisory}", percent_text(1.0 - p)),
                _ => format!(
                    "not assessable: {}",
                    x.scope_reason.map_or("out of scope".into(), |r| r.short())
                ),
            }
        }
    }
}

/// The staff details of a result, label and value: the breathing verdict (left column: pattern,
/// rate, quality or "insufficient signal", apnea count; "--" when breathing was not measured),
/// then the fusion (right column: referral probability, "--" when no modality gave one; the
/// session's X-ray; the short session id).
pub fn result_details(r: &SessionResult) -> [(&'static str, String); 7] {
    let b = r.breathing.as_ref();
    let dashes = || "--".to_string();
    let pattern = b
        .and_then(|b| b.pattern)
        .map_or_else(dashes, |p| p.label().to_string());
    let rate = b
        .and_then(|b| b.rate_bpm)
        .map_or_else(dashes, |v| format!("{} breaths/min", rate_text(Some(v))));
    let quality = match b {
        None => dashes(),
        Some(b) if b.insufficient_signal => "insufficient signal".to_string(),
        Some(b) => percent_text(b.quality),
    };
    let apneas = b.map_or_else(dashes, |b| b.apneas.len().to_string());
    // With no modality behind it the fused probability is a bare 0: nothing was measured.
    let m = &r.modalities;
    let refer = if m.breathing.is_none() && m.xray.is_none() {
        dashes()
    } else {
        percent_text(r.refer_probability)
    };
    [
        ("Pattern", pattern),
        ("Rate", rate),
        ("Quality", quality),
        ("Apneas", apneas),
        ("Refer p", refer),
        ("X-ray", session_xray_text(r.xray.as_ref())),
        ("Session", short_id(&r.session_id).to_string()),
    ]
}

#[cfg(test)]
#[path = "session_texts_tests.rs"]
mod tests;
