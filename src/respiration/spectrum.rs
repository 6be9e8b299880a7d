//! Breathing rate from the spectrum: Hann window, zero-padding, FFT (`rustfft`, plan made once),
//! strongest peak inside the breathing band, refined by parabolic interpolation of the log power.

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

/// Lowest and highest rate searched, breaths/min.
pub const RATE_BAND_BPM: (f32, f32) = (4.0, 60.0);

/// A dominant spectral peak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpectralPeak {
    /// Peak frequency as a rate, breaths/min.
    pub rate_bpm: f32,
    /// Fraction of the band's power within ±0.03 Hz of the peak (0..1): how line-like the spectrum is.
    pub prominence: f32,
}

/// Reusable spectral rate estimator for windows of up to `max_len` samples at `hz`.
pub struct SpectralRate {
    hz: f64,
    fft: Arc<dyn Fft<f32>>,
    buf: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    power: Vec<f32>,
}

impl std::fmt::Debug for SpectralRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SpectralRate {{ hz: {}, nfft: {} }}",
            self.hz,
            self.buf.len()
        )
    }
}

impl SpectralRate {
    /// FFT length: next power of two ≥ 4 × `max_len` (zero-padding for a finer grid), at least 1024.
    pub fn new(max_len: usize, hz: f64) -> Self {
        let nfft = (4 * max_len.max(1)).next_power_of_two().max(1024);
        let fft = FftPlanner::new().plan_fft_forward(nfft);
        let scratch = vec![Complex::default(); fft.get_inplace_scratch_len()];
        Self {
            hz,
            fft,
            buf: vec![Complex::default(); nfft],
            scratch,
            power: vec![0.0; nfft / 2 + 1],
        }
    }

    /// FFT length in use.
    pub fn nfft(&self) -> usize {
        self.buf.len()
    }

    /// Power spectrum (|X_k|² for k = 0..=nfft/2) of the Hann-windowed, mean-removed, zero-padded
    /// `x` (only the newest `nfft` samples if longer).
    pub fn power_spectrum(&mut self, x: &[f32]) -> &[f32] {
        let n = self.buf.len();
        let x = &x[x.len().saturating_sub(n)..];
        let mean = x.iter().sum::<f32>() / x.len().max(1) as f32;
        let m = x.len() as f32;
        for (i, c) in self.buf.iter_mut().enumerate() {
            *c = match x.get(i) {
                Some(v) => {
                    let w = 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / m).cos();
                    Complex::new((v - mean) * w, 0.0)
                }
                None => Complex::default(),
            };
        }
        self.fft
            .process_with_scratch(&mut self.buf, &mut self.scratch);
        for (p, c) in self.power.iter_mut().zip(&self.buf) {
            *p = c.norm_sqr();
        }
        &self.power
    }

    /// The strongest peak between [`RATE_BAND_BPM`], or `None` for a flat or empty signal or a
    /// maximum on the band's edge (no true peak inside the band).
    pub fn peak(&mut self, x: &[f32]) -> Option<SpectralPeak> {
        if x.len() < 8 {
            return None;
        }
        let df = self.hz / self.buf.len() as f64;
        let k_lo = ((RATE_BAND_BPM.0 as f64 / 60.0) / df).floor().max(1.0) as usize;
        let k_hi = ((RATE_BAND_BPM.1 as f64 / 60.0) / df).ceil() as usize;
        let p = self.power_spectrum(x);
        let k_hi = k_hi.min(p.len().saturating_sub(2));
        let band = p.get(k_lo..=k_hi)?;
        let (i, &pk) = band.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
        let total: f32 = band.iter().sum();
        if pk.is_nan() || pk <= 0.0 || !total.is_finite() || i == 0 || i + 1 == band.len() {
            return None;
        }
        let k = k_lo + i;
        let (a, b, c) = (p[k - 1].max(1e-30).ln(), pk.ln(), p[k + 1].max(1e-30).ln());
        let denom = a - 2.0 * b + c;
        let delta = if denom < 0.0 {
            (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
        } else {
            0.0
        };
        let f = (k as f64 + delta as f64) * df;
        let half = (0.03 / df).round() as usize;
        let near: f32 = p[k.saturating_sub(half).max(k_lo)..=(k + half).min(k_hi)]
            .iter()
            .sum();
        Some(SpectralPeak {
            rate_bpm: (f * 60.0) as f32,
            prominence: (near / total).clamp(0.0, 1.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Naive DFT power at bin k of the same windowed, zero-padded signal.
    fn naive_power(x: &[f32], nfft: usize, k: usize) -> f64 {
        let m = x.len() as f64;
        let mean = x.iter().map(|v| *v as f64).sum::<f64>() / m;
        let (mut re, mut im) = (0.0, 0.0);
        for (i, v) in x.iter().enumerate() {
            let w = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / m).cos();
            let ang = -2.0 * std::f64::consts::PI * (k * i) as f64 / nfft as f64;
            re += (*v as f64 - mean) * w * ang.cos();
            im += (*v as f64 - mean) * w * ang.sin();
        }
        re * re + im * im
    }

    #[test]
    fn naive_dft_reference_is_right_on_a_bin_centred_cosine() {
        // A cosine at bin 64 of 1024 with a rectangular-equivalent check: Hann halves the amplitude.
        let n = 1024;
        let x: Vec<f32> = (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * 64.0 * i as f64 / n as f64).cos() as f32)
            .collect();
        let p = naive_power(&x, n, 64);
        let want = (n as f64 / 4.0).powi(2);
        assert!((p - want).abs() / want < 1e-3, "{p} vs {want}");
    }

    #[test]
    fn fft_power_matches_naive_dft_on_random_data() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let x: Vec<f32> = (0..300).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let mut sr = SpectralRate::new(300, 10.0);
        let nfft = sr.nfft();
        let p = sr.power_spectrum(&x).to_vec();
        let scale = p.iter().cloned().fold(0.0f32, f32::max) as f64;
        for k in (0..=nfft / 2).step_by(37) {
            let want = naive_power(&x, nfft, k);
            assert!(
                (p[k] as f64 - want).abs() < 1e-4 * scale,
                "bin {k}: {} vs {want}",
                p[k]
            );
        }
    }

    #[test]
    fn rate_of_sines_is_recovered() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut sr = SpectralRate::new(1200, 10.0);
        for _ in 0..40 {
            let rate: f32 = rng.gen_range(5.0..58.0);
            let phase: f32 = rng.gen_range(0.0..std::f32::consts::TAU);
            let x: Vec<f32> = (0..1200)
                .map(|i| (2.0 * std::f32::consts::PI * rate / 60.0 * i as f32 / 10.0 + phase).sin())
                .collect();
            let pk = sr.peak(&x).expect("peak");
            assert!((pk.rate_bpm - rate).abs() < 0.1, "{rate}: {}", pk.rate_bpm);
            assert!(pk.prominence > 0.8);
        }
        assert!(sr.peak(&[0.0; 1200]).is_none());
    }
}
