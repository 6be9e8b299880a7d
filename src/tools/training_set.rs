//! Training, validation and test sets for the learned breathing classifiers, made from the RSM by the
//! product's own code (`edge-screen simulate --training-set`).
//!
//! Every session simulates one subject drawn by [`crate::rsm::RsmParams::draw`] for one pattern and
//! turns it into model inputs ([`crate::breathing::model_input`]) by one of two paths:
//! * **camera**: RSM → simulated depth camera (random distance 0.7-1.6 m, sensor noise ×0.5-2) →
//!   chest tracking → the live respiration analyser; its windows grow from 30 s to the full
//!   120 s, exactly as on the kiosk;
//! * **signal**: RSM → a recording as a contact sensor or another device would give it (random
//!   sample rate 4-500 Hz, units and offset, polarity, white and drift noise, quantisation,
//!   distortions of the breath shape, ECG bleed, motion artefacts, interference bursts and
//!   clipping; see [`augmented_recording`]) → the
//!   `edge-screen breathing` path (resample
//!   to 10 Hz, polarity fix, normalise, 120 s windows every 10 s, or one shorter window for a
//!   60-119 s recording).
//!
//! A window is kept every [`SetSpec::hop_s`] seconds. With each window the rule-based baseline's
//! label for the same window is stored, so that both are scored on identical inputs.
//!
//! Seeds: the subject seed of session `k` of a pattern is a hash of (split, base seed, pattern,
//! k), so train, validation and test never share a subject or a parameter draw (the training
//! script checks this from `windows.csv`).
//!
//! Output folder: `inputs.f32` (little-endian f32, N × [`STEPS`] × [`FEATURES`]), `windows.csv`
//! (`index,pattern,source,session,seed,t_end_s,length_s,rate_bpm,baseline,quality,apnea_seen`) and
//! `spec.json`.

use crate::breathing::baseline::RuleBaseline;
use crate::breathing::model_input::{InputPrep, FEATURES, INPUT_LEN, MODEL_HZ, STEPS};
use crate::breathing::PatternClassifier;
use crate::camera::simulated::{SimCamera, SimCameraSettings};
use crate::camera::FrameSource;
use crate::pipeline::{Input, Pipeline, PipelineSettings};
use crate::recording::RawRecording;
use crate::respiration::window::BreathWindow;
use crate::respiration::RespirationSettings;
use crate::rsm::Rsm;
use crate::screening::ids::Counter;
use crate::types::{DepthFrame, Pattern, PatternScores};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Version of what the generator makes; raised whenever the sessions or their augmentation change,
/// so that `training/breathing/train.sh` regenerates a data folder made by an older version.
/// 2: wider breath-to-breath variability, slow depth changes, flattened troughs, ECG bleed,
/// interference bursts, clipping and 100-500 Hz recordings. 3: the `apnea_seen` column.
/// 4: regular patterns widened in two thirds (CV up to 0.3), bursts in a third, a quarter of the
/// recordings 60-119 s long. 5: optionally (`widen_share`) sessions widened toward the edges of
/// their pattern's definition ([`crate::rsm::RsmParams::widen`]); with a share of 0 the data are
/// those of version 4.
pub const DATA_VERSION: u32 = 5;

/// Which split a set is (it changes every subject seed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Used to fit the weights.
    Train,
    /// Used to choose the epoch.
    Val,
    /// Used only for the reported metrics.
    Test,
}

impl std::str::FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "train" => Ok(Split::Train),
            "val" => Ok(Split::Val),
            "test" => Ok(Split::Test),
            _ => Err(format!("unknown split '{s}' (train, val or test)")),
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, Serialize)]
pub struct SetSpec {
    /// The split.
    pub split: Split,
    /// Sessions per pattern.
    pub per_pattern: usize,
    /// Length of a session, s (signal sessions are sometimes shorter: 60-119 s, one in four).
    pub seconds: f64,
    /// Share of sessions that go through the simulated camera, 0..=1.
    pub camera_share: f64,
    /// Share of sessions widened toward the edges of their pattern's definition
    /// ([`crate::rsm::RsmParams::widen`]), 0..=1; 0 draws exactly what data version 4 drew.
    pub widen_share: f64,
    /// Base seed.
    pub seed: u64,
    /// Time between two kept windows of a session, s.
    pub hop_s: f64,
    /// Simulated camera size, px.
    pub width: u32,
    /// See `width`.
    pub height: u32,
}

