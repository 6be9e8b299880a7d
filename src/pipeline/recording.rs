//! A whole breathing recording (`edge-screen breathing`, a CSV in any units) through the kiosk's
//! own stages: [`normalise()`] it, feed it at the fixed rate to the live [`BreathAnalyzer`] on a
//! recording's [`Schedule`], read every window with the classifier ([`read_window`]) and combine
//! them with the same [`SessionVerdict`] as a kiosk session.
//!
//! Differences from a live session, both because the whole recording is known in advance: the
//! filters are settled on the first [`LEAD_IN_S`] played backwards (a mirror image continues the
//! signal smoothly, so the first window carries no start-up transient), and the windows are full
//! `window_s` windows at a hop of at least 10 s plus the final one (one window over the whole
//! recording when it is shorter than `window_s`).

use crate::breathing::session::{BreathingSummary, SessionVerdict};
use crate::breathing::{read_window, PatternClassifier};
use crate::respiration::breaths::interval_cv;
use crate::respiration::{normalise, AnalysisError, BreathAnalyzer, RespirationSettings};
use crate::respiration::{Schedule, Step};

/// Length of the mirrored lead-in that settles the filters before the first sample, s.
pub const LEAD_IN_S: f64 = 60.0;

/// The verdict on a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingAnalysis {
    /// The breathing verdict (the rule of [`crate::breathing::session`]); times in s from the
    /// first sample.
    pub breathing: BreathingSummary,
    /// Whether the signal was flipped (inspiration was downward).
    pub polarity_inverted: bool,
    /// Each analysed window's rate (end of the window s, breaths/min or `None` when the window gave
    /// none), in time order.
    pub window_rates: Vec<(f64, Option<f32>)>,
    /// Breath-to-breath variability: the median over the windows of the coefficient of variation
    /// of the intervals between consecutive breaths (pauses left out); `None` when no window had
    /// three intervals.
    pub breath_interval_cv: Option<f32>,
}

/// Analyse a uniformly sampled recording (`hz` must equal `settings.resample_hz`; any units, offset
/// and polarity) with `classifier`. Errors on a bad rate, non-finite samples, fewer than 60 s, or a
/// constant signal; never panics.
pub fn analyze_series(
    samples: &[f32],
    hz: f64,
    settings: &RespirationSettings,
    classifier: &mut dyn PatternClassifier,
) -> Result<RecordingAnalysis, AnalysisError> {
    analyze_series_with_gaps(samples, &[], hz, settings, classifier)
}

