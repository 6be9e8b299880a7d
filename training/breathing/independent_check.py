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
      [--config FILE] [--per-pattern 20] [--seed 7] [--classifier bi_at_gru] [--classifier rule_baseline] \
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


def breaths_then_pause(rng, shapes, out, hz, rate, depth, jitter=0.1, depth_jitter=0.15, periods=None):
    """Appends one breath at `rate` /min and `depth` to the list of segments `out` (and its period,
    s, to `periods` when given)."""
    period = 60.0 / rate * rng.uniform(1 - jitter, 1 + jitter)
    s = shapes[rng.integers(len(shapes))]
    n = max(2, int(round(period * hz)))
    out.append(depth * rng.uniform(1 - depth_jitter, 1 + depth_jitter)
               * np.interp(np.linspace(0, len(s) - 1, n), np.arange(len(s)), s))
    if periods is not None:
        periods.append(n / hz)


def pause(out, hz, seconds):
    out.append(np.zeros(max(1, int(round(seconds * hz)))))


def regular(rng, shapes, seg, hz, seconds, rate, periods, total):
    """Regular breathing at `rate` /min: breath-to-breath jitter of 5-15 %, a slow depth wander,
    and in half the recordings sighs (one breath 1.6-2.4x deep, 2-6 s of stillness after it, never
    an apnea) about once or twice a minute. `periods` gets each breath's onset-to-next-onset time
    (a sigh's includes its stillness). Returns whether it drew sighs."""
    jitter = rng.uniform(0.05, 0.15)
    sighs = rng.uniform(0.5, 2.0) if rng.random() < 0.5 else 0.0
    wander_period = rng.uniform(20, 60)
    wander = rng.uniform(0, 0.25)
    while total() < seconds:
        depth = 1.0 + wander * np.sin(2 * np.pi * total() / wander_period)
        if sighs and rng.random() < sighs / rate:
            breaths_then_pause(rng, shapes, seg, hz, rate, depth * rng.uniform(1.6, 2.4), jitter, 0.05,
                               periods=periods)
            pause(seg, hz, rng.uniform(2, 6))
            periods[-1] = periods[-1] + len(seg[-1]) / hz
            continue
        breaths_then_pause(rng, shapes, seg, hz, rate, depth, jitter, periods=periods)
    return sighs > 0