/// One kept window.
#[derive(Debug, Clone)]
struct Row {
    input: Vec<f32>,
    t_end_s: f64,
    steps: usize,
    rate_bpm: Option<f32>,
    baseline: Pattern,
    quality: f32,
    /// Whether the apnea detector found an apnea in the window (the product's central-apnea gate,
    /// [`crate::breathing::gru::apnea_gate`]).
    apnea_seen: bool,
}

/// A classifier that records the model input of every `every`-th window and answers like the rule
/// baseline (so the pipeline behaves as in the product).
struct Recorder {
    rows: Arc<Mutex<Vec<Row>>>,
    prep: InputPrep,
    buf: Box<[f32; INPUT_LEN]>,
    calls: usize,
    every: usize,
}

impl PatternClassifier for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }

    fn classify(&mut self, w: &BreathWindow<'_>) -> PatternScores {
        let scores = RuleBaseline.classify(w);
        self.calls += 1;
        if (self.calls - 1) % self.every == 0 {
            if let Ok(p) = self.prep.prepare(w, &mut self.buf) {
                let row = Row {
                    input: self.buf.to_vec(),
                    t_end_s: w.t_end_s,
                    steps: p.steps,
                    rate_bpm: w.rate_bpm,
                    baseline: scores.best().0,
                    quality: w.quality,
                    apnea_seen: w.has_apnea(),
                };
                self.rows
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(row);
            }
        }
        scores
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The subject seed of session `k` of `pattern` in `split` (distinct across splits).
pub fn session_seed(split: Split, base: u64, pattern: Pattern, k: usize) -> u64 {
    let tag = split as u64 + 1;
    let p = Pattern::ALL.iter().position(|x| *x == pattern).unwrap_or(0) as u64;
    splitmix(splitmix(splitmix(base ^ (tag << 56)) ^ p) ^ k as u64)
}

struct Session {
    pattern: Pattern,
    seed: u64,
    camera: bool,
}

fn camera_session(
    s: &Session,
    spec: &SetSpec,
    pipeline: &PipelineSettings,
    rows: Arc<Mutex<Vec<Row>>>,
) -> Result<(), String> {
    let settings = &pipeline.respiration;
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed ^ 0xCA3E);
    let params = session_params(s.pattern, s.seed, &mut rng, spec.widen_share)?;
    let cam = SimCameraSettings {
        width: spec.width,
        height: spec.height,
        subject_distance_m: rng.gen_range(0.7..1.6),
        noise_scale: rng.gen_range(0.5..2.0),
        ..SimCameraSettings::default()
    };
    let mut camera =
        SimCamera::new(cam, Rsm::new(params, s.seed), s.seed).map_err(|e| e.to_string())?;
    let every = (spec.hop_s / settings.update_interval_s).round().max(1.0) as usize;
    let recorder = Recorder {
        rows,
        prep: InputPrep::new(),
        buf: Box::new([0.0; INPUT_LEN]),
        calls: 0,
        every,
    };
    let mut pipeline = Pipeline::new(
        pipeline,
        Box::new(recorder),
        Box::new(Counter::new("train")),
    );
    let mut frame = DepthFrame::new(0, 0, 0.001);
    let mut events = Vec::new();
    let n = (spec.seconds * camera.fps()).round() as u64;
    for _ in 0..n {
        camera.read_frame(&mut frame).map_err(|e| e.to_string())?;
        pipeline.push(Input::Frame(&frame), &mut events);
        events.clear();
    }
    Ok(())
}

