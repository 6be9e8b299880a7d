//! Pause and apnea detection from chest stillness.
//!
//! A sample is *still* when the low-passed (not high-passed: the high-pass relaxation after the last
//! breath would look like movement) displacement varies by less than a threshold `theta` within the
//! centred `STILL_WINDOW_S` window. A pause is a run of still samples, widened by half the window on
//! each side so that its length estimates the true motionless time. An apnea is a pause of at least
//! `apnea_min_s`.

use crate::types::ApneaInterval;
use std::collections::VecDeque;

/// Width of the stillness window, s.
pub const STILL_WINDOW_S: f64 = 2.0;

/// A motionless interval (any length ≥ the caller's minimum).
pub type Pause = ApneaInterval;

/// Append to `out` the pauses of at least `min_len_s` in `x` (low-passed, oldest first, `hz`, first
/// sample at `t0_s`), with stillness threshold `theta` (signal units). Pauses are clipped to the
/// window. `out` is cleared first.
pub fn find_pauses(
    x: &[f32],
    hz: f64,
    t0_s: f64,
    theta: f32,
    min_len_s: f64,
    out: &mut Vec<Pause>,
) {
    out.clear();
    let half = ((STILL_WINDOW_S * hz / 2.0).round() as usize).max(1);
    let t_end = t0_s + x.len().saturating_sub(1) as f64 / hz;
    let mut run: Option<usize> = None;
    let close = |a: usize, b: usize, out: &mut Vec<Pause>| {
        let s = (t0_s + a as f64 / hz - STILL_WINDOW_S / 2.0).max(t0_s);
        let e = (t0_s + b as f64 / hz + STILL_WINDOW_S / 2.0).min(t_end);
        // Widening can make neighbouring runs overlap: merge them.
        match out.last_mut() {
            Some(last) if s <= last.end_s => last.end_s = last.end_s.max(e),
            _ => out.push(Pause {
                start_s: s,
                end_s: e,
            }),
        }
    };
    let n = x.len();
    for i in half..n.saturating_sub(half) {
        let w = &x[i - half..=i + half];
        let (lo, hi) = w
            .iter()
            .fold((f32::MAX, f32::MIN), |a, &v| (a.0.min(v), a.1.max(v)));
        let still = hi - lo < theta;
        match (still, run) {
            (true, None) => run = Some(i),
            (false, Some(a)) => {
                close(a, i - 1, out);
                run = None;
            }
            _ => {}
        }
    }
    if let Some(a) = run {
        close(a, n - half - 1, out);
    }
    out.retain(|p| p.duration_s() >= min_len_s);
}

/// What the streaming tracker reports for one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ApneaChange {
    /// A pause has just reached `apnea_min_s`; it started at `start_s`.
    Started {
        /// Start of the pause, s.
        start_s: f64,
    },
    /// An ongoing apnea ended.
    Ended(ApneaInterval),
    /// An ongoing apnea whose end was not seen: the signal was lost (the chest out of view, a
    /// hole in a recording). The interval ends where the chest was last seen still.
    Lost(ApneaInterval),
}

/// Longest stretch of samples the tracker holds back while its threshold is unknown, s: longer
/// than the analysis warm-up (30 s by default).
pub const BACKLOG_S: f64 = 60.0;

/// Streaming version of [`find_pauses`] for live use: holds the last `STILL_WINDOW_S` of samples in a
/// preallocated ring and an ongoing-apnea state.
#[derive(Debug, Clone)]
pub struct ApneaTracker {
    hz: f64,
    apnea_min_s: f64,
    ring: VecDeque<(f64, f32)>,
    cap: usize,
    /// Samples held while the threshold is unknown (the analysis warm-up), at most
    /// [`BACKLOG_S`] of them; replayed when it becomes known, so that a pause that began during
    /// the warm-up is timed from its true start.
    backlog: VecDeque<(f64, f32)>,
    backlog_cap: usize,
    run_start_s: Option<f64>,
    last_still_s: f64,
    in_apnea: bool,
}

impl ApneaTracker {
    /// A tracker for samples at `hz` reporting pauses of at least `apnea_min_s`.
    pub fn new(hz: f64, apnea_min_s: f64) -> Self {
        let cap = 2 * ((STILL_WINDOW_S * hz / 2.0).round() as usize).max(1) + 1;
        let backlog_cap = ((BACKLOG_S * hz).round() as usize).clamp(1, 1 << 16);
        Self {
            hz,
            apnea_min_s,
            ring: VecDeque::with_capacity(cap),
            cap,
            backlog: VecDeque::with_capacity(backlog_cap),
            backlog_cap,
            run_start_s: None,
            last_still_s: 0.0,
            in_apnea: false,
        }
    }

