//! The one rule that turns a session's measurements into its outcome.
//!
//! 1. Each modality gives a calibrated probability that the person should be referred:
//!    - **breathing**: `1 − score(eupnea)`, the session's mean probability of an abnormal pattern;
//!      a measured apnea (a pause of at least the apnea threshold) makes it 1. No probability when
//!      the signal was insufficient.
//!    - **X-ray**: the calibrated COVID-19 probability `p`, moved to the kiosk's operating point by
//!      a change of prior: its odds are scaled so that the operating threshold in force `t` (the
//!      site threshold of a site calibration, else the model's own) maps to [`REFER_AT`]
//!      (`p' = p·k / (p·k + 1 − p)` with `k = (1 − t) / t`). A film at exactly that threshold is
//!      thus a 50 % case, as an abnormal pattern is for breathing.
//!      An X-ray out of scope (`finding` `out_of_scope`, see `xray::scope`) gives no probability.
//!    - An X-ray that is not validated at this site (`site_validated` false: no site calibration
//!      for this model, see [`crate::xray::site`]) is **advisory only**: its probability is
//!      reported in `modalities.xray` but takes no part in steps 2 and 3.
//! 2. The probabilities of the modalities that count (breathing, and a site-validated X-ray in
//!    scope) are combined by noisy-OR: `refer_probability = 1 − Π (1 − pᵢ)`: the person should be
//!    referred unless every modality independently finds no reason to.
//! 3. The outcome: `refer_for_clinical_assessment` when `refer_probability ≥ REFER_AT`; otherwise
//!    `repeat_measurement` when breathing is missing or insufficient (nothing vouches for the
//!    person); otherwise `no_concern_found`.
//!
//! The outcome is a screening aid, never a diagnosis: "no concern found" is not "healthy".

use crate::breathing::session::BreathingSummary;
use crate::types::Pattern;
use crate::xray::screen::XrayReport;
use serde::Serialize;

/// The referral threshold on the fused probability.
pub const REFER_AT: f32 = 0.5;

/// What the kiosk tells the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing measured gives a reason to refer (not a diagnosis of health).
    NoConcernFound,
    /// The measurements suggest the person should see a clinician.
    ReferForClinicalAssessment,
    /// The measurement was not good enough to say either; measure again.
    RepeatMeasurement,
}

impl Outcome {
    /// The snake_case name used in events.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::NoConcernFound => "no_concern_found",
            Outcome::ReferForClinicalAssessment => "refer_for_clinical_assessment",
            Outcome::RepeatMeasurement => "repeat_measurement",
        }
    }
}

/// Each modality's referral probability (`None`: not available).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ModalityProbabilities {
    /// From breathing; `None` when not measured or insufficient.
    pub breathing: Option<f32>,
    /// From the chest X-ray; `None` when there is none. Reported even when the X-ray is advisory
    /// only (not site-validated) and so not part of the fused probability.
    pub xray: Option<f32>,
}

/// The fused result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Fusion {
    /// What the kiosk says.
    pub outcome: Outcome,
    /// The noisy-OR of the probabilities of the modalities that count (0 when none does).
    pub refer_probability: f32,
    /// The inputs to the noisy-OR.
    pub modalities: ModalityProbabilities,
}

/// Breathing's referral probability, by the rule in the module doc.
pub fn breathing_probability(b: &BreathingSummary) -> Option<f32> {
    if b.insufficient_signal {
        return None;
    }
    if !b.apneas.is_empty() {
        return Some(1.0);
    }
    Some((1.0 - b.scores.get(Pattern::Eupnea)).clamp(0.0, 1.0))
}

/// The X-ray's referral probability, by the rule in the module doc; `None` for an image out of
/// scope (it contributes nothing).
pub fn xray_probability(x: &XrayReport) -> Option<f32> {
    let p = f64::from(x.covid_probability?).clamp(0.0, 1.0);
    let t = f64::from(x.threshold).clamp(1e-6, 1.0 - 1e-6);
    let k = (1.0 - t) / t * f64::from(REFER_AT) / (1.0 - f64::from(REFER_AT));
    Some((p * k / (p * k + 1.0 - p)) as f32)
}

/// The outcome of a session from what it measured.
pub fn fuse(breathing: Option<&BreathingSummary>, xray: Option<&XrayReport>) -> Fusion {
    let modalities = ModalityProbabilities {
        breathing: breathing.and_then(breathing_probability),
        xray: xray.and_then(xray_probability),
    };
    // An X-ray not validated at this site is reported but does not move the outcome.
    let counted_xray = xray.filter(|x| x.site_validated).and(modalities.xray);
    let keep = [modalities.breathing, counted_xray];
    let refer_probability = 1.0 - keep.iter().flatten().map(|p| 1.0 - p).product::<f32>();
    let outcome = if refer_probability >= REFER_AT {
        Outcome::ReferForClinicalAssessment
    } else if modalities.breathing.is_none() {
        Outcome::RepeatMeasurement
    } else {
        Outcome::NoConcernFound
    };
    Fusion {
        outcome,
        refer_probability,
        modalities,
    }
}

#[cfg(test)]
#[path = "fusion_tests.rs"]
mod tests;
