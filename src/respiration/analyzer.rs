//! Live breathing analysis: camera-rate displacement samples in, readings and apnea events out.
//!
//! `push` resamples to `resample_hz`, band-passes, tracks stillness for apnea events on every sample,
//! and every `update_interval_s` (once [`MIN_SIGNAL_S`] of signal exist) analyses the newest
//! `window_s` and classifies it. Step-driven, no clock, no allocation per sample after construction.

use super::apnea::{ApneaChange, ApneaTracker};
use super::chain::SignalChain;
use super::resample::Resampler;
use super::window::MIN_RATE_QUALITY;
use super::RespirationSettings;
use crate::breathing::PatternClassifier;
use crate::types::{ApneaInterval, BreathingReading, PatternScores};

/// Seconds of signal needed before the first reading.
pub const MIN_SIGNAL_S: f64 = 30.0;
/// Longest input gap bridged by interpolation, s.
pub const MAX_BRIDGE_S: f64 = 0.5;

/// What the analyser reports.
#[derive(Debug, Clone, PartialEq)]
pub enum RespEvent {
    /// A new reading of the latest window.
    Reading(BreathingReading),
    /// A pause has just reached `apnea_min_s`; it began at `start_s` (s, stream clock).
    ApneaStarted {
        /// Start of the pause, s.
        start_s: f64,
    },
    /// Breathing resumed after an apnea.
    ApneaEnded(ApneaInterval),
}

/// Scores pulled toward uniform when the quality is below [`MIN_RATE_QUALITY`], in proportion to the
/// shortfall, so a poor signal never yields a confident label.
pub fn temper_scores(scores: PatternScores, quality: f32) -> PatternScores {
    let w = (quality / MIN_RATE_QUALITY).clamp(0.0, 1.0);
    PatternScores::from_evidence(scores.0.map(|s| w * s + (1.0 - w) / 6.0))
}

/// Everything but the resampler (so the resampler's output closure can borrow it).
struct Inner {
    settings: RespirationSettings,
    core: SignalChain,
    tracker: ApneaTracker,
    classifier: Box<dyn PatternClassifier>,
    next_update_s: Option<f64>,
}

impl Inner {
    fn on_sample(&mut self, t_s: f64, v: Option<f32>, out: &mut Vec<RespEvent>) {
        let Some(low) = self.core.push(t_s, v) else {
            return;
        };
        let theta = self.core.processor.theta;
        match self.tracker.push(t_s, low, theta) {
            Some(ApneaChange::Started { start_s }) => out.push(RespEvent::ApneaStarted { start_s }),
            Some(ApneaChange::Ended(a)) => out.push(RespEvent::ApneaEnded(a)),
            None => {}
        }
        if self.core.held_s() + 1e-9 < MIN_SIGNAL_S {
            return;
        }
        let due = *self.next_update_s.get_or_insert(t_s);
        if t_s + 1e-9 < due {
            return;
        }
        self.next_update_s = Some(due + self.settings.update_interval_s);
        let w = self.core.analyze();
        let scores = temper_scores(self.classifier.classify(&w), w.quality);
        let (pattern, _) = scores.best();
        log::trace!("reading at {t_s:.1} s: {pattern} q={:.2}", w.quality);
        out.push(RespEvent::Reading(BreathingReading {
            t_s,
            rate_bpm: w.rate_bpm,
            spectral_rate_bpm: w.spectral_rate_bpm,
            count_rate_bpm: w.count_rate_bpm,
            pattern,
            scores,
            quality: w.quality,
            classifier: self.classifier.name(),
        }));
    }
}

/// The live analyser.
pub struct BreathAnalyzer {
    resampler: Resampler,
    inner: Inner,
    last_input_s: Option<f64>,
}

impl std::fmt::Debug for BreathAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "BreathAnalyzer {{ classifier: {} }}",
            self.inner.classifier.name()
        )
    }
}

impl BreathAnalyzer {
    /// An analyser for validated `settings` (as `firmware-config` loading checks them: e.g.
    /// `resample_hz` 2-100 Hz, `window_s` at least 30 s), classifying windows with `classifier`.
    /// All buffers are allocated here, sized by `window_s × resample_hz`.
    pub fn new(settings: &RespirationSettings, classifier: Box<dyn PatternClassifier>) -> Self {
        Self {
            resampler: Resampler::new(settings.resample_hz, MAX_BRIDGE_S, settings.window_s),
            inner: Inner {
                settings: settings.clone(),
                core: SignalChain::new(settings),
                tracker: ApneaTracker::new(settings.resample_hz, settings.apnea_min_s),
                classifier,
                next_update_s: None,
            },
            last_input_s: None,
        }
    }

