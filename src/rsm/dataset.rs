//! Bulk mode: a balanced, labelled training set of fixed-length windows from many seeds and
//! parameter draws of all six patterns, written as one CSV (format in `src/rsm/README.md`):
//!
//! `out_dir/windows.csv`: header `id,pattern,seed,t0_s,rate_bpm,apnea_s,hz,v0,...,vN-1`, one window
//! per row, `v*` in mm (4 decimals), and `out_dir/spec.json` with the [`DatasetSpec`] used.

use super::io::{params_for, HZ_RANGE};
use super::params::check;
use super::{GroundTruth, Rsm, RsmError};
use crate::types::Pattern;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSpec {
    /// Windows per pattern (all six patterns get the same number), 1..=100000.
    pub per_pattern: usize,
    /// Window length, s, 30..=600.
    pub window_s: f64,
    /// Sample rate, Hz, 5..=1000.
    pub hz: f64,
    /// Window `i` of pattern `p` uses seed `base_seed + 6 i + p.index()` (wrapping) for both the
    /// parameter draw and the simulation, so `simulate(p, None, .., seed)` reproduces its subject.
    pub base_seed: u64,
    /// Windows start at a random time in `[0, max_offset_s]`, s, 0..=3600.
    pub max_offset_s: f64,
}

impl Default for DatasetSpec {
    fn default() -> Self {
        Self {
            per_pattern: 200,
            window_s: 120.0,
            hz: 10.0,
            base_seed: 1,
            max_offset_s: 300.0,
        }
    }
}

impl DatasetSpec {
    /// Checks every field; the error names the field and its allowed range.
    pub fn validate(&self) -> Result<(), RsmError> {
        check("per_pattern", self.per_pattern as f32, 1.0, 100_000.0)?;
        check("window_s", self.window_s as f32, 30.0, 600.0)?;
        check("hz", self.hz as f32, HZ_RANGE.0 as f32, HZ_RANGE.1 as f32)?;
        check("max_offset_s", self.max_offset_s as f32, 0.0, 3600.0)
    }

    /// Samples per window.
    pub fn samples(&self) -> usize {
        (self.window_s * self.hz).round() as usize
    }
}

/// One row of `windows.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRow {
    /// Row number, from 0.
    pub id: usize,
    /// Label.
    pub pattern: Pattern,
    /// Seed of the parameter draw and the simulation.
    pub seed: u64,
    /// Start of the window in simulation time, s.
    pub t0_s: f64,
    /// Mean rate while breathing in the window, breaths/min (`None`: fewer than two breaths).
    pub rate_bpm: Option<f32>,
    /// Total apnea time (pauses of 10 s or more) inside the window, s.
    pub apnea_s: f64,
    /// Sample rate, Hz.
    pub hz: f64,
    /// Chest signal (breathing + motion + noise), mm.
    pub values: Vec<f32>,
}

/// Whether the window shows what defines its label (an apnea for central apnea, a pause for Biot's,
/// an apnea or a cycle start for Cheyne-Stokes).
fn shows_label(pattern: Pattern, t: &GroundTruth) -> bool {
    match pattern {
        Pattern::CentralApnea => !t.apneas.is_empty(),
        Pattern::Biots => t.pauses.iter().any(|p| p.duration_s() >= 3.0),
        Pattern::CheyneStokes => !t.apneas.is_empty() || !t.cycle_starts_s.is_empty(),
        _ => true,
    }
}

/// Simulates window `i` of `pattern`.
fn make_window(spec: &DatasetSpec, pattern: Pattern, i: usize) -> Result<WindowRow, RsmError> {
    let seed = spec
        .base_seed
        .wrapping_add(6 * i as u64 + pattern.index() as u64);
    let params = params_for(pattern, None, seed)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(98);
    let mut rsm = Rsm::new(params, seed);
    let mut tries = 0;
    loop {
        let t0_s = (rng.gen::<f64>() * spec.max_offset_s * 1000.0).round() / 1000.0;
        let rec = rsm.sample_from(spec.hz, t0_s, spec.window_s);
        tries += 1;
        if shows_label(pattern, &rec.truth) || tries >= 20 {
            if tries >= 20 {
                log::warn!("dataset: {pattern} seed {seed}: no defining event in 20 windows");
            }
            return Ok(WindowRow {
                id: 0,
                pattern,
                seed,
                t0_s,
                rate_bpm: rec.truth.mean_rate_bpm(t0_s, t0_s + spec.window_s),
                apnea_s: rec.truth.apneas.iter().map(|a| a.duration_s()).sum(),
                hz: spec.hz,
                values: rec.resp_mm,
            });
        }
    }
}

