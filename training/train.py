"""Trains and compares the breathing-pattern classifiers; exports BI-AT-GRU to ONNX.

One command (from the repository root):

    training/.venv/bin/python training/train.py --data DATA [--out models/breathing] [--epochs 30]
    training/.venv/bin/python training/train.py --data DATA --out /tmp/smoke --smoke   # CI: < 2 min

Input: three dataset splits written by the Rust binary, DATA/train, DATA/val and DATA/test, each with
  spec.json    {"steps": 120, "features": 11, "hz": 10.0, "classes": [six names], ...}
  inputs.f32   little-endian float32, N x steps x features, row-major (window, step, feature).
               Features 0..9 are one second of the normalised breathing signal at 10 Hz; feature 10
               is a mask: 1 for a real step, 0 for padding. Windows shorter than 120 s are padded at
               the START with all-zero rows (mask 0), so the last step is always real.
  windows.csv  index,pattern,source,session,seed,t_end_s,length_s,rate_bpm,baseline,apnea_seen (and
               quality); one row per window, in the order of inputs.f32. `pattern` is the true
               class, `source` camera or signal, `session` the simulated session, `length_s` the
               real length (30-120 s), `baseline` the rule-based baseline's answer on the same
               window (empty: no answer) and `apnea_seen` 1 when the product's apnea detector found
               an apnea in the window (the product's central-apnea gate; every reported metric of
               the learned models applies it, see `apnea_gate`).

Models (PyTorch, batch_first, input [batch, 120, 11], all 11 features including the mask, one
recurrent layer of --hidden units, a dense layer to the six class logits):
  gru          unidirectional GRU; the hidden state of the final step (always real) -> dense.
  lstm         the same with an LSTM.
  bi_at_lstm   bidirectional LSTM + attention pooling.
  bi_at_gru    bidirectional GRU + attention pooling (the model the kiosk ships).
Attention pooling over the recurrent outputs h_t: score_t = v' tanh(W h_t + b); (mask_t - 1) * 1e4
is added so padding gets zero weight; weights = softmax over time; context = sum_t weight_t h_t.

Training: AdamW (lr --lr, default 3e-3, decoupled weight decay --weight-decay) with a cosine decay to
5% of it over --epochs (default 30), cross-entropy, dropout --dropout before the dense layer,
batches of --batch (default 64), gradient norm clipped at 1. The epoch with the best validation
macro-F1 is kept (the earliest on ties). Augmentation belongs mostly to the data generator; here
only --flip (default on: a random sign flip of features 0..9 per window; breathing polarity: a
depth camera's distance falls on inhalation, a belt rises) and --jitter (per window a random depth
x0.8-1.25 and white noise). Deterministic for a given
--seed and --threads (torch.use_deterministic_algorithms; every model starts from the same seed and
sees the same batch order).

Evaluation on the TEST split, for every model and for the rule baseline (`baseline` column):
accuracy, macro precision, macro recall, macro F1, per-class precision/recall/F1 and the 6x6
confusion matrix (rows true, columns predicted, class order of spec.json), over
  all       every test window,
  full      full windows only (length_s >= 119.5),
  camera / signal   per source,
  sessions  one verdict per session (windows grouped by (source, session)): the argmax of the mean
            of the model's softmax scores over the session's windows; for the baseline the majority
            of its window answers (ties go to the class listed first; no answers at all: wrong).
A window the baseline gave no answer for counts as wrong (a miss for its true class, a prediction of
no class); the baseline's matrix has a `none` column for them. Macro averages are over the classes
present in the subset's true labels.

Outputs in --out (default <repo>/models/breathing):
  bi_at_gru.onnx  the BI-AT-GRU only: input `window` float32 [1,120,11], output `scores` float32
                  [1,6] = softmax probabilities; opset 14, TorchScript exporter. Checked: < 1 MB,
                  onnx.checker, exactly one ONNX `GRU` node with direction bidirectional, and
                  onnxruntime's scores equal torch's within 1e-5 on test windows (else it fails).
  golden.json     {"input_shape": [1,120,11], "cases": [{name, pattern, length_s, input (1320
                  floats, row-major), scores (6 floats from onnxruntime on the exported file)}]}: 8
                  test windows (every class, at least two padded ones) and a flat signal (all-zero
                  samples, mask all 1; pattern null). Floats are float32 values written as doubles,
                  so they round-trip exactly.
  metrics.json    everything measured: dataset sizes per split/class/source, hyper-parameters,
                  versions, per-model parameter counts, training time, epoch history, best epoch,
                  test metrics per subset, the baseline's, ONNX size, node list and parity.
  metrics.md      the tables for the model card (see write_markdown).

--smoke: 1 epoch on at most 600 training windows, all four models, then the same export, golden
and metrics (marked as a smoke run); for CI, to prove the pipeline runs end to end.
--models: comma list of models to train (bi_at_gru is required: it is the one exported).
--threads: torch intra-op threads and onnxruntime threads (default 2).
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import platform
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

# OpenMP threads that spin while they wait make torch's many small recurrent-step kernels up to 50x
# slower when the cores are shared (e.g. with a cargo build); passive waiting costs little when they
# are not. Must be set before torch loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MODEL_NAMES = ["gru", "lstm", "bi_at_lstm", "bi_at_gru"]
DISPLAY = {"gru": "GRU", "lstm": "LSTM", "bi_at_lstm": "BI-AT-LSTM", "bi_at_gru": "BI-AT-GRU",
           "baseline": "Rule baseline"}
EXPORTED = "bi_at_gru"
FULL_WINDOW_S = 119.5  # length_s at or above this is a full 120 s window
SMOKE_TRAIN_WINDOWS = 600
PARITY_WINDOWS = 500  # test windows run through onnxruntime one by one for the parity check
PARITY_TOL = 1e-5
MAX_ONNX_BYTES = 1 << 20
GOLDEN_WINDOWS = 8
GOLDEN_PADDED = 2
CSV_COLUMNS = ["index", "pattern", "source", "session", "seed", "t_end_s", "length_s", "rate_bpm",
               "baseline", "apnea_seen"]


def fail(msg: str) -> NoReturn:
    """Stops with a clear message and exit status 1."""
    print(f"train.py: error: {msg}", file=sys.stderr)
    sys.exit(1)


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------

@dataclass
class Split:
    """One dataset split: inputs [N, steps, features] and the per-window columns of windows.csv."""
    name: str
    x: np.ndarray          # float32 [N, steps, features]
    y: np.ndarray          # int64 [N], index into classes
    source: np.ndarray     # str [N]
    session: np.ndarray    # int64 [N]
    length_s: np.ndarray   # float64 [N]
    baseline: np.ndarray   # int64 [N], class index or -1 for no answer
    index: np.ndarray      # int64 [N], the `index` column
    apnea_seen: np.ndarray  # bool [N], the product's apnea detector found an apnea in the window

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, keep: np.ndarray) -> "Split":
        return Split(self.name, self.x[keep], self.y[keep], self.source[keep], self.session[keep],
                     self.length_s[keep], self.baseline[keep], self.index[keep],
                     self.apnea_seen[keep])


def load_split(directory: Path, classes: list[str] | None) -> tuple[Split, dict]:
    """Reads and checks one split directory; `classes` (from another split) must match if given."""
    for f in ("spec.json", "inputs.f32", "windows.csv"):
        if not (directory / f).is_file():
            fail(f"{directory / f}: missing")
    spec = json.loads((directory / "spec.json").read_text())
    steps, features, names = int(spec["steps"]), int(spec["features"]), list(spec["classes"])
    if classes is not None and names != classes:
        fail(f"{directory}/spec.json: classes {names} differ from the train split's {classes}")
    cls = {c: i for i, c in enumerate(names)}

    with open(directory / "windows.csv", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            fail(f"{directory}/windows.csv: missing columns {missing}")
        rows = list(reader)
    raw = np.fromfile(directory / "inputs.f32", dtype="<f4")
    if raw.size != len(rows) * steps * features:
        fail(f"{directory}/inputs.f32: {raw.size} floats, expected {len(rows)} windows x {steps} x "
             f"{features}")
    x = raw.reshape(len(rows), steps, features).astype(np.float32)
    if not np.isfinite(x).all():
        fail(f"{directory}/inputs.f32: non-finite values")

    def class_of(name: str, row: int, column: str, allow_empty: bool) -> int:
        if name == "" and allow_empty:
            return -1
        if name not in cls:
            fail(f"{directory}/windows.csv row {row + 2}: {column} {name!r} is not one of {names}")
        return cls[name]

    y = np.array([class_of(r["pattern"], i, "pattern", False) for i, r in enumerate(rows)], np.int64)
    baseline = np.array([class_of(r["baseline"].strip(), i, "baseline", True)
                         for i, r in enumerate(rows)], np.int64)
    source = np.array([r["source"] for r in rows])
    if not set(source) <= {"camera", "signal"}:
        fail(f"{directory}/windows.csv: sources {sorted(set(source))}, expected camera/signal")
    session = np.array([int(r["session"]) for r in rows], np.int64)
    length_s = np.array([float(r["length_s"]) for r in rows], np.float64)
    index = np.array([int(r["index"]) for r in rows], np.int64)
    apnea_seen = np.array([r["apnea_seen"] == "1" for r in rows], bool)

    # The mask must be 0/1 with the padding at the start (the unidirectional models read the last
    # step, and the golden cases rely on it).
    mask = x[:, :, features - 1]
    if not np.isin(mask, (0.0, 1.0)).all():
        fail(f"{directory}/inputs.f32: mask feature {features - 1} holds values other than 0 and 1")
    if (np.diff(mask, axis=1) < 0).any() or (mask[:, -1] != 1.0).any():
        fail(f"{directory}/inputs.f32: padding is not only at the start of every window")
    split = Split(directory.name, x, y, source, session, length_s, baseline, index, apnea_seen)

    # One true pattern per session, or session verdicts would be meaningless.
    seen: dict[tuple[str, int], int] = {}
    for s, k, c in zip(source, session, y):
        if seen.setdefault((s, int(k)), int(c)) != c:
            fail(f"{directory}: session ({s}, {k}) has windows of more than one pattern")
    return split, {"steps": steps, "features": features, "hz": float(spec["hz"]), "classes": names}


def describe(split: Split, classes: list[str]) -> dict:
    """Window counts per class, source and class x source; full windows; sessions."""
    per_class = {c: int((split.y == i).sum()) for i, c in enumerate(classes)}
    per_source = dict(sorted(Counter(split.source.tolist()).items()))
    per_class_source = {c: {s: int(((split.y == i) & (split.source == s)).sum()) for s in per_source}
                        for i, c in enumerate(classes)}
    return {"windows": len(split), "full_windows": int((split.length_s >= FULL_WINDOW_S).sum()),
            "sessions": len(set(zip(split.source.tolist(), split.session.tolist()))),
            "per_class": per_class, "per_source": per_source, "per_class_source": per_class_source}


# ----------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------

class AttentionPool(nn.Module):
    """Masked additive attention: score_t = v' tanh(W h_t + b), softmax over real steps, sum."""

    def __init__(self, dim: int, attn_dim: int):
        super().__init__()
        self.proj = nn.Linear(dim, attn_dim)            # W, b
        self.v = nn.Linear(attn_dim, 1, bias=False)     # v

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # h [B, T, dim], mask [B, T] (1 real, 0 padding)
        score = self.v(torch.tanh(self.proj(h))).squeeze(-1)  # [B, T]
        score = score + (mask - 1.0) * 1e4                   # padding -> weight exp(-1e4) = 0
        weight = torch.softmax(score, dim=1)
        return torch.bmm(weight.unsqueeze(1), h).squeeze(1)  # [B, dim]


