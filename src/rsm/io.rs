//! Simulation to files: argument validation, a recording as CSV `t_s,resp` (mm) and its ground
//! truth as `<stem>.truth.json` beside it. This is the API behind `edge-screen simulate`.

use super::params::{check, rate_range};
use super::{GroundTruth, Recording, Rsm, RsmError, RsmParams};
use crate::types::Pattern;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Allowed sample rates, Hz.
pub const HZ_RANGE: (f64, f64) = (5.0, 1000.0);
/// Longest recording, s (one day; memory grows with `seconds * hz`).
pub const MAX_SECONDS: f64 = 86_400.0;
/// ChaCha stream used to draw a subject's parameters from the seed.
const STREAM_PARAMS: u64 = 99;

/// The `<stem>.truth.json` file written beside a recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthFile {
    /// Seed of the simulation.
    pub seed: u64,
    /// Parameters of the simulated subject.
    pub params: RsmParams,
    /// Sample rate of the CSV, Hz.
    pub hz: f64,
    /// Length of the CSV, s.
    pub seconds: f64,
    /// Mean rate while breathing, breaths/min (`null` with fewer than two breaths).
    pub mean_rate_bpm: Option<f32>,
    /// Instantaneous rate at t = 0, 1, 2, ... s (`null` during apneas and before the first breath).
    pub rate_per_s: Vec<Option<f32>>,
    /// Pattern (key `pattern`, snake_case), breaths, pauses, apneas, cycle starts and motion
    /// artefacts inside the recording.
    #[serde(flatten)]
    pub truth: GroundTruth,
}

/// Checks the `simulate` arguments; the error names the argument and its allowed range.
pub fn validate_args(
    pattern: Pattern,
    rate_override: Option<f32>,
    seconds: f64,
    hz: f64,
) -> Result<(), RsmError> {
    let out = |name, value: f64, lo, hi| RsmError::OutOfRange {
        name,
        value,
        lo,
        hi,
    };
    if !(hz.is_finite() && hz >= HZ_RANGE.0 && hz <= HZ_RANGE.1) {
        return Err(out("hz", hz, HZ_RANGE.0, HZ_RANGE.1));
    }
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= MAX_SECONDS) {
        return Err(out("seconds", seconds, 0.0, MAX_SECONDS));
    }
    if let Some(r) = rate_override {
        let (lo, hi) = rate_range(pattern);
        check("rate", r, lo, hi)?;
    }
    Ok(())
}

/// Simulates `seconds` of `pattern` at `hz` for the subject drawn from `seed`
/// ([`RsmParams::draw`]), with the mean rate replaced by `rate_override` (breaths/min) if given.
pub fn simulate(
    pattern: Pattern,
    rate_override: Option<f32>,
    seconds: f64,
    hz: f64,
    seed: u64,
) -> Result<Recording, RsmError> {
    validate_args(pattern, rate_override, seconds, hz)?;
    let params = params_for(pattern, rate_override, seed)?;
    Ok(Rsm::new(params, seed).sample(hz, seconds))
}

/// The subject that `seed` draws for `pattern` ([`RsmParams::draw`] on the seed's parameter
/// stream), with the rate replaced by `rate_override` (breaths/min) if given; validated.
pub fn params_for(
    pattern: Pattern,
    rate_override: Option<f32>,
    seed: u64,
) -> Result<RsmParams, RsmError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(STREAM_PARAMS);
    let mut params = RsmParams::draw(pattern, &mut rng);
    if let Some(r) = rate_override {
        params.rate_bpm = r;
    }
    params.validate()?;
    Ok(params)
}

/// [`simulate`], then [`write_recording`] to `path` (and its truth beside it).
pub fn simulate_to_file(
    pattern: Pattern,
    rate_override: Option<f32>,
    seconds: f64,
    hz: f64,
    seed: u64,
    path: &Path,
) -> Result<Recording, RsmError> {
    let rec = simulate(pattern, rate_override, seconds, hz, seed)?;
    write_recording(&rec, path)?;
    Ok(rec)
}

/// Where the truth of the recording at `csv_path` goes: `dir/stem.csv` → `dir/stem.truth.json`.
pub fn truth_path(csv_path: &Path) -> PathBuf {
    csv_path.with_extension("truth.json")
}

