//! The fixed-rate signal chain shared by live and offline analysis: band-pass and low-pass filters
//! and preallocated rings holding the newest `window_s` of samples, copied into contiguous buffers
//! for each window analysis. No allocation per sample.

use super::filter::{BandPass, BiquadKind, Butterworth};
use super::window::{BreathWindow, WindowInput, WindowProcessor};
use super::RespirationSettings;
use std::collections::VecDeque;

/// Filters, rings and the window processor.
#[derive(Debug)]
pub struct SignalChain {
    hz: f64,
    cap: usize,
    band_pass: BandPass,
    low_pass: Butterworth,
    low_started: bool,
    last_valid: Option<f32>,
    t_last_s: f64,
    ring: VecDeque<(f32, f32, f32, bool)>,
    raw: Vec<f32>,
    band: Vec<f32>,
    low: Vec<f32>,
    valid: Vec<bool>,
    /// The window analyser (its `theta` and `quality` describe the latest window).
    pub processor: WindowProcessor,
}

impl SignalChain {
    /// A chain for `settings` (samples at `settings.resample_hz`).
    pub fn new(settings: &RespirationSettings) -> Self {
        let hz = settings.resample_hz;
        let cap = ((settings.window_s * hz).round() as usize).max(8);
        Self {
            hz,
            cap,
            band_pass: BandPass::new(settings.band_low_hz, settings.band_high_hz, hz),
            low_pass: Butterworth::new(BiquadKind::LowPass, 4, settings.band_high_hz, hz),
            low_started: false,
            last_valid: None,
            t_last_s: 0.0,
            ring: VecDeque::with_capacity(cap),
            raw: Vec::with_capacity(cap),
            band: Vec::with_capacity(cap),
            low: Vec::with_capacity(cap),
            valid: Vec::with_capacity(cap),
            processor: WindowProcessor::new(
                cap,
                hz,
                settings.apnea_min_s,
                BandPass::new(settings.band_low_hz, settings.band_high_hz, hz),
            ),
        }
    }

    /// Forget all samples and filter state.
    pub fn reset(&mut self) {
        self.band_pass.reset();
        self.low_started = false;
        self.last_valid = None;
        self.ring.clear();
        self.processor.theta = None;
    }

    /// Forget the samples held but keep the filters' state (after warming them up on a lead-in).
    pub fn clear_samples(&mut self) {
        self.ring.clear();
    }

    /// Seconds of signal held (at most `window_s`).
    pub fn held_s(&self) -> f64 {
        self.ring.len() as f64 / self.hz
    }

    /// Add one fixed-rate sample at `t_s`; invalid samples hold the last valid value (and are
    /// skipped before the first valid one). Returns the low-passed value, if a sample was added.
    pub fn push(&mut self, t_s: f64, value: Option<f32>) -> Option<f32> {
        let valid = value.is_some_and(f32::is_finite);
        let v = if valid { value } else { self.last_valid }?;
        self.last_valid = Some(v);
        if !self.low_started {
            self.low_pass.settle(v as f64);
            self.low_started = true;
        }
        let band = self.band_pass.process(v as f64) as f32;
        let low = self.low_pass.process(v as f64) as f32;
        if self.ring.len() == self.cap {
            self.ring.pop_front();
        }
        self.ring.push_back((v, band, low, valid));
        self.t_last_s = t_s;
        Some(low)
    }

    /// Analyse the samples held now.
    pub fn analyze(&mut self) -> BreathWindow<'_> {
        self.raw.clear();
        self.band.clear();
        self.low.clear();
        self.valid.clear();
        for &(r, b, l, v) in &self.ring {
            self.raw.push(r);
            self.band.push(b);
            self.low.push(l);
            self.valid.push(v);
        }
        self.processor.analyze(WindowInput {
            raw: &self.raw,
            band: &self.band,
            low: &self.low,
            valid: &self.valid,
            t_end_s: self.t_last_s,
        })
    }
}
