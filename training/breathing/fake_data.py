"""Fabricates a small synthetic dataset in the training-set format, for testing the pipeline only.

The real data comes from the Rust binary (the Respiratory Simulation Model); this script exists so
that `train.py` can be exercised end to end without building it. The signals are crude (sine waves
with a class-dependent rate, bursts, waxing and waning, pauses) and say nothing about accuracy on
real or simulated breathing.

    training/.venv/bin/python training/breathing/fake_data.py --out /tmp/fake_data [--seed 0] [--sessions 60]

Writes OUT/{train,val,test}/{spec.json,inputs.f32,windows.csv}; see data.py for the format.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import from the repository root, not this folder
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from training.breathing.data import CLASSES, CSV_COLUMNS  # noqa: E402

import numpy as np  # noqa: E402

STEPS, HZ, PER_STEP = 120, 10.0, 10  # 120 one-second steps of 10 samples each
FEATURES = PER_STEP + 1  # 10 samples + mask


def breathing(pattern: str, seconds: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """One session's signal at HZ and its nominal rate (breaths/min)."""
    t = np.arange(int(seconds * HZ)) / HZ
    rate = {"eupnea": rng.uniform(12, 20), "tachypnea": rng.uniform(22, 35),
            "bradypnea": rng.uniform(6, 11)}.get(pattern, rng.uniform(12, 20))
    phase = 2 * np.pi * np.cumsum(np.full(t.size, rate / 60.0 / HZ)) + rng.uniform(0, 2 * np.pi)
    x = np.sin(phase)
    if pattern == "biots":  # clusters of quick breaths separated by pauses
        x = np.sin(phase * 1.8)
        on = np.zeros(t.size, bool)
        i = 0
        while i < t.size:
            burst, pause = rng.uniform(6, 12), rng.uniform(8, 25)
            on[i:i + int(burst * HZ)] = True
            i += int((burst + pause) * HZ)
        x = x * on
    elif pattern == "cheyne_stokes":  # crescendo-decrescendo, cycle 40-120 s
        cycle = rng.uniform(40, 90)
        x = x * np.clip(np.sin(2 * np.pi * t / cycle + rng.uniform(0, 6.3)), 0, None)
    elif pattern == "central_apnea":  # normal breathing with pauses of 10-25 s
        i = int(rng.uniform(10, 40) * HZ)
        while i < t.size:
            n = int(rng.uniform(10, 25) * HZ)
            x[i:i + n] = 0.0
            i += n + int(rng.uniform(30, 70) * HZ)
    x = x * rng.uniform(0.5, 2.0) + 0.05 * rng.standard_normal(t.size)
    if rng.random() < 0.5:  # polarity: a camera's depth falls on inhalation
        x = -x
    return x.astype(np.float32), rate


def windows_of(signal: np.ndarray, rng: np.random.Generator, count: int):
    """`count` windows ending at random times; short ones (30-119 s) are left-padded with mask 0."""
    total_s = signal.size // PER_STEP
    for _ in range(count):
        length = STEPS if rng.random() < 0.6 else int(rng.integers(30, STEPS))
        end = int(rng.integers(length, total_s + 1))
        seg = signal[(end - length) * PER_STEP:end * PER_STEP]
        seg = (seg - seg.mean()) / (seg.std() + 1e-6)  # normalised per window
        w = np.zeros((STEPS, FEATURES), np.float32)
        w[STEPS - length:, :PER_STEP] = seg.reshape(length, PER_STEP)
        w[STEPS - length:, PER_STEP] = 1.0
        yield w, end, length


def write_split(out: Path, sessions: int, first_session: int, rng: np.random.Generator) -> None:
    out.mkdir(parents=True, exist_ok=True)
    spec = {"steps": STEPS, "features": FEATURES, "hz": HZ, "classes": CLASSES,
            "note": "fabricated by training/breathing/fake_data.py"}
    (out / "spec.json").write_text(json.dumps(spec, indent=2))
    rows, inputs = [], []
    for s in range(sessions):
        pattern = CLASSES[s % len(CLASSES)]
        source = "camera" if rng.random() < 0.5 else "signal"
        seed = int(rng.integers(1 << 31))
        signal, rate = breathing(pattern, 240.0, rng)
        for w, end, length in windows_of(signal, rng, 5):
            r = rng.random()  # a fake rule baseline: right 85%, wrong 12%, no answer 3%
            baseline = pattern if r < 0.85 else ("" if r > 0.97 else str(rng.choice(CLASSES)))
            rows.append([len(rows), pattern, source, first_session + s, seed, float(end), float(length),
                         round(rate, 2), baseline,
                         int(pattern in ("central_apnea", "cheyne_stokes") and r < 0.9)])
            inputs.append(w)
    np.stack(inputs).astype("<f4").tofile(out / "inputs.f32")
    with open(out / "windows.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(CSV_COLUMNS)
        wr.writerows(rows)
    print(f"{out}: {len(rows)} windows, {sessions} sessions")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sessions", type=int, default=60, help="sessions in train (val and test: a third)")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    write_split(args.out / "train", args.sessions, 0, rng)
    write_split(args.out / "val", max(6, args.sessions // 3), 100000, rng)
    write_split(args.out / "test", max(6, args.sessions // 3), 200000, rng)


if __name__ == "__main__":
    main()
