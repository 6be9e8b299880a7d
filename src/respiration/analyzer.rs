//! Breathing analysis over time: displacement samples in, analysed windows and apnea changes out.
//!
//! [`BreathAnalyzer::push`] takes camera-rate samples and resamples them to `resample_hz`;
//! [`BreathAnalyzer::push_fixed`] takes samples already at that rate (a recording). Every fixed-rate
//! sample is band-passed, tracked for stillness (apnea changes) and held; a [`Schedule`] says when
//! the newest `window_s` is analysed into a [`BreathWindow`]. What the window means (its pattern,
//! the session's verdict) is decided downstream: this stage never classifies. Step-driven, no
//! clock, no allocation per sample after construction.

use super::apnea::{ApneaChange, ApneaTracker};
use super::chain::SignalChain;
use super::resample::Resampler;
use super::window::BreathWindow;
use super::RespirationSettings;

/// Seconds of signal needed before the first live window.
pub const MIN_SIGNAL_S: f64 = 30.0;
/// Longest input gap bridged by interpolation, s.
pub const MAX_BRIDGE_S: f64 = 0.5;
/// Shortest hop between two windows of a recording, s: a recording's verdict needs windows that
/// overlap less than the live readout's.
pub const RECORDING_HOP_S: f64 = 10.0;

/// What one fixed-rate sample led to.
#[derive(Debug, Clone, Copy)]
pub enum Step<'w> {
    /// The held signal was analysed (the schedule was due).
    Window(BreathWindow<'w>),
    /// An apnea started or ended.
    Apnea(ApneaChange),
}

/// When windows are analysed, counted in fixed-rate samples since the last reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The first window is analysed when this many samples are held.
    pub first: usize,
    /// Then every this many samples.
    pub every: usize,
}

impl Schedule {
    /// Live: the first window after [`MIN_SIGNAL_S`], then one every `update_interval_s`.
    pub fn live(settings: &RespirationSettings) -> Self {
        let hz = settings.resample_hz;
        Self {
            first: (MIN_SIGNAL_S * hz).round() as usize,
            every: ((settings.update_interval_s * hz).round() as usize).max(1),
        }
    }

    /// A recording of `len` fixed-rate samples: full `window_s` windows (one window over the whole
    /// recording when it is shorter) at a hop of at least [`RECORDING_HOP_S`]; with
    /// [`BreathAnalyzer::finish`], also the final window.
    pub fn recording(settings: &RespirationSettings, len: usize) -> Self {
        let hz = settings.resample_hz;
        let window = ((settings.window_s * hz).round() as usize).max(8);
        Self {
            first: window.min(len).max(1),
            every: ((settings.update_interval_s.max(RECORDING_HOP_S) * hz).round() as usize).max(1),
        }
    }
}

/// Everything but the resampler (so the resampler's output closure can borrow it).
struct Inner {
    core: SignalChain,
    tracker: ApneaTracker,
    schedule: Schedule,
    /// Fixed-rate samples held since the last reset.
    count: usize,
    /// Whether the newest sample was analysed.
    analysed: bool,
}

impl Inner {
    fn on_sample(&mut self, t_s: f64, v: Option<f32>, on: &mut dyn FnMut(Step<'_>)) {
        self.analysed = false;
        let Some(low) = self.core.push(t_s, v) else {
            return;
        };
        self.count += 1;
        let theta = self.core.processor.theta;
        if v.is_some_and(f32::is_finite) {
            self.tracker
                .push(t_s, low, theta, &mut |change| on(Step::Apnea(change)));
        } else {
            self.tracker
                .no_signal(&mut |change| on(Step::Apnea(change)));
        }
        let Schedule { first, every } = self.schedule;
        if self.count >= first && (self.count - first) % every == 0 {
            self.analyse(on);
        }
    }

    fn analyse(&mut self, on: &mut dyn FnMut(Step<'_>)) {
        self.analysed = true;
        let w = self.core.analyze();
        on(Step::Window(w));
    }
}

/// The breathing analyser.
pub struct BreathAnalyzer {
    resampler: Resampler,
    inner: Inner,
    window_s: f64,
    hz: f64,
    last_input_s: Option<f64>,
}

impl std::fmt::Debug for BreathAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreathAnalyzer")
            .field("schedule", &self.inner.schedule)
            .field("held", &self.inner.count)
            .finish()
    }
}

