"""Breathing models, data: the dataset splits the Rust simulator writes
(`edge-screen simulate --training-set`; the generator is under src/).

A data folder holds three splits, DATA/train, DATA/val and DATA/test, each with
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
               the learned models applies it, see `model.apnea_gate`).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.common import fail

# The product's class order (spec.json's `classes`), for the scripts that make their own data.
CLASSES = ["eupnea", "tachypnea", "bradypnea", "biots", "cheyne_stokes", "central_apnea"]
FULL_WINDOW_S = 119.5  # length_s at or above this is a full 120 s window
CSV_COLUMNS = ["index", "pattern", "source", "session", "seed", "t_end_s", "length_s", "rate_bpm",
               "baseline", "apnea_seen"]


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


def load_splits(data: Path) -> tuple[Split, Split, Split, dict]:
    """train, val and test of a data folder (same classes and window shape), and train's spec."""
    train, meta = load_split(data / "train", None)
    val, _ = load_split(data / "val", meta["classes"])
    test, _ = load_split(data / "test", meta["classes"])
    for s in (val, test):
        if s.x.shape[1:] != train.x.shape[1:]:
            fail(f"{s.name}: window shape {s.x.shape[1:]} differs from train's {train.x.shape[1:]}")
    return train, val, test, meta


def describe(split: Split, classes: list[str]) -> dict:
    """Window counts per class, source and class x source; full windows; sessions."""
    per_class = {c: int((split.y == i).sum()) for i, c in enumerate(classes)}
    per_source = dict(sorted(Counter(split.source.tolist()).items()))
    per_class_source = {c: {s: int(((split.y == i) & (split.source == s)).sum()) for s in per_source}
                        for i, c in enumerate(classes)}
    return {"windows": len(split), "full_windows": int((split.length_s >= FULL_WINDOW_S).sum()),
            "sessions": len(set(zip(split.source.tolist(), split.session.tolist()))),
            "per_class": per_class, "per_source": per_source, "per_class_source": per_class_source}


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
