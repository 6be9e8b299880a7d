//! Per-operator profile of an X-ray ONNX model in tract: where one model run spends its time.
//!
//!     cargo run --release --example xray_profile -- models/xray/xray_int8.onnx [MORE.onnx...]
//!
//! Each model is optimised exactly as the product does it (`into_optimized`, then a plan), run on
//! a ramp input 30 times to warm up and then `ITERS` times with every node's `eval` timed. Prints
//! the mean time of a whole run, then the time per operator type and the ten slowest nodes with
//! their output shapes. Timing every node adds a little overhead; compare models with the same
//! tool, and the whole-run numbers with `cargo bench --bench xray_model`.

use std::collections::BTreeMap;
use std::time::Instant;
use tract_onnx::prelude::*;

const ITERS: usize = 200;
const SIDE: usize = 128;

fn profile(path: &str) -> TractResult<()> {
    let plan = tract_onnx::onnx()
        .model_for_path(path)?
        .with_input_fact(0, f32::fact([1, 1, SIDE, SIDE]).into())?
        .into_optimized()?
        .into_runnable()?;
    let input: Tensor = tract_ndarray::Array4::from_shape_fn((1, 1, SIDE, SIDE), |(_, _, _, x)| {
        x as f32 / SIDE as f32 * 4.0 - 2.0
    })
    .into();
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
        "== {path}: {:.3} ms per run (mean of {ITERS}, profiled)",
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
    }
    Ok(())
}

fn main() -> TractResult<()> {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: xray_profile MODEL.onnx...");
        std::process::exit(2);
    }
    for p in &paths {
        profile(p)?;
    }
    Ok(())
}