/// The RSM subject of a session: [`crate::rsm::io::params_for`]'s draw, whose breath-to-breath
/// variability is widened for a regular pattern (eupnea, tachypnea, bradypnea) in two thirds of
/// the sessions: real recordings vary more from breath to breath (period and depth CV up to 0.3)
/// than the RSM's typical draw, and irregular but continuous breathing must not look like Biot's.
/// A share `widen_share` of all sessions is then widened toward the edges of its pattern's
/// definition ([`crate::rsm::RsmParams::widen`]: sighs, ataxic Biot's clusters, skewed
/// Cheyne-Stokes runs, recovery breaths after central apneas); with 0 nothing more is drawn.
fn session_params(
    pattern: Pattern,
    seed: u64,
    rng: &mut ChaCha8Rng,
    widen_share: f64,
) -> Result<crate::rsm::RsmParams, String> {
    let mut params = crate::rsm::io::params_for(pattern, None, seed).map_err(|e| e.to_string())?;
    let regular = matches!(
        pattern,
        Pattern::Eupnea | Pattern::Tachypnea | Pattern::Bradypnea
    );
    if regular && rng.gen_bool(2.0 / 3.0) {
        params.period_cv = rng.gen_range(0.04..0.3);
        params.depth_cv = rng.gen_range(0.04..0.3);
    }
    if widen_share > 0.0 && rng.gen_bool(widen_share.clamp(0.0, 1.0)) {
        params.widen(rng);
    }
    params.validate().map_err(|e| e.to_string())?;
    Ok(params)
}

