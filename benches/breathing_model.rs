//! Window → pattern scores with the shipped BI-AT-GRU, run by tract on one core as the product
//! runs it (its GRU node on edge-screen's kernel, [`edge_screen::inference::gru`]), and beside
//! it, in the same run, tract with its own GRU and onnxruntime on the same ONNX file with one
//! thread (`training/breathing/time_onnxruntime.py`).
//!
//! * `breathing_model/tract_run`: one run of the optimised plan on a prepared window (what
//!   onnxruntime is compared with);
//! * `breathing_model/window_to_scores`: preparation of a 120 s, 10 Hz window
//!   ([`InputPrep`]) plus the run: the classifier's whole cost per reading.
//!
//! After criterion, the bench times the same golden windows with both runtimes (2000 runs each, the
//! same cycling order), alternating them for [`ROUNDS`] rounds, and prints each round's times and
//! the median of the rounds' `ratio tract/onnxruntime`: on a shared machine one round's
//! onnxruntime time has been seen to vary from 75 to 161 µs between runs, so a single round's ratio
//! says little. onnxruntime is timed through its Python
//! binding, which adds a few µs per call, so the ratio slightly favours tract; the model card states
//! this. Set `EDGE_SCREEN_PYTHON` to the interpreter with onnxruntime (default
//! `training/.venv/bin/python`); without it, the comparison is skipped with a message.
//! `EDGE_SCREEN_BREATHING_MODEL=DIR/x.onnx` times another model (with its `DIR/golden.json`).

use criterion::{black_box, Criterion};
use edge_screen::breathing::gru::BreathingModel;
use edge_screen::breathing::model_input::{InputPrep, INPUT_LEN};
use std::path::Path;
use std::time::Instant;
use tract_onnx::prelude::*;

const ITERS: usize = 2000;
/// Alternating rounds of tract and onnxruntime timing.
const ROUNDS: usize = 5;

fn golden_inputs() -> Vec<[f32; INPUT_LEN]> {
    let path = model_path().with_file_name("golden.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    v["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("golden.json: no cases"))
        .iter()
        .map(|c| {
            let x: Vec<f32> = c["input"]
                .as_array()
                .unwrap_or_else(|| panic!("golden.json: case without input"))
                .iter()
                .map(|v| v.as_f64().unwrap_or(0.0) as f32)
                .collect();
            x.try_into()
                .unwrap_or_else(|_| panic!("golden input is not 1320 values"))
        })
        .collect()
}

/// The built-in model, or the file named by `EDGE_SCREEN_BREATHING_MODEL` (to compare variants).
fn model() -> BreathingModel {
    match std::env::var_os("EDGE_SCREEN_BREATHING_MODEL") {
        Some(p) => BreathingModel::load(Path::new(&p)),
        None => BreathingModel::embedded(),
    }
    .unwrap_or_else(|e| panic!("{e}"))
}

fn model_path() -> std::path::PathBuf {
    std::env::var_os("EDGE_SCREEN_BREATHING_MODEL").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("models/breathing/bi_at_gru.onnx"),
        std::path::PathBuf::from,
    )
}

fn bench(c: &mut Criterion) {
    let mut m = model();
    let inputs = golden_inputs();
    let mut g = c.benchmark_group("breathing_model");
    let mut i = 0;
    g.bench_function("tract_run", |b| {
        b.iter(|| {
            i = (i + 1) % inputs.len();
            black_box(m.run(black_box(&inputs[i])).unwrap_or([0.0; 6]))
        })
    });
    // A 120 s window of tidal breathing at 10 Hz, as the analyser hands it over.
    let samples: Vec<f32> = (0..1200)
        .map(|k| {
            let t = k as f32 / 10.0;
            4.0 * (t * 0.27 * std::f32::consts::TAU).sin() + 0.3 * (t * 1.9).sin()
        })
        .collect();
    let mut prep = InputPrep::new();
    let mut buf = Box::new([0.0f32; INPUT_LEN]);
    g.bench_function("window_to_scores", |b| {
        b.iter(|| {
            let _ = prep.prepare_samples(black_box(&samples), 10.0, &mut buf);
            black_box(m.run(&buf).unwrap_or([0.0; 6]))
        })
    });
    g.finish();
}

