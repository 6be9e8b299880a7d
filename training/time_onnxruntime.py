"""Times single-window inference of the exported classifier with onnxruntime (the reference runtime).

    training/.venv/bin/python training/time_onnxruntime.py --model models/breathing/bi_at_gru.onnx \
        --golden models/breathing/golden.json [--threads 1] [--iters 2000] [--warmup 200]

Loads the model with intra_op_num_threads = --threads, inter_op_num_threads = 1, sequential
execution and every graph optimisation, checks that it reproduces the golden scores (1e-5), warms up,
then times --iters calls of `run` on one window each, cycling through the golden inputs. Prints one
JSON line:
    {"runtime": "onnxruntime", "version": ..., "threads": 1, "iters": ..., "mean_us": ...,
     "median_us": ..., "p95_us": ...}
Times are wall-clock per `run` call (perf_counter_ns), including onnxruntime's Python binding
overhead (a few microseconds), so they are an upper bound for a native caller.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import onnxruntime as ort


def session(model: str, threads: int) -> ort.InferenceSession:
    """A CPU session with `threads` intra-op threads, one inter-op thread, sequential execution and
    every graph optimisation (shared by the X-ray timing script)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="the .onnx file")
    ap.add_argument("--golden", required=True, help="golden.json written by train.py")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    ap.add_argument("--iters", type=int, default=2000, help="timed runs (default 2000)")
    ap.add_argument("--warmup", type=int, default=200, help="untimed runs first (default 200)")
    args = ap.parse_args()
    if args.threads < 1 or args.iters < 1 or args.warmup < 0:
        ap.error("--threads and --iters must be at least 1, --warmup at least 0")

    sess = session(args.model, args.threads)

    with open(args.golden) as f:
        golden = json.load(f)
    shape = golden["input_shape"]
    inputs = [np.asarray(c["input"], np.float32).reshape(shape) for c in golden["cases"]]
    if not inputs:
        sys.exit(f"{args.golden}: no cases")

    # The file under test must be the one the golden scores came from.
    for case, x in zip(golden["cases"], inputs):
        got = sess.run(["scores"], {"window": x})[0].reshape(-1)
        diff = float(np.abs(got - np.asarray(case["scores"], np.float32)).max())
        if diff > 1e-5:
            sys.exit(f"{args.model}: case {case['name']} differs from {args.golden} by {diff:.3g}")

    for i in range(args.warmup):
        sess.run(["scores"], {"window": inputs[i % len(inputs)]})
    times = np.empty(args.iters, np.float64)
    for i in range(args.iters):
        feed = {"window": inputs[i % len(inputs)]}
        t0 = time.perf_counter_ns()
        sess.run(["scores"], feed)
        times[i] = (time.perf_counter_ns() - t0) / 1000.0

    print(json.dumps({"runtime": "onnxruntime", "version": ort.__version__, "threads": args.threads,
                      "iters": args.iters, "mean_us": round(float(times.mean()), 2),
                      "median_us": round(float(np.median(times)), 2),
                      "p95_us": round(float(np.percentile(times, 95)), 2)}))


if __name__ == "__main__":
    main()