/// Writes `rec` as CSV `t_s,resp` (t in s with 6 decimals, resp in mm with 4) to `path`, and its
/// [`TruthFile`] to [`truth_path`]`(path)`.
pub fn write_recording(rec: &Recording, path: &Path) -> Result<(), RsmError> {
    let io_err = |p: &Path| {
        let path = p.display().to_string();
        move |source| RsmError::Io { path, source }
    };
    let file = std::fs::File::create(path).map_err(io_err(path))?;
    let mut w = std::io::BufWriter::new(file);
    writeln!(w, "t_s,resp").map_err(io_err(path))?;
    for (t, v) in rec.t_s.iter().zip(&rec.resp_mm) {
        writeln!(w, "{t:.6},{v:.4}").map_err(io_err(path))?;
    }
    w.flush().map_err(io_err(path))?;

    let seconds = rec.t_s.len() as f64 / rec.hz;
    let t0 = rec.t_s.first().copied().unwrap_or(0.0);
    let tf = TruthFile {
        seed: rec.seed,
        params: rec.params.clone(),
        hz: rec.hz,
        seconds,
        mean_rate_bpm: rec.truth.mean_rate_bpm(t0, t0 + seconds),
        rate_per_s: (0..seconds.ceil() as usize)
            .map(|k| rec.truth.rate_at(t0 + k as f64))
            .collect(),
        truth: rec.truth.clone(),
    };
    let tpath = truth_path(path);
    let json = serde_json::to_string_pretty(&tf).map_err(|source| RsmError::Json {
        path: tpath.display().to_string(),
        source,
    })?;
    std::fs::write(&tpath, json).map_err(io_err(&tpath))?;
    log::info!("wrote {} and {}", path.display(), tpath.display());
    Ok(())
}

/// Reads a [`TruthFile`] written by [`write_recording`].
pub fn read_truth(path: &Path) -> Result<TruthFile, RsmError> {
    let path_s = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| RsmError::Io {
        path: path_s.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| RsmError::Json {
        path: path_s,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_arguments_name_the_argument_and_range() {
        let e = |r: Result<Recording, RsmError>| r.map(|_| ()).unwrap_err().to_string();
        let msg = e(simulate(Pattern::Eupnea, None, 60.0, 2.0, 1));
        assert!(
            msg.contains("hz") && msg.contains("5") && msg.contains("1000"),
            "{msg}"
        );
        assert!(e(simulate(Pattern::Eupnea, None, 0.0, 10.0, 1)).contains("seconds"));
        assert!(e(simulate(Pattern::Eupnea, None, f64::NAN, 10.0, 1)).contains("seconds"));
        let msg = e(simulate(Pattern::Bradypnea, Some(15.0), 60.0, 10.0, 1));
        assert!(
            msg.contains("rate") && msg.contains("6") && msg.contains("11"),
            "{msg}"
        );
        assert!(simulate(Pattern::Bradypnea, Some(9.0), 60.0, 10.0, 1).is_ok());
    }

    #[test]
    fn csv_and_truth_round_trip() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string()).unwrap();
        let path = dir.path().join("ca.csv");
        let rec = simulate_to_file(Pattern::CentralApnea, Some(15.0), 120.0, 25.0, 3, &path)
            .map_err(|e| e.to_string())
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("t_s,resp"));
        let rows: Vec<(f64, f32)> = lines
            .map(|l| {
                let (a, b) = l.split_once(',').unwrap_or(("nan", "nan"));
                (a.parse().unwrap_or(f64::NAN), b.parse().unwrap_or(f32::NAN))
            })
            .collect();
        assert_eq!(rows.len(), 3000);
        for ((t, v), (rt, rv)) in rows.iter().zip(rec.t_s.iter().zip(&rec.resp_mm)) {
            assert!((t - rt).abs() < 1e-6 && (v - rv).abs() <= 5.1e-5, "{t} {v}");
        }
        let tf = read_truth(&dir.path().join("ca.truth.json"))
            .map_err(|e| e.to_string())
            .unwrap();
        assert_eq!(tf.truth.pattern, Some(Pattern::CentralApnea));
        // serde_json parses floats to within an ulp, not always bit-exactly.
        assert_eq!(tf.truth.breaths.len(), rec.truth.breaths.len());
        for (a, b) in tf.truth.breaths.iter().zip(&rec.truth.breaths) {
            assert!(
                (a.onset_s - b.onset_s).abs() < 1e-9 && (a.duration_s - b.duration_s).abs() < 1e-9
            );
            assert!((a.inspiration_s - b.inspiration_s).abs() < 1e-9 && a.depth_mm == b.depth_mm);
        }
        assert_eq!(tf.truth.apneas.len(), rec.truth.apneas.len());
        assert!(!tf.truth.apneas.is_empty());
        for (a, b) in tf.truth.apneas.iter().zip(&rec.truth.apneas) {
            assert!((a.start_s - b.start_s).abs() < 1e-9 && (a.end_s - b.end_s).abs() < 1e-9);
        }
        assert_eq!(tf.params.rate_bpm, 15.0);
        assert_eq!(tf.rate_per_s.len(), 120);
        let in_apnea = tf
            .truth
            .apneas
            .iter()
            .map(|a| a.duration_s().floor() as usize)
            .sum::<usize>();
        let nulls = tf.rate_per_s.iter().filter(|r| r.is_none()).count();
        assert!(
            nulls + 2 >= in_apnea,
            "{nulls} null rates, {in_apnea} s of apnea"
        );
    }
}
