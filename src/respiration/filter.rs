//! Detrending and band-pass filtering: Butterworth biquad sections designed from corner frequencies in
//! Hz by the bilinear transform with pre-warping, run in transposed direct form II in `f64`.
//!
//! The band-pass of the breathing chain is a 2nd-order high-pass at `band_low_hz` (removes offset and
//! slow drift: the detrend) followed by a 4th-order low-pass at `band_high_hz` (removes sensor noise).
//! Each filter holds two state values per section: no allocation per sample.

use std::f64::consts::PI;

/// Kind of a biquad section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BiquadKind {
    /// Low-pass.
    LowPass,
    /// High-pass.
    HighPass,
}

/// One second-order IIR section `H(z) = (b0 + b1 z^-1 + b2 z^-2) / (1 + a1 z^-1 + a2 z^-2)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
    s: [f64; 2],
}

impl Biquad {
    /// A low- or high-pass section with corner `f0_hz` and quality factor `q` at sample rate `fs_hz`.
    /// The corner is clamped into `(0, fs/2)` so the design never produces NaN coefficients.
    pub fn design(kind: BiquadKind, f0_hz: f64, q: f64, fs_hz: f64) -> Self {
        let f0 = f0_hz.clamp(1e-6 * fs_hz, 0.499 * fs_hz);
        let k = (PI * f0 / fs_hz).tan();
        let norm = 1.0 / (1.0 + k / q + k * k);
        let a = [2.0 * (k * k - 1.0) * norm, (1.0 - k / q + k * k) * norm];
        let b = match kind {
            BiquadKind::LowPass => [k * k * norm, 2.0 * k * k * norm, k * k * norm],
            BiquadKind::HighPass => [norm, -2.0 * norm, norm],
        };
        Self { b, a, s: [0.0; 2] }
    }

    /// Filter one sample.
    #[inline]
    pub fn process(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.s[0];
        self.s[0] = self.b[1] * x - self.a[0] * y + self.s[1];
        self.s[1] = self.b[2] * x - self.a[1] * y;
        y
    }

    /// Set the state to the steady state reached after a constant input `x` forever, so a signal
    /// starting at an offset causes no start-up transient.
    pub fn settle(&mut self, x: f64) {
        let y = self.dc_gain() * x;
        self.s[1] = self.b[2] * x - self.a[1] * y;
        self.s[0] = self.b[1] * x - self.a[0] * y + self.s[1];
    }

    /// Gain at 0 Hz.
    pub fn dc_gain(&self) -> f64 {
        (self.b[0] + self.b[1] + self.b[2]) / (1.0 + self.a[0] + self.a[1])
    }

    /// Magnitude of the frequency response at `f_hz` for sample rate `fs_hz`, from the coefficients.
    pub fn magnitude(&self, f_hz: f64, fs_hz: f64) -> f64 {
        let w = 2.0 * PI * f_hz / fs_hz;
        let (c1, s1, c2, s2) = (w.cos(), -w.sin(), (2.0 * w).cos(), -(2.0 * w).sin());
        let nr = self.b[0] + self.b[1] * c1 + self.b[2] * c2;
        let ni = self.b[1] * s1 + self.b[2] * s2;
        let dr = 1.0 + self.a[0] * c1 + self.a[1] * c2;
        let di = self.a[0] * s1 + self.a[1] * s2;
        ((nr * nr + ni * ni) / (dr * dr + di * di)).sqrt()
    }
}

/// Quality factors of the biquad sections of an even-order Butterworth filter.
fn butterworth_qs(order: usize) -> impl Iterator<Item = f64> {
    (1..=order / 2).map(move |k| 1.0 / (2.0 * ((2 * k - 1) as f64 * PI / (2 * order) as f64).sin()))
}

/// An even-order Butterworth low- or high-pass as a cascade of biquads.
#[derive(Debug, Clone, PartialEq)]
pub struct Butterworth {
    sections: Vec<Biquad>,
}

impl Butterworth {
    /// Order `order` (rounded up to even, at least 2) with corner `f0_hz` at `fs_hz`.
    pub fn new(kind: BiquadKind, order: usize, f0_hz: f64, fs_hz: f64) -> Self {
        let order = order.max(2).div_ceil(2) * 2;
        let sections = butterworth_qs(order)
            .map(|q| Biquad::design(kind, f0_hz, q, fs_hz))
            .collect();
        Self { sections }
    }

    /// Filter one sample.
    #[inline]
    pub fn process(&mut self, x: f64) -> f64 {
        self.sections.iter_mut().fold(x, |v, s| s.process(v))
    }

    /// Settle every section to a constant input `x` (see [`Biquad::settle`]).
    pub fn settle(&mut self, x: f64) {
        let mut v = x;
        for s in &mut self.sections {
            s.settle(v);
            v *= s.dc_gain();
        }
    }

