"""An evaluation outside the RSM: breathing made from *real* breath shapes, run through the product.

The BI-AT-GRU is trained only on RSM data, and its test split comes from the same simulator, so the
test metrics cannot show what the RSM gets wrong. This script builds recordings a different way and
runs them through `edge-screen breathing --json`, exactly as a user would:

* breath shapes: single breath cycles cut from the real recordings in ../shared/data/resp (bidmc01
  and 03700181, the clean ones), each scaled to unit depth; every simulated breath is one of them,
  stretched to its own period and depth;
* patterns, written here independently of src/rsm (the clinical definitions, not the RSM's
  parameters): eupnea 12-20 /min, tachypnea 21-35 /min, bradypnea 6-11 /min, each with
  breath-to-breath jitter; Biot's: clusters of 2-6 breaths at 14-26 /min between pauses of 5-20 s;
  Cheyne-Stokes: waxing and waning runs of breaths with 10-25 s apneas between them, cycle 45-100 s;
  central apnea: eupnea interrupted by 10-25 s apneas every 30-90 s;
* recording: sample rate log-uniform 4-250 Hz, scale 1e-3-1e3, either polarity, offset, white
  noise, baseline wander; 60-300 s long.

Nothing here is used for training. Output: accuracy and the confusion matrix per classifier, and
the recordings it got wrong.

  training/.venv/bin/python training/breathing/independent_check.py --bin target/release/edge-screen \
      [--per-pattern 20] [--seed 7] [--classifier bi_at_gru] [--classifier rule_baseline] \
      [--min-accuracy 0.9] [--keep DIR]
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import from the repository root, not this folder
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from training.breathing.data import CLASSES  # noqa: E402
from training.common import fail  # noqa: E402

import numpy as np  # noqa: E402

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "resp" / "csv"
SOURCES = ["bidmc01_resp_125hz.csv", "wfdb_03700181_resp.csv"]


def load(path: Path) -> tuple[np.ndarray, float]:
    a = np.loadtxt(path, delimiter=",", skiprows=1)
    t, x = a[:, 0], a[:, 1]
    return x, 1.0 / float(np.median(np.diff(t)))


def breath_shapes(n_points: int = 200) -> list[np.ndarray]:
    """Breath cycles (trough to trough) from the clean real recordings, each on n_points samples
    with its trough at 0 and its peak at 1."""
    shapes = []
    for name in SOURCES:
        x, hz = load(SHARED / name)
        k = max(1, int(hz * 0.4))
        smooth = np.convolve(x, np.ones(k) / k, mode="same")
        # Troughs: minima of the smoothed signal at least 1.5 s apart.
        gap = int(1.5 * hz)
        troughs = []
        i = gap
        while i < len(smooth) - gap:
            seg = smooth[i - gap // 2: i + gap // 2]
            if smooth[i] == seg.min():
                troughs.append(i)
                i += gap // 2
            i += 1
        for a, b in zip(troughs, troughs[1:]):
            c = smooth[a:b]
            if len(c) < hz * 1.5 or len(c) > hz * 8:
                continue
            lo, hi = c.min(), c.max()
            if hi - lo <= 0:
                continue
            c = (c - lo) / (hi - lo)
            shapes.append(np.interp(np.linspace(0, len(c) - 1, n_points), np.arange(len(c)), c))
    if len(shapes) < 50:
        fail(f"only {len(shapes)} breath shapes found in {SHARED}")
    return shapes


def breaths_then_pause(rng, shapes, out, hz, rate, depth, jitter=0.1, depth_jitter=0.15):
    """Appends one breath at `rate` /min and `depth` to the list of segments `out`."""
    period = 60.0 / rate * rng.uniform(1 - jitter, 1 + jitter)
    s = shapes[rng.integers(len(shapes))]
    n = max(2, int(round(period * hz)))
    out.append(depth * rng.uniform(1 - depth_jitter, 1 + depth_jitter)
               * np.interp(np.linspace(0, len(s) - 1, n), np.arange(len(s)), s))


def pause(out, hz, seconds):
    out.append(np.zeros(max(1, int(round(seconds * hz)))))


def make(pattern: str, rng, shapes, seconds: float, hz: float = 200.0) -> np.ndarray:
    """The breathing signal of `pattern` at `hz`, trough level 0, unit depth."""
    seg: list[np.ndarray] = []
    total = lambda: sum(len(s) for s in seg) / hz  # noqa: E731
    if pattern in ("eupnea", "tachypnea", "bradypnea"):
        rate = {"eupnea": (12.5, 19.5), "tachypnea": (22, 35), "bradypnea": (6.5, 10.5)}[pattern]
        r = rng.uniform(*rate)
        while total() < seconds:
            breaths_then_pause(rng, shapes, seg, hz, r, 1.0)
    elif pattern == "biots":
        while total() < seconds:
            r = rng.uniform(14, 26)
            for _ in range(rng.integers(2, 7)):
                breaths_then_pause(rng, shapes, seg, hz, r, 1.0, depth_jitter=0.05)
            pause(seg, hz, rng.uniform(5, 20))
    elif pattern == "cheyne_stokes":
        cycle = rng.uniform(45, 100)
        apnea = rng.uniform(10, min(25, 0.4 * cycle))
        r = rng.uniform(14, 24)
        pause(seg, hz, rng.uniform(0, apnea))
        while total() < seconds:
            run = cycle - apnea
            n = max(3, int(run * r / 60))
            for k in range(n):
                env = np.sin(np.pi * (k + 0.5) / n)
                breaths_then_pause(rng, shapes, seg, hz, r, 0.15 + 0.85 * env, depth_jitter=0.05)
            pause(seg, hz, apnea)
    elif pattern == "central_apnea":
        r = rng.uniform(12.5, 19.5)
        next_apnea = rng.uniform(15, 60)
        while total() < seconds:
            breaths_then_pause(rng, shapes, seg, hz, r, 1.0)
            if total() > next_apnea:
                pause(seg, hz, rng.uniform(10, 25))
                next_apnea = total() + rng.uniform(30, 90)
    else:
        raise ValueError(pattern)
    return np.concatenate(seg)[: int(seconds * hz)]


def recording(pattern: str, rng, shapes) -> tuple[np.ndarray, np.ndarray]:
    """(t_s, values) of one recording as some sensor would give it."""
    seconds = rng.uniform(60, 300) if rng.random() < 0.3 else 300.0
    if pattern in ("cheyne_stokes", "central_apnea", "biots"):
        seconds = max(seconds, 120.0)
    base_hz = 200.0
    x = make(pattern, rng, shapes, seconds, base_hz)
    t = np.arange(len(x)) / base_hz
    x = x + rng.uniform(0, 0.08) * rng.standard_normal(len(x))
    wander = np.cumsum(rng.standard_normal(len(x))) * rng.uniform(0, 0.01)
    x = x + wander - np.linspace(0, wander[-1], len(x))
    hz = float(np.exp(rng.uniform(np.log(4), np.log(250))))
    ts = np.arange(0, t[-1], 1 / hz)
    xs = np.interp(ts, t, x)
    scale = 10 ** rng.uniform(-3, 3) * (1 if rng.random() < 0.5 else -1)
    return ts, rng.uniform(-100, 100) * abs(scale) + scale * xs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="the edge-screen binary")
    ap.add_argument("--per-pattern", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--classifier", action="append", default=None)
    ap.add_argument("--keep", help="write the recordings to this folder and keep them")
    ap.add_argument("--min-accuracy", type=float, default=None,
                    help="exit 1 if the first classifier gets a smaller share right")
    args = ap.parse_args()
    classifiers = args.classifier or ["bi_at_gru", "rule_baseline"]
    rng = np.random.default_rng(args.seed)
    shapes = breath_shapes()
    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp())
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for p in CLASSES:
        for k in range(args.per_pattern):
            ts, xs = recording(p, rng, shapes)
            f = out / f"{p}_{k:03d}.csv"
            with open(f, "w") as fh:
                fh.write("t_s,resp\n")
                for a, b in zip(ts, xs):
                    fh.write(f"{a:.5f},{b:.6g}\n")
            files.append((p, f))
    print(f"independent_check: {len(files)} recordings from {len(shapes)} real breath shapes in {out}")
    first_accuracy = None
    for cls in classifiers:
        cm = np.zeros((len(CLASSES), len(CLASSES) + 1), dtype=int)
        wrong = []
        for p, f in files:
            r = subprocess.run([args.bin, "breathing", "--classifier", cls, "--json", str(f)],
                               capture_output=True, text=True)
            try:
                d = json.loads(r.stdout)
                got = d["pattern"]
            except (json.JSONDecodeError, KeyError):
                got, d = None, {"error": r.stderr.strip()[-200:]}
            j = CLASSES.index(got) if got in CLASSES else len(CLASSES)
            cm[CLASSES.index(p), j] += 1
            if got != p:
                wrong.append(f"  {f.name}: {got} (rate {d.get('rate_bpm')}, {d.get('error', '')})")
        acc = np.trace(cm[:, :6]) / cm.sum()
        print(f"\n{cls}: {np.trace(cm[:, :6])} of {cm.sum()} right ({100 * acc:.1f} %)")
        print("rows true, columns predicted (last: none)")
        print(" " * 15 + " ".join(f"{c[:6]:>6}" for c in CLASSES + ["none"]))
        for i, c in enumerate(CLASSES):
            print(f"{c:>14} " + " ".join(f"{v:6d}" for v in cm[i]))
        print("wrong:\n" + "\n".join(wrong[:40]))
        if first_accuracy is None:
            first_accuracy = acc
    if args.min_accuracy is not None and first_accuracy < args.min_accuracy:
        fail(f"{classifiers[0]} got {100 * first_accuracy:.1f} % right, "
             f"below the required {100 * args.min_accuracy:.1f} %")


if __name__ == "__main__":
    main()
