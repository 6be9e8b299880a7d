//! Breath timing per pattern: an endless, lazily generated sequence of breaths and the pauses after
//! them, drawn from the schedule's own ChaCha8 stream so that it depends only on (params, seed).
//!
//! Breath-to-breath variability: period and depth are log-normal around their means with AR(1)
//! correlation (real recordings show slow wandering, not white jitter), CVs from [`RsmParams`].

use super::params::RsmParams;
use super::Breath;
use crate::types::Pattern;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// ChaCha stream of the breath schedule (motion and noise use others).
const STREAM: u64 = 1;
/// Correlation of successive breaths' period and depth deviations.
const RHO: f64 = 0.5;

/// One generated breath and what follows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Step {
    /// The breath (onset, inspiration + expiration time, depth).
    pub breath: Breath,
    /// Expiration time, s.
    pub te_s: f64,
    /// Pause at end-expiration after the breath, s (0 for none).
    pub pause_after_s: f64,
    /// Whether this breath starts a Cheyne-Stokes cycle.
    pub cycle_start: bool,
}

impl Step {
    /// End of the breath and of the pause after it, s.
    pub fn end_s(&self) -> f64 {
        self.breath.onset_s + self.breath.duration_s + self.pause_after_s
    }
}

/// Per-pattern generator state.
#[derive(Debug, Clone)]
enum State {
    Regular,
    Biots {
        left: u32,
        depth: f64,
    },
    Cs {
        k: u32,
        n: u32,
        period: f64,
        pause: f64,
        hypo_left: u32,
    },
    Central {
        breathe_until: f64,
        /// Recovery breaths still to come after the last pause.
        recovery_left: u32,
    },
}

/// The lazily generated breath sequence of one simulated subject.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    p: RsmParams,
    rng: ChaCha8Rng,
    next_onset: f64,
    z_period: f64,
    z_depth: f64,
    state: State,
}

impl Schedule {
    /// The schedule for `params` and `seed`, starting at a random phase within the first breath.
    pub fn new(params: &RsmParams, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(STREAM);
        let t0 = 60.0 / params.rate_bpm.max(1.0) as f64;
        let next_onset = rng.gen::<f64>() * 0.5 * t0;
        let state = match params.pattern {
            Pattern::Biots => State::Biots {
                left: 0,
                depth: 0.0,
            },
            Pattern::CheyneStokes => State::Cs {
                k: 0,
                n: 0,
                period: t0,
                pause: 0.0,
                hypo_left: 0,
            },
            Pattern::CentralApnea => {
                let first = rng.gen_range(0.3..1.0) * params.group[1].max(1.0) as f64;
                State::Central {
                    breathe_until: next_onset + first,
                    recovery_left: 0,
                }
            }
            _ => State::Regular,
        };
        Self {
            p: params.clone(),
            rng,
            next_onset,
            z_period: 0.0,
            z_depth: 0.0,
            state,
        }
    }

    /// Mean breath period while breathing, s.
    fn mean_period(&self) -> f64 {
        60.0 / self.p.rate_bpm.max(1.0) as f64
    }

    /// Next AR(1) log-normal factor with coefficient of variation `cv`, clamped to 0.65..1.5.
    fn wander(rng: &mut ChaCha8Rng, z: &mut f64, cv: f64) -> f64 {
        let e: f64 = rng.sample(StandardNormal);
        *z = RHO * *z + (1.0 - RHO * RHO).sqrt() * e;
        (cv * *z - 0.5 * cv * cv).exp().clamp(0.65, 1.5)
    }

    fn period(&mut self, scale: f64, cv_scale: f64) -> f64 {
        let cv = self.p.period_cv as f64 * cv_scale;
        self.mean_period() * scale * Self::wander(&mut self.rng, &mut self.z_period, cv)
    }

    fn depth(&mut self, mean: f64, cv_scale: f64) -> f64 {
        let cv = self.p.depth_cv as f64 * cv_scale;
        mean * Self::wander(&mut self.rng, &mut self.z_depth, cv)
    }

    /// Log-uniform pause length in `p.pause_s`, s.
    fn pause(&mut self) -> f64 {
        let lo = self.p.pause_s[0].max(0.1) as f64;
        let hi = (self.p.pause_s[1] as f64).max(lo);
        if hi <= lo {
            return lo;
        }
        (lo.ln() + self.rng.gen::<f64>() * (hi.ln() - lo.ln())).exp()
    }

    /// With [`RsmParams::sighs_per_min`] set, whether this breath is a sigh: its depth factor and the
    /// stillness after it, s. Consumes no randomness when sighs are off.
    fn sigh(&mut self) -> Option<(f64, f64)> {
        let per_min = self.p.sighs_per_min as f64;
        if per_min <= 0.0 || !per_min.is_finite() {
            return None;
        }
        let chance = (per_min / self.p.rate_bpm.max(1.0) as f64).min(1.0);
        if self.rng.gen::<f64>() < chance {
            Some((self.rng.gen_range(1.6..2.4), self.rng.gen_range(1.5..4.0)))
        } else {
            None
        }
    }

