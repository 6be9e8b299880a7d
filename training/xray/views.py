"""Per source and per view (AP / PA / AP supine, from the manifest's `view` column) results of one or
more trained model folders, for controlled comparisons (training/xray/EXPERIMENTS.md):

    training/.venv/bin/python training/xray/views.py --split holdout DIR_A DIR_B ...

Each DIR holds a train.py output (split.csv, model.json, xray_int8.onnx). Every folder must have
the same split (asserted). Prints one markdown table: per (source, view) the image count, each
model's rate at its own threshold (sensitivity for covid, specificity for normals) and mean
probability, then the AUCs that matter for the shortcut: ieee vs nih within the same view (AP vs
AP, PA vs PA: the projection is held fixed) and across all views.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import from the repository root, not this folder
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from training.common import md_table  # noqa: E402
from training.xray import data as D  # noqa: E402
from training.xray.export import ort_session  # noqa: E402
from training.xray.metrics import auc, ort_run  # noqa: E402

import numpy as np  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--split", default="holdout")
    ap.add_argument("--data", default="../shared/data/xray")
    ap.add_argument("--cache", default="training/xray/cache")
    args = ap.parse_args()
    data = Path(args.data)
    view = {r["filename"]: r["view"] for r in D.read_manifest(data)}
    splits = []
    for d in args.dirs:
        with open(Path(d) / "split.csv") as f:
            splits.append([r for r in csv.DictReader(f)])
    assert all([(r["filename"], r["split"]) for r in s] == [(r["filename"], r["split"]) for r in splits[0]]
               for s in splits), "the folders were trained on different splits"
    rows = [dict(r, y=int(r["label"] == "covid"), view=view[r["filename"]].split(" (")[0])
            for r in splits[0] if r["split"] == args.split]
    D.build_cache(rows, data, Path(args.cache))
    _, inp = D.load_arrays(rows, Path(args.cache))
    probs, thresholds = [], []
    for d in args.dirs:
        p, _ = ort_run(ort_session(Path(d) / "xray_int8.onnx"), inp)
        probs.append(p)
        thresholds.append(json.loads((Path(d) / "model.json").read_text())["threshold"])
    src = np.array([r["source"] for r in rows])
    vw = np.array([r["view"] for r in rows])
    y = np.array([r["y"] for r in rows])
    names = [Path(d).name for d in args.dirs]
    table = []
    for s, v in sorted({(s, v) for s, v in zip(src, vw)}):
        m = (src == s) & (vw == v)
        cells = [s, v, str(int(m.sum()))]
        for p, t in zip(probs, thresholds):
            flagged = p[m] >= t
            rate = flagged.mean() if y[m][0] == 1 else 1 - flagged.mean()
            cells.append(f"{rate:.3f} / {p[m].mean():.3f}")
        table.append(cells)
    for label, a, b in (("AUC ieee vs nih, AP only", (src == "ieee") & np.isin(vw, ["AP", "AP Supine"]), (src == "nih") & (vw == "AP")),
                        ("AUC ieee vs nih, PA only", (src == "ieee") & (vw == "PA"), (src == "nih") & (vw == "PA")),
                        ("AUC ieee vs nih, all views", src == "ieee", src == "nih"),
                        ("AUC ieee vs kermany", src == "ieee", src == "kermany")):
        cells = [label, "", f"{int(a.sum())} vs {int(b.sum())}"]
        for p in probs:
            v = auc(p[a], p[b])
            cells.append("-" if v is None else f"{v:.3f}")
        table.append(cells)
    print(f"{args.split}: rate at each model's threshold (sensitivity for ieee, specificity otherwise) / mean probability")
    print("\n".join(md_table(["source", "view", "n"] + names, table)))


if __name__ == "__main__":
    main()