    /// Whether an apnea is in progress, and since when.
    pub fn ongoing(&self) -> Option<f64> {
        self.run_start_s.filter(|_| self.in_apnea)
    }

    /// Forget everything (an ongoing apnea is dropped without an end event). Keeps its buffers.
    pub fn reset(&mut self) {
        self.ring.clear();
        self.backlog.clear();
        self.run_start_s = None;
        self.last_still_s = 0.0;
        self.in_apnea = false;
    }

    /// Feed one low-passed sample; `theta` is the stillness threshold (`None` until the amplitude is
    /// known). Changes of the apnea state go to `on`, oldest first. While `theta` is `None` the
    /// samples are held (up to [`BACKLOG_S`]); the first sample with a threshold replays them first,
    /// so a pause that began during the warm-up keeps its true start, and one that also ended there
    /// is reported (started and ended) at once.
    pub fn push(&mut self, t_s: f64, x: f32, theta: Option<f32>, on: &mut dyn FnMut(ApneaChange)) {
        let Some(theta) = theta else {
            if self.backlog.len() == self.backlog_cap {
                self.backlog.pop_front();
            }
            self.backlog.push_back((t_s, x));
            return;
        };
        while let Some((t, v)) = self.backlog.pop_front() {
            if let Some(c) = self.step(t, v, theta) {
                on(c);
            }
        }
        if let Some(c) = self.step(t_s, x, theta) {
            on(c);
        }
    }

    /// A sample without signal (a person out of view, a hole in a recording): no signal is not
    /// "no breathing". An ongoing apnea ends where the chest was last seen still; a still run that
    /// was not an apnea yet is dropped, as are the held samples; stillness is timed afresh from
    /// the next sample with signal.
    pub fn no_signal(&mut self, on: &mut dyn FnMut(ApneaChange)) {
        let last_seen_s = self.ring.back().map(|v| v.0);
        self.backlog.clear();
        self.ring.clear();
        if let Some(start) = self.run_start_s.take() {
            if std::mem::take(&mut self.in_apnea) {
                let end_s = (self.last_still_s + STILL_WINDOW_S / 2.0)
                    .min(last_seen_s.unwrap_or(self.last_still_s))
                    .max(start);
                on(ApneaChange::Lost(ApneaInterval {
                    start_s: start,
                    end_s,
                }));
            }
        }
    }

