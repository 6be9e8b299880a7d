"""Chest X-ray COVID-19-vs-normal classifier: the whole training pipeline (issue 4).

    bash training/xray/train.sh [--smoke]     # the usual way: sets the data, seeds and threads
    training/.venv/bin/python training/xray/train.py --out DIR [options]
    training/.venv/bin/python training/xray/train.py --reports-only --out models/xray

Steps (all deterministic for a given --seed and --threads; the modules are in training/xray/):

1. data.py: read ``../shared/data/xray/manifest.csv``; patient-disjoint split stratified by source
   (train ~70 %, tune ~15 %, holdout ~15 %; no patient in two splits, asserted) -> split.csv.
2. data.py: cache (training/xray/cache/, gitignored): per image, the border-cropped image
   area-resized to 160 x 160 (f32, before contrast normalisation; the augmentation works on it) and
   the exact model input of PREPROCESSING.md (f32 128 x 128, for evaluation and calibration).
3. model.py: train --members (default 3) small plain CNNs with seeds SEED, SEED+1, ...; each is 3x3
   conv + BN + ReLU + 2x2 max-pool, 8-16-32-64-128(-128) channels, 8 x 8 at the end, 1x1 conv to the
   class-activation map, logit = mean of the map. Batches are 1:1:1 by source
   (ieee : kermany : nih), loss weighted 1 : 0.5 : 1.5 by source. Augmentation: peripheral marker pasting (letters, boxes, lines; both classes),
   random affine (rotation +-7 deg, scale, shift), horizontal flip, gamma/contrast/brightness before
   the percentile normalisation, noise, blur, random erasing. AdamW, one-cycle cosine LR, 60 epochs;
   each member keeps the weights of its epoch with the lowest source-balanced tune loss (tie: mean of
   the per-pair tune AUCs). The ensemble is the mean of the members' logits.
4. metrics.py: temperature T fitted on tune (NLL) on the mean logit; exported as probability =
   sigmoid(mean(cam) / T), the members merged into one graph (grouped convs, see export.merge_members).
5. export.py: ONNX export (BN folded, opset 13), cross-layer equalisation of the conv weights (same
   function, even per-tensor ranges), weight-only int8 (each conv weight u8, one scale and zero
   point per tensor, behind a DequantizeLinear that tract folds at load; activations float).
6. metrics.py: threshold on tune: the largest threshold with tune sensitivity >= 0.97 (decision
   p >= threshold).
7. metrics.py: evaluation with onnxruntime (float and int8) on tune and holdout, per source;
   reliability table and ECE on holdout before and after temperature scaling; shortcut audit on
   holdout (full image, lungs masked, lungs only, borders only); export.py: golden files for the
   Rust tests; report.py: metrics.json, metrics.md, MODEL_CARD.md and model.json.

--requantize makes the int8 model again from OUT/xray_float.onnx without training (after a change
to export.quantize_weights) and redoes steps 6-7.
--reports-only rewrites metrics.md, MODEL_CARD.md and model.json from OUT/metrics.json (after a change
to the report templates).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import from the repository root, not this folder
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from training.common import seed_all, sha256_file, write_json  # noqa: E402  (before torch)
from training.xray import data as D  # noqa: E402
from training.xray import log  # noqa: E402
from training.xray import preprocess as P  # noqa: E402
from training.xray.export import OPSET, export_models, ort_session, quantize_weights, write_goldens  # noqa: E402
from training.xray.metrics import (TARGET_SENS, choose_threshold, evaluate, fit_temperature,  # noqa: E402
                                   interpret_audit, ort_run, patient_stats)
from training.xray.model import THREADS, predict_torch, train_members  # noqa: E402
from training.xray.report import write_reports  # noqa: E402

import numpy as np  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/xray")
    ap.add_argument("--out", default="models/xray")
    ap.add_argument("--cache", default="training/xray/cache")
    ap.add_argument("--seed", type=int, default=1, help="training seed (initialisation, batches, augmentation)")
    ap.add_argument("--split-seed", type=int, default=1,
                    help="seed of the patient-disjoint split; keep it fixed when comparing training seeds")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--members", type=int, default=3,
                    help="ensemble members (seeds SEED, SEED+1, ...), merged into one graph at export")
    ap.add_argument("--steps", type=int, default=18, help="steps per epoch")
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--patience", type=int, default=60,
                    help="epochs without a better tune loss before stopping (>= --epochs: never; the best epoch is kept either way)")
    ap.add_argument("--min-epochs", type=int, default=12, help="no early stop before this epoch (the early epochs are unstable)")
    ap.add_argument("--source-weights", default="1,0.5,1.5",
                    help="loss weight of ieee,kermany,nih samples (batches are 1:1:1 by source)")
    ap.add_argument("--ema", type=float, default=0.98, help="EMA decay per step of the evaluated weights")
    ap.add_argument("--smoke", action="store_true", help="tiny subset, 1 epoch (CI)")
    ap.add_argument("--acquisition-aug", action="store_true",
                    help="also augment with other acquisition chains: resolution down/up-sampling, histogram "
                         "equalisation or tone curve, unsharp masking, JPEG re-compression (data.acquisition)")
    ap.add_argument("--requantize", action="store_true",
                    help="no training: make the int8 model again from OUT/xray_float.onnx (the trained, equalised "
                         "float graph) and redo the threshold, evaluation, goldens and reports; training facts "
                         "(members, epochs, temperature) are kept from OUT/metrics.json")
    ap.add_argument("--reports-only", action="store_true",
                    help="only rewrite metrics.md, MODEL_CARD.md and model.json from OUT/metrics.json")
    return ap.parse_args()


def reports_only(args):
    """--reports-only: metrics.md, MODEL_CARD.md and model.json again from OUT/metrics.json."""
    out = Path(args.out)
    M = json.loads((out / "metrics.json").read_text())
    M["audit_interpretation"] = interpret_audit(M["audit"])
    if "holdout_patients" not in M:  # metrics.json written before this block existed
        rows = [dict(r, y=int(r["label"] == "covid")) for r in csv.DictReader(open(out / "split.csv")) if r["split"] == "holdout"]
        D.build_cache(rows, Path(args.data), Path(args.cache))
        _, inp = D.load_arrays(rows, Path(args.cache))
        pq, _ = ort_run(ort_session(out / "xray_int8.onnx"), inp)
        M["holdout_patients"] = patient_stats(pq, rows, M["threshold"])
    write_json(out / "metrics.json", M, indent=1)
    write_reports(out, M)


def main():
    args = parse_args()
    if args.reports_only:
        reports_only(args)
        return
    if args.requantize:
        requantize(args)
        return
    t_start = time.time()
    seed_all(args.seed)
    data, out, cache = Path(args.data), Path(args.out), Path(args.cache)
    out.mkdir(parents=True, exist_ok=True)

    rows = D.make_split(D.read_manifest(data), args.split_seed)
    counts, patients = D.source_counts(rows)
    if args.smoke:
        rows = D.smoke_subset(rows)
        args.epochs, args.steps = 1, 2
    D.write_split_csv(rows, out / "split.csv")
    split_counts = D.split_counts(rows)
    log("split", split_counts)

    D.build_cache(rows, data, cache)
    c160, inp = D.load_arrays(rows, cache)
    t_train = time.time()
    models, member_info = train_members(args, rows, c160, inp)
    train_seconds = time.time() - t_train

    idx = D.split_index(rows)
    y = np.array([r["y"] for r in rows])

    # temperature on tune (torch float model == exported float graph up to float rounding)
    tune_logits = np.mean([predict_torch(m, inp[idx["tune"]]) for m in models], axis=0)
    temperature = fit_temperature(tune_logits, y[idx["tune"]])
    log(f"temperature {temperature:.4f}")

    float_path, int8_path = out / "xray_float.onnx", out / "xray_int8.onnx"
    float_ops, int8_ops, export_diff = export_models(models, temperature, float_path, int8_path, inp, idx, args)
    M = {"preprocess_version": P.PREPROCESS_VERSION, "smoke": args.smoke,
         "config": {k: getattr(args, k) for k in ("seed", "split_seed", "epochs", "steps", "batch", "lr", "weight_decay", "dropout", "patience", "min_epochs", "ema", "source_weights", "members", "acquisition_aug")}
         | {"threads": THREADS, "target_tune_sensitivity": TARGET_SENS, "opset": OPSET},
         "data": {"counts": counts, "patients": patients, "split_counts": split_counts},
         "training": {"members": member_info, "seconds": round(train_seconds, 1)},
         "temperature": temperature, "export_max_abs_diff_vs_torch": export_diff,
         "model": {"parameters": int(sum(p.numel() for m in models for p in m.parameters())),
                   "parameters_per_member": int(sum(p.numel() for p in models[0].parameters())), "float_ops": float_ops, "int8_ops": int8_ops,
                   "quantization": QUANTIZATION,
                   "input": {"name": "image", "shape": [1, 1, 128, 128], "type": "float32"},
                   "outputs": [{"name": "probability", "shape": [1, 1], "type": "float32"},
                               {"name": "cam", "shape": [1, 1, 8, 8], "type": "float32"}]}}
    finish(M, rows, inp, tune_logits, out, data, t_start)


QUANTIZATION = ("weight-only int8: every conv weight u8 with one scale and zero point per tensor behind a "
                "DequantizeLinear (folded into float constants by tract at load); activations and biases float")


def requantize(args):
    """--requantize: the int8 model again from OUT/xray_float.onnx, then everything after it."""
    t_start = time.time()
    data, out, cache = Path(args.data), Path(args.out), Path(args.cache)
    old = json.loads((out / "metrics.json").read_text())
    rows = D.make_split(D.read_manifest(data), old["config"]["split_seed"])
    if old.get("smoke"):
        rows = D.smoke_subset(rows)
    with open(out / "split.csv") as f:
        shipped = [(r["filename"], r["split"]) for r in csv.DictReader(f)]
    assert shipped == [(r["filename"], r["split"]) for r in rows], "split.csv differs from the split of metrics.json's seed"
    D.build_cache(rows, data, cache)
    _, inp = D.load_arrays(rows, cache)
    idx = D.split_index(rows)
    float_path, int8_path = out / "xray_float.onnx", out / "xray_int8.onnx"
    int8_ops, worst = quantize_weights(float_path, int8_path)
    log(f"int8 (weight-only) from {float_path}: largest weight rounding {worst:.3f} steps; ops {int8_ops}")
    # the graph's logit before temperature is mean(cam): the members' mean logit up to float rounding
    _, cam = ort_run(ort_session(float_path), inp[idx["tune"]])
    tune_logits = cam.reshape(len(cam), -1).mean(1).astype(np.float64)
    M = {k: old[k] for k in ("preprocess_version", "smoke", "config", "data", "training", "temperature", "export_max_abs_diff_vs_torch")}
    M["config"] = {k: v for k, v in M["config"].items() if k != "calib_images"} | {"threads": THREADS}
    M["model"] = dict(old["model"], int8_ops=int8_ops, quantization=QUANTIZATION)
    M["requantized"] = "int8 model made again from the shipped float graph by train.py --requantize (no retraining)"
    finish(M, rows, inp, tune_logits, out, data, t_start)


def finish(M, rows, inp, tune_logits, out: Path, data: Path, t_start: float):
    """Everything after the export: threshold on tune (int8), evaluation, goldens, metrics and
    reports. M holds the training facts; this adds the rest and writes OUT."""
    idx = D.split_index(rows)
    y = np.array([r["y"] for r in rows])
    src = np.array([r["source"] for r in rows])
    temperature = M["temperature"]
    float_path, int8_path = out / "xray_float.onnx", out / "xray_int8.onnx"
    fs, qs = ort_session(float_path), ort_session(int8_path)
    log("float ops", M["model"]["float_ops"], "int8 ops", M["model"]["int8_ops"])

    res = {}
    for sp in ("tune", "holdout"):
        ii = idx[sp]
        pf, cf = ort_run(fs, inp[ii])
        pq, cq = ort_run(qs, inp[ii])
        res[sp] = {"pf": pf, "cf": cf, "pq": pq, "cq": cq}
    # threshold on tune, int8 probabilities (the kiosk runs the int8 model)
    threshold = choose_threshold(res["tune"]["pq"], y[idx["tune"]])
    log(f"threshold {threshold:.4f}")
    M["threshold"] = threshold
    M["threshold_rule"] = f"largest threshold with tune sensitivity (int8, p >= t) >= {TARGET_SENS}"
    M.update(evaluate(res, rows, idx, y, src, inp, fs, qs, threshold, tune_logits, temperature))

    write_goldens(out, data, rows, fs, qs, temperature, threshold)
    M["files"] = {f: {"bytes": (out / f).stat().st_size, "sha256": sha256_file(out / f)} for f in ("xray_float.onnx", "xray_int8.onnx")}
    assert M["files"]["xray_int8.onnx"]["bytes"] <= 2 * 1024 * 1024, "int8 model over 2 MB"
    M["timing"] = {"total_seconds": round(time.time() - t_start, 1)}
    write_json(out / "metrics.json", M, indent=1)
    write_reports(out, M)
    goal = M["goal"]
    log(f"holdout int8: {goal['values']} goal met: {goal['met']}; float: {goal['values_float']}")
    log(f"done in {time.time() - t_start:.0f} s -> {out}")


if __name__ == "__main__":
    main()
