//! Live breathing analysis: camera-rate displacement samples in, readings and apnea events out.
//!
//! `push` resamples to `resample_hz`, band-passes, tracks stillness for apnea events on every sample,
//! and every `update_interval_s` (once [`MIN_SIGNAL_S`] of signal exist) analyses the newest
//! `window_s` and classifies it. Step-driven, no clock, no allocation per sample after construction.

use super::apnea::{ApneaChange, ApneaTracker};
use super::core::SignalCore;
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
    core: SignalCore,
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
    /// An analyser for validated `settings`, classifying windows with `classifier`.
    pub fn new(settings: &RespirationSettings, classifier: Box<dyn PatternClassifier>) -> Self {
        Self {
            resampler: Resampler::new(settings.resample_hz, MAX_BRIDGE_S, settings.window_s),
            inner: Inner {
                settings: settings.clone(),
                core: SignalCore::new(settings),
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
        self.resampler
            .push(t_s, displacement_mm, |tg, v| inner.on_sample(tg, v, out));
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