def make(pattern: str, rng, shapes, seconds: float, hz: float = 200.0) -> tuple[np.ndarray, float | None, dict]:
    """The breathing signal of `pattern` at `hz` (trough level 0, unit depth) and, for the regular
    patterns, its true mean rate: breaths per minute of the time they span; and what was drawn
    (printed beside a wrong answer).

    The definitions, written apart from src/rsm (version 2: wider than the first, which every
    classifier passed but for a few apnea recordings):
    * eupnea 12.5-19.5, tachypnea 22-38, bradypnea 6.5-10.5 /min, see `regular`;
    * Biot's: clusters of 1-7 breaths at 12-28 /min, depths equal within a cluster but 0.5-1.5x
      between clusters (ataxic), separated by irregular pauses of 3-25 s;
    * Cheyne-Stokes: cycles of 40-100 s, a crescendo-decrescendo run whose peak falls 30-70 % of
      the way through it (not always symmetric), its smallest breaths 5-30 % of the largest; between
      runs either an apnea of 10-25 s or (a third of the recordings) 10-25 s of very shallow
      breaths (hypopnea, 5-20 % depth);
    * central apnea: regular breathing at 12.5-19.5 /min with pauses of 10-30 s every 20-90 s; in
      half the recordings 1-3 deeper recovery breaths (1.2-1.6x) after each pause.
    """
    seg: list[np.ndarray] = []
    periods: list[float] = []
    sighs = [False]
    info: dict = {}
    total = lambda: sum(len(s) for s in seg) / hz  # noqa: E731
    truth = None
    if pattern in ("eupnea", "tachypnea", "bradypnea"):
        rate = {"eupnea": (12.5, 19.5), "tachypnea": (22, 38), "bradypnea": (6.5, 10.5)}[pattern]
        sighs = [regular(rng, shapes, seg, hz, seconds, rng.uniform(*rate), periods, total)]
    elif pattern == "biots":
        while total() < seconds:
            r = rng.uniform(12, 28)
            depth = rng.uniform(0.5, 1.5)
            for _ in range(rng.integers(1, 8)):
                breaths_then_pause(rng, shapes, seg, hz, r, depth, depth_jitter=0.05)
            pause(seg, hz, rng.uniform(3, 25))
    elif pattern == "cheyne_stokes":
        cycle = rng.uniform(40, 100)
        gap = rng.uniform(10, min(25, 0.4 * cycle))
        hypopnea = rng.random() < 1 / 3
        skew = rng.uniform(0.3, 0.7)
        floor = rng.uniform(0.05, 0.3)
        r = rng.uniform(14, 24)
        info.update(cycle_s=round(cycle, 1), gap_s=round(gap, 1), hypopnea=hypopnea,
                    peak=round(skew, 2), floor=round(floor, 2), rate=round(r, 1))
        pause(seg, hz, rng.uniform(0, gap))
        while total() < seconds:
            n = max(4, int((cycle - gap) * r / 60))
            peak = skew * n
            for k in range(n):
                x = k + 0.5
                env = np.sin(0.5 * np.pi * (x / peak if x < peak else 1 + (x - peak) / (n - peak)))
                breaths_then_pause(rng, shapes, seg, hz, r, floor + (1 - floor) * env, depth_jitter=0.05)
            if hypopnea:
                end = total() + gap
                while total() < end:
                    breaths_then_pause(rng, shapes, seg, hz, r * 0.8, rng.uniform(0.05, 0.2), depth_jitter=0.1)
            else:
                pause(seg, hz, gap)
    elif pattern == "central_apnea":
        r = rng.uniform(12.5, 19.5)
        recovery = rng.random() < 0.5
        next_apnea = rng.uniform(15, 50)
        info.update(recovery=recovery, rate=round(r, 1))
        while total() < seconds:
            breaths_then_pause(rng, shapes, seg, hz, r, 1.0)
            if total() > next_apnea:
                pause(seg, hz, rng.uniform(10, 30))
                if recovery:
                    for _ in range(rng.integers(1, 4)):
                        breaths_then_pause(rng, shapes, seg, hz, r, rng.uniform(1.2, 1.6))
                next_apnea = total() + rng.uniform(20, 90)
    else:
        raise ValueError(pattern)
    x = np.concatenate(seg)[: int(seconds * hz)]
    if periods:
        # The mean rate as a count gives it: breaths from the first onset to the last one that ends
        # inside the recording. A recording with sighs has no single right rate (whether a monitor
        # counts the stillness after a sigh is a convention): it gets none and only its pattern counts.
        kept, t = [], 0.0
        for p in periods:
            t += p
            if t > seconds:
                break
            kept.append(p)
        truth = 60.0 * len(kept) / float(np.sum(kept)) if kept and not sighs[0] else None
    info["sighs"] = sighs[0]
    return x, truth, info


def recording(pattern: str, rng, shapes) -> tuple[np.ndarray, np.ndarray, float | None]:
    """(t_s, values, true rate or None) of one recording as some sensor would give it."""
    seconds = rng.uniform(60, 300) if rng.random() < 0.3 else 300.0
    if pattern in ("cheyne_stokes", "central_apnea", "biots"):
        seconds = max(seconds, 120.0)
    base_hz = 200.0
    x, truth, info = make(pattern, rng, shapes, seconds, base_hz)
    info["seconds"] = round(seconds, 1)
    t = np.arange(len(x)) / base_hz
    x = x + rng.uniform(0, 0.1) * rng.standard_normal(len(x))
    wander = np.cumsum(rng.standard_normal(len(x))) * rng.uniform(0, 0.01)
    x = x + wander - np.linspace(0, wander[-1], len(x))
    hz = float(np.exp(rng.uniform(np.log(4), np.log(250))))
    ts = np.arange(0, t[-1], 1 / hz)
    xs = np.interp(ts, t, x)
    scale = 10 ** rng.uniform(-3, 3) * (1 if rng.random() < 0.5 else -1)
    info["hz"] = round(hz, 1)
    return ts, rng.uniform(-100, 100) * abs(scale) + scale * xs, truth, info


