//! Per-operator profile of an X-ray ONNX model in tract: where one model run spends its time.
//!
//!     cargo run --release --example xray_profile -- [--plain] [--shape=N,...] models/xray/xray_int8.onnx [MORE.onnx...]
//!
//! Each model is loaded and optimised exactly as the product does it (tract-onnx with edge-screen's
//! GRU kernel registered, `into_optimized`, then a plan; `EDGE_SCREEN_TRACT_GRU=1` uses tract's own
//! GRU instead, for comparison), run on
//! a ramp input 30 times to warm up and `ITERS` times plainly (the first line: the mean time of a
//! whole run, the number `training/xray/runtime_sweep.py` compares with onnxruntime), then `ITERS`
//! times more with every node's `eval` timed. Prints the profiled mean, the time per operator type
//! and the twelve slowest nodes with their output shapes and tract's description of each (for a
//! matrix product: its m, k, n and the kernel chosen). Timing every node adds a little overhead.
//! `--plain` prints only the first line per model; `--shape=1,120,11` sets the input shape (default
//! 1,1,128,128) so that other models (the breathing model) can be timed the same way.

use std::collections::BTreeMap;
use std::time::Instant;
use tract_onnx::prelude::*;

const ITERS: usize = 200;
const SIDE: usize = 128;

fn profile(path: &str, shape: &[usize], plain_only: bool) -> TractResult<()> {
    let framework = if std::env::var_os("EDGE_SCREEN_TRACT_GRU").is_some() {
        tract_onnx::onnx()
    } else {
        edge_screen::inference::framework()
    };
    let plan = framework
        .model_for_path(path)?
        .with_input_fact(0, f32::fact(shape).into())?
        .into_optimized()?
        .into_runnable()?;
    // A ramp along the last axis, from -2 to 2.
    let last = *shape.last().unwrap_or(&1);
    let input: Tensor = tract_ndarray::ArrayD::from_shape_fn(shape, |ix| {
        ix[shape.len() - 1] as f32 / last as f32 * 4.0 - 2.0
    })
    .into();
    // A plain timing first (no per-node hooks): the number to compare with onnxruntime.
    for _ in 0..30 {
        plan.run(tvec!(input.clone().into()))?;
    }
    let t_plain = Instant::now();
    for _ in 0..ITERS {
        plan.run(tvec!(input.clone().into()))?;
    }
    let plain_ms = t_plain.elapsed().as_secs_f64() * 1e3 / ITERS as f64;
    println!("== {path}: {plain_ms:.3} ms per run (mean of {ITERS}, plain)");
    if plain_only {
        return Ok(());
    }
    let model = plan.model();
    let mut per_node = vec![0f64; model.nodes().len()];
    let mut state = TypedSimpleState::new(&plan)?;
    let mut whole = 0f64;
    for it in 0..30 + ITERS {
        let t0 = Instant::now();
        state.run_plan_with_eval(
            tvec!(input.clone().into()),
            |ctx, op_state, node, inputs| {
                let t = Instant::now();
                let r = tract_onnx::tract_core::plan::eval(ctx, op_state, node, inputs);
                if it >= 30 {
                    per_node[node.id] += t.elapsed().as_secs_f64();
                }
                r
            },
        )?;
        if it >= 30 {
            whole += t0.elapsed().as_secs_f64();
        }
    }
    let ms = |s: f64| s * 1e3 / ITERS as f64;
    println!(
        "   {:.3} ms per run (mean of {ITERS}, profiled: every node timed)",
        ms(whole)
    );
    let mut by_op: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for n in model.nodes() {
        let e = by_op.entry(n.op.name().to_string()).or_default();
        e.0 += per_node[n.id];
        e.1 += 1;
    }
    let mut ops: Vec<_> = by_op.into_iter().collect();
    ops.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
    for (op, (t, n)) in ops {
        println!("  {op:<28} {n:>3} nodes {:>8.3} ms", ms(t));
    }
    let mut nodes: Vec<_> = model.nodes().iter().collect();
    nodes.sort_by(|a, b| per_node[b.id].total_cmp(&per_node[a.id]));
    for n in nodes.iter().take(12) {
        let shape = model.outlet_fact(OutletId::new(n.id, 0))?.shape.clone();
        println!(
            "    {:>8.3} ms  {:<40} {:<24} {:?}",
            ms(per_node[n.id]),
            n.name,
            n.op.name(),
            shape
        );
        for line in n.op.info()? {
            println!("                {line}");
        }
    }
    Ok(())
}

fn main() -> TractResult<()> {
    let mut paths: Vec<String> = std::env::args().skip(1).collect();
    let mut plain_only = false;
    let mut shape = vec![1, 1, SIDE, SIDE];
    while let Some(first) = paths.first().cloned() {
        if first == "--plain" {
            plain_only = true;
        } else if let Some(dims) = first.strip_prefix("--shape=") {
            let parsed: Result<Vec<usize>, _> = dims.split(',').map(str::parse).collect();
            match parsed {
                Ok(d) if !d.is_empty() && d.iter().all(|&n| n > 0) => shape = d,
                _ => {
                    eprintln!("--shape={dims}: expected positive sizes separated by commas");
                    std::process::exit(2);
                }
            }
        } else {
            break;
        }
        paths.remove(0);
    }
    if paths.is_empty() {
        eprintln!("usage: xray_profile [--plain] [--shape=1,1,128,128] MODEL.onnx...");
        std::process::exit(2);
    }
    for p in &paths {
        profile(p, &shape, plain_only)?;
    }
    Ok(())
}
