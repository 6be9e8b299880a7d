"""Checks models/xray/golden/ against the Python code: every file's sha256, the preprocessing of every
golden image (synthetic *.gray.f64 and real PNGs from the data folder) against its *.input.f32, and
both ONNX models' outputs against model_outputs.json (onnxruntime).

    training/.venv/bin/python training/xray/check_golden.py [--dir models/xray] [--data ../shared/data/xray]

Exits non-zero on any mismatch.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import from the repository root, not this folder
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from training.common import sha256_file as sha  # noqa: E402
from training.xray import preprocess as P  # noqa: E402

import numpy as np  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="models/xray")
    ap.add_argument("--data", default="../shared/data/xray")
    args = ap.parse_args()
    d, g = Path(args.dir), Path(args.dir) / "golden"
    index = json.loads((g / "index.json").read_text())
    bad = 0
    for e in index["images"]:
        if e["kind"] == "synthetic":
            assert sha(g / e["gray"]) == e["gray_sha256"], e["name"]
            img = np.fromfile(g / e["gray"], dtype="<f8").reshape(e["height"], e["width"])
        else:
            f = Path(args.data) / e["path"]
            assert sha(f) == e["file_sha256"], e["name"]
            img = P.load_gray(f)
            assert img.shape == (e["height"], e["width"]), e["name"]
        assert sha(g / e["input"]) == e["input_sha256"], e["name"]
        want = np.fromfile(g / e["input"], dtype="<f4").reshape(1, 1, P.SIZE, P.SIZE)
        diff = float(np.abs(P.preprocess(img) - want).max())
        print(f"{e['name']:20s} preprocess max diff {diff:.2e}")
        bad += diff > 1e-6
    import onnxruntime as ort

    outs = json.loads((g / "model_outputs.json").read_text())
    sessions = {k: ort.InferenceSession(str(d / v), providers=["CPUExecutionProvider"]) for k, v in outs["models"].items()}
    for case in outs["cases"]:
        inp = np.fromfile(g / f"{case['name']}.input.f32", dtype="<f4").reshape(1, 1, P.SIZE, P.SIZE)
        for k, s in sessions.items():
            p, c = s.run(["probability", "cam"], {"image": inp})
            dp = abs(float(p[0, 0]) - case[k]["probability"])
            dc = float(np.abs(c[0, 0] - np.array(case[k]["cam"])).max())
            print(f"{case['name']:20s} {k:5s} p {float(p[0, 0]):.6f} |dp| {dp:.1e} |dcam| {dc:.1e}")
            bad += dp > 1e-5 or dc > 1e-4
    print("golden check:", "OK" if bad == 0 else f"{bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