    /// Generates the next breath.
    pub fn next_step(&mut self) -> Step {
        let d0 = self.p.depth_mm as f64;
        let mut state = std::mem::replace(&mut self.state, State::Regular);
        let (period, depth, pause, cycle_start) = match &mut state {
            State::Regular => {
                let (period, depth) = (self.period(1.0, 1.0), self.depth(d0, 1.0));
                match self.sigh() {
                    Some((factor, still)) => (period, depth * factor, still, false),
                    None => (period, depth, 0.0, false),
                }
            }
            State::Biots { left, depth } => {
                if *left == 0 {
                    let (lo, hi) = (self.p.group[0] as u32, (self.p.group[1] as u32).max(1));
                    *left = self.rng.gen_range(lo.clamp(1, hi)..=hi);
                    *depth = d0
                        * match self.p.cluster_depth_spread {
                            None => self.rng.gen_range(0.9..1.1),
                            Some(s) => {
                                let s = (s as f64).clamp(0.0, 0.9);
                                self.rng.gen_range(1.0 - s..=1.0 + s)
                            }
                        };
                }
                *left -= 1;
                let pause = if *left == 0 { self.pause() } else { 0.0 };
                let mean = *depth;
                (self.period(1.0, 0.6), self.depth(mean, 1.0), pause, false)
            }
            State::Cs {
                k,
                n,
                period,
                pause,
                hypo_left,
            } => self.cs_step(k, n, period, pause, hypo_left),
            State::Central {
                breathe_until,
                recovery_left,
            } => {
                let period = self.period(1.0, 1.0);
                // No waxing/waning: at most a few deeper recovery breaths right after a pause
                // (`recovery_depth`), and sighs.
                let mut depth = self.depth(d0, 1.0);
                let mut pause = 0.0;
                if *recovery_left > 0 {
                    *recovery_left -= 1;
                    depth *= self.p.recovery_depth.unwrap_or(1.0) as f64;
                } else if let Some((factor, still)) = self.sigh() {
                    depth *= factor;
                    pause = still;
                }
                if self.next_onset + period + pause >= *breathe_until {
                    pause = self.pause();
                    // Written so that unvalidated (NaN, reversed) ranges cannot panic.
                    let lo = self.p.group[0].max(1.0) as f64;
                    let hi = (self.p.group[1] as f64).max(lo);
                    let g = lo + self.rng.gen::<f64>() * (hi - lo);
                    *breathe_until = self.next_onset + period + pause + g;
                    if self.p.recovery_depth.is_some() {
                        *recovery_left = self.rng.gen_range(1..=3);
                    }
                }
                (period, depth, pause, false)
            }
        };
        self.state = state;
        // Unvalidated parameters (NaN, infinite rate) must not stall or poison the schedule.
        let period = if period.is_finite() {
            period.max(0.2)
        } else {
            4.0
        };
        let pause = if pause.is_finite() {
            pause.max(0.0)
        } else {
            0.0
        };
        let ti = period / (1.0 + self.p.ie_ratio as f64);
        let breath = Breath {
            onset_s: self.next_onset,
            duration_s: period,
            inspiration_s: ti,
            depth_mm: depth as f32,
        };
        self.next_onset += period + pause;
        Step {
            breath,
            te_s: period - ti,
            pause_after_s: pause,
            cycle_start,
        }
    }

    /// One Cheyne-Stokes breath: breath `k` of `n` under a crescendo-decrescendo envelope, then an
    /// apnea (or shallow hypopnoea breaths) before the next cycle.
    fn cs_step(
        &mut self,
        k: &mut u32,
        n: &mut u32,
        period: &mut f64,
        pause: &mut f64,
        hypo_left: &mut u32,
    ) -> (f64, f64, f64, bool) {
        let d0 = self.p.depth_mm as f64;
        if *hypo_left > 0 {
            *hypo_left -= 1;
            let depth = d0
                * match self.p.hypopnea_depth {
                    None => self.rng.gen_range(0.06..0.12),
                    Some(h) => {
                        let h = (h as f64).clamp(0.02, 0.5);
                        self.rng.gen_range(0.5 * h..h)
                    }
                };
            return (*period * 1.3, depth, 0.0, false);
        }
        let mut start = false;
        if *k >= *n {
            // New cycle: its length, its apnea, and the breaths that fill the hyperpnoea.
            let z: f64 = self.rng.sample(StandardNormal);
            let cycle = (self.p.cycle_s as f64 * (0.08 * z).exp()).clamp(40.0, 120.0);
            *pause = self.pause().min(0.5 * cycle);
            *period = self.mean_period() * self.rng.gen_range(0.95..1.05);
            let hyper = cycle - *pause;
            *n = ((hyper / (0.973 * *period)).round() as u32).max(4);
            *k = 0;
            start = true;
        }
        let e = envelope(*k, *n, self.p.cs_peak);
        let p = self.period(1.1 - 0.2 * e, 0.5);
        let floor = self.p.cs_floor.map_or(0.12, |f| (f as f64).clamp(0.0, 0.9));
        let depth = self.depth(d0 * (floor + (1.0 - floor) * e), 0.5);
        *k += 1;
        let mut after = 0.0;
        if *k >= *n {
            if self.p.hypopnea {
                *hypo_left = ((*pause / (1.3 * *period)).round() as u32).max(1);
            } else {
                after = *pause;
            }
        }
        (p, depth, after, start)
    }
}

/// Cheyne-Stokes envelope (0..=1) of breath `k` of `n`: a half sine, rising until the share `peak`
/// of the run (`None`: the middle) and falling after it.
fn envelope(k: u32, n: u32, peak: Option<f32>) -> f64 {
    use std::f64::consts::{FRAC_PI_2, PI};
    let x = k as f64 + 0.5;
    let n = (n as f64).max(1.0);
    match peak {
        None => (PI * x / n).sin(),
        Some(p) => {
            let top = (p as f64).clamp(0.05, 0.95) * n;
            let phase = if x < top {
                x / top
            } else {
                1.0 + (x - top) / (n - top)
            };
            (FRAC_PI_2 * phase).sin().max(0.0)
        }
    }
}
