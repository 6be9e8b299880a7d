//! Session verdict: one pattern and rate for a whole session (or recording) from its window readings.
//!
//! Rule: the session scores are the mean of the window scores (each sums to 1, so the mean does too);
//! the pattern is the best of those; the rate is the median of the windows' rates that exist, and
//! `None` unless at least half of the windows have one.

use crate::types::{Pattern, PatternScores};

/// Accumulates window results.
#[derive(Debug, Clone, Default)]
pub struct SessionVerdict {
    sum: [f64; 6],
    windows: usize,
    rates: Vec<f32>,
    qualities: Vec<f32>,
}

impl SessionVerdict {
    /// An empty session.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one window's scores, rate (breaths/min) and quality (0..1).
    pub fn add(&mut self, scores: &PatternScores, rate_bpm: Option<f32>, quality: f32) {
        for (s, v) in self.sum.iter_mut().zip(scores.0) {
            *s += v as f64;
        }
        self.windows += 1;
        self.rates.extend(rate_bpm.filter(|r| r.is_finite()));
        self.qualities.push(quality);
    }

    /// Number of windows added.
    pub fn windows(&self) -> usize {
        self.windows
    }

    /// Mean scores (uniform when empty).
    pub fn scores(&self) -> PatternScores {
        let n = self.windows.max(1) as f64;
        PatternScores::from_evidence(self.sum.map(|s| (s / n) as f32))
    }

    /// The most likely pattern of the session.
    pub fn pattern(&self) -> Pattern {
        self.scores().best().0
    }

    fn median(v: &[f32]) -> Option<f32> {
        let mut v = v.to_vec();
        v.sort_by(f32::total_cmp);
        match v.len() {
            0 => None,
            n if n % 2 == 1 => Some(v[n / 2]),
            n => Some(0.5 * (v[n / 2 - 1] + v[n / 2])),
        }
    }

    /// Median of the window rates, if at least half of the windows have a rate.
    pub fn rate_bpm(&self) -> Option<f32> {
        if self.windows == 0 || 2 * self.rates.len() < self.windows {
            return None;
        }
        Self::median(&self.rates)
    }

    /// Median window quality (0 when empty).
    pub fn quality(&self) -> f32 {
        Self::median(&self.qualities).unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_scores_and_median_rate() {
        let mut s = SessionVerdict::new();
        let mut a = [0.0; 6];
        a[0] = 1.0;
        let mut b = [0.0; 6];
        b[1] = 1.0;
        s.add(&PatternScores(a), Some(14.0), 0.9);
        s.add(&PatternScores(a), Some(16.0), 0.8);
        s.add(&PatternScores(b), None, 0.1);
        let sc = s.scores();
        assert!((sc.0[0] - 2.0 / 3.0).abs() < 1e-6 && (sc.0[1] - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(s.pattern(), Pattern::Eupnea);
        assert_eq!(s.rate_bpm(), Some(15.0));
        assert_eq!(s.quality(), 0.8);
        s.add(&PatternScores(b), None, 0.1);
        assert_eq!(s.rate_bpm(), Some(15.0));
        s.add(&PatternScores(b), None, 0.1);
        assert_eq!(
            s.rate_bpm(),
            None,
            "fewer than half of the windows have a rate"
        );
    }
}