class BreathingNet(nn.Module):
    """A recurrent layer (GRU or LSTM, uni- or bidirectional) + pooling + dense -> class logits.

    Unidirectional: the output of the final step (padding is at the start, so it is always real).
    Bidirectional: masked attention pooling over every step's output.
    """

    def __init__(self, cell: str, bidirectional: bool, features: int, hidden: int, classes: int,
                 merge: int = 1, dropout: float = 0.0):
        super().__init__()
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        # `merge` consecutive input steps form one recurrent step (a reshape inside the model, so
        # the input stays [B, 120, 11]); fewer recurrent steps make inference proportionally faster.
        self.merge = merge
        self.rnn = rnn(features * merge, hidden, num_layers=1, batch_first=True,
                       bidirectional=bidirectional)
        out_dim = hidden * (2 if bidirectional else 1)
        self.attention = AttentionPool(out_dim, hidden) if bidirectional else None
        self.dropout = nn.Dropout(dropout)  # training only; the export (eval mode) has no node for it
        self.dense = nn.Linear(out_dim, classes)

    def forward(self, x: torch.Tensor, state=None) -> torch.Tensor:
        if self.merge > 1:
            b, t, f = x.shape
            # The mask of a merged step is its last part's (padding is only at the start).
            x = x.reshape(b, t // self.merge, f * self.merge)
        h, _ = self.rnn(x, state)  # [B, T, out_dim]; state None means zeros
        if self.attention is None:
            pooled = h[:, -1, :]
        else:
            pooled = self.attention(h, x[:, :, -1])
        return self.dense(self.dropout(pooled))


def build_model(name: str, features: int, hidden: int, classes: int, merge: int = 1,
                dropout: float = 0.0) -> BreathingNet:
    cell, bidirectional = {"gru": ("gru", False), "lstm": ("lstm", False),
                           "bi_at_lstm": ("lstm", True), "bi_at_gru": ("gru", True)}[name]
    return BreathingNet(cell, bidirectional, features, hidden, classes, merge, dropout)


class Scores(nn.Module):
    """The exported form, for one window: softmax probabilities instead of logits.

    The zero initial state is a constant buffer so that the exporter writes it as an initializer
    feeding the GRU's `initial_h`; with no state it builds the zeros from the input's shape at run
    time (Shape, Gather, Unsqueeze, Concat, Expand nodes) for nothing, since the batch is fixed at 1.
    """

    def __init__(self, net: BreathingNet):
        super().__init__()
        self.net = net
        rnn = net.rnn
        self.register_buffer("h0", torch.zeros(2 if rnn.bidirectional else 1, 1, rnn.hidden_size))
        self.lstm = isinstance(rnn, nn.LSTM)

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        state = (self.h0, self.h0) if self.lstm else self.h0
        return torch.softmax(self.net(window, state), dim=-1)


# ----------------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------------

def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, macro and per-class precision/recall/F1 and the confusion matrix.

    y_pred -1 means no answer: wrong, counted in `no_answer` (per true class), predicts no class.
    Precision of a class never predicted is 0. Macro averages over the classes present in y_true.
    """
    k = len(classes)
    conf = np.zeros((k, k), np.int64)
    answered = y_pred >= 0
    np.add.at(conf, (y_true[answered], y_pred[answered]), 1)
    no_answer = np.bincount(y_true[~answered], minlength=k)
    support = np.bincount(y_true, minlength=k)
    predicted = conf.sum(axis=0)
    tp = np.diag(conf)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    present = support > 0
    n = len(y_true)
    return {
        "n": int(n),
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "macro_precision": float(precision[present].mean()) if present.any() else 0.0,
        "macro_recall": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "classes_averaged": [c for c, p in zip(classes, present) if p],
        "per_class": {c: {"precision": float(precision[i]), "recall": float(recall[i]),
                          "f1": float(f1[i]), "support": int(support[i])}
                      for i, c in enumerate(classes)},
        "confusion": conf.tolist(),
        "no_answer": no_answer.tolist(),
    }


def session_groups(split: Split) -> tuple[list[np.ndarray], np.ndarray]:
    """Window indices per (source, session), in sorted key order, and each session's true class."""
    keys = list(zip(split.source.tolist(), split.session.tolist()))
    order = sorted(set(keys))
    where = {key: i for i, key in enumerate(order)}
    members: list[list[int]] = [[] for _ in order]
    for i, key in enumerate(keys):
        members[where[key]].append(i)
    groups = [np.array(m) for m in members]
    truth = np.array([split.y[g[0]] for g in groups], np.int64)
    return groups, truth


def majority(labels: np.ndarray, k: int) -> int:
    """The most frequent answer (ties: the class listed first); -1 when there is no answer."""
    answered = labels[labels >= 0]
    if answered.size == 0:
        return -1
    return int(np.argmax(np.bincount(answered, minlength=k)))


def evaluate_subsets(split: Split, pred: np.ndarray, session_pred: np.ndarray,
                     classes: list[str]) -> dict:
    """Metrics over all windows, full windows, each source, and the session verdicts."""
    out = {"all": classification_metrics(split.y, pred, classes)}
    full = split.length_s >= FULL_WINDOW_S
    out["full"] = classification_metrics(split.y[full], pred[full], classes)
    for s in ("camera", "signal"):
        keep = split.source == s
        if keep.any():
            out[s] = classification_metrics(split.y[keep], pred[keep], classes)
    _, truth = session_groups(split)
    out["sessions"] = classification_metrics(truth, session_pred, classes)
    return out


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------

@torch.no_grad()
def predict_proba(model: nn.Module, x: torch.Tensor, batch: int = 1024) -> np.ndarray:
    """The model's softmax probabilities (as exported, before the product's central-apnea gate)."""
    model.eval()
    return np.concatenate([torch.softmax(model(x[i:i + batch]), dim=-1).numpy()
                           for i in range(0, len(x), batch)])


def apnea_gate(proba: np.ndarray, apnea_seen: np.ndarray, classes: list[str]) -> np.ndarray:
    """The product's central-apnea gate (src/breathing/gru.rs, `apnea_gate`): in a window where
    the apnea detector found no apnea, the central-apnea score is spread evenly over the others."""
    ca = classes.index("central_apnea")
    out = proba.copy()
    no = ~apnea_seen
    moved = out[no, ca] / (len(classes) - 1)
    out[no] += moved[:, None]
    out[no, ca] = 0.0
    return out


def train_one(name: str, train: Split, val: Split, meta: dict, args) -> tuple[nn.Module, dict]:
    """Trains one model; returns it at its best validation macro-F1 epoch and its history."""
    classes = meta["classes"]
    torch.manual_seed(args.seed)  # same initial draw and batch order for every model
    model = build_model(name, meta["features"], args.hidden, len(classes), args.merge, args.dropout)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=args.epochs,
                                                          eta_min=args.lr * 0.05)
    order = torch.Generator().manual_seed(args.seed)
    x, y = torch.from_numpy(train.x), torch.from_numpy(train.y)
    xv = torch.from_numpy(val.x)
    signal_features = meta["features"] - 1  # features 0..9; the last one is the mask

    best = {"f1": -1.0, "epoch": 0, "state": None}
    history = []
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(len(y), generator=order)
        total, seen = 0.0, 0
        for i in range(0, len(perm), args.batch):
            idx = perm[i:i + args.batch]
            xb, yb = x[idx], y[idx]  # indexing copies, so the flip below leaves x untouched
            if args.flip:  # random polarity per window; padding stays zero
                sign = torch.randint(0, 2, (len(idx), 1, 1), generator=order).float() * 2 - 1
                xb[:, :, :signal_features] *= sign
            if args.jitter > 0:  # per window: depth x0.8-1.25 and white noise up to `jitter`
                real = xb[:, :, -1:]  # padding stays zero
                gain = torch.exp(torch.empty(len(idx), 1, 1).uniform_(-0.22, 0.22, generator=order))
                sigma = torch.empty(len(idx), 1, 1).uniform_(0, args.jitter, generator=order)
                noise = torch.randn(xb[:, :, :signal_features].shape, generator=order) * sigma
                xb[:, :, :signal_features] = (xb[:, :, :signal_features] * gain + noise) * real
            loss = F.cross_entropy(model(xb), yb)
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            total += loss.item() * len(idx)
            seen += len(idx)
        schedule.step()
        m = classification_metrics(
            val.y, apnea_gate(predict_proba(model, xv), val.apnea_seen, classes).argmax(1), classes)
        secs = time.perf_counter() - t0
        improved = m["macro_f1"] > best["f1"]
        if improved:
            best = {"f1": m["macro_f1"], "epoch": epoch, "state": copy.deepcopy(model.state_dict())}
        history.append({"epoch": epoch, "train_loss": total / seen, "val_accuracy": m["accuracy"],
                        "val_macro_f1": m["macro_f1"], "seconds": secs})
        print(f"{name:<10} epoch {epoch:3d}/{args.epochs}  train loss {total / seen:.4f}  "
              f"val acc {m['accuracy']:.4f}  val macro-F1 {m['macro_f1']:.4f}  {secs:5.1f} s"
              f"{'  *' if improved else ''}", flush=True)
    model.load_state_dict(best["state"])
    info = {"parameters": sum(p.numel() for p in model.parameters()), "best_epoch": best["epoch"],
            "best_val_macro_f1": best["f1"], "epochs": args.epochs,
            "train_seconds": time.perf_counter() - start, "history": history}
    return model, info


