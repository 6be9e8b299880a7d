"""Trains and compares the breathing-pattern classifiers; exports BI-AT-GRU to ONNX.

One command (from the repository root):

    training/.venv/bin/python training/breathing/train.py --data DATA [--out models/breathing] [--epochs 30]
    training/.venv/bin/python training/breathing/train.py --data DATA --out /tmp/smoke --smoke   # CI: < 2 min

Steps: load the train/val/test splits the Rust simulator wrote (format: data.py) -> train every model
of --models and keep its epoch with the best validation macro-F1 (networks and training: model.py)
-> evaluate each and the rule baseline on the test split (metrics.py) -> export BI-AT-GRU to ONNX
and check it against torch -> golden cases (export.py) -> metrics.json and metrics.md (report.py).
All modules are in training/breathing/; each one's docstring describes its part.

Outputs in --out (default <repo>/models/breathing): bi_at_gru.onnx, golden.json, metrics.json,
metrics.md.

--smoke: 1 epoch on at most 600 training windows, all four models, then the same export, golden
and metrics (marked as a smoke run); for CI, to prove the pipeline runs end to end.
--models: comma list of models to train (bi_at_gru is required: it is the one exported).
--threads: torch intra-op threads and onnxruntime threads (default 2).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import from the repository root, not this folder
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from training.breathing import data, export, metrics, model, report  # noqa: E402  (before torch)
from training.breathing.model import EXPORTED, MODEL_NAMES  # noqa: E402
from training.common import seed_all  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SMOKE_TRAIN_WINDOWS = 600


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
    seed_all(args.seed)
    torch.use_deterministic_algorithms(True)

    train, val, test, meta = data.load_splits(args.data)
    classes = meta["classes"]
    if args.smoke and len(train) > SMOKE_TRAIN_WINDOWS:
        keep = np.sort(np.random.default_rng(args.seed).permutation(len(train))[:SMOKE_TRAIN_WINDOWS])
        train = train.subset(keep)
    sizes = {s.name: data.describe(s, classes) for s in (train, val, test)}
    for s in (train, val, test):
        d = sizes[s.name]
        print(f"data: {s.name:<5} {d['windows']:6d} windows ({d['full_windows']} full), {d['sessions']} "
              f"sessions, per class {list(d['per_class'].values())}, per source {d['per_source']}")

    groups, _ = data.session_groups(test)
    results: dict[str, dict] = {}
    trained: dict[str, torch.nn.Module] = {}
    xt = torch.from_numpy(test.x)
    for name in args.models:
        net, info = model.train_one(name, train, val, meta, args)
        proba = model.apnea_gate(model.predict_proba(net, xt), test.apnea_seen, classes)
        session_pred = np.array([int(proba[g].mean(axis=0).argmax()) for g in groups], np.int64)
        info["test"] = metrics.evaluate_subsets(test, proba.argmax(1), session_pred, classes)
        results[name] = info
        trained[name] = net
        a = info["test"]["all"]
        print(f"{name:<10} best epoch {info['best_epoch']}  test acc {a['accuracy']:.4f}  macro-F1 "
              f"{a['macro_f1']:.4f}  sessions acc {info['test']['sessions']['accuracy']:.4f}  "
              f"({info['parameters']} parameters, {info['train_seconds']:.0f} s)", flush=True)

    base_sessions = np.array([metrics.majority(test.baseline[g], len(classes)) for g in groups], np.int64)
    baseline = {"test": metrics.evaluate_subsets(test, test.baseline, base_sessions, classes)}
    a = baseline["test"]["all"]
    print(f"{'baseline':<10} test acc {a['accuracy']:.4f}  macro-F1 {a['macro_f1']:.4f}  sessions acc "
          f"{baseline['test']['sessions']['accuracy']:.4f}  ({sum(a['no_answer'])} windows without "
          "answer)")

    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / f"{EXPORTED}.onnx"
    onnx_info = export.export_onnx(trained[EXPORTED], meta, onnx_path, test, args)
    golden = export.write_golden(args.out / "golden.json", onnx_path, test, meta, args.threads)

    doc = report.metrics_doc(args, sys.argv[1:] if argv is None else list(argv), meta, sizes, results,
                             baseline, onnx_info, golden, SMOKE_TRAIN_WINDOWS,
                             time.perf_counter() - wall)
    report.write_metrics(args.out, doc)
    print(f"wrote {onnx_path}, {args.out / 'golden.json'}, {args.out / 'metrics.json'}, "
          f"{args.out / 'metrics.md'} ({doc['total_seconds']:.0f} s in all)")


if __name__ == "__main__":
    main()