/// Mean µs per run of tract with its own GRU (`GruSeq`), not edge-screen's kernel, over the
/// golden inputs: what the product ran before the kernel, for comparison.
fn tract_own_gru_mean_us() -> f64 {
    let plan = tract_onnx::onnx()
        .model_for_path(model_path())
        .and_then(|m| m.with_input_fact(0, f32::fact([1, 120, 11]).into()))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .unwrap_or_else(|e| panic!("{e:#}"));
    let inputs: Vec<TValue> = golden_inputs()
        .iter()
        .map(|x| {
            Tensor::from_shape(&[1, 120, 11], &x[..])
                .unwrap_or_else(|e| panic!("{e}"))
                .into_tvalue()
        })
        .collect();
    mean_us(|k| {
        black_box(plan.run(tvec!(inputs[k % inputs.len()].clone())).ok());
    })
}

/// Mean µs per call of `run(k)` over `ITERS` calls after 200 warm-up calls.
fn mean_us(mut run: impl FnMut(usize)) -> f64 {
    for k in 0..200 {
        run(k);
    }
    let t = Instant::now();
    for k in 0..ITERS {
        run(k);
    }
    t.elapsed().as_secs_f64() * 1e6 / ITERS as f64
}

/// Mean µs per run of tract over the golden inputs, cycling as the onnxruntime script does.
fn tract_mean_us() -> f64 {
    let mut m = model();
    let inputs = golden_inputs();
    mean_us(|k| {
        black_box(m.run(&inputs[k % inputs.len()]).ok());
    })
}

fn onnxruntime_mean_us() -> Result<f64, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var("EDGE_SCREEN_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root.join("training/.venv/bin/python"));
    if !python.exists() {
        return Err(format!(
            "{} not found (run training/setup.sh or set EDGE_SCREEN_PYTHON)",
            python.display()
        ));
    }
    let out = std::process::Command::new(&python)
        .arg(root.join("training/breathing/time_onnxruntime.py"))
        .args(["--threads", "1", "--iters", &ITERS.to_string(), "--model"])
        .arg(model_path())
        .arg("--golden")
        .arg(model_path().with_file_name("golden.json"))
        .output()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value =
        serde_json::from_str(line.trim()).map_err(|e| format!("{e}: {line}"))?;
    v["mean_us"]
        .as_f64()
        .ok_or_else(|| format!("no mean_us in {line}"))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    let (mut ratios, mut tracts, mut orts) = (Vec::new(), Vec::new(), Vec::new());
    let (mut own_ratios, mut owns) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        let tract = tract_mean_us();
        let own = tract_own_gru_mean_us();
        match onnxruntime_mean_us() {
            Ok(ort) => {
                println!(
                    "breathing_model round {round}: tract {tract:.1} us (with tract's own GRU \
                     {own:.1} us), onnxruntime {ort:.1} us (ratio {:.2}; tract's own GRU {:.2})",
                    tract / ort,
                    own / ort
                );
                ratios.push(tract / ort);
                tracts.push(tract);
                orts.push(ort);
                own_ratios.push(own / ort);
                owns.push(own);
            }
            Err(e) => {
                println!(
                    "breathing_model: tract {tract:.1} us per window; onnxruntime skipped: {e}"
                );
                return;
            }
        }
    }
    let (lo, hi) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), r| (l.min(*r), h.max(*r)));
    println!(
        "breathing_model: tract {:.1} us, onnxruntime {:.1} us per window (1 thread, medians of \
         {ROUNDS} alternating rounds); ratio tract/onnxruntime {:.2} (median; rounds {lo:.2}-{hi:.2})",
        median(&mut tracts),
        median(&mut orts),
        median(&mut ratios)
    );
    println!(
        "breathing_model: with tract's own GRU instead of edge-screen's kernel: tract {:.1} us, \
         ratio tract/onnxruntime {:.2} (median)",
        median(&mut owns),
        median(&mut own_ratios)
    );
}