/// A recording of the subject as another sensor would give it (see the module doc).
///
/// On top of the RSM's own noise: sample rate, units, offset and polarity; white noise, drift and
/// quantisation; a monotone distortion of the breath shape (sharper peaks or troughs); in half,
/// slow changes of breath depth; in a quarter, flattened troughs (an end-expiratory rest); in a third, ECG bleed (a narrow pulse per
/// heartbeat, up to twice the breath depth); motion artefacts (smooth bumps) in a third; bursts of
/// broadband interference in a third; and the sensor's range clipping the signal in a sixth.
pub fn augmented_recording(
    pattern: Pattern,
    seed: u64,
    seconds: f64,
    widen_share: f64,
) -> Result<RawRecording, String> {
    use std::f64::consts::PI;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x516A);
    let params = session_params(pattern, seed, &mut rng, widen_share)?;
    let depth = params.depth_mm as f64;
    // Sample rate: log-uniform 4-100 Hz, and 100-500 Hz in a sixth (where ECG bleed and
    // interference are resolved as the narrow spikes they are).
    let hz = if rng.gen_bool(1.0 / 6.0) {
        rng.gen_range(100.0..500.0)
    } else {
        (rng.gen_range(4f64.ln()..100f64.ln())).exp()
    };
    let rec = Rsm::new(params, seed).sample(hz, seconds);
    let scale = 10f64.powf(rng.gen_range(-3.0..3.0)) * if rng.gen_bool(0.5) { -1.0 } else { 1.0 };
    let offset = rng.gen_range(-1e3..1e3) * scale.abs();
    let white = rng.gen_range(0.0..0.12) * depth;
    let drift = rng.gen_range(0.0..0.5) * depth;
    let skew = rng.gen_range(-0.25..0.25);
    let quant = if rng.gen_bool(0.3) {
        rng.gen_range(0.005..0.05) * depth
    } else {
        0.0
    };
    let normal = rand_distr::Normal::new(0.0, 1.0).map_err(|e| e.to_string())?;
    // Motion artefacts: 1-2 smooth bumps of 1-8 breath depths lasting 1-8 s (a belt slipping, the
    // person shifting), which the label must survive.
    let mut bumps = Vec::new();
    if rng.gen_bool(1.0 / 3.0) {
        for _ in 0..rng.gen_range(1..=2) {
            let len = rng.gen_range(1.0..8.0);
            let at = rng.gen_range(0.0..(seconds - len).max(1.0));
            let size = rng.gen_range(1.0..8.0) * depth * if rng.gen_bool(0.5) { -1.0 } else { 1.0 };
            bumps.push((at, len, size));
        }
    }
    // Bursts of interference: 1-4 stretches of 0.5-6 s of broadband noise of 0.5-3 depths.
    let mut bursts = Vec::new();
    if rng.gen_bool(1.0 / 3.0) {
        for _ in 0..rng.gen_range(1..=4) {
            let len = rng.gen_range(0.5..6.0);
            let at = rng.gen_range(0.0..(seconds - len).max(1.0));
            bursts.push((at, len, rng.gen_range(0.5..3.0) * depth));
        }
    }
    // ECG bleed: one pulse per heartbeat (40-120 /min, beat-to-beat jitter), 10-40 ms wide.
    let ecg = rng.gen_bool(1.0 / 3.0).then(|| {
        (
            rng.gen_range(40.0..120.0) / 60.0,
            rng.gen_range(0.1..2.0) * depth * if rng.gen_bool(0.5) { -1.0 } else { 1.0 },
            rng.gen_range(0.010..0.040),
        )
    });
    let mut beats = Vec::new();
    if let Some((beat_hz, _, _)) = ecg {
        let mut t = rng.gen_range(0.0..1.0 / beat_hz);
        while t < seconds + 1.0 {
            beats.push(t);
            t += (1.0 / beat_hz) * rng.gen_range(0.92..1.08);
        }
    }
    // A monotone distortion of the breath shape (sharper peaks or troughs).
    let mut x: Vec<f64> = rec
        .resp_mm
        .iter()
        .map(|&v| {
            let u = v as f64 / depth.max(0.1);
            depth * (u + skew * u * u.abs())
        })
        .collect();
    // Slow changes of breath depth in half (sighs, shallower stretches): the depth is scaled by
    // exp(m), m a smooth random process with a time constant of 5-20 s and a spread of 0.1-0.5.
    if rng.gen_bool(0.5) {
        let tau = rng.gen_range(5.0..20.0);
        let spread: f64 = rng.gen_range(0.1..0.5);
        let a = (-1.0 / (hz * tau)).exp();
        let kick = spread * (1.0 - a * a).sqrt();
        let mut m = spread * rng.sample::<f64, _>(normal);
        for v in &mut x {
            m = a * m + kick * rng.sample::<f64, _>(normal);
            *v *= m.exp();
        }
    }
    // Flattened troughs in a quarter: below a level between the 10th and 35th percentile, the
    // signal moves at a tenth of its speed (a breath, then a rest at end-expiration).
    if rng.gen_bool(0.25) && !x.is_empty() {
        let level = percentile(&x, rng.gen_range(0.10..0.35));
        for v in &mut x {
            if *v < level {
                *v = level + 0.1 * (*v - level);
            }
        }
    }
    let mut walk = 0.0f64;
    let step = drift * (1.0 / hz / 30.0).sqrt();
    let mut beat = 0usize;
    let mut y: Vec<f64> = x
        .iter()
        .zip(&rec.t_s)
        .map(|(&v, &t)| {
            walk = 0.999 * walk + step * rng.sample::<f64, _>(normal);
            let bump: f64 = bumps
                .iter()
                .filter(|(at, len, _)| t >= *at && t < at + len)
                .map(|(at, len, size)| size * (PI * (t - at) / len).sin())
                .sum();
            let burst: f64 = bursts
                .iter()
                .filter(|(at, len, _)| t >= *at && t < at + len)
                .map(|(_, _, a)| a * rng.sample::<f64, _>(normal))
                .sum();
            let mut pulse = 0.0;
            if let Some((_, size, width)) = ecg {
                while beat + 1 < beats.len() && beats[beat + 1] <= t {
                    beat += 1;
                }
                for b in &beats[beat..(beat + 2).min(beats.len())] {
                    let d = (t - b) / width;
                    pulse += size * (-0.5 * d * d).exp();
                }
            }
            let mut y = v + walk + bump + burst + pulse + white * rng.sample::<f64, _>(normal);
            if quant > 0.0 {
                y = (y / quant).round() * quant;
            }
            y
        })
        .collect();
    // The sensor's range clips the top, the bottom or both in a sixth.
    if rng.gen_bool(1.0 / 6.0) && !y.is_empty() {
        let hi = percentile(&y, rng.gen_range(0.85..1.0));
        let lo = percentile(&y, rng.gen_range(0.0..0.15));
        let (lo, hi) = match rng.gen_range(0..3) {
            0 => (f64::NEG_INFINITY, hi),
            1 => (lo, f64::INFINITY),
            _ => (lo, hi),
        };
        for v in &mut y {
            *v = v.clamp(lo, hi);
        }
    }
    for v in &mut y {
        *v = offset + scale * *v;
    }
    Ok(RawRecording {
        t_s: rec.t_s.clone(),
        values: y,
        hz,
        gaps: Default::default(),
        unseen: Vec::new(),
    })
}

