"""Times the chest X-ray models with onnxruntime (the reference runtime), for `cargo bench --bench xray_model`.

    training/.venv/bin/python training/xray_time_onnxruntime.py --model models/xray/xray_int8.onnx \
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
import pathlib
import resource
import sys
import time

import numpy as np
import onnxruntime as ort

from time_onnxruntime import session  # same folder: one definition of the timed session


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--inputs", required=True, help="folder with *.input.f32 and expected.json")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--tolerance", type=float, default=0.02,
                    help="largest |probability difference| to tract accepted (default 0.02)")
    ap.add_argument("--images", nargs="*", default=[], help="image files for image -> finding")
    args = ap.parse_args()
    if args.threads < 1 or args.iters < 1 or args.warmup < 0:
        ap.error("--threads and --iters must be at least 1, --warmup at least 0")

    sess = session(args.model, args.threads)
    in_name = sess.get_inputs()[0].name

    folder = pathlib.Path(args.inputs)
    expected = json.loads((folder / "expected.json").read_text())
    inputs = []
    for name, p_tract in expected.items():
        x = np.fromfile(folder / f"{name}.input.f32", dtype="<f4").reshape(1, 1, 128, 128)
        got = float(sess.run(["probability"], {in_name: x})[0].reshape(-1)[0])
        if abs(got - p_tract) > args.tolerance:
            sys.exit(f"{args.model}: {name}: onnxruntime {got:.4f} vs tract {p_tract:.4f}")
        inputs.append(x)
    if not inputs:
        sys.exit(f"{folder}: no inputs")

    for i in range(args.warmup):
        sess.run(["probability"], {in_name: inputs[i % len(inputs)]})
    times = np.empty(args.iters, np.float64)
    for i in range(args.iters):
        feed = {in_name: inputs[i % len(inputs)]}
        t0 = time.perf_counter_ns()
        sess.run(["probability"], feed)
        times[i] = (time.perf_counter_ns() - t0) / 1000.0

    image_mean = None
    if args.images:
        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "xray"))
        import preprocess  # noqa: E402  (training/xray/preprocess.py)

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