# ----------------------------------------------------------------------------------------------
# Export, parity and golden cases
# ----------------------------------------------------------------------------------------------

def ort_session(path: Path, threads: int):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


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
    path.write_text(json.dumps(doc) + "\n")
    return {"file": path.name, "cases": [{"name": c["name"], "pattern": c["pattern"],
                                          "length_s": c["length_s"]} for c in cases]}


# ----------------------------------------------------------------------------------------------
# Reports
# ----------------------------------------------------------------------------------------------

def pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def summary_table(rows: list[tuple[str, dict]]) -> list[str]:
    lines = ["| Model | Accuracy | Macro precision | Macro recall | Macro F1 |",
             "|---|---:|---:|---:|---:|"]
    for name, m in rows:
        lines.append(f"| {name} | {pct(m['accuracy'])} | {pct(m['macro_precision'])} | "
                     f"{pct(m['macro_recall'])} | {pct(m['macro_f1'])} |")
    return lines


def confusion_table(m: dict, classes: list[str]) -> list[str]:
    with_none = any(m["no_answer"])
    head = ["true \\ predicted"] + classes + (["(no answer)"] if with_none else [])
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for i, c in enumerate(classes):
        cells = [str(v) for v in m["confusion"][i]] + ([str(m["no_answer"][i])] if with_none else [])
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return lines


