"""What the breathing (training/breathing/) and X-ray (training/xray/) sides share.

Importing this package sets OMP_WAIT_POLICY=PASSIVE unless it is set: OpenMP threads that spin
while they wait make torch's many small kernels up to 50x slower when the cores are shared (e.g.
with a cargo build); passive waiting costs little when they are not. It must happen before torch
loads its OpenMP runtime: training/__init__.py imports this package, so any `training.*` import
does it first (entry scripts import from `training` before they import torch). Waiting policy
changes speed only, never results.

Contents: `fail` (stop with a message), `seed_all` (the global random generators), `ort_session`
(the onnxruntime session every script uses), `parse_timing_args` and `time_runs` (the two
onnxruntime timing scripts), `write_json`, `sha256_file` and `md_table` (output files).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import NoReturn

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def fail(msg: str) -> NoReturn:
    """Stops with `<script>: error: msg` on stderr and exit status 1."""
    print(f"{Path(sys.argv[0]).name}: error: {msg}", file=sys.stderr)
    sys.exit(1)


def seed_all(seed: int) -> None:
    """Seeds Python's, numpy's and torch's global generators."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def ort_session(path, threads: int):
    """An onnxruntime CPU session with `threads` intra-op threads, one inter-op thread, sequential
    execution and every graph optimisation (the last two are onnxruntime's defaults, set here so
    that the timing scripts state what they time)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def parse_timing_args(ap: argparse.ArgumentParser, iters: int, warmup: int) -> argparse.Namespace:
    """Adds --threads, --iters and --warmup to a timing script's parser, parses and checks them."""
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    ap.add_argument("--iters", type=int, default=iters, help=f"timed runs (default {iters})")
    ap.add_argument("--warmup", type=int, default=warmup, help=f"untimed runs first (default {warmup})")
    args = ap.parse_args()
    if args.threads < 1 or args.iters < 1 or args.warmup < 0:
        ap.error("--threads and --iters must be at least 1, --warmup at least 0")
    return args


def time_runs(sess, output: str, feeds: list[dict], warmup: int, iters: int):
    """Runs `sess` (fetching `output`) `warmup` times untimed, then `iters` times timed, cycling
    through `feeds`; returns the wall-clock time of each timed `run` call in µs (perf_counter_ns,
    including the Python binding's few microseconds)."""
    import numpy as np

    for i in range(warmup):
        sess.run([output], feeds[i % len(feeds)])
    times = np.empty(iters, np.float64)
    for i in range(iters):
        feed = feeds[i % len(feeds)]
        t0 = time.perf_counter_ns()
        sess.run([output], feed)
        times[i] = (time.perf_counter_ns() - t0) / 1000.0
    return times


def write_json(path: Path, doc, indent: int | None = None) -> None:
    """Writes `doc` as JSON (key order kept) with a final newline."""
    Path(path).write_text(json.dumps(doc, indent=indent) + "\n")


def sha256_file(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def md_table(head: list[str], rows: list[list], align: str = "") -> list[str]:
    """A markdown table as lines: `head`, the separator, one line per row (cells formatted with
    str). `align` has one letter per column, `l` (`---`) or `r` (`---:`); missing letters are `l`."""
    def line(cells) -> str:
        return "| " + " | ".join(str(c) for c in cells) + " |"

    sep = "".join("|---:" if align[i:i + 1] == "r" else "|---" for i in range(len(head))) + "|"
    return [line(head), sep] + [line(r) for r in rows]
