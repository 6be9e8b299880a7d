"""Times the chest X-ray models with onnxruntime (the reference runtime), for `cargo bench --bench xray_model`.

    training/.venv/bin/python training/xray/time_onnxruntime.py --model models/xray/xray_int8.onnx \
        --inputs DIR [--threads 1] [--iters 300] [--warmup 30] [--images FILE...]

`DIR` holds the prepared model inputs the benchmark wrote (`*.input.f32`, raw little-endian f32,
1 x 1 x 128 x 128) and `expected.json` with tract's probability for each: the script first checks
that onnxruntime agrees (within --tolerance) so both runtimes run the same model on the same data.
Then it times --iters calls of `run` cycling through the inputs (model run only). With --images it
also times image -> finding in Python: PIL decode + the numpy preprocessing of
training/xray/preprocess.py + run. Prints one JSON line:
    {"runtime": "onnxruntime", "version": ..., "threads": 1, "run_mean_us": ..., "run_median_us": ...,
     "image_mean_us": ... | null, "max_rss_kib": ...}
Times are wall clock per call (perf_counter_ns) including the Python binding's few microseconds.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import from the repository root, not this folder
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from training.common import fail, ort_session, parse_timing_args, time_runs  # noqa: E402
from training.xray import preprocess  # noqa: E402

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--inputs", required=True, help="folder with *.input.f32 and expected.json")
    ap.add_argument("--tolerance", type=float, default=0.02,
                    help="largest |probability difference| to tract accepted (default 0.02)")
    ap.add_argument("--images", nargs="*", default=[], help="image files for image -> finding")
    args = parse_timing_args(ap, iters=300, warmup=30)

    sess = ort_session(args.model, args.threads)
    in_name = sess.get_inputs()[0].name

    folder = Path(args.inputs)
    expected = json.loads((folder / "expected.json").read_text())
    inputs = []
    for name, p_tract in expected.items():
        x = np.fromfile(folder / f"{name}.input.f32", dtype="<f4").reshape(1, 1, 128, 128)
        got = float(sess.run(["probability"], {in_name: x})[0].reshape(-1)[0])
        if abs(got - p_tract) > args.tolerance:
            fail(f"{args.model}: {name}: onnxruntime {got:.4f} vs tract {p_tract:.4f}")
        inputs.append(x)
    if not inputs:
        fail(f"{folder}: no inputs")

    times = time_runs(sess, "probability", [{in_name: x} for x in inputs], args.warmup, args.iters)

    image_mean = None
    if args.images:
        def one(path: str) -> float:
            x = preprocess.preprocess_file(path)
            return float(sess.run(["probability"], {in_name: x})[0].reshape(-1)[0])

        for p in args.images[:3]:
            one(p)
        n = max(len(args.images), 30)
        t0 = time.perf_counter_ns()
        for i in range(n):
            one(args.images[i % len(args.images)])
        image_mean = (time.perf_counter_ns() - t0) / 1000.0 / n

    print(json.dumps({
        "runtime": "onnxruntime", "version": ort.__version__, "threads": args.threads,
        "iters": args.iters, "run_mean_us": round(float(times.mean()), 1),
        "run_median_us": round(float(np.median(times)), 1),
        "image_mean_us": None if image_mean is None else round(image_mean, 1),
        "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }))


if __name__ == "__main__":
    main()