def write_markdown(path: Path, metrics: dict) -> None:
    """Tables for the model card: test metrics per subset, session verdicts, confusion matrices."""
    classes = metrics["dataset"]["classes"]
    models = [m for m in MODEL_NAMES if m in metrics["models"]]
    test = metrics["dataset"]["splits"]["test"]
    hp = metrics["hyperparameters"]
    out = ["<!-- generated by training/train.py; do not edit by hand -->"]
    if metrics["smoke"]:
        out += ["", "**SMOKE RUN (1 epoch, reduced training set): these numbers are not a result.**"]
    out += ["", f"Test split: {test['windows']} windows ({test['full_windows']} full 120 s windows), "
                f"{test['sessions']} sessions; camera {test['per_source'].get('camera', 0)}, "
                f"signal {test['per_source'].get('signal', 0)} windows. "
                f"Models: hidden {hp['hidden']}, {hp['epochs']} epoch{'s' if hp['epochs'] != 1 else ''} "
                f"(best validation macro-F1 kept), seed {hp['seed']}. Macro averages: unweighted means "
                f"over the classes with test windows in the subset."]

    def section(title: str, subset: str) -> None:
        first = metrics["models"][models[0]]["test"].get(subset)
        if first is None:
            return
        rows = [(DISPLAY[m], metrics["models"][m]["test"][subset]) for m in models]
        rows.append((DISPLAY["baseline"], metrics["baseline"]["test"][subset]))
        out.extend(["", f"### {title} (n = {first['n']})", ""] + summary_table(rows))

    section("Test windows, all", "all")
    section("Test windows, full 120 s windows only", "full")
    section("Test windows, camera source", "camera")
    section("Test windows, signal source", "signal")
    section("Session verdicts (mean of window scores; baseline: majority of window answers)", "sessions")

    gru = metrics["models"][EXPORTED]["test"]["all"]
    out += ["", f"### {DISPLAY[EXPORTED]} per class, all test windows", "",
            "| Class | Precision | Recall | F1 | Support |", "|---|---:|---:|---:|---:|"]
    for c in classes:
        pc = gru["per_class"][c]
        out.append(f"| {c} | {pct(pc['precision'])} | {pct(pc['recall'])} | {pct(pc['f1'])} | "
                   f"{pc['support']} |")
    for title, m in ((DISPLAY[EXPORTED], gru), ("rule baseline", metrics["baseline"]["test"]["all"])):
        out += ["", f"### Confusion matrix, {title}, all test windows (rows true, columns predicted)",
                ""] + confusion_table(m, classes)
    path.write_text("\n".join(out) + "\n")


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="directory with train/, val/, test/")
    ap.add_argument("--out", type=Path, default=REPO / "models" / "breathing",
                    help="output directory (default: <repo>/models/breathing)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--hidden", type=int, default=32, help="recurrent units (per direction)")
    ap.add_argument("--merge", type=int, default=2,
                    help="input steps (seconds) per recurrent step; must divide the 120 steps")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--weight-decay", type=float, default=0.0, help="AdamW's decoupled weight decay")
    ap.add_argument("--dropout", type=float, default=0.0, help="dropout before the dense layer")
    ap.add_argument("--jitter", type=float, default=0.0,
                    help="training windows: random depth x0.8-1.25 and white noise of standard "
                         "deviation up to this (input units); 0 = off")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch and onnxruntime threads")
    ap.add_argument("--flip", action=argparse.BooleanOptionalAction, default=True,
                    help="random sign flip of features 0..9 per training window (default on)")
    ap.add_argument("--models", default=",".join(MODEL_NAMES),
                    help=f"comma list from {','.join(MODEL_NAMES)}; must include {EXPORTED}")
    ap.add_argument("--smoke", action="store_true",
                    help=f"1 epoch, at most {SMOKE_TRAIN_WINDOWS} training windows (CI end-to-end "
                         "check)")
    args = ap.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODEL_NAMES]
    if unknown:
        ap.error(f"--models: unknown {unknown}; choose from {MODEL_NAMES}")
    if EXPORTED not in args.models:
        ap.error(f"--models must include {EXPORTED} (it is the exported model)")
    args.models = [m for m in MODEL_NAMES if m in args.models]  # fixed order, no duplicates
    if args.smoke:
        args.epochs = 1
    for name in ("epochs", "hidden", "batch", "threads", "merge"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1")
    if 120 % args.merge:
        ap.error("--merge must divide the 120 input steps")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    wall = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True)

    train, meta = load_split(args.data / "train", None)
    val, _ = load_split(args.data / "val", meta["classes"])
    test, _ = load_split(args.data / "test", meta["classes"])
    for s in (val, test):
        if s.x.shape[1:] != train.x.shape[1:]:
            fail(f"{s.name}: window shape {s.x.shape[1:]} differs from train's {train.x.shape[1:]}")
    classes = meta["classes"]
    if args.smoke and len(train) > SMOKE_TRAIN_WINDOWS:
        keep = np.sort(np.random.default_rng(args.seed).permutation(len(train))[:SMOKE_TRAIN_WINDOWS])
        train = train.subset(keep)
    sizes = {s.name: describe(s, classes) for s in (train, val, test)}
    for s in (train, val, test):
        d = sizes[s.name]
        print(f"data: {s.name:<5} {d['windows']:6d} windows ({d['full_windows']} full), {d['sessions']} "
              f"sessions, per class {list(d['per_class'].values())}, per source {d['per_source']}")

    groups, _ = session_groups(test)
    results: dict[str, dict] = {}
    trained: dict[str, nn.Module] = {}
    xt = torch.from_numpy(test.x)
    for name in args.models:
        model, info = train_one(name, train, val, meta, args)
        proba = apnea_gate(predict_proba(model, xt), test.apnea_seen, classes)
        session_pred = np.array([int(proba[g].mean(axis=0).argmax()) for g in groups], np.int64)
        info["test"] = evaluate_subsets(test, proba.argmax(1), session_pred, classes)
        results[name] = info
        trained[name] = model
        a = info["test"]["all"]
        print(f"{name:<10} best epoch {info['best_epoch']}  test acc {a['accuracy']:.4f}  macro-F1 "
              f"{a['macro_f1']:.4f}  sessions acc {info['test']['sessions']['accuracy']:.4f}  "
              f"({info['parameters']} parameters, {info['train_seconds']:.0f} s)", flush=True)

    base_sessions = np.array([majority(test.baseline[g], len(classes)) for g in groups], np.int64)
    baseline = {"test": evaluate_subsets(test, test.baseline, base_sessions, classes)}
    a = baseline["test"]["all"]
    print(f"{'baseline':<10} test acc {a['accuracy']:.4f}  macro-F1 {a['macro_f1']:.4f}  sessions acc "
          f"{baseline['test']['sessions']['accuracy']:.4f}  ({sum(a['no_answer'])} windows without "
          "answer)")

    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / f"{EXPORTED}.onnx"
    onnx_info = export_onnx(trained[EXPORTED], meta, onnx_path, test, args)
    golden = write_golden(args.out / "golden.json", onnx_path, test, meta, args.threads)

    import onnx
    import onnxruntime
    metrics = {
        "smoke": args.smoke,
        "command": " ".join(["train.py"] + (sys.argv[1:] if argv is None else list(argv))),
        "data": str(args.data),
        "hyperparameters": {"models": args.models, "epochs": args.epochs, "hidden": args.hidden,
                            "merge": args.merge, "layers": 1, "attention_dim": args.hidden, "lr": args.lr,
                            "lr_schedule": "cosine to 5% over the epochs", "optimizer": "AdamW",
                            "loss": "cross-entropy", "grad_clip_norm": 1.0, "batch": args.batch,
                            "seed": args.seed, "threads": args.threads, "flip": args.flip,
                            "weight_decay": args.weight_decay, "dropout": args.dropout,
                            "jitter": args.jitter,
                            "selection": "epoch with the best validation macro-F1",
                            "smoke_train_windows": SMOKE_TRAIN_WINDOWS if args.smoke else None},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "numpy": np.__version__, "onnx": onnx.__version__,
                     "onnxruntime": onnxruntime.__version__, "platform": platform.platform()},
        "dataset": {"steps": meta["steps"], "features": meta["features"], "hz": meta["hz"],
                    "classes": classes, "full_window_s": FULL_WINDOW_S, "splits": sizes},
        "models": results,
        "baseline": baseline,
        "onnx": onnx_info,
        "golden": golden,
        "total_seconds": time.perf_counter() - wall,
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    write_markdown(args.out / "metrics.md", metrics)
    print(f"wrote {onnx_path}, {args.out / 'golden.json'}, {args.out / 'metrics.json'}, "
          f"{args.out / 'metrics.md'} ({metrics['total_seconds']:.0f} s in all)")


if __name__ == "__main__":
    main()
