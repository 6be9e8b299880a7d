"""X-ray scope check ("eigen-chest"): fits the model that src/xray/scope.rs runs, and evaluates it.

Features: the prepared 128 x 128 image x in [0, 1] (PREPROCESSING.md steps 2-4) averaged over 4 x 4
blocks -> 32 x 32 = 1024 values, row-major. A PCA with K components is fitted on the `train` split
films (models/xray/split.csv). For a feature vector f, with z = C (f - mean) (C: K x 1024 orthonormal
rows, eigenvalues lam):

* residual  r = |f - mean - C^T z|^2 / 1024     (how far from the chest-film subspace)
* distance  m = sum(z_k^2 / lam_k) / K          (how unusual inside it, Mahalanobis)
* score     s = max(r / r_limit, m / m_limit)   in scope when s <= 1 and no transform scores lower

r_limit and m_limit are quantiles of the `tune` split films (QUANTILE). A film whose
rotation by 90/180/270 degrees (np.rot90 of the 32 x 32 features, counter-clockwise) or inversion
(1 - f) scores lower than the film itself and is in scope is reported as `rotated` / `inverted`;
src/xray/scope.rs does the same.

    python training/xray/scope.py [--data ../shared/data/xray] [--out models/xray] [--oos DIR]

writes OUT/scope.json (the model), OUT/golden/scope_scores.json (Python scores of a few images,
checked by tests/xray_scope.rs) and prints false-rejection rates per split and source, and, with
--oos (a folder made by training/xray/scope_oos.py), refusal rates per category of that set.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a file: import from the repository root, not this folder
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from training.xray import preprocess as P  # noqa: E402

K = 24
BLOCK = 4
FSIDE = P.SIZE // BLOCK
QUANTILE = 0.98
VERSION = 1


def features_from_x(x: np.ndarray) -> np.ndarray:
    """128 x 128 prepared x in [0, 1] -> 32 x 32 block means (f64)."""
    return x.reshape(FSIDE, BLOCK, FSIDE, BLOCK).mean(axis=(1, 3))


def features_of_file(path) -> np.ndarray | None:
    try:
        return features_from_x(P.preprocess_x(P.load_gray(path)))
    except P.Refused:
        return None


def scores(model, f: np.ndarray):
    """(residual, distance) of 32 x 32 features."""
    d = f.reshape(-1) - model["mean"]
    z = model["components"] @ d
    r = float(((d - model["components"].T @ z) ** 2).sum() / d.size)
    m = float((z * z / model["eigenvalues"]).sum() / len(z))
    return r, m


def variants(f: np.ndarray):
    """The transformed versions tried when the original is out of scope, in this order."""
    yield "rotated", np.rot90(f, 1)
    yield "rotated", np.rot90(f, 2)
    yield "rotated", np.rot90(f, 3)
    yield "inverted", 1.0 - f


def score(model, f: np.ndarray) -> float:
    r, m = scores(model, f)
    return max(r / model["residual_limit"], m / model["distance_limit"])


def assess(model, f: np.ndarray):
    """(score, reason or None). The image is in scope when its score is at most 1 and no rotation
    or inversion of it scores lower (an upright film is closer to the training films than any of
    its transforms: true for every development-set film). Otherwise the reason is the transform
    that scores lowest (`rotated` / `inverted`) when that one is in scope, else
    `not_a_chest_radiograph`."""
    s = score(model, f)
    best, best_reason = s, None
    for reason, g in variants(f):
        sg = score(model, g)
        if sg < best:
            best, best_reason = sg, reason
    if best > 1.0:
        return s, "not_a_chest_radiograph"
    return s, best_reason


def fit(train: np.ndarray):
    mean = train.mean(axis=0)
    _, sv, vt = np.linalg.svd(train - mean, full_matrices=False)
    lam = sv[:K] ** 2 / (len(train) - 1)
    return {"mean": mean, "components": vt[:K], "eigenvalues": lam}


def load_split(data: Path, split_csv: Path):
    rows = list(csv.DictReader(open(split_csv, newline="")))
    feats = {}
    for r in rows:
        f = features_of_file(data / r["filename"])
        if f is not None:
            feats[r["filename"]] = f
    return rows, feats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/xray")
    ap.add_argument("--out", default="models/xray")
    ap.add_argument("--oos", default=None, help="out-of-scope set from scope_oos.py")
    a = ap.parse_args()
    data, out = Path(a.data), Path(a.out)
    rows, feats = load_split(data, Path("models/xray/split.csv"))
    train = np.stack([feats[r["filename"]].reshape(-1) for r in rows
                      if r["split"] == "train" and r["filename"] in feats])
    model = fit(train)
    tune = [scores(model, feats[r["filename"]]) for r in rows
            if r["split"] == "tune" and r["filename"] in feats]
    model["residual_limit"] = float(np.quantile([t[0] for t in tune], QUANTILE))
    model["distance_limit"] = float(np.quantile([t[1] for t in tune], QUANTILE))
    print(f"scope: {len(train)} train films, K={K}, limits residual {model['residual_limit']:.6g} "
          f"distance {model['distance_limit']:.6g} (tune quantile {QUANTILE})")

    table = defaultdict(lambda: [0, 0])
    for r in rows:
        f = feats.get(r["filename"])
        key = (r["split"], r["source"])
        table[key][1] += 1
        if f is None or assess(model, f)[1] is not None:
            table[key][0] += 1
    print("false rejections (split, source): refused / films")
    for split in ("train", "tune", "holdout"):
        tot = [0, 0]
        for src in ("ieee", "kermany", "nih"):
            n, d = table[(split, src)]
            tot[0] += n
            tot[1] += d
            print(f"  {split:8s} {src:8s} {n:3d} / {d:3d} = {n / max(d, 1):.3f}")
        print(f"  {split:8s} all      {tot[0]:3d} / {tot[1]:3d} = {tot[0] / max(tot[1], 1):.3f}")

    # Transformed held-out films: how often the transformation is named.
    hold = [feats[r["filename"]] for r in rows if r["split"] == "holdout" and r["filename"] in feats]
    for name, fn in (("rot90", lambda f: np.rot90(f, 1)), ("rot180", lambda f: np.rot90(f, 2)),
                     ("rot270", lambda f: np.rot90(f, 3)), ("inverted", lambda f: 1.0 - f)):
        reasons = defaultdict(int)
        for f in hold:
            reasons[assess(model, fn(f))[1]] += 1
        print(f"holdout {name}: {dict(reasons)}")

    if a.oos:
        oos_report(model, Path(a.oos))

    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "version": VERSION,
        "preprocess_version": P.PREPROCESS_VERSION,
        "feature_side": FSIDE,
        "block": BLOCK,
        "components_count": K,
        "tune_quantile": QUANTILE,
        "train_films": len(train),
        "residual_limit": float(f"{model['residual_limit']:.9g}"),
        "distance_limit": float(f"{model['distance_limit']:.9g}"),
        "mean": [float(f"{v:.7g}") for v in model["mean"]],
        "eigenvalues": [float(f"{v:.7g}") for v in model["eigenvalues"]],
        "components": [[float(f"{v:.6g}") for v in c] for c in model["components"]],
    }
    (out / "scope.json").write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    # Score with the rounded model, so the goldens are what the Rust code must reproduce.
    rounded = {k: np.asarray(doc[k], dtype=np.float64) for k in ("mean", "eigenvalues", "components")}
    rounded.update(residual_limit=doc["residual_limit"], distance_limit=doc["distance_limit"])
    golden = []
    picks = [r for r in rows if r["split"] == "holdout"]
    for src in ("ieee", "kermany", "nih"):
        for r in [r for r in picks if r["source"] == src][:2]:
            f = feats[r["filename"]]
            rr, mm = scores(rounded, f)
            s, reason = assess(rounded, f)
            golden.append({"file": r["filename"], "residual": rr, "distance": mm, "score": s,
                           "reason": reason})
            rr, mm = scores(rounded, np.rot90(f, 1))
            golden.append({"file": r["filename"], "transform": "rot90", "residual": rr,
                           "distance": mm, "reason": assess(rounded, np.rot90(f, 1))[1]})
    (out / "golden").mkdir(exist_ok=True)
    (out / "golden" / "scope_scores.json").write_text(json.dumps(
        {"note": "Python scores of scope.json (training/xray/scope.py); tests/xray_scope.rs "
                 "checks the Rust scores against them (relative tolerance 1e-4: the Rust features come from the f32 model input)",
         "images": golden}, indent=1) + "\n")
    print(f"scope: wrote {out / 'scope.json'} and {out / 'golden' / 'scope_scores.json'}")


def oos_report(model, oos: Path):
    cats = defaultdict(lambda: [0, 0, defaultdict(int)])
    for p in sorted(oos.rglob("*")):
        if not p.is_file() or p.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            continue
        cat = p.parent.name
        c = cats[cat]
        c[1] += 1
        f = features_of_file(p)
        reason = "unreadable_or_flat" if f is None else assess(model, f)[1]
        if reason is not None:
            c[0] += 1
        c[2][reason] += 1
    tot = [0, 0]
    print("out-of-scope set (eigen-chest only; gates not applied): refused / images")
    for cat, (n, d, reasons) in sorted(cats.items()):
        tot[0] += n
        tot[1] += d
        print(f"  {cat:14s} {n:3d} / {d:3d}  {dict(reasons)}")
    print(f"  all            {tot[0]:3d} / {tot[1]:3d} = {tot[0] / max(tot[1], 1):.3f}")


if __name__ == "__main__":
    main()