/// [`analyze_series`] with each sample's validity (`valid`, the same length as `samples`, or empty
/// when all are valid): invalid samples (a recording's holes, [`crate::recording::valid_mask`])
/// are fed to the analyser as no signal, so a stretch without signal is never taken for a pause
/// in breathing and lowers the quality by its share.
pub fn analyze_series_with_gaps(
    samples: &[f32],
    valid: &[bool],
    hz: f64,
    settings: &RespirationSettings,
    classifier: &mut dyn PatternClassifier,
) -> Result<RecordingAnalysis, AnalysisError> {
    let n = normalise(samples, hz, settings)?;
    let x = &n.samples;
    let mut analyzer = BreathAnalyzer::new(settings, Schedule::recording(settings, x.len()));
    let lead = x.len().min((LEAD_IN_S * hz).round() as usize);
    let lead_in: Vec<f32> = x[..lead].iter().rev().copied().collect();
    analyzer.warm_up(&lead_in);
    let mut verdict = SessionVerdict::new(settings.apnea_min_s);
    let mut window_rates = Vec::new();
    let mut cvs = Vec::new();
    let mut on = |step: Step<'_>| {
        if let Step::Window(w) = step {
            let reading = read_window(classifier, &w);
            verdict.add(&reading, &w);
            window_rates.push((w.t_end_s, w.rate_bpm));
            cvs.extend(interval_cv(w.breaths, w.apnea_min_s));
        }
    };
    for (i, v) in x.iter().enumerate() {
        let seen = valid.get(i).copied().unwrap_or(true);
        analyzer.push_fixed(i as f64 / hz, seen.then_some(*v), &mut on);
    }
    analyzer.finish(&mut on);
    cvs.sort_by(f32::total_cmp);
    Ok(RecordingAnalysis {
        breathing: verdict.summary(),
        polarity_inverted: n.polarity_inverted,
        window_rates,
        breath_interval_cv: cvs.get(cvs.len() / 2).copied(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breathing::baseline::RuleBaseline;
    use crate::rsm::{Rsm, RsmParams};
    use crate::types::Pattern;

    #[test]
    fn inverted_scaled_offset_rsm_gives_the_same_verdict() {
        let s = RespirationSettings::default();
        let rec = Rsm::new(RsmParams::typical(Pattern::CentralApnea), 4).sample(10.0, 300.0);
        let a = analyze_series(&rec.resp_mm, 10.0, &s, &mut RuleBaseline).expect("ok");
        // A depth-camera distance in metres: falls on inhalation, offset 1.1 m.
        let dist: Vec<f32> = rec.resp_mm.iter().map(|v| 1.1 - v / 1000.0).collect();
        let b = analyze_series(&dist, 10.0, &s, &mut RuleBaseline).expect("ok");
        assert!(!a.polarity_inverted && b.polarity_inverted);
        let (a, b) = (a.breathing, b.breathing);
        assert_eq!(a.pattern, Some(Pattern::CentralApnea));
        assert_eq!(b.pattern, a.pattern);
        assert_eq!(a.apneas.len(), b.apneas.len());
        let truth: Vec<_> = rec
            .truth
            .apneas
            .iter()
            .filter(|x| x.duration_s() >= 10.0)
            .collect();
        assert!(!truth.is_empty());
        for t in truth {
            assert!(b.apneas.iter().any(|d| d.overlaps(t)), "missed {t:?}");
        }
        let (ra, rb) = (a.rate_bpm.unwrap_or(0.0), b.rate_bpm.unwrap_or(-9.0));
        assert!((ra - rb).abs() < 0.2, "{ra} vs {rb}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Arbitrary samples (NaN, infinities, huge values, constants) and rates never panic, and a
        /// result is always well-formed.
        #[test]
        fn never_panics(
            v in proptest::collection::vec(proptest::num::f32::ANY, 0..1400),
            hz in proptest::num::f64::ANY,
            fill in proptest::bool::ANY,
        ) {
            let s = RespirationSettings::default();
            let v = if fill { v.iter().map(|x| x.clamp(-1e6, 1e6)).map(|x| if x.is_nan() { 0.0 } else { x }).collect() } else { v };
            for rate in [hz, 10.0] {
                if let Ok(r) = analyze_series(&v, rate, &s, &mut RuleBaseline) {
                    let sum: f32 = r.breathing.scores.0.iter().sum();
                    proptest::prop_assert!((sum - 1.0).abs() < 1e-4);
                    proptest::prop_assert!((0.0..=1.0).contains(&r.breathing.quality));
                }
            }
        }
    }

    #[test]
    fn short_recording_is_analysed_as_one_window() {
        let s = RespirationSettings::default();
        let rec = Rsm::new(RsmParams::typical(Pattern::Tachypnea), 2).sample(10.0, 70.0);
        let a = analyze_series(&rec.resp_mm, 10.0, &s, &mut RuleBaseline).expect("ok");
        assert_eq!(a.breathing.windows, 1);
        assert_eq!(a.breathing.pattern, Some(Pattern::Tachypnea));
        let want = rec.truth.mean_rate_bpm(0.0, 70.0).unwrap_or(0.0);
        let got = a.breathing.rate_bpm.unwrap_or(0.0);
        assert!((got - want).abs() < 1.0, "{got} vs {want}");
    }
}