/// Writes `spec.json` and `windows.csv` into `out_dir` (created if missing); returns the number of
/// rows. Rows cycle through the six patterns, so every prefix is balanced.
pub fn write_dataset(spec: &DatasetSpec, out_dir: &Path) -> Result<usize, RsmError> {
    spec.validate()?;
    let io_err = |p: &Path| {
        let path = p.display().to_string();
        move |source| RsmError::Io { path, source }
    };
    std::fs::create_dir_all(out_dir).map_err(io_err(out_dir))?;
    let spec_path = out_dir.join("spec.json");
    let json = serde_json::to_string_pretty(spec).map_err(|source| RsmError::Json {
        path: spec_path.display().to_string(),
        source,
    })?;
    std::fs::write(&spec_path, json).map_err(io_err(&spec_path))?;

    let path = out_dir.join("windows.csv");
    let file = std::fs::File::create(&path).map_err(io_err(&path))?;
    let mut w = std::io::BufWriter::new(file);
    let mut header = String::from("id,pattern,seed,t0_s,rate_bpm,apnea_s,hz");
    for k in 0..spec.samples() {
        header.push_str(&format!(",v{k}"));
    }
    writeln!(w, "{header}").map_err(io_err(&path))?;
    let mut id = 0;
    for i in 0..spec.per_pattern {
        for pattern in Pattern::ALL {
            let row = make_window(spec, pattern, i)?;
            let rate = row.rate_bpm.map(|r| format!("{r:.3}")).unwrap_or_default();
            write!(
                w,
                "{id},{pattern},{},{:.3},{rate},{:.3},{}",
                row.seed, row.t0_s, row.apnea_s, row.hz
            )
            .map_err(io_err(&path))?;
            for v in &row.values {
                write!(w, ",{v:.4}").map_err(io_err(&path))?;
            }
            writeln!(w).map_err(io_err(&path))?;
            id += 1;
        }
    }
    w.flush().map_err(io_err(&path))?;
    log::info!("wrote {id} windows to {}", path.display());
    Ok(id)
}

/// Reads a `windows.csv` written by [`write_dataset`].
pub fn read_windows(path: &Path) -> Result<Vec<WindowRow>, RsmError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| RsmError::Io {
        path: p.clone(),
        source,
    })?;
    let bad = |line: usize, msg: String| RsmError::Format {
        path: p.clone(),
        line,
        msg,
    };
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 7 {
            return Err(bad(
                n + 1,
                format!("{} fields, expected at least 7", f.len()),
            ));
        }
        let num = |k: usize| {
            f[k].parse::<f64>()
                .map_err(|_| bad(n + 1, format!("field {k}: '{}' is not a number", f[k])))
        };
        let values = f[7..]
            .iter()
            .map(|v| {
                v.parse::<f32>()
                    .map_err(|_| bad(n + 1, format!("value '{v}' is not a number")))
            })
            .collect::<Result<Vec<f32>, _>>()?;
        rows.push(WindowRow {
            id: f[0]
                .parse()
                .map_err(|_| bad(n + 1, format!("bad id '{}'", f[0])))?,
            pattern: f[1].parse().map_err(|e| bad(n + 1, format!("{e}")))?,
            seed: f[2]
                .parse()
                .map_err(|_| bad(n + 1, format!("bad seed '{}'", f[2])))?,
            t0_s: num(3)?,
            rate_bpm: if f[4].is_empty() {
                None
            } else {
                Some(num(4)? as f32)
            },
            apnea_s: num(5)?,
            hz: num(6)?,
            values,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_round_trips_and_is_balanced_and_labelled() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string()).unwrap();
        let spec = DatasetSpec {
            per_pattern: 3,
            window_s: 60.0,
            hz: 10.0,
            base_seed: 40,
            max_offset_s: 120.0,
        };
        let n = write_dataset(&spec, dir.path())
            .map_err(|e| e.to_string())
            .unwrap();
        assert_eq!(n, 18);
        let rows = read_windows(&dir.path().join("windows.csv"))
            .map_err(|e| e.to_string())
            .unwrap();
        assert_eq!(rows.len(), 18);
        for p in Pattern::ALL {
            assert_eq!(rows.iter().filter(|r| r.pattern == p).count(), 3, "{p}");
        }
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(r.id, i);
            assert_eq!(r.values.len(), 600);
            let fresh = make_window(&spec, r.pattern, i / 6)
                .map_err(|e| e.to_string())
                .unwrap();
            assert_eq!((fresh.seed, fresh.hz), (r.seed, r.hz));
            assert!((fresh.t0_s - r.t0_s).abs() < 1e-9);
            for (a, b) in fresh.values.iter().zip(&r.values) {
                assert!((a - b).abs() <= 5.1e-5, "{a} vs {b}");
            }
            if r.pattern == Pattern::CentralApnea {
                assert!(
                    r.apnea_s >= 10.0,
                    "central apnea window without apnea: {r:?}"
                );
            }
            if r.pattern.is_regular() {
                assert_eq!(r.apnea_s, 0.0);
            }
        }
        let spec_back: DatasetSpec = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("spec.json")).unwrap_or_default(),
        )
        .map_err(|e| e.to_string())
        .unwrap();
        assert_eq!(spec_back, spec);
    }

    #[test]
    fn bad_spec_is_rejected() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string()).unwrap();
        let spec = DatasetSpec {
            window_s: 10.0,
            ..Default::default()
        };
        let msg = write_dataset(&spec, dir.path()).unwrap_err().to_string();
        assert!(msg.contains("window_s") && msg.contains("30"), "{msg}");
    }

    #[test]
    fn malformed_file_gives_a_format_error() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string()).unwrap();
        let p = dir.path().join("w.csv");
        std::fs::write(
            &p,
            "id,pattern,seed,t0_s,rate_bpm,apnea_s,hz,v0\n0,eupnea,1,0,15,0,10,abc\n",
        )
        .map_err(|e| e.to_string())
        .unwrap();
        assert!(matches!(
            read_windows(&p),
            Err(RsmError::Format { line: 2, .. })
        ));
    }
}