/// The `q`-quantile (0..=1) of `x` (nearest rank); `x` must not be empty.
fn percentile(x: &[f64], q: f64) -> f64 {
    let mut s = x.to_vec();
    s.sort_unstable_by(f64::total_cmp);
    s[((s.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize]
}

fn signal_session(
    s: &Session,
    spec: &SetSpec,
    settings: &RespirationSettings,
    rows: Arc<Mutex<Vec<Row>>>,
) -> Result<(), String> {
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed ^ 0x5E55);
    let seconds = if rng.gen_bool(1.0 / 4.0) {
        rng.gen_range(60.0..119.0)
    } else {
        spec.seconds
    };
    let rec = augmented_recording(s.pattern, s.seed, seconds, spec.widen_share)?;
    let hz = settings.resample_hz;
    let samples = crate::recording::resample(&rec, hz);
    let mut recorder = Recorder {
        rows,
        prep: InputPrep::new(),
        buf: Box::new([0.0; INPUT_LEN]),
        calls: 0,
        every: (spec.hop_s / settings.update_interval_s.max(10.0))
            .round()
            .max(1.0) as usize,
    };
    crate::pipeline::recording::analyze_series(&samples, hz, settings, &mut recorder)
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Generate the set into `out_dir`; returns the number of windows. Uses all cores.
pub fn write_set(
    spec: &SetSpec,
    pipeline: &PipelineSettings,
    out_dir: &Path,
) -> Result<usize, String> {
    let settings = &pipeline.respiration;
    if spec.per_pattern == 0 || !(60.0..=3600.0).contains(&spec.seconds) {
        return Err("--per-pattern must be at least 1 and --seconds 60-3600".into());
    }
    if !(0.0..=1.0).contains(&spec.camera_share) || !(2.0..=3600.0).contains(&spec.hop_s) {
        return Err("--camera-share must be 0-1 and the hop at least 2 s".into());
    }
    if !(0.0..=1.0).contains(&spec.widen_share) {
        return Err(format!("--widen-share {}: expected 0-1", spec.widen_share));
    }
    if (settings.resample_hz - MODEL_HZ).abs() > 1e-9 || settings.window_s < STEPS as f64 {
        return Err(format!(
            "the training set needs respiration.resample_hz = {MODEL_HZ} and window_s >= {STEPS}"
        ));
    }
    let mut sessions = Vec::new();
    for &pattern in &Pattern::ALL {
        let n_cam = (spec.per_pattern as f64 * spec.camera_share).round() as usize;
        for k in 0..spec.per_pattern {
            sessions.push(Session {
                pattern,
                seed: session_seed(spec.split, spec.seed, pattern, k),
                camera: k < n_cam,
            });
        }
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(sessions.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    type SessionResult = Option<Result<Vec<Row>, String>>;
    let results: Mutex<Vec<SessionResult>> =
        Mutex::new((0..sessions.len()).map(|_| None).collect());
    std::thread::scope(|sc| {
        for _ in 0..threads {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(s) = sessions.get(i) else { break };
                let rows = Arc::new(Mutex::new(Vec::new()));
                let r = if s.camera {
                    camera_session(s, spec, pipeline, rows.clone())
                } else {
                    signal_session(s, spec, settings, rows.clone())
                };
                let r = r
                    .map(|()| std::mem::take(&mut *rows.lock().unwrap_or_else(|e| e.into_inner())));
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
            });
        }
    });
    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    let inputs_path = out_dir.join("inputs.f32");
    let csv_path = out_dir.join("windows.csv");
    let mut inputs = std::io::BufWriter::new(
        std::fs::File::create(&inputs_path).map_err(|e| io(&inputs_path, e))?,
    );
    let mut csv =
        std::io::BufWriter::new(std::fs::File::create(&csv_path).map_err(|e| io(&csv_path, e))?);
    writeln!(
        csv,
        "index,pattern,source,session,seed,t_end_s,length_s,rate_bpm,baseline,quality,apnea_seen"
    )
    .map_err(|e| io(&csv_path, e))?;
    let mut index = 0usize;
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    for (i, (s, r)) in sessions.iter().zip(results).enumerate() {
        let rows = r.unwrap_or_else(|| Err("session did not finish".into()))?;
        for row in rows {
            for v in &row.input {
                inputs
                    .write_all(&v.to_le_bytes())
                    .map_err(|e| io(&inputs_path, e))?;
            }
            writeln!(
                csv,
                "{index},{},{},{i},{},{:.1},{},{},{},{:.3},{}",
                s.pattern.name(),
                if s.camera { "camera" } else { "signal" },
                s.seed,
                row.t_end_s,
                row.steps,
                row.rate_bpm.map_or(String::new(), |r| format!("{r:.2}")),
                row.baseline.name(),
                row.quality,
                u8::from(row.apnea_seen),
            )
            .map_err(|e| io(&csv_path, e))?;
            index += 1;
        }
    }
    inputs.flush().map_err(|e| io(&inputs_path, e))?;
    csv.flush().map_err(|e| io(&csv_path, e))?;
    let spec_path = out_dir.join("spec.json");
    let meta = serde_json::json!({
        "steps": STEPS,
        "features": FEATURES,
        "hz": MODEL_HZ,
        "classes": Pattern::ALL.iter().map(|p| p.name()).collect::<Vec<_>>(),
        "windows": index,
        "sessions": sessions.len(),
        "spec": spec,
        "generator": format!("edge-screen {}", env!("CARGO_PKG_VERSION")),
        "data_version": DATA_VERSION,
    });
    std::fs::write(&spec_path, format!("{meta:#}\n")).map_err(|e| io(&spec_path, e))?;
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_never_share_a_subject() {
        let mut seen = std::collections::HashSet::new();
        for split in [Split::Train, Split::Val, Split::Test] {
            for p in Pattern::ALL {
                for k in 0..200 {
                    assert!(
                        seen.insert(session_seed(split, 1, p, k)),
                        "{split:?} {p} {k}"
                    );
                }
            }
        }
    }

    fn shipped() -> PipelineSettings {
        crate::config::Settings::embedded()
            .expect("shipped config")
            .pipeline
    }

    #[test]
    fn signal_set_files_are_consistent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = SetSpec {
            split: Split::Val,
            per_pattern: 1,
            seconds: 150.0,
            camera_share: 0.0,
            widen_share: 0.0,
            seed: 5,
            hop_s: 10.0,
            width: 424,
            height: 240,
        };
        let n = write_set(&spec, &shipped(), dir.path()).expect("written");
        assert!(n >= 6, "{n} windows");
        let bytes = std::fs::metadata(dir.path().join("inputs.f32"))
            .expect("inputs")
            .len();
        assert_eq!(bytes, (n * INPUT_LEN * 4) as u64);
        let csv = std::fs::read_to_string(dir.path().join("windows.csv")).expect("csv");
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some("index,pattern,source,session,seed,t_end_s,length_s,rate_bpm,baseline,quality,apnea_seen")
        );
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        assert_eq!(rows.len(), n);
        for p in Pattern::ALL {
            assert!(
                rows.iter().any(|r| r[1] == p.name() && r[2] == "signal"),
                "{p}"
            );
        }
        let spec_json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("spec.json")).expect("spec"),
        )
        .expect("json");
        assert_eq!(spec_json["steps"], STEPS);
        assert_eq!(spec_json["windows"], n);
    }

    #[test]
    fn bad_specs_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = SetSpec {
            split: Split::Train,
            per_pattern: 1,
            seconds: 120.0,
            camera_share: 0.5,
            widen_share: 0.5,
            seed: 1,
            hop_s: 10.0,
            width: 424,
            height: 240,
        };
        let s = shipped();
        for bad in [
            SetSpec {
                per_pattern: 0,
                ..good.clone()
            },
            SetSpec {
                seconds: 10.0,
                ..good.clone()
            },
            SetSpec {
                camera_share: 1.5,
                ..good.clone()
            },
            SetSpec {
                hop_s: 0.0,
                ..good.clone()
            },
            SetSpec {
                widen_share: -0.1,
                ..good.clone()
            },
        ] {
            assert!(write_set(&bad, &s, dir.path()).is_err());
        }
        let mut other_rate = shipped();
        other_rate.respiration.resample_hz = 20.0;
        assert!(write_set(&good, &other_rate, dir.path()).is_err());
    }
}