    /// Feed one displacement sample (mm, positive = inspiration; `None` = no valid chest depth) taken
    /// at `t_s` (s, non-decreasing; others are ignored). Events are appended to `out`. A time jump
    /// longer than `window_s` restarts the analysis as after [`BreathAnalyzer::reset`].
    pub fn push(&mut self, t_s: f64, displacement_mm: Option<f32>, out: &mut Vec<RespEvent>) {
        if self
            .last_input_s
            .is_some_and(|last| t_s - last > self.inner.settings.window_s)
        {
            self.reset();
        }
        if self.last_input_s.is_some_and(|last| t_s <= last) || !t_s.is_finite() {
            return;
        }
        self.last_input_s = Some(t_s);
        let inner = &mut self.inner;
        let gap = self
            .resampler
            .push(t_s, displacement_mm, |tg, v| inner.on_sample(tg, v, out));
        if let Some(g) = gap {
            log::debug!(
                "no valid chest signal from {:.1} s to {:.1} s (samples marked invalid)",
                g.start_s,
                g.end_s
            );
        }
    }

    /// Whether an apnea is in progress, and since when (s).
    pub fn ongoing_apnea(&self) -> Option<f64> {
        self.inner.tracker.ongoing()
    }

    /// Forget the signal (the person left): no events until enough new signal has arrived.
    pub fn reset(&mut self) {
        self.resampler.reset();
        self.inner.core.reset();
        self.inner.tracker.reset();
        self.inner.next_update_s = None;
        self.last_input_s = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breathing::baseline::RuleBaseline;
    use crate::types::Pattern;
    use std::f64::consts::PI;

    /// 15 breaths/min, 6 mm, with a motionless pause from 60 to 75 s, at 30 fps with every 10th
    /// frame invalid.
    fn feed(an: &mut BreathAnalyzer, from_s: f64, to_s: f64, out: &mut Vec<RespEvent>) {
        let mut i = (from_s * 30.0) as u64;
        while (i as f64) / 30.0 < to_s {
            let t = i as f64 / 30.0;
            let v = if (60.0..75.0).contains(&t) {
                0.0
            } else {
                3.0 * (1.0 - (2.0 * PI * 0.25 * t).cos())
            };
            an.push(t, (i % 10 != 0).then_some(v as f32), out);
            i += 1;
        }
    }

    #[test]
    fn readings_start_at_30_s_every_2_s_and_apnea_events_bracket_the_pause() {
        let s = RespirationSettings::default();
        let mut an = BreathAnalyzer::new(&s, Box::new(RuleBaseline));
        let mut out = Vec::new();
        feed(&mut an, 0.0, 120.0, &mut out);
        let times: Vec<f64> = out
            .iter()
            .filter_map(|e| match e {
                RespEvent::Reading(r) => Some(r.t_s),
                _ => None,
            })
            .collect();
        assert!((times[0] - 30.0).abs() < 0.15, "{}", times[0]);
        assert!(times.windows(2).all(|w| (w[1] - w[0] - 2.0).abs() < 1e-6));
        assert_eq!(times.len(), 46, "29.9 s to 119.9 s");
        let first = out.iter().find_map(|e| match e {
            RespEvent::Reading(r) => Some(r.clone()),
            _ => None,
        });
        let first = first.expect("a reading");
        assert!(
            (first.rate_bpm.unwrap_or(0.0) - 15.0).abs() < 0.3,
            "{first:?}"
        );
        assert_eq!(first.pattern, Pattern::Eupnea);
        assert_eq!(first.classifier, "rule_baseline");
        let starts: Vec<f64> = out
            .iter()
            .filter_map(|e| match e {
                RespEvent::ApneaStarted { start_s } => Some(*start_s),
                _ => None,
            })
            .collect();
        let ends: Vec<ApneaInterval> = out
            .iter()
            .filter_map(|e| match e {
                RespEvent::ApneaEnded(a) => Some(*a),
                _ => None,
            })
            .collect();
        assert_eq!(starts.len(), 1, "{starts:?}");
        assert_eq!(ends.len(), 1, "{ends:?}");
        assert!(
            (starts[0] - 60.0).abs() < 1.0 && (ends[0].end_s - 75.0).abs() < 1.0,
            "{ends:?}"
        );
        assert_eq!(an.ongoing_apnea(), None);
    }

    #[test]
    fn reset_and_noise_give_no_confident_reading() {
        let s = RespirationSettings::default();
        let mut an = BreathAnalyzer::new(&s, Box::new(RuleBaseline));
        let mut out = Vec::new();
        feed(&mut an, 0.0, 40.0, &mut out);
        an.reset();
        out.clear();
        // Only sensor-like noise after the person left and someone static sat down.
        for i in 0..(40 * 30) {
            let t = 100.0 + i as f64 / 30.0;
            let v = (((i as u32).wrapping_mul(2654435761) >> 8) % 1000) as f32 / 5000.0;
            an.push(t, Some(v), &mut out);
        }
        let readings: Vec<&BreathingReading> = out
            .iter()
            .filter_map(|e| match e {
                RespEvent::Reading(r) => Some(r),
                _ => None,
            })
            .collect();
        assert!(
            !readings.is_empty() && readings[0].t_s >= 129.9,
            "reset restarts the 30 s wait"
        );
        for r in readings {
            assert!(
                r.rate_bpm.is_none() && r.quality < 0.3 && r.scores.best().1 < 0.5,
                "{r:?}"
            );
        }
    }
}