    /// Magnitude response at `f_hz` (product of the sections).
    pub fn magnitude(&self, f_hz: f64, fs_hz: f64) -> f64 {
        self.sections
            .iter()
            .map(|s| s.magnitude(f_hz, fs_hz))
            .product()
    }
}

/// The breathing band-pass: 2nd-order high-pass (detrend) then 4th-order low-pass.
#[derive(Debug, Clone, PartialEq)]
pub struct BandPass {
    hp: Butterworth,
    lp: Butterworth,
    started: bool,
}

impl BandPass {
    /// Band `low_hz..high_hz` at sample rate `fs_hz`.
    pub fn new(low_hz: f64, high_hz: f64, fs_hz: f64) -> Self {
        Self {
            hp: Butterworth::new(BiquadKind::HighPass, 2, low_hz, fs_hz),
            lp: Butterworth::new(BiquadKind::LowPass, 4, high_hz, fs_hz),
            started: false,
        }
    }

    /// Filter one sample; the first sample settles the filter so an offset gives no transient.
    #[inline]
    pub fn process(&mut self, x: f64) -> f64 {
        if !self.started {
            self.hp.settle(x);
            self.lp.settle(0.0);
            self.started = true;
        }
        self.lp.process(self.hp.process(x))
    }

    /// Forget the state; the next sample settles the filter again.
    pub fn reset(&mut self) {
        self.started = false;
    }

    /// Magnitude response at `f_hz`.
    pub fn magnitude(&self, f_hz: f64, fs_hz: f64) -> f64 {
        self.hp.magnitude(f_hz, fs_hz) * self.lp.magnitude(f_hz, fs_hz)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Analytic Butterworth magnitude after the bilinear transform with pre-warping.
    fn analytic(kind: BiquadKind, order: usize, f0: f64, f: f64, fs: f64) -> f64 {
        let r = (PI * f / fs).tan() / (PI * f0 / fs).tan();
        let r = if kind == BiquadKind::HighPass {
            1.0 / r
        } else {
            r
        };
        1.0 / (1.0 + r.powi(2 * order as i32)).sqrt()
    }

    /// Steady-state amplitude of the filter's output for a unit sine at `f`.
    fn measured(filt: &mut Butterworth, f: f64, fs: f64) -> f64 {
        let n = (fs * 400.0 / f.min(1.0)) as usize;
        let mut peak: f64 = 0.0;
        for i in 0..n {
            let y = filt.process((2.0 * PI * f * i as f64 / fs).sin());
            if i > n / 2 {
                peak = peak.max(y.abs());
            }
        }
        peak
    }

    #[test]
    fn magnitude_matches_analytic_butterworth() {
        let fs = 10.0;
        for (kind, order, f0) in [
            (BiquadKind::LowPass, 2, 1.0),
            (BiquadKind::LowPass, 4, 1.0),
            (BiquadKind::HighPass, 2, 0.05),
            (BiquadKind::HighPass, 4, 0.3),
        ] {
            let filt = Butterworth::new(kind, order, f0, fs);
            for f in [0.01, 0.05, 0.1, 0.3, 0.7, 1.0, 2.0, 4.5] {
                let want = analytic(kind, order, f0, f, fs);
                let got = filt.magnitude(f, fs);
                assert!(
                    (got - want).abs() < 1e-9,
                    "{kind:?} {order} f={f}: {got} vs {want}"
                );
            }
            let corner = filt.magnitude(f0, fs);
            assert!((corner - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-9);
        }
    }

    #[test]
    fn filtering_a_sine_gives_the_designed_gain() {
        let fs = 10.0;
        for (kind, f0, f) in [
            (BiquadKind::LowPass, 1.0, 0.25),
            (BiquadKind::LowPass, 1.0, 1.5),
            (BiquadKind::HighPass, 0.05, 0.03),
            (BiquadKind::HighPass, 0.05, 0.3),
        ] {
            let mut filt = Butterworth::new(kind, 4, f0, fs);
            let want = analytic(kind, 4, f0, f, fs);
            let got = measured(&mut filt, f, fs);
            assert!((got - want).abs() < 0.01, "{kind:?} f={f}: {got} vs {want}");
        }
    }

    #[test]
    fn band_pass_removes_offset_without_transient() {
        let fs = 10.0;
        let mut bp = BandPass::new(0.05, 1.0, fs);
        let mut worst: f64 = 0.0;
        for i in 0..600 {
            let y = bp.process(1234.5 + 0.001 * (i as f64 / fs));
            worst = worst.max(y.abs());
        }
        assert!(worst < 0.05, "offset leaked: {worst}");
        assert!((bp.magnitude(0.25, fs) - 1.0).abs() < 0.02);
        assert!(bp.magnitude(3.0, fs) < 0.02);
    }
}
