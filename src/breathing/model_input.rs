//! The learned classifiers' input: one analysis window turned into a fixed-size tensor.
//!
//! This is the single definition of what the BI-AT-GRU sees. The training-set generator
//! (`edge-screen simulate --training-set`) writes exactly these tensors, so the model is trained on
//! what the device computes, and [`super::gru::BiAtGru`] feeds the same tensors to tract.
//!
//! Layout: [`STEPS`] steps of one second, each [`FEATURES`] values: [`STEP_SAMPLES`] samples of the
//! band-passed signal at [`MODEL_HZ`], then a mask (1 = real step, 0 = padding). The newest sample
//! is the last value of the last step. A window shorter than [`STEPS`] seconds (the first readings
//! of a session, or a short recording) is padded at the start with zero steps whose mask is 0; the
//! model ignores them (masked attention).
//!
//! Preparation ([`InputPrep::prepare`]):
//! 1. reject a window whose rate is outside 2-100 Hz, that holds a non-finite sample, or that is
//!    shorter than [`MIN_WINDOW_S`];
//! 2. resample the newest `min(duration, STEPS s)` to [`MODEL_HZ`] by linear interpolation, aligned
//!    on the newest sample, and drop the oldest samples that do not fill a whole step;
//! 3. subtract the median and divide by half the robust amplitude, the median peak-to-trough range
//!    of the 10 s blocks, so a typical breath spans about −1..1 whatever the units, distance, sensor
//!    or breath shape, and a motion artefact or a pause in part of the window does not rescale the
//!    breaths; a window whose amplitude is zero (or negligible against its values) is rejected as
//!    constant;
//! 4. clip to ±[`CLIP`] so a clipped sensor or a motion spike cannot dominate.

use crate::respiration::window::BreathWindow;

/// Sample rate of the model's input, Hz.
pub const MODEL_HZ: f64 = 10.0;
/// Samples per step (one second).
pub const STEP_SAMPLES: usize = 10;
/// Steps per window (120 s: at least one whole Cheyne-Stokes cycle of up to 120 s).
pub const STEPS: usize = 120;
/// Values per step: the samples and the mask.
pub const FEATURES: usize = STEP_SAMPLES + 1;
/// Values per window.
pub const INPUT_LEN: usize = STEPS * FEATURES;
/// Shortest window classified, s (the live analyser's first reading comes after 30 s).
pub const MIN_WINDOW_S: f64 = 30.0;
/// Normalised values are clipped to ±CLIP.
pub const CLIP: f32 = 6.0;
/// Samples per amplitude block (10 s at [`MODEL_HZ`]).
pub const BLOCK_SAMPLES: usize = 100;

/// Why a window cannot be given to the model.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum InputProblem {
    /// The window's sample rate is not within 2-100 Hz.
    #[error("window sample rate {0} Hz is outside 2-100 Hz")]
    BadRate(f64),
    /// A sample is NaN or infinite.
    #[error("window sample {0} is not a finite number")]
    NonFinite(usize),
    /// Shorter than [`MIN_WINDOW_S`].
    #[error("window is {0:.1} s long; the model needs at least 30 s")]
    TooShort(f64),
    /// No variation to normalise.
    #[error("window signal is constant")]
    Constant,
}

/// What preparation found out about a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreparedWindow {
    /// Steps holding real signal (the rest is padding), 30..=[`STEPS`].
    pub steps: usize,
    /// Robust amplitude of the window before normalisation, in the window's units.
    pub amplitude: f32,
}

/// Reusable preparation buffers (no allocation after the first window).
#[derive(Debug, Default)]
pub struct InputPrep {
    resampled: Vec<f32>,
    sorted: Vec<f32>,
}

fn percentile(sorted: &[f32], p: f64) -> f32 {
    let i = ((sorted.len().saturating_sub(1)) as f64 * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0.0)
}

impl InputPrep {
    /// Empty buffers, sized for a full window.
    pub fn new() -> Self {
        Self {
            resampled: Vec::with_capacity(STEPS * STEP_SAMPLES),
            sorted: Vec::with_capacity(STEPS * STEP_SAMPLES),
        }
    }