def f1_scores(cm: np.ndarray) -> np.ndarray:
    """Per-class F1 from a confusion matrix (rows true, columns predicted, last column: none)."""
    k = cm.shape[0]
    tp = np.diag(cm[:, :k]).astype(float)
    fn = cm.sum(axis=1) - tp
    fp = cm[:, :k].sum(axis=0) - tp
    den = 2 * tp + fp + fn
    return np.where(den > 0, 2 * tp / np.maximum(den, 1), 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="the edge-screen binary")
    ap.add_argument("--config", help="an edge-screen configuration file (e.g. naming another model)")
    ap.add_argument("--per-pattern", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--classifier", action="append", default=None)
    ap.add_argument("--keep", help="write the recordings to this folder and keep them")
    ap.add_argument("--min-accuracy", type=float, default=None,
                    help="exit 1 if the first classifier gets a smaller share right")
    ap.add_argument("--min-macro-f1", type=float, default=None,
                    help="exit 1 if the first classifier's macro-F1 is smaller")
    ap.add_argument("--max-rate-mae", type=float, default=None,
                    help="exit 1 if the first classifier's mean absolute rate error on the regular "
                         "patterns (breaths/min) is larger")
    args = ap.parse_args()
    classifiers = args.classifier or ["bi_at_gru", "rule_baseline"]
    rng = np.random.default_rng(args.seed)
    shapes = breath_shapes()
    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp())
    out.mkdir(parents=True, exist_ok=True)
    files = []
    infos: dict = {}
    for p in CLASSES:
        for k in range(args.per_pattern):
            ts, xs, truth, info = recording(p, rng, shapes)
            f = out / f"{p}_{k:03d}.csv"
            with open(f, "w") as fh:
                fh.write("t_s,resp\n")
                for a, b in zip(ts, xs):
                    fh.write(f"{a:.5f},{b:.6g}\n")
            files.append((p, f, truth))
            infos[f.name] = info
    with open(out / "truth.csv", "w") as fh:
        fh.write("file,pattern,rate_bpm\n")
        for p, f, truth in files:
            fh.write(f"{f.name},{p},{'' if truth is None else f'{truth:.4f}'}\n")
    print(f"independent_check: {len(files)} recordings from {len(shapes)} real breath shapes in {out}")
    first = None
    for cls in classifiers:
        cm = np.zeros((len(CLASSES), len(CLASSES) + 1), dtype=int)
        wrong = []
        errors = {c: [] for c in ("eupnea", "tachypnea", "bradypnea")}
        for p, f, truth in files:
            cfg = ["--config", args.config] if args.config else []
            r = subprocess.run([args.bin, *cfg, "breathing", "--classifier", cls, "--json", str(f)],
                               capture_output=True, text=True)
            try:
                d = json.loads(r.stdout)
                got = d["pattern"]
            except (json.JSONDecodeError, KeyError):
                got, d = None, {"error": r.stderr.strip()[-200:]}
            j = CLASSES.index(got) if got in CLASSES else len(CLASSES)
            cm[CLASSES.index(p), j] += 1
            if got != p:
                wrong.append(f"  {f.name}: {got} (rate {d.get('rate_bpm')}, {d.get('error', '')}) "
                             f"{json.dumps(infos[f.name])}")
            if truth is not None:
                rate = d.get("rate_bpm")
                # No rate at all counts as the whole true rate wrong.
                errors[p].append(abs(rate - truth) if isinstance(rate, (int, float)) else truth)
        acc = np.trace(cm[:, :6]) / cm.sum()
        f1 = f1_scores(cm)
        all_err = np.concatenate([np.array(v) for v in errors.values()])
        mae = float(all_err.mean()) if len(all_err) else float("nan")
        print(f"\n{cls}: {np.trace(cm[:, :6])} of {cm.sum()} right ({100 * acc:.1f} %), "
              f"macro-F1 {f1.mean():.3f}, lowest class F1 {f1.min():.3f} ({CLASSES[int(f1.argmin())]})")
        print("rows true, columns predicted (last: none); F1 at the end of each row")
        print(" " * 15 + " ".join(f"{c[:6]:>6}" for c in CLASSES + ["none"]) + "     F1")
        for i, c in enumerate(CLASSES):
            print(f"{c:>14} " + " ".join(f"{v:6d}" for v in cm[i]) + f" {f1[i]:6.3f}")
        print("rate error on the regular patterns without sighs, breaths/min (truth: breaths per "
              "minute of the time they span):")
        for c, v in errors.items():
            if v:
                v = np.array(v)
                print(f"  {c:>10}: mean {v.mean():.3f}, median {np.median(v):.3f}, max {v.max():.3f}, "
                      f"within 0.2 {int((v <= 0.2).sum())} of {len(v)}")
        print(f"  all regular: mean absolute error {mae:.3f} over {len(all_err)} recordings")
        print("wrong:\n" + "\n".join(wrong[:40]))
        if first is None:
            first = (acc, float(f1.mean()), mae)
    acc, macro, mae = first
    if args.min_accuracy is not None and acc < args.min_accuracy:
        fail(f"{classifiers[0]} got {100 * acc:.1f} % right, "
             f"below the required {100 * args.min_accuracy:.1f} %")
    if args.min_macro_f1 is not None and macro < args.min_macro_f1:
        fail(f"{classifiers[0]} macro-F1 {macro:.3f}, below the required {args.min_macro_f1:.3f}")
    if args.max_rate_mae is not None and not mae <= args.max_rate_mae:
        fail(f"{classifiers[0]} regular-pattern rate error {mae:.3f} /min, above the allowed "
             f"{args.max_rate_mae:.3f}")

if __name__ == "__main__":
    main()