    /// One sample with a known threshold.
    fn step(&mut self, t_s: f64, x: f32, theta: f32) -> Option<ApneaChange> {
        if self.ring.len() == self.cap {
            self.ring.pop_front();
        }
        self.ring.push_back((t_s, x));
        if self.ring.len() < self.cap {
            return None;
        }
        let (lo, hi) = self
            .ring
            .iter()
            .fold((f32::MAX, f32::MIN), |a, v| (a.0.min(v.1), a.1.max(v.1)));
        let centre = self.ring.get(self.cap / 2).map_or(t_s, |v| v.0);
        let half = STILL_WINDOW_S / 2.0;
        if hi - lo < theta {
            let start = *self.run_start_s.get_or_insert(centre - half);
            self.last_still_s = centre;
            if !self.in_apnea && t_s - start >= self.apnea_min_s {
                self.in_apnea = true;
                return Some(ApneaChange::Started { start_s: start });
            }
            None
        } else {
            let start = self.run_start_s.take()?;
            if std::mem::take(&mut self.in_apnea) {
                let end_s = (self.last_still_s + half).min(t_s);
                return Some(ApneaChange::Ended(ApneaInterval {
                    start_s: start,
                    end_s,
                }));
            }
            let _ = self.hz;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    /// Breathing at 15/min, 4 mm, with a motionless pause from 40 to 55 s.
    fn signal(hz: f64) -> Vec<f32> {
        (0..(100.0 * hz) as usize)
            .map(|i| {
                let t = i as f64 / hz;
                if (40.0..55.0).contains(&t) {
                    0.0
                } else {
                    (2.0 * (1.0 - (2.0 * PI * 0.25 * t).cos())) as f32
                }
            })
            .collect()
    }

    #[test]
    fn batch_finds_the_pause_with_its_length() {
        let x = signal(10.0);
        let mut out = Vec::new();
        find_pauses(&x, 10.0, 0.0, 0.4, 4.0, &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        // The signal sits near 0 for ~0.45 s around each trough, so the pause looks slightly longer.
        assert!(
            (out[0].start_s - 40.0).abs() < 0.8 && (out[0].end_s - 55.0).abs() < 0.8,
            "{out:?}"
        );
    }

    #[test]
    fn streaming_reports_start_at_ten_seconds_and_the_end() {
        let hz = 10.0;
        let mut tr = ApneaTracker::new(hz, 10.0);
        let mut ev = Vec::new();
        for (i, &v) in signal(hz).iter().enumerate() {
            let t = i as f64 / hz;
            tr.push(t, v, Some(0.4), &mut |c| ev.push((t, c)));
        }
        assert_eq!(ev.len(), 2, "{ev:?}");
        match ev[0] {
            (t, ApneaChange::Started { start_s }) => {
                assert!((start_s - 40.0).abs() < 0.8 && (t - start_s - 10.0).abs() < 0.2);
            }
            other => panic!("{other:?}"),
        }
        match ev[1].1 {
            ApneaChange::Ended(a) => assert!((a.end_s - 55.0).abs() < 0.8, "{a:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_signal_is_not_an_apnea() {
        let hz = 10.0;
        let x = signal(hz);
        // The chest is out of view from 38 to 48 s: the pause (40-55 s) is timed from 48 s, so
        // it is too short to be an apnea, and nothing is reported.
        let mut tr = ApneaTracker::new(hz, 10.0);
        let mut ev = Vec::new();
        for (i, &v) in x.iter().enumerate() {
            let t = i as f64 / hz;
            if (38.0..48.0).contains(&t) {
                tr.no_signal(&mut |c| ev.push((t, c)));
            } else {
                tr.push(t, v, Some(0.4), &mut |c| ev.push((t, c)));
            }
        }
        assert!(ev.is_empty(), "{ev:?}");
        // Lost 12 s into the pause (at 52 s): the apnea ends where the chest was last seen still.
        let mut tr = ApneaTracker::new(hz, 10.0);
        let mut ev = Vec::new();
        for (i, &v) in x.iter().enumerate() {
            let t = i as f64 / hz;
            if (52.0..70.0).contains(&t) {
                tr.no_signal(&mut |c| ev.push((t, c)));
            } else {
                tr.push(t, v, Some(0.4), &mut |c| ev.push((t, c)));
            }
        }
        assert_eq!(ev.len(), 2, "{ev:?}");
        match ev[1] {
            (t, ApneaChange::Lost(a)) => {
                assert!((t - 52.0).abs() < 1e-9, "{t}");
                assert!((a.start_s - 40.0).abs() < 0.8, "{a:?}");
                // The last sample seen, still, before the loss.
                assert!((a.end_s - 51.9).abs() < 0.05, "{a:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_pause_during_the_warm_up_keeps_its_true_start_and_end() {
        let hz = 10.0;
        let x = signal(hz);
        // The threshold becomes known at 45 s (inside the 40-55 s pause), and at 60 s (after it).
        for known_at in [45.0, 60.0] {
            let mut tr = ApneaTracker::new(hz, 10.0);
            let mut ev = Vec::new();
            for (i, &v) in x.iter().enumerate() {
                let t = i as f64 / hz;
                let theta = (t >= known_at).then_some(0.4);
                tr.push(t, v, theta, &mut |c| ev.push((t, c)));
            }
            assert_eq!(ev.len(), 2, "known at {known_at}: {ev:?}");
            match ev[0] {
                (t, ApneaChange::Started { start_s }) => {
                    assert!((start_s - 40.0).abs() < 0.8, "{start_s}");
                    // Reported when it is known: at 50 s (10 s in) or at once at 60 s.
                    let when = (start_s + 10.0).max(known_at);
                    assert!((t - when).abs() < 0.2, "known at {known_at}: at {t}");
                }
                other => panic!("{other:?}"),
            }
            match ev[1].1 {
                ApneaChange::Ended(a) => assert!(
                    (a.start_s - 40.0).abs() < 0.8 && (a.end_s - 55.0).abs() < 0.8,
                    "{a:?}"
                ),
                other => panic!("{other:?}"),
            }
        }
        // A backlog longer than BACKLOG_S keeps only its newest part: no panic, no stale pause.
        let mut tr = ApneaTracker::new(hz, 10.0);
        let mut n = 0;
        for i in 0..(3.0 * BACKLOG_S * hz) as usize {
            tr.push(i as f64 / hz, 0.0, None, &mut |_| n += 1);
        }
        assert_eq!(n, 0);
        assert!(tr.backlog.len() <= tr.backlog_cap);
    }
}