    /// Write the model input for `w` into `out` (see the module doc for the steps).
    pub fn prepare(
        &mut self,
        w: &BreathWindow<'_>,
        out: &mut [f32; INPUT_LEN],
    ) -> Result<PreparedWindow, InputProblem> {
        self.prepare_samples(w.samples, w.hz, out)
    }

    /// As [`InputPrep::prepare`], from the samples (oldest first) and their rate.
    pub fn prepare_samples(
        &mut self,
        samples: &[f32],
        hz: f64,
        out: &mut [f32; INPUT_LEN],
    ) -> Result<PreparedWindow, InputProblem> {
        if !(2.0..=100.0).contains(&hz) {
            return Err(InputProblem::BadRate(hz));
        }
        if let Some(i) = samples.iter().position(|v| !v.is_finite()) {
            return Err(InputProblem::NonFinite(i));
        }
        let duration = samples.len() as f64 / hz;
        if duration + 1e-9 < MIN_WINDOW_S {
            return Err(InputProblem::TooShort(duration));
        }
        // Resample the newest part to MODEL_HZ, aligned on the newest sample.
        let max_n = STEPS * STEP_SAMPLES;
        let n_avail = ((samples.len() - 1) as f64 * MODEL_HZ / hz).floor() as usize + 1;
        let n = (n_avail.min(max_n) / STEP_SAMPLES) * STEP_SAMPLES;
        let last = (samples.len() - 1) as f64;
        self.resampled.clear();
        for k in 0..n {
            // Position of output sample k in input samples (k = n - 1 is the newest).
            let pos = last - (n - 1 - k) as f64 * hz / MODEL_HZ;
            let i0 = pos.floor().max(0.0) as usize;
            let frac = (pos - i0 as f64) as f32;
            let a = samples[i0];
            let b = samples.get(i0 + 1).copied().unwrap_or(a);
            self.resampled.push(a + (b - a) * frac);
        }
        let steps = n / STEP_SAMPLES;
        // Normalise: centre on the median; the amplitude is the median of the peak-to-trough ranges
        // of 10 s blocks (each holds at least one breath at 6/min or more), which does not depend
        // on the breath shape and ignores a motion artefact or a pause in under half the blocks.
        self.sorted.clear();
        self.sorted.extend_from_slice(&self.resampled);
        self.sorted.sort_unstable_by(f32::total_cmp);
        let centre = percentile(&self.sorted, 0.5);
        let largest = self.sorted[0].abs().max(self.sorted[n - 1].abs()) + centre.abs();
        let spread = percentile(&self.sorted, 0.95) - percentile(&self.sorted, 0.05);
        self.sorted.clear();
        for block in self.resampled.rchunks_exact(BLOCK_SAMPLES) {
            let (lo, hi) = block
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), v| {
                    (l.min(*v), h.max(*v))
                });
            self.sorted.push(hi - lo);
        }
        self.sorted.sort_unstable_by(f32::total_cmp);
        let mut amplitude = percentile(&self.sorted, 0.5);
        if amplitude.partial_cmp(&(1e-6 * largest)) != Some(std::cmp::Ordering::Greater) {
            // Most blocks are flat (a long pause with a few breaths): use the 5-95 % range.
            amplitude = spread;
        }
        if !(amplitude > 0.0 && amplitude >= 1e-6 * largest && amplitude.is_finite()) {
            return Err(InputProblem::Constant);
        }
        let scale = 2.0 / amplitude;
        let pad = STEPS - steps;
        out[..pad * FEATURES].fill(0.0);
        for (s, chunk) in self.resampled.chunks_exact(STEP_SAMPLES).enumerate() {
            let row = &mut out[(pad + s) * FEATURES..(pad + s + 1) * FEATURES];
            for (o, v) in row.iter_mut().zip(chunk) {
                *o = ((v - centre) * scale).clamp(-CLIP, CLIP);
            }
            row[STEP_SAMPLES] = 1.0;
        }
        Ok(PreparedWindow { steps, amplitude })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f64, seconds: f64, bpm: f64, amp: f32) -> Vec<f32> {
        let n = (seconds * hz).round() as usize;
        (0..n)
            .map(|i| amp * (2.0 * std::f64::consts::PI * bpm / 60.0 * i as f64 / hz).sin() as f32)
            .collect()
    }

    #[test]
    fn full_window_at_model_rate_is_copied_scaled_and_masked() {
        let x = sine(10.0, 150.0, 15.0, 5.0);
        let mut out = [9.0; INPUT_LEN];
        let p = InputPrep::new()
            .prepare_samples(&x, 10.0, &mut out)
            .expect("ok");
        assert_eq!(p.steps, STEPS);
        // The newest sample of the input is the last sample of the last step (scaled by 2/amp).
        let want = x[x.len() - 1] * 2.0 / p.amplitude;
        let got = out[(STEPS - 1) * FEATURES + STEP_SAMPLES - 1];
        assert!((want - got).abs() < 0.02, "{want} vs {got}");
        assert!((p.amplitude - 9.8).abs() < 0.3, "amplitude {}", p.amplitude);
        for s in 0..STEPS {
            assert_eq!(out[s * FEATURES + STEP_SAMPLES], 1.0);
        }
        let max = out.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!((max - 1.0).abs() < 0.05, "a sine spans about ±1: {max}");
    }

    #[test]
    fn short_window_is_left_padded() {
        let x = sine(10.0, 45.3, 15.0, 1.0);
        let mut out = [9.0; INPUT_LEN];
        let p = InputPrep::new()
            .prepare_samples(&x, 10.0, &mut out)
            .expect("ok");
        assert_eq!(p.steps, 45);
        let pad = STEPS - 45;
        assert!(out[..pad * FEATURES].iter().all(|v| *v == 0.0));
        assert_eq!(out[pad * FEATURES + STEP_SAMPLES], 1.0);
    }

    #[test]
    fn other_rates_give_the_same_input() {
        let mut a = [0.0; INPUT_LEN];
        let mut b = [0.0; INPUT_LEN];
        let mut prep = InputPrep::new();
        // Both end at t = 130 s exactly (1301 and 3251 samples).
        prep.prepare_samples(&sine(10.0, 130.1, 12.0, 3.0), 10.0, &mut a)
            .expect("ok");
        let p = prep
            .prepare_samples(&sine(25.0, 130.04, 12.0, 3.0), 25.0, &mut b)
            .expect("ok");
        assert_eq!(p.steps, STEPS);
        let worst = a
            .iter()
            .zip(&b)
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(worst < 0.02, "max difference {worst}");
    }

    #[test]
    fn bad_windows_are_named() {
        let mut out = [0.0; INPUT_LEN];
        let mut prep = InputPrep::new();
        let mut x = sine(10.0, 60.0, 15.0, 1.0);
        assert_eq!(
            prep.prepare_samples(&x, 1.0, &mut out),
            Err(InputProblem::BadRate(1.0))
        );
        assert_eq!(
            prep.prepare_samples(&x[..200], 10.0, &mut out),
            Err(InputProblem::TooShort(20.0))
        );
        x[17] = f32::NAN;
        assert_eq!(
            prep.prepare_samples(&x, 10.0, &mut out),
            Err(InputProblem::NonFinite(17))
        );
        assert_eq!(
            prep.prepare_samples(&[4.0; 900], 10.0, &mut out),
            Err(InputProblem::Constant)
        );
        let mut spiky = vec![0.0f32; 900];
        spiky[5] = 1e30;
        assert_eq!(
            prep.prepare_samples(&spiky, 10.0, &mut out),
            Err(InputProblem::Constant),
            "a single spike on a flat line has no robust amplitude"
        );
        assert!(prep.prepare_samples(&[], 10.0, &mut out).is_err());
    }

    #[test]
    fn huge_values_are_clipped() {
        let mut x = sine(10.0, 120.0, 15.0, 1.0);
        for v in x.iter_mut().skip(500).take(30) {
            *v = 1e6;
        }
        let mut out = [0.0; INPUT_LEN];
        InputPrep::new()
            .prepare_samples(&x, 10.0, &mut out)
            .expect("ok");
        assert!(out.iter().all(|v| v.abs() <= CLIP));
    }
}
