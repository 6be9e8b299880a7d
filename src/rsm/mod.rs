//! Respiratory Simulation Model (RSM): seeded, parameterised chest movement for the six patterns.
//!
//! PLACEHOLDER INTERFACE: the public API below is fixed (other modules use it); the internals are
//! being written by the RSM work. Everything here is deterministic for a given (params, seed).

use crate::types::{ApneaInterval, Pattern};
use serde::{Deserialize, Serialize};

/// Parameters of one simulated subject and pattern.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RsmParams {
    /// Breathing pattern to simulate.
    pub pattern: Pattern,
    /// Mean breathing rate while breathing, breaths/min.
    pub rate_bpm: f32,
    /// Mean peak-to-trough chest displacement of one breath, mm.
    pub depth_mm: f32,
    /// Sensor noise added by [`Rsm::sample`] (not by the camera path), mm RMS.
    pub noise_mm: f32,
}

impl RsmParams {
    /// Typical parameters for `pattern` (used when nothing else is given).
    pub fn typical(pattern: Pattern) -> Self {
        let rate_bpm = match pattern {
            Pattern::Tachypnea => 28.0,
            Pattern::Bradypnea => 8.0,
            _ => 15.0,
        };
        Self {
            pattern,
            rate_bpm,
            depth_mm: 6.0,
            noise_mm: 0.1,
        }
    }
}

/// Whole-body movement that is not breathing: posture sway, drift and motion artefacts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BodyMotion {
    /// Movement toward the camera, mm (positive = closer).
    pub forward_mm: f32,
    /// Sideways movement, mm (positive = image right).
    pub lateral_mm: f32,
    /// Vertical movement, mm (positive = up).
    pub vertical_mm: f32,
}

/// One simulated breath.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Breath {
    /// Start of inspiration, s.
    pub onset_s: f64,
    /// Inspiration + expiration time, s (excluding any pause after it).
    pub duration_s: f64,
    /// Peak chest displacement of this breath, mm.
    pub depth_mm: f32,
}

/// What was simulated: the labels every evaluation compares against.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GroundTruth {
    /// Breaths generated so far, in time order.
    pub breaths: Vec<Breath>,
    /// Pauses of 10 s or more with no chest movement, in time order.
    pub apneas: Vec<ApneaInterval>,
}

impl GroundTruth {
    /// Instantaneous rate at `t_s` (60 / period of the breath cycle containing it), or `None`
    /// during a pause of 10 s or more or before the first breath.
    pub fn rate_at(&self, t_s: f64) -> Option<f32> {
        if self
            .apneas
            .iter()
            .any(|a| a.start_s <= t_s && t_s < a.end_s)
        {
            return None;
        }
        let i = self.breaths.partition_point(|b| b.onset_s <= t_s);
        if i == 0 || i >= self.breaths.len() {
            return None;
        }
        let period = self.breaths[i].onset_s - self.breaths[i - 1].onset_s;
        (period > 0.0).then(|| (60.0 / period) as f32)
    }

    /// Mean rate over `[t0, t1)` from breath onsets, ignoring pauses of 10 s or more.
    pub fn mean_rate_bpm(&self, t0: f64, t1: f64) -> Option<f32> {
        let periods: Vec<f64> = self
            .breaths
            .windows(2)
            .filter(|w| w[0].onset_s >= t0 && w[1].onset_s < t1)
            .map(|w| w[1].onset_s - w[0].onset_s)
            .filter(|p| *p < 10.0)
            .collect();
        if periods.is_empty() {
            return None;
        }
        let mean = periods.iter().sum::<f64>() / periods.len() as f64;
        Some((60.0 / mean) as f32)
    }
}

/// A streaming simulator: query it at non-decreasing times.
#[derive(Debug, Clone)]
pub struct Rsm {
    params: RsmParams,
    truth: GroundTruth,
    seed: u64,
}

impl Rsm {
    /// A simulator for `params`, fully determined by `seed`.
    pub fn new(params: RsmParams, seed: u64) -> Self {
        Self {
            params,
            truth: GroundTruth::default(),
            seed,
        }
    }

    /// The parameters in use.
    pub fn params(&self) -> &RsmParams {
        &self.params
    }

    /// Chest-wall displacement from breathing (and cardiac ripple) at `t_s`, mm, positive on
    /// inspiration (chest toward the camera). `t_s` must not decrease between calls.
    pub fn chest_mm(&mut self, t_s: f64) -> f32 {
        let _ = self.seed;
        let f = self.params.rate_bpm as f64 / 60.0;
        (0.5 * self.params.depth_mm as f64 * (1.0 - (2.0 * std::f64::consts::PI * f * t_s).cos()))
            as f32
    }

    /// Whole-body movement at `t_s` (sway, drift, motion artefacts). `t_s` must not decrease.
    pub fn body_motion(&mut self, _t_s: f64) -> BodyMotion {
        BodyMotion::default()
    }

    /// Ground truth generated up to the latest queried time.
    pub fn truth(&self) -> &GroundTruth {
        &self.truth
    }

    /// A 1-D recording as a contact sensor or a depth camera's ROI would give it:
    /// `chest + forward body motion + sensor noise`, mm, sampled at `hz` for `seconds`.
    pub fn sample(&mut self, hz: f64, seconds: f64) -> Recording {
        let n = (seconds * hz).round() as usize;
        let mut t = Vec::with_capacity(n);
        let mut resp = Vec::with_capacity(n);
        for i in 0..n {
            let ts = i as f64 / hz;
            let v = self.chest_mm(ts) + self.body_motion(ts).forward_mm;
            t.push(ts);
            resp.push(v);
        }
        Recording {
            hz,
            t_s: t,
            resp_mm: resp,
            truth: self.truth.clone(),
        }
    }
}

/// A sampled RSM recording with its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// Sample rate, Hz.
    pub hz: f64,
    /// Sample times, s.
    pub t_s: Vec<f64>,
    /// Displacement, mm, positive on inspiration.
    pub resp_mm: Vec<f32>,
    /// Labels.
    pub truth: GroundTruth,
}
