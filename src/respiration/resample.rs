//! Streaming resampler: irregularly timed, possibly invalid displacement samples (camera frames with
//! drops, `None` where no chest depth was found) to a fixed rate by linear interpolation.
//!
//! Grid points between two valid samples at most `max_gap_s` apart are interpolated (short gaps are
//! bridged); grid points inside a longer gap come out as `None` and the gap is reported. A jump in
//! time longer than `restart_after_s` restarts the grid at the new sample instead of emitting an
//! unbounded run of `None`. No allocation: output goes to a caller-supplied closure.

/// A gap in valid input longer than the bridging limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gap {
    /// Time of the last valid sample before the gap, s.
    pub start_s: f64,
    /// Time of the first valid sample after the gap, s.
    pub end_s: f64,
}

/// Linear-interpolating resampler to `hz`.
#[derive(Debug, Clone)]
pub struct Resampler {
    hz: f64,
    max_gap_s: f64,
    restart_after_s: f64,
    /// Last valid input (t, value).
    last: Option<(f64, f32)>,
    /// Latest input time seen (valid or not).
    last_t: f64,
    /// Index of the next grid point to emit, and the grid origin.
    next_k: u64,
    origin_s: f64,
}

impl Resampler {
    /// Output rate `hz` (> 0); gaps up to `max_gap_s` are interpolated; a time jump beyond
    /// `restart_after_s` restarts the grid.
    pub fn new(hz: f64, max_gap_s: f64, restart_after_s: f64) -> Self {
        Self {
            hz,
            max_gap_s,
            restart_after_s: restart_after_s.max(max_gap_s),
            last: None,
            last_t: f64::NEG_INFINITY,
            next_k: 0,
            origin_s: 0.0,
        }
    }

    /// Forget everything (next valid sample starts a new grid).
    pub fn reset(&mut self) {
        *self = Self::new(self.hz, self.max_gap_s, self.restart_after_s);
    }

    fn grid(&self, k: u64) -> f64 {
        self.origin_s + k as f64 / self.hz
    }

    /// Feed one input sample at `t_s` (non-finite values count as invalid; times that do not
    /// increase are ignored). Calls `emit(t_grid_s, value)` for every grid point that is now final.
    /// Returns the gap that this sample closed, if the gap was longer than `max_gap_s`.
    pub fn push(
        &mut self,
        t_s: f64,
        value: Option<f32>,
        mut emit: impl FnMut(f64, Option<f32>),
    ) -> Option<Gap> {
        if !t_s.is_finite() || t_s <= self.last_t {
            return None;
        }
        self.last_t = t_s;
        let value = value.filter(|v| v.is_finite());
        let Some((t0, v0)) = self.last else {
            if let Some(v) = value {
                self.last = Some((t_s, v));
                self.origin_s = t_s;
                self.next_k = 1;
                emit(t_s, Some(v));
            }
            return None;
        };
        if t_s - self.grid(self.next_k) > self.restart_after_s {
            let gap = Gap {
                start_s: t0,
                end_s: t_s,
            };
            self.reset();
            self.last_t = t_s;
            if let Some(v) = value {
                self.last = Some((t_s, v));
                self.origin_s = t_s;
                self.next_k = 1;
                emit(t_s, Some(v));
            }
            return Some(gap);
        }
        let long = t_s - t0 > self.max_gap_s;
        match value {
            Some(v) => {
                while self.grid(self.next_k) <= t_s {
                    let tg = self.grid(self.next_k);
                    let out = if long && tg < t_s {
                        None
                    } else {
                        let w = ((tg - t0) / (t_s - t0)) as f32;
                        Some(v0 + (v - v0) * w)
                    };
                    emit(tg, out);
                    self.next_k += 1;
                }
                self.last = Some((t_s, v));
                long.then_some(Gap {
                    start_s: t0,
                    end_s: t_s,
                })
            }
            None => {
                // Once the gap is longer than the bridge, every grid point up to now is invalid.
                if long {
                    while self.grid(self.next_k) <= t_s {
                        emit(self.grid(self.next_k), None);
                        self.next_k += 1;
                    }
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn irregular_ramp_with_drops_is_interpolated_exactly() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut rs = Resampler::new(10.0, 0.5, 60.0);
        let mut out = Vec::new();
        let mut t = 1.0;
        while t < 31.0 {
            // A linear signal is reproduced exactly by linear interpolation.
            let v = if rng.gen_bool(0.1) {
                None
            } else {
                Some((2.0 * t + 3.0) as f32)
            };
            rs.push(t, v, |tg, v| out.push((tg, v)));
            t += 1.0 / 30.0 + rng.gen_range(-0.004..0.004);
        }
        assert!(out.len() >= 299 && out.len() <= 301, "{}", out.len());
        for (k, (tg, v)) in out.iter().enumerate() {
            assert!((tg - (1.0 + k as f64 / 10.0)).abs() < 1e-9);
            let v = v.expect("short drops are bridged");
            assert!((v as f64 - (2.0 * tg + 3.0)).abs() < 1e-3, "{tg}: {v}");
        }
    }

    #[test]
    fn long_gap_is_reported_and_invalid() {
        let mut rs = Resampler::new(10.0, 0.5, 60.0);
        let mut out = Vec::new();
        let mut gaps = Vec::new();
        for i in 0..300 {
            let t = i as f64 / 30.0;
            let v = if (3.0..5.0).contains(&t) {
                None
            } else {
                Some(1.0)
            };
            if let Some(g) = rs.push(t, v, |tg, v| out.push((tg, v))) {
                gaps.push(g);
            }
        }
        assert_eq!(gaps.len(), 1);
        assert!((gaps[0].start_s - 2.9667).abs() < 1e-3 && (gaps[0].end_s - 5.0).abs() < 1e-9);
        let invalid: Vec<f64> = out.iter().filter(|o| o.1.is_none()).map(|o| o.0).collect();
        assert_eq!(invalid.len(), 20, "{invalid:?}");
        assert!(invalid.iter().all(|t| (2.9..5.0).contains(t)));
    }

    #[test]
    fn time_jump_restarts_grid() {
        let mut rs = Resampler::new(10.0, 0.5, 20.0);
        let mut n = 0;
        rs.push(0.0, Some(1.0), |_, _| n += 1);
        let gap = rs.push(1000.0, Some(1.0), |_, _| n += 1);
        assert!(gap.is_some());
        assert_eq!(n, 2);
        rs.push(999.0, Some(1.0), |_, _| n += 1);
        assert_eq!(n, 2, "decreasing time ignored");
    }
}
