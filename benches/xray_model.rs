//! Image → finding with the chest X-ray CNN on one core: tract int8 (the shipped model), tract
//! float, and onnxruntime on the same files with one thread, in the same run.
//!
//! * `xray/image_to_finding_int8` and `_float`: decode a PNG, prepare, run, decide — the whole
//!   cost per image in the product;
//! * `xray/run_int8` and `_float`: one model run on a prepared input (what onnxruntime is compared
//!   with).
//!
//! After criterion the bench times the same prepared inputs with tract and with onnxruntime
//! (`training/xray/time_onnxruntime.py`, which first checks that onnxruntime gives tract's
//! probabilities) and prints `ratio tract/onnxruntime` for both models, one `xray ratios` line
//! (tract int8 / tract float, tract int8 / onnxruntime int8 on the same file), plus peak memory (VmHWM)
//! of a child process that only loads the int8 model and screens the images. onnxruntime runs
//! through its Python binding, which adds a few µs per call. Set `EDGE_SCREEN_PYTHON` to the
//! interpreter with onnxruntime (default `training/.venv/bin/python`); without it the comparison
//! is skipped with a message. Needs `../shared/data/xray`.

use criterion::{black_box, Criterion};
use edge_screen::xray::decode::decode_file;
use edge_screen::xray::model::XrayModel;
use edge_screen::xray::preprocess::prepare;
use edge_screen::xray::screen::XrayScreener;
use std::path::{Path, PathBuf};
use std::time::Instant;

const ITERS: usize = 300;
const MEMORY_PROBE: &str = "EDGE_SCREEN_XRAY_MEMORY_PROBE";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Twelve images: every 40th covid and every 100th normal film, in name order.
fn images() -> Vec<PathBuf> {
    let data = root().join("../shared/data/xray");
    let list = |dir: &str, step: usize| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(data.join(dir))
            .unwrap_or_else(|e| panic!("{}/{dir}: {e}", data.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        v.sort();
        v.into_iter().step_by(step).take(6).collect()
    };
    let mut v = list("covid", 40);
    v.extend(list("normal", 100));
    v
}

fn float_model() -> XrayModel {
    let dir = root().join("models/xray");
    let info = XrayModel::read_info(&dir).unwrap_or_else(|e| panic!("{e}"));
    XrayModel::load(&dir.join("xray_float.onnx"), info).unwrap_or_else(|e| panic!("{e}"))
}

fn int8_model() -> XrayModel {
    XrayModel::embedded().unwrap_or_else(|e| panic!("{e}"))
}

fn inputs(files: &[PathBuf]) -> Vec<Vec<f32>> {
    files
        .iter()
        .map(|f| {
            let img = decode_file(f).unwrap_or_else(|e| panic!("{e}"));
            prepare(&img)
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()))
                .input
        })
        .collect()
}

fn bench(c: &mut Criterion, files: &[PathBuf]) {
    let prepared = inputs(files);
    let mut g = c.benchmark_group("xray");
    for (name, model) in [("int8", int8_model()), ("float", float_model())] {
        let threshold = model.info().threshold;
        let screener = XrayScreener::new(model.clone(), threshold);
        let mut i = 0;
        g.bench_function(format!("image_to_finding_{name}"), |b| {
            b.iter(|| {
                i = (i + 1) % files.len();
                black_box(screener.screen_file(black_box(&files[i]), None).ok())
            })
        });
        g.bench_function(format!("run_{name}"), |b| {
            b.iter(|| {
                i = (i + 1) % prepared.len();
                black_box(model.run(black_box(&prepared[i])).ok())
            })
        });
    }
    g.finish();
}

/// Mean µs per call of `f(k)` over `ITERS` calls after 30 warm-up calls.
fn mean_us(mut f: impl FnMut(usize)) -> f64 {
    for k in 0..30 {
        f(k);
    }
    let t = Instant::now();
    for k in 0..ITERS {
        f(k);
    }
    t.elapsed().as_secs_f64() * 1e6 / ITERS as f64
}

/// Mean µs per model run of `a` and of `b`, their runs alternating (30 warm-up pairs, then
/// `ITERS` pairs), so that a busy machine slows both alike and their ratio stays fair.
fn interleaved_mean_us(a: &XrayModel, b: &XrayModel, inputs: &[Vec<f32>]) -> (f64, f64) {
    let (mut ta, mut tb) = (0.0, 0.0);
    for k in 0..30 + ITERS {
        let x = &inputs[k % inputs.len()];
        let t = Instant::now();
        black_box(a.run(x).ok());
        let mid = Instant::now();
        black_box(b.run(x).ok());
        if k >= 30 {
            ta += (mid - t).as_secs_f64();
            tb += mid.elapsed().as_secs_f64();
        }
    }
    let us = |s: f64| s * 1e6 / ITERS as f64;
    (us(ta), us(tb))
}

fn python() -> Result<PathBuf, String> {
    let p = std::env::var("EDGE_SCREEN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("training/.venv/bin/python"));
    if p.exists() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found (run training/setup.sh or set EDGE_SCREEN_PYTHON)",
            p.display()
        ))
    }
}

