"""Breathing models, export: the BI-AT-GRU to ONNX (checked against torch) and its golden cases.

  bi_at_gru.onnx  the BI-AT-GRU only: input `window` float32 [1,120,11], output `scores` float32
                  [1,6] = softmax probabilities; opset 14, TorchScript exporter. Checked: < 1 MB,
                  onnx.checker, exactly one ONNX `GRU` node with direction bidirectional, and
                  onnxruntime's scores equal torch's within 1e-5 on test windows (else it fails).
  golden.json     {"input_shape": [1,120,11], "cases": [{name, pattern, length_s, input (1320
                  floats, row-major), scores (6 floats from onnxruntime on the exported file)}]}: 8
                  test windows (every class, at least two padded ones) and a flat signal (all-zero
                  samples, mask all 1; pattern null). Floats are float32 values written as doubles,
                  so they round-trip exactly.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from training.common import fail, ort_session, write_json
from training.breathing.data import FULL_WINDOW_S, Split
from training.breathing.model import Scores, predict_proba

PARITY_WINDOWS = 500  # test windows run through onnxruntime one by one for the parity check
PARITY_TOL = 1e-5
MAX_ONNX_BYTES = 1 << 20
GOLDEN_WINDOWS = 8
GOLDEN_PADDED = 2


def export_onnx(model: nn.Module, meta: dict, path: Path, test: Split, args) -> dict:
    """Exports the model, checks it (size, checker, one bidirectional GRU node, parity); or fails."""
    import onnx
    wrapper = Scores(model).eval()
    shape = (1, meta["steps"], meta["features"])
    with torch.no_grad(), warnings.catch_warnings():
        # The exporter warns about GRUs exported with a batch other than 1 and no explicit initial
        # state; here the batch is 1 and the state is given (see Scores), so the warning is moot.
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size")
        torch.onnx.export(wrapper, (torch.zeros(shape),), str(path), input_names=["window"],
                          output_names=["scores"], opset_version=14, do_constant_folding=True,
                          dynamo=False)
    size = path.stat().st_size
    if size >= MAX_ONNX_BYTES:
        fail(f"{path}: {size} bytes, not under {MAX_ONNX_BYTES}")
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    ops = [n.op_type for n in proto.graph.node]
    grus = [n for n in proto.graph.node if n.op_type == "GRU"]
    if len(grus) != 1:
        fail(f"{path}: {len(grus)} GRU nodes, expected exactly one (ops: {ops})")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in grus[0].attribute}
    if attrs.get("direction") != b"bidirectional" or attrs.get("hidden_size") != args.hidden:
        fail(f"{path}: GRU node attributes {attrs}, expected direction bidirectional, "
             f"hidden_size {args.hidden}")
    for forbidden in ("Loop", "Scan", "If", "LSTM", "RNN"):
        if forbidden in ops:
            fail(f"{path}: unexpected {forbidden} node (ops: {ops})")
    def dims(values) -> list:
        return [(v.name, [d.dim_value for d in v.type.tensor_type.shape.dim]) for v in values]

    want = ([("window", list(shape))], [("scores", [1, len(meta["classes"])])])
    if (dims(proto.graph.input), dims(proto.graph.output)) != want:
        fail(f"{path}: inputs {dims(proto.graph.input)}, outputs {dims(proto.graph.output)}; "
             f"expected {want}")

    # Parity: onnxruntime, one window at a time, against torch on the same windows (spread evenly
    # over the test split, which may be ordered by class).
    n = min(len(test), PARITY_WINDOWS)
    pick = np.unique(np.linspace(0, len(test) - 1, n).round().astype(np.int64))
    n = len(pick)
    reference = predict_proba(model, torch.from_numpy(test.x[pick]))
    sess = ort_session(path, args.threads)
    got = np.concatenate([sess.run(["scores"], {"window": test.x[i:i + 1]})[0] for i in pick])
    diff = float(np.abs(got - reference).max())
    if not diff <= PARITY_TOL:
        fail(f"{path}: onnxruntime differs from torch by {diff:.3g} (> {PARITY_TOL}) on test windows")
    agree = float((got.argmax(1) == reference.argmax(1)).mean())
    print(f"onnx: {path} {size} bytes, {len(ops)} nodes, one bidirectional GRU; onnxruntime vs torch "
          f"on {n} test windows: max |diff| {diff:.2e}")
    print(f"onnx: nodes {ops}")
    return {"file": path.name, "bytes": size, "opset": 14, "nodes": ops,
            "node_counts": dict(Counter(ops)),
            "gru_attributes": {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()
                               if not isinstance(v, list)},
            "input": {"name": "window", "shape": list(shape), "type": "float32"},
            "output": {"name": "scores", "shape": [1, len(meta["classes"])], "type": "float32",
                       "meaning": "softmax probabilities in class order"},
            "classes": meta["classes"],
            "parity": {"windows": n, "max_abs_diff": diff, "tolerance": PARITY_TOL,
                       "argmax_agreement": agree}}


def pick_golden(test: Split, classes: list[str]) -> list[int]:
    """8 test windows: two padded ones (different classes where possible), every class, then more.

    Deterministic: always the first qualifying window in file order.
    """
    padded = test.length_s < FULL_WINDOW_S
    chosen: list[int] = []
    for i in np.flatnonzero(padded):  # two padded windows, of different classes if possible
        if len(chosen) < GOLDEN_PADDED and all(test.y[j] != test.y[i] for j in chosen):
            chosen.append(int(i))
    for i in np.flatnonzero(padded):
        if len(chosen) < GOLDEN_PADDED and i not in chosen:
            chosen.append(int(i))
    if len(chosen) < GOLDEN_PADDED:
        fail(f"test split has {int(padded.sum())} padded windows (length_s < {FULL_WINDOW_S}); the "
             f"golden cases need {GOLDEN_PADDED}")
    for c in range(len(classes)):  # every class, preferring full windows for variety
        if any(test.y[j] == c for j in chosen):
            continue
        hits = np.flatnonzero((test.y == c) & ~padded)
        hits = hits if hits.size else np.flatnonzero(test.y == c)
        if hits.size == 0:
            fail(f"test split has no window of class {classes[c]}")
        chosen.append(int(hits[0]))
    # Fill up to GOLDEN_WINDOWS round-robin over the classes: each class's first unused window,
    # then its second, and so on.
    rank = Counter()
    order = []
    for i in range(len(test)):
        if i not in chosen:
            order.append((rank[int(test.y[i])], int(test.y[i]), i))
            rank[int(test.y[i])] += 1
    chosen += [i for _, _, i in sorted(order)][:max(0, GOLDEN_WINDOWS - len(chosen))]
    return chosen


def write_golden(path: Path, onnx_path: Path, test: Split, meta: dict, threads: int) -> dict:
    sess = ort_session(onnx_path, threads)
    classes = meta["classes"]
    cases = []
    for i in pick_golden(test, classes):
        x = test.x[i:i + 1]
        scores = sess.run(["scores"], {"window": x})[0][0]
        cases.append({"name": f"test{int(test.index[i]):06d}_{classes[test.y[i]]}_{test.source[i]}_"
                              f"{test.length_s[i]:g}s",
                      "pattern": classes[test.y[i]], "length_s": float(test.length_s[i]),
                      "input": x.reshape(-1).tolist(), "scores": scores.tolist()})
    flat = np.zeros((1, meta["steps"], meta["features"]), np.float32)
    flat[:, :, -1] = 1.0  # a flat signal: every step real, every sample zero
    scores = sess.run(["scores"], {"window": flat})[0][0]
    cases.append({"name": "flat_signal", "pattern": None, "length_s": float(meta["steps"]),
                  "input": flat.reshape(-1).tolist(), "scores": scores.tolist()})
    doc = {"model": onnx_path.name, "input_name": "window", "output_name": "scores",
           "input_shape": [1, meta["steps"], meta["features"]], "classes": classes, "cases": cases}
    write_json(path, doc)
    return {"file": path.name, "cases": [{"name": c["name"], "pattern": c["pattern"],
                                          "length_s": c["length_s"]} for c in cases]}

