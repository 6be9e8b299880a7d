"""Times single-window inference of the exported classifier with onnxruntime (the reference runtime).

    training/.venv/bin/python training/breathing/time_onnxruntime.py \
        --model models/breathing/bi_at_gru.onnx --golden models/breathing/golden.json \
        [--threads 1] [--iters 2000] [--warmup 200]

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
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import from the repository root, not this folder
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from training.common import fail, ort_session, parse_timing_args, time_runs  # noqa: E402

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="the .onnx file")
    ap.add_argument("--golden", required=True, help="golden.json written by train.py")
    args = parse_timing_args(ap, iters=2000, warmup=200)

    sess = ort_session(args.model, args.threads)

    with open(args.golden) as f:
        golden = json.load(f)
    shape = golden["input_shape"]
    inputs = [np.asarray(c["input"], np.float32).reshape(shape) for c in golden["cases"]]
    if not inputs:
        fail(f"{args.golden}: no cases")

    # The file under test must be the one the golden scores came from.
    for case, x in zip(golden["cases"], inputs):
        got = sess.run(["scores"], {"window": x})[0].reshape(-1)
        diff = float(np.abs(got - np.asarray(case["scores"], np.float32)).max())
        if diff > 1e-5:
            fail(f"{args.model}: case {case['name']} differs from {args.golden} by {diff:.3g}")

    times = time_runs(sess, "scores", [{"window": x} for x in inputs], args.warmup, args.iters)
    print(json.dumps({"runtime": "onnxruntime", "version": ort.__version__, "threads": args.threads,
                      "iters": args.iters, "mean_us": round(float(times.mean()), 2),
                      "median_us": round(float(np.median(times)), 2),
                      "p95_us": round(float(np.percentile(times, 95)), 2)}))


if __name__ == "__main__":
    main()
