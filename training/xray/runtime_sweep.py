"""Is tract's gap to onnxruntime a property of the X-ray network or of tract? A runtime sweep.

    cargo build --release --example xray_profile
    training/.venv/bin/python training/xray/runtime_sweep.py [--rounds 3] [--out DIR]

Exports a set of network shapes with random weights (speed does not depend on the weights) to ONNX
(opset 13, float), plus the shipped `models/xray/xray_int8.onnx` and `xray_float.onnx`, and times
each with onnxruntime (one intra-op thread, every graph optimisation, `training.common.ort_session`)
and with tract (`target/release/examples/xray_profile --plain`: the product's optimised plan, one
thread), alternating runtime and model so that a busy machine slows both alike. Prints a markdown
table: per model the median over rounds of each runtime's mean time per run (200 runs after 30
warm-up runs) and the median of the per-round ratios tract / onnxruntime. The shapes:

* `pool-3`: the shipped architecture (3 merged members, grouped convs, 3x3 conv + 2x2 max-pool);
* `pool-1`: one member of it;
* `s2-3`, `s2-1`: the same with each conv + max-pool replaced by a stride-2 conv (no max-pool);
* `s2-3-96`: `s2-3` with 96 instead of 128 channels per member at 8 x 8;
* `patch4-3`: a 4x4 stride-4 patch stem, then grouped 3x3 convs;
* `dwsep`: depthwise-separable blocks (3x3 depthwise + 1x1), one network of the ensemble's width;
* `matmul`: an 8x8 stride-8 patch stem and 1x1 convs only (nothing but matrix products).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import from the repository root, not this folder
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from training.common import fail, ort_session  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PROFILER = ROOT / "target/release/examples/xray_profile"
ITERS, WARMUP = 200, 30


class Cam(nn.Module):
    """probability = sigmoid(mean(cam)), cam = features(x): the shipped model's outputs."""

    def __init__(self, layers):
        super().__init__()
        self.f = nn.Sequential(*layers)

    def forward(self, x):
        cam = self.f(x)
        return torch.sigmoid(cam.mean(dim=(2, 3))), cam


def plain(members: int, down: str, head: int = 128) -> Cam:
    """The shipped network's shape (`down` = "pool") or its stride-2 variant (`down` = "s2")."""
    layers, cin = [], 1
    for c in (8, 16, 32, 64):
        g = 1 if cin == 1 else members
        width_in = cin if cin == 1 else cin * members
        if down == "pool":
            layers += [nn.Conv2d(width_in, c * members, 3, padding=1, groups=g), nn.ReLU(), nn.MaxPool2d(2)]
        else:
            layers += [nn.Conv2d(width_in, c * members, 3, stride=2, padding=1, groups=g), nn.ReLU()]
        cin = c
    for c in (head, head):
        layers += [nn.Conv2d(cin * members, c * members, 3, padding=1, groups=members), nn.ReLU()]
        cin = c
    return Cam(layers + [nn.Conv2d(cin * members, 1, 1)])


def variants() -> dict[str, nn.Module]:
    def dws(cin, cout, stride):
        return [nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin), nn.Conv2d(cin, cout, 1), nn.ReLU()]

    r = nn.ReLU
    return {
        "pool-3": plain(3, "pool"),
        "pool-1": plain(1, "pool"),
        "s2-3": plain(3, "s2"),
        "s2-1": plain(1, "s2"),
        "s2-3-96": plain(3, "s2", head=96),
        "patch4-3": Cam([nn.Conv2d(1, 48, 4, 4), r(), nn.Conv2d(48, 96, 3, 2, 1, groups=3), r(),
                         nn.Conv2d(96, 192, 3, 2, 1, groups=3), r(), nn.Conv2d(192, 384, 3, 1, 1, groups=3), r(),
                         nn.Conv2d(384, 384, 3, 1, 1, groups=3), r(), nn.Conv2d(384, 1, 1)]),
        "dwsep": Cam([nn.Conv2d(1, 24, 3, 2, 1), r()] + dws(24, 48, 2) + dws(48, 96, 2) + dws(96, 192, 2)
                     + dws(192, 384, 1) + dws(384, 384, 1) + [nn.Conv2d(384, 1, 1)]),
        "matmul": Cam([nn.Conv2d(1, 64, 8, 8), r(), nn.Conv2d(64, 384, 1), r(), nn.Conv2d(384, 384, 1), r(),
                       nn.Conv2d(384, 1, 1)]),
    }


def ort_ms(path: Path) -> float:
    sess = ort_session(path, 1)
    name = sess.get_inputs()[0].name
    x = np.random.RandomState(0).randn(1, 1, 128, 128).astype(np.float32)
    for _ in range(WARMUP):
        sess.run(None, {name: x})
    t0 = time.perf_counter()
    for _ in range(ITERS):
        sess.run(None, {name: x})
    return (time.perf_counter() - t0) * 1e3 / ITERS


def tract_ms(path: Path) -> float:
    out = subprocess.run([str(PROFILER), "--plain", str(path)], capture_output=True, text=True)
    m = re.search(r": ([0-9.]+) ms per run", out.stdout)
    if out.returncode != 0 or not m:
        fail(f"{PROFILER} --plain {path}: exit {out.returncode}: {out.stderr.strip()[-400:]}")
    return float(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="rounds over all models (default 3)")
    ap.add_argument("--out", help="folder for the exported variants (default: a temporary folder)")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if not PROFILER.exists():
        fail(f"{PROFILER} not found: run `cargo build --release --example xray_profile` first")
    torch.manual_seed(0)
    tmp = tempfile.TemporaryDirectory()
    out = Path(args.out or tmp.name)
    out.mkdir(parents=True, exist_ok=True)
    models: dict[str, tuple[Path, int | None]] = {
        "shipped int8 (weight-only)": (ROOT / "models/xray/xray_int8.onnx", None),
        "shipped float": (ROOT / "models/xray/xray_float.onnx", None),
    }
    x = torch.zeros(1, 1, 128, 128)
    for name, net in variants().items():
        path = out / f"{name}.onnx"
        torch.onnx.export(net.eval(), x, str(path), input_names=["image"], output_names=["probability", "cam"],
                          opset_version=13)
        models[name] = (path, sum(p.numel() for p in net.parameters()))
    times = {name: ([], []) for name in models}
    for r in range(args.rounds):
        for name, (path, _) in models.items():
            times[name][0].append(ort_ms(path))
            times[name][1].append(tract_ms(path))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    print("| model | parameters | onnxruntime ms | tract ms | tract / onnxruntime |")
    print("|---|---|---|---|---|")
    for name, (path, params) in models.items():
        o, t = times[name]
        ratio = statistics.median(b / a for a, b in zip(o, t))
        print(f"| {name} | {params if params is not None else '-'} | {statistics.median(o):.2f} | "
              f"{statistics.median(t):.2f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