impl BreathAnalyzer {
    /// An analyser for validated `settings` (as configuration loading checks them: e.g.
    /// `resample_hz` 4-50 Hz, `window_s` at least 30 s) analysing windows on `schedule`.
    /// All buffers are allocated here, sized by `window_s × resample_hz`.
    pub fn new(settings: &RespirationSettings, schedule: Schedule) -> Self {
        Self {
            resampler: Resampler::new(settings.resample_hz, MAX_BRIDGE_S, settings.window_s),
            inner: Inner {
                core: SignalChain::new(settings),
                tracker: ApneaTracker::new(settings.resample_hz, settings.apnea_min_s),
                schedule,
                count: 0,
                analysed: false,
            },
            window_s: settings.window_s,
            hz: settings.resample_hz,
            last_input_s: None,
        }
    }

    /// Feed one camera-rate displacement sample (mm, positive = inspiration; `None` = no valid
    /// chest depth) taken at `t_s` (s, increasing; others are ignored). What it leads to is passed
    /// to `on`. A time jump longer than `window_s` restarts the analysis as after
    /// [`BreathAnalyzer::reset`].
    pub fn push(&mut self, t_s: f64, displacement_mm: Option<f32>, on: &mut dyn FnMut(Step<'_>)) {
        if self
            .last_input_s
            .is_some_and(|last| t_s - last > self.window_s)
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
            .push(t_s, displacement_mm, |tg, v| inner.on_sample(tg, v, on));
        if let Some(g) = gap {
            log::debug!(
                "no valid chest signal from {:.1} s to {:.1} s (samples marked invalid)",
                g.start_s,
                g.end_s
            );
        }
    }

    /// Feed one sample that is already at `resample_hz` (a recording; `t_s` on its grid).
    pub fn push_fixed(&mut self, t_s: f64, value: Option<f32>, on: &mut dyn FnMut(Step<'_>)) {
        self.inner.on_sample(t_s, value, on);
    }

    /// Settle the filters on `lead_in` (fixed-rate samples that continue the signal backwards in
    /// time, e.g. its first minute mirrored) and then forget them, so the first window carries no
    /// filter start-up transient.
    pub fn warm_up(&mut self, lead_in: &[f32]) {
        let n = lead_in.len() as f64;
        for (k, v) in lead_in.iter().enumerate() {
            self.inner.core.push((k as f64 - n) / self.hz, Some(*v));
        }
        self.inner.core.clear_samples();
    }

    /// At the end of a recording: analyse the held samples unless the newest one already was, or
    /// fewer than the schedule's first window are held.
    pub fn finish(&mut self, on: &mut dyn FnMut(Step<'_>)) {
        let inner = &mut self.inner;
        if !inner.analysed && inner.count >= inner.schedule.first {
            inner.analyse(on);
        }
    }

    /// Whether an apnea is in progress, and since when (s).
    pub fn ongoing_apnea(&self) -> Option<f64> {
        self.inner.tracker.ongoing()
    }

    /// Forget the signal (the person left): no window until enough new signal has arrived.
    pub fn reset(&mut self) {
        self.resampler.reset();
        self.inner.core.reset();
        self.inner.tracker.reset();
        self.inner.count = 0;
        self.inner.analysed = false;
        self.last_input_s = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ApneaInterval;
    use std::f64::consts::PI;

    /// What the tests keep of a step.
    #[derive(Debug, Clone, PartialEq)]
    enum Seen {
        Window {
            t_s: f64,
            rate_bpm: Option<f32>,
            quality: f32,
        },
        Started(f64),
        Ended(ApneaInterval),
    }

    fn keep(out: &mut Vec<Seen>) -> impl FnMut(Step<'_>) + '_ {
        move |s| {
            out.push(match s {
                Step::Window(w) => Seen::Window {
                    t_s: w.t_end_s,
                    rate_bpm: w.rate_bpm,
                    quality: w.quality,
                },
                Step::Apnea(ApneaChange::Started { start_s }) => Seen::Started(start_s),
                Step::Apnea(ApneaChange::Ended(a) | ApneaChange::Lost(a)) => Seen::Ended(a),
            })
        }
    }

    /// 15 breaths/min, 6 mm, with a motionless pause from 60 to 75 s, at 30 fps with every 10th
    /// frame invalid.
    fn feed(an: &mut BreathAnalyzer, from_s: f64, to_s: f64, out: &mut Vec<Seen>) {
        let mut i = (from_s * 30.0) as u64;
        let mut on = keep(out);
        while (i as f64) / 30.0 < to_s {
            let t = i as f64 / 30.0;
            let v = if (60.0..75.0).contains(&t) {
                0.0
            } else {
                3.0 * (1.0 - (2.0 * PI * 0.25 * t).cos())
            };
            an.push(t, (i % 10 != 0).then_some(v as f32), &mut on);
            i += 1;
        }
    }

    fn live() -> BreathAnalyzer {
        let s = RespirationSettings::default();
        BreathAnalyzer::new(&s, Schedule::live(&s))
    }

    #[test]
    fn windows_start_at_30_s_every_2_s_and_apnea_changes_bracket_the_pause() {
        let mut an = live();
        let mut out = Vec::new();
        feed(&mut an, 0.0, 120.0, &mut out);
        let windows: Vec<(f64, Option<f32>)> = out
            .iter()
            .filter_map(|e| match e {
                Seen::Window { t_s, rate_bpm, .. } => Some((*t_s, *rate_bpm)),
                _ => None,
            })
            .collect();
        assert!((windows[0].0 - 30.0).abs() < 0.15, "{}", windows[0].0);
        assert!(windows
            .windows(2)
            .all(|w| (w[1].0 - w[0].0 - 2.0).abs() < 1e-6));
        assert_eq!(windows.len(), 46, "29.9 s to 119.9 s");
        let first_rate = windows[0].1.unwrap_or(0.0);
        assert!((first_rate - 15.0).abs() < 0.3, "{first_rate}");
        let starts: Vec<f64> = out
            .iter()
            .filter_map(|e| match e {
                Seen::Started(s) => Some(*s),
                _ => None,
            })
            .collect();
        let ends: Vec<ApneaInterval> = out
            .iter()
            .filter_map(|e| match e {
                Seen::Ended(a) => Some(*a),
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
    fn reset_and_noise_give_no_rate() {
        let mut an = live();
        let mut out = Vec::new();
        feed(&mut an, 0.0, 40.0, &mut out);
        an.reset();
        out.clear();
        // Only sensor-like noise after the person left and someone static sat down.
        {
            let mut on = keep(&mut out);
            for i in 0..(40 * 30) {
                let t = 100.0 + i as f64 / 30.0;
                let v = (((i as u32).wrapping_mul(2654435761) >> 8) % 1000) as f32 / 5000.0;
                an.push(t, Some(v), &mut on);
            }
        }
        let windows: Vec<&Seen> = out
            .iter()
            .filter(|e| matches!(e, Seen::Window { .. }))
            .collect();
        assert!(
            matches!(windows.first(), Some(Seen::Window { t_s, .. }) if *t_s >= 129.9),
            "reset restarts the 30 s wait: {windows:?}"
        );
        for w in windows {
            assert!(
                matches!(w, Seen::Window { rate_bpm: None, quality, .. } if *quality < 0.3),
                "{w:?}"
            );
        }
    }

    #[test]
    fn a_recording_schedule_gives_full_windows_at_its_hop_and_the_final_one() {
        let s = RespirationSettings::default();
        // 255 s at 10 Hz: full 120 s windows ending at 119.9, 129.9, ..., 249.9 s, then the final
        // one at 254.9 s (once, however often `finish` is called).
        let x: Vec<f32> = (0..2550)
            .map(|i| (2.0 * PI * 0.25 * i as f64 / 10.0).sin() as f32)
            .collect();
        let mut an = BreathAnalyzer::new(&s, Schedule::recording(&s, x.len()));
        let lead: Vec<f32> = x[..600].iter().rev().copied().collect();
        an.warm_up(&lead);
        let mut out = Vec::new();
        {
            let mut on = keep(&mut out);
            for (i, v) in x.iter().enumerate() {
                an.push_fixed(i as f64 / 10.0, Some(*v), &mut on);
            }
            an.finish(&mut on);
            an.finish(&mut on);
        }
        let ends: Vec<f64> = out
            .iter()
            .filter_map(|e| match e {
                Seen::Window { t_s, .. } => Some(*t_s),
                _ => None,
            })
            .collect();
        let want: Vec<f64> = (0..14)
            .map(|k| 119.9 + 10.0 * k as f64)
            .chain([254.9])
            .collect();
        assert_eq!(ends.len(), want.len(), "{ends:?}");
        for (a, b) in ends.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6, "{ends:?}");
        }
    }
}
