"""Recipe sweeps for the chest X-ray classifier: many training runs on the shipped split, compared on
tune and holdout (training/xray/EXPERIMENTS.md, "Sweep of 54 networks"). An experiment tool, not
part of the shipped pipeline (train.py is).

    # 1. here: pack the split and the decoded-image cache into one file (~47 MB) that can travel
    training/.venv/bin/python training/xray/sweep.py pack --out training/xray/sweep-work/data.npz
    # 2. anywhere with torch (a GPU if there is one): one training run per call; run many at once
    python3 training/xray/sweep.py run --data training/xray/sweep-work/data.npz --out training/xray/sweep-work/runs --tag A60_s1 --seed 1 --epochs 60
    # 3. here: tables per recipe (tag prefix before "_s"), single networks and disjoint ensembles
    training/.venv/bin/python training/xray/sweep.py report training/xray/sweep-work/runs

Each run trains with train.py's own ``model.train_model`` (same augmentation, batches, EMA and best-epoch
rule); only the network and the batches move to the GPU. The packed images are rounded to 8 bits
(the source PNGs are 8-bit), so runs are not bit-identical to train.py's, which is why every recipe
is judged over several seeds, never on one run.
"""
from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import from the repository root, not this folder
    sys.path[0] = str(Path(__file__).resolve().parents[2])

os.environ.setdefault("THREADS", "1")  # read by training.xray.model on import
from training.xray import data as D  # noqa: E402
from training.xray import preprocess as P  # noqa: E402
from training.xray.metrics import TARGET_SENS, auc, choose_threshold  # noqa: E402
from training.xray.model import predict_torch, train_model  # noqa: E402

import numpy as np  # noqa: E402


def pack(a):
    rows = list(csv.DictReader(open(a.split)))
    c160 = np.zeros((len(rows), D.CACHE_SIZE, D.CACHE_SIZE), np.uint8)
    inp = np.zeros((len(rows), P.SIZE, P.SIZE), np.uint8)
    D.build_cache(rows, Path(a.data), Path(a.cache))
    for i, r in enumerate(rows):
        z = np.load(D.cache_path(Path(a.cache), r["filename"]))
        c160[i] = np.round(np.clip(z["c160"], 0, 1) * 255)
        inp[i] = np.round(np.clip(z["inp"] * P.STD + P.MEAN, 0, 1) * 255)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(a.out, c160=c160, inp=inp, filename=np.array([r["filename"] for r in rows]),
                        source=np.array([r["source"] for r in rows]), split=np.array([r["split"] for r in rows]),
                        y=np.array([int(r["label"] == "covid") for r in rows]))
    print(f"{a.out}: {len(rows)} images")


def run(a):
    import torch

    t0 = time.time()
    z = np.load(a.data)
    c160 = z["c160"].astype(np.float32) / 255.0
    inp = ((z["inp"].astype(np.float32) / 255.0 - P.MEAN) / P.STD).astype(np.float32)
    rows = [{"split": sp, "source": s, "y": int(y)} for sp, s, y in zip(z["split"], z["source"], z["y"])]
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    # the shipped defaults, then this run's changes
    args = argparse.Namespace(seed=a.seed, epochs=a.epochs, steps=18, batch=48, lr=3e-3, weight_decay=5e-4,
                              dropout=0.2, patience=a.epochs, min_epochs=12, ema=0.98,
                              source_weights=a.source_weights, width=a.width)
    model, best_epoch, history = train_model(args, rows, c160, inp, device=dev)
    logits = predict_torch(model, inp)
    os.makedirs(a.out, exist_ok=True)
    res = {"tag": a.tag, "args": vars(a), "best_epoch": best_epoch, "seconds": round(time.time() - t0, 1),
           "device": dev, "history": history, "logit": [round(float(v), 5) for v in logits]}
    (Path(a.out) / f"{a.tag}.json").write_text(json.dumps(res))
    torch.save({k: v.half() if v.dtype.is_floating_point else v for k, v in model.state_dict().items()},
               Path(a.out) / f"{a.tag}.pt")
    print(a.tag, "done", res["seconds"], "s, best epoch", best_epoch, flush=True)


def scores(p, split, src, target):
    """tune AUC, holdout AUC (ieee vs nih), and holdout ieee sens / kermany spec / nih spec at the
    largest threshold with tune ieee sensitivity >= target (train.py's rule)."""
    def sel(sp, s):
        return (split == sp) & (src == s)
    t = choose_threshold(p[sel("tune", "ieee")], np.ones(sel("tune", "ieee").sum()), target)
    return [auc(p[sel("tune", "ieee")], p[sel("tune", "nih")]), auc(p[sel("holdout", "ieee")], p[sel("holdout", "nih")]),
            float((p[sel("holdout", "ieee")] >= t).mean()), float((p[sel("holdout", "kermany")] < t).mean()),
            float((p[sel("holdout", "nih")] < t).mean())]


def report(a):
    z = np.load(a.data)
    split, src = z["split"], z["source"]
    runs = {}
    for f in sorted(glob.glob(os.path.join(a.runs, "*.json"))):
        d = json.loads(Path(f).read_text())
        runs.setdefault(d["tag"].rsplit("_s", 1)[0], []).append(np.array(d["logit"]))
    cols = ["tune AUC ieee-nih", "holdout AUC ieee-nih", "holdout ieee sens", "holdout kermany spec", "holdout nih spec"]
    print(f"Threshold rule: tune ieee sensitivity >= {a.target}. Median (10th-90th percentile) over products; "
          "ensembles are disjoint groups of runs of one recipe, mean logit.\n")
    print("| recipe | product | n | " + " | ".join(cols) + " | share meeting the goal |")
    print("|---|---|---|" + "---|" * (len(cols) + 1))
    for name, logits in runs.items():
        for k in (1, 3, 5):
            if len(logits) < k * (1 if k == 1 else 2):
                continue
            prods = [np.mean(logits[i:i + k], axis=0) for i in range(0, len(logits) - k + 1, k)]
            m = np.array([scores(1 / (1 + np.exp(-lg)), split, src, a.target) for lg in prods])
            cells = [f"{np.median(m[:, j]):.3f} ({np.percentile(m[:, j], 10):.3f}-{np.percentile(m[:, j], 90):.3f})"
                     for j in range(len(cols))]
            ok = np.mean((m[:, 2] >= 0.95) & (m[:, 3] >= 0.90) & (m[:, 4] >= 0.90))
            print(f"| {name} | {'single' if k == 1 else f'ensemble of {k}'} | {len(prods)} | " + " | ".join(cells) + f" | {ok:.2f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--split", default="models/xray/split.csv")
    p.add_argument("--data", default="../shared/data/xray")
    p.add_argument("--cache", default="training/xray/cache")
    p.add_argument("--out", required=True)
    r = sub.add_parser("run")
    r.add_argument("--data", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--tag", required=True, help="RECIPE_sSEED; report groups runs by RECIPE")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--epochs", type=int, default=60)
    r.add_argument("--width", type=int, default=1, help="channel multiplier")
    r.add_argument("--source-weights", default="1,0.5,1.5")
    q = sub.add_parser("report")
    q.add_argument("runs")
    q.add_argument("--data", default="training/xray/sweep-work/data.npz")
    q.add_argument("--target", type=float, default=TARGET_SENS)
    a = ap.parse_args()
    {"pack": pack, "run": run, "report": report}[a.cmd](a)


if __name__ == "__main__":
    main()