/// onnxruntime's JSON line for `model` on the inputs tract prepared (and its probabilities).
fn onnxruntime(
    model_file: &Path,
    model: &XrayModel,
    prepared: &[Vec<f32>],
    files: &[PathBuf],
) -> Result<serde_json::Value, String> {
    let py = python()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut expected = serde_json::Map::new();
    for (k, x) in prepared.iter().enumerate() {
        let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(dir.path().join(format!("case{k}.input.f32")), bytes)
            .map_err(|e| e.to_string())?;
        let p = model.run(x).map_err(|e| e.to_string())?.probability;
        expected.insert(format!("case{k}"), p.into());
    }
    std::fs::write(
        dir.path().join("expected.json"),
        serde_json::Value::Object(expected).to_string(),
    )
    .map_err(|e| e.to_string())?;
    let out = std::process::Command::new(&py)
        .arg(root().join("training/xray/time_onnxruntime.py"))
        .args(["--threads", "1", "--iters", &ITERS.to_string(), "--model"])
        .arg(model_file)
        .arg("--inputs")
        .arg(dir.path())
        .arg("--images")
        .args(files)
        .output()
        .map_err(|e| format!("{}: {e}", py.display()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim()).map_err(|e| format!("{e}: {line}"))
}

/// Peak resident memory of this process, KiB (Linux `VmHWM`).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Child-process mode: load the int8 model, screen the images, print VmHWM.
fn memory_probe(files: &[PathBuf]) {
    let before = peak_rss_kib().unwrap_or(0);
    let m = int8_model();
    let threshold = m.info().threshold;
    let s = XrayScreener::new(m, threshold);
    for f in files {
        black_box(s.screen_file(f, None).ok());
    }
    println!("{before} {}", peak_rss_kib().unwrap_or(0));
}

/// The summary the model card quotes: tract int8 against tract float and against onnxruntime on
/// the same int8 file, one thread each, from the model-run means of this run.
fn ratio_line(runs: &[(&str, f64, Option<f64>)]) -> String {
    let get = |name: &str| runs.iter().find(|r| r.0 == name);
    let (Some(int8), Some(float)) = (get("int8"), get("float")) else {
        return "xray ratios: missing a model".into();
    };
    let mut line = format!(
        "xray ratios (model run, 1 thread): tract int8 / tract float {:.2}",
        int8.1 / float.1
    );
    match (int8.2, float.2) {
        (Some(ort_int8), Some(ort_float)) => line.push_str(&format!(
            "; tract int8 / onnxruntime int8 (same file) {:.2}; tract float / onnxruntime float \
             {:.2}; onnxruntime int8 / onnxruntime float {:.2}",
            int8.1 / ort_int8,
            float.1 / ort_float,
            ort_int8 / ort_float
        )),
        _ => line.push_str("; onnxruntime ratios skipped (no onnxruntime)"),
    }
    line
}

fn main() {
    let files = images();
    if std::env::var_os(MEMORY_PROBE).is_some() {
        memory_probe(&files);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &files);
    c.final_summary();

    let prepared = inputs(&files);
    let dir = root().join("models/xray");
    // (model run in tract, model run in onnxruntime) in µs, per model
    let mut runs: Vec<(&str, f64, Option<f64>)> = Vec::new();
    let (int8, float) = (int8_model(), float_model());
    let tract = interleaved_mean_us(&int8, &float, &prepared);
    println!(
        "xray tract, interleaved (int8 and float runs alternate, so both see the same machine \
         load): int8 {:.0} us, float {:.0} us",
        tract.0, tract.1
    );
    for (name, model, file, run) in [
        ("int8", int8, dir.join("xray_int8.onnx"), tract.0),
        ("float", float, dir.join("xray_float.onnx"), tract.1),
    ] {
        let s = XrayScreener::new(model.clone(), model.info().threshold);
        let image = mean_us(|k| {
            black_box(s.screen_file(&files[k % files.len()], None).ok());
        });
        match onnxruntime(&file, &model, &prepared, &files) {
            Ok(v) => {
                let ort_run = v["run_mean_us"].as_f64().unwrap_or(f64::NAN);
                let ort_image = v["image_mean_us"].as_f64().unwrap_or(f64::NAN);
                runs.push((name, run, Some(ort_run)));
                println!(
                    "xray {name}: model run tract {run:.0} us, onnxruntime {ort_run:.0} us \
                     (1 thread); ratio tract/onnxruntime {:.2}",
                    run / ort_run
                );
                println!(
                    "xray {name}: image -> finding tract {image:.0} us (Rust decode + prepare), \
                     onnxruntime {ort_image:.0} us (PIL + numpy prepare); ratio {:.2}; \
                     onnxruntime process peak RSS {} KiB",
                    image / ort_image,
                    v["max_rss_kib"]
                );
            }
            Err(e) => {
                runs.push((name, run, None));
                println!(
                    "xray {name}: model run tract {run:.0} us, image -> finding {image:.0} us; \
                     onnxruntime skipped: {e}"
                )
            }
        }
    }
    println!("{}", ratio_line(&runs));
    let probe = std::env::current_exe().ok().and_then(|exe| {
        std::process::Command::new(exe)
            .env(MEMORY_PROBE, "1")
            .output()
            .ok()
    });
    match probe.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()) {
        Some(line) if !line.is_empty() => {
            let v: Vec<&str> = line.split(' ').collect();
            println!(
                "xray int8: peak RSS of a process that loads the model and screens {} images: \
                 {} KiB (at start {} KiB)",
                files.len(),
                v.get(1).unwrap_or(&"?"),
                v.first().unwrap_or(&"?")
            );
        }
        _ => println!("xray int8: peak memory probe failed"),
    }
}
