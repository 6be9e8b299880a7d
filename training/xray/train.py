"""Chest X-ray COVID-19-vs-normal classifier: the whole training pipeline (issue 4).

Steps (all deterministic for a given --seed and --threads):

1. Read ``../shared/data/xray/manifest.csv``; patient-disjoint split stratified by source
   (train ~70 %, tune ~15 %, holdout ~15 %; no patient in two splits, asserted) -> split.csv.
2. Cache (training/xray/cache/, gitignored): per image, the border-cropped image area-resized to
   160 x 160 (f32, before contrast normalisation; the augmentation works on it) and the exact model
   input of PREPROCESSING.md (f32 128 x 128, for evaluation and calibration).
3. Train --members (default 3) small plain CNNs with seeds SEED, SEED+1, ...; each is 3x3 conv + BN +
   ReLU + 2x2 max-pool, 8-16-32-64-128(-128) channels, 8 x 8 at the end, 1x1 conv to the
   class-activation map, logit = mean of the map. Batches are 1:1:1 by source
   (ieee : kermany : nih), loss weighted 1 : 0.5 : 1.5 by source. Augmentation: peripheral marker pasting (letters, boxes, lines; both classes),
   random affine (rotation +-7 deg, scale, shift), horizontal flip, gamma/contrast/brightness before
   the percentile normalisation, noise, blur, random erasing. AdamW, one-cycle cosine LR, 60 epochs;
   each member keeps the weights of its epoch with the lowest source-balanced tune loss (tie: mean of
   the per-pair tune AUCs). The ensemble is the mean of the members' logits.
4. Temperature T fitted on tune (NLL) on the mean logit; exported as probability = sigmoid(mean(cam) / T),
   the members merged into one graph (grouped convs, see merge_members).
5. ONNX export (BN folded, opset 13), cross-layer equalisation of the conv weights (same function,
   even per-tensor ranges), static int8 QDQ (per-tensor, u8 activations and weights, Conv and Relu
   outputs, float biases, explicit Relu kept) calibrated (MinMax) on 200 train images through the
   exact preprocessing.
6. Threshold on tune: the largest threshold with tune sensitivity >= 0.97 (decision p >= threshold).
7. Evaluation with onnxruntime (float and int8) on tune and holdout, per source; reliability table
   and ECE on holdout before and after temperature scaling; shortcut audit on holdout (full image,
   lungs masked, lungs only, borders only); golden files for the Rust tests; metrics.json,
   metrics.md and MODEL_CARD.md.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import preprocess as P  # noqa: E402

THREADS = int(os.environ.get("THREADS", "2"))
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(THREADS)

SOURCES = ("ieee", "kermany", "nih")
SPLITS = ("train", "tune", "holdout")
CACHE_SIZE = 160
TARGET_SENS = 0.97
AUDIT_VARIANTS = ("full", "lungs_masked", "lungs_only", "borders_only")
OPSET = 13


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


# ----------------------------------------------------------------------------------------- data
def read_manifest(data: Path):
    with open(data / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        assert r["source"] in SOURCES, r["source"]
        assert r["label"] in ("covid", "normal"), r["label"]
        r["y"] = 1 if r["label"] == "covid" else 0
    return rows


def make_split(rows, seed: int, frac=(0.70, 0.15, 0.15)):
    """Patient-disjoint split, stratified by source: per source, patients in a seeded random order
    are assigned to train until it holds ~70 % of the source's images, then tune, then holdout."""
    rng = random.Random(seed)
    split_of_patient = {}
    for src in SOURCES:
        by_patient = defaultdict(list)
        for r in rows:
            if r["source"] == src:
                by_patient[r["patient_id"]].append(r)
        patients = sorted(by_patient)
        rng.shuffle(patients)
        total = sum(len(v) for v in by_patient.values())
        bounds = (frac[0] * total, (frac[0] + frac[1]) * total)
        done = 0
        for p in patients:
            # assign by the midpoint of the patient's images in the cumulative count
            mid = done + len(by_patient[p]) / 2
            split_of_patient[p] = "train" if mid < bounds[0] else ("tune" if mid < bounds[1] else "holdout")
            done += len(by_patient[p])
    for r in rows:
        r["split"] = split_of_patient[r["patient_id"]]
    seen = defaultdict(set)
    for r in rows:
        seen[r["patient_id"]].add(r["split"])
    assert all(len(s) == 1 for s in seen.values()), "a patient is in two splits"
    return rows


def write_split_csv(rows, path: Path):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["filename", "source", "label", "patient_id", "split"])
        for r in sorted(rows, key=lambda r: r["filename"]):
            w.writerow([r["filename"], r["source"], r["label"], r["patient_id"], r["split"]])


def cache_path(cache: Path, fn: str) -> Path:
    return cache / f"v{P.PREPROCESS_VERSION}_{CACHE_SIZE}" / (fn.replace("/", "__") + ".npz")


def build_cache(rows, data: Path, cache: Path):
    t = time.time()
    made = 0
    for r in rows:
        cp = cache_path(cache, r["filename"])
        if cp.exists():
            continue
        cp.parent.mkdir(parents=True, exist_ok=True)
        img = P.load_gray(data / r["filename"])
        crop = P.border_crop(img)
        c160 = P.area_resize(crop, CACHE_SIZE, CACHE_SIZE).astype(np.float32)
        inp = P.preprocess(img)[0, 0]
        tmp = cp.with_suffix(".tmp.npz")
        np.savez(tmp, c160=c160, inp=inp)
        os.replace(tmp, cp)
        made += 1
    log(f"cache: {made} new of {len(rows)} images ({time.time() - t:.1f} s)")


def load_arrays(rows, cache: Path):
    c160 = np.zeros((len(rows), CACHE_SIZE, CACHE_SIZE), np.float32)
    inp = np.zeros((len(rows), P.SIZE, P.SIZE), np.float32)
    for i, r in enumerate(rows):
        z = np.load(cache_path(cache, r["filename"]))
        c160[i] = z["c160"]
        inp[i] = z["inp"]
    return c160, inp


# ------------------------------------------------------------------------------- augmentation
class MarkerBank:
    """Bright text/box/line markers pasted in the periphery of images of both classes, so that
    markers carry no label information."""

    WORDS = ["L", "R", "AP", "PA", "PORTABLE", "SUPINE", "ERECT", "SEMI-ERECT", "LEFT", "RIGHT",
             "1", "2", "A", "B", "C", "D", "12:30", "2020", "ICU", "MOBILE", "x", "#", "->", "^"]

    def __init__(self, seed: int):
        from PIL import Image, ImageDraw, ImageFont

        self.glyphs = []
        for size in (9, 12, 16, 22):
            font = ImageFont.load_default(size=size)
            for wd in self.WORDS:
                box = font.getbbox(wd)
                w, h = box[2] - box[0] + 2, box[3] - box[1] + 2
                im = Image.new("L", (max(w, 2), max(h, 2)), 0)
                ImageDraw.Draw(im).text((1 - box[0], 1 - box[1]), wd, fill=255, font=font)
                a = np.asarray(im, dtype=np.float32) / 255.0
                if a.shape[0] < 60 and a.shape[1] < 70:
                    self.glyphs.append(a)

    def paste(self, img: np.ndarray, rng: np.random.RandomState):
        """img: 160 x 160 intensities in [0, 1], modified in place."""
        n = img.shape[0]
        band = int(0.24 * n)
        for _ in range(rng.randint(1, 4)):
            kind = rng.rand()
            val = rng.uniform(0.75, 1.0)
            if kind < 0.55:
                g = self.glyphs[rng.randint(len(self.glyphs))]
                h, w = g.shape
                mask = g
            elif kind < 0.8:
                h, w = rng.randint(3, 18), rng.randint(3, 30)
                mask = np.ones((h, w), np.float32)
                if rng.rand() < 0.5:  # hollow box
                    mask[1:-1, 1:-1] = 0.0 if h > 2 and w > 2 else mask[1:-1, 1:-1]
            else:
                length = rng.randint(10, 60)
                thick = rng.randint(1, 3)
                if rng.rand() < 0.5:
                    h, w = thick, length
                else:
                    h, w = length, thick
                mask = np.ones((h, w), np.float32)
            h, w = mask.shape
            if h >= n or w >= n:
                continue
            side = rng.randint(4)
            if side == 0:  # top band
                y = rng.randint(0, max(1, band - h // 2))
                x = rng.randint(0, n - w)
            elif side == 1:  # bottom band
                y = rng.randint(max(0, n - band - h // 2), n - h)
                x = rng.randint(0, n - w)
            elif side == 2:  # left band
                y = rng.randint(0, n - h)
                x = rng.randint(0, max(1, band - w // 2))
            else:  # right band
                y = rng.randint(0, n - h)
                x = rng.randint(max(0, n - band - w // 2), n - w)
            sub = img[y:y + h, x:x + w]
            img[y:y + h, x:x + w] = sub * (1 - mask) + val * mask


def percentile_normalise_torch(v: torch.Tensor) -> torch.Tensor:
    """Step 4 of PREPROCESSING.md on a batch [B, 1, 128, 128] (no refusal: tiny ranges widened)."""
    b = v.shape[0]
    flat = v.reshape(b, -1)
    n = flat.shape[1]
    # k-th smallest value (1-based) == sorted[k - 1]; kthvalue is linear time, a full sort is not
    lo = torch.kthvalue(flat, (n - 1) * P.LO_PERCENT // 100 + 1, dim=1).values.view(b, 1, 1, 1)
    hi = torch.kthvalue(flat, (n - 1) * P.HI_PERCENT // 100 + 1, dim=1).values.view(b, 1, 1, 1)
    hi = torch.maximum(hi, lo + P.MIN_CONTRAST)
    return ((v - lo) / (hi - lo)).clamp(0.0, 1.0)


def augment(c160: np.ndarray, rng: np.random.RandomState, markers: MarkerBank, strength=1.0):
    """c160: [B, 160, 160] f32 intensities -> model input [B, 1, 128, 128]."""
    b = c160.shape[0]
    imgs = c160.copy()
    for i in range(b):
        if rng.rand() < 0.6:
            markers.paste(imgs[i], rng)
    x = torch.from_numpy(imgs).unsqueeze(1)
    # random affine; identity = the full cropped field resampled to 128 x 128
    ang = np.deg2rad(rng.uniform(-7, 7, b)) * strength
    scale = np.exp(rng.uniform(np.log(0.9), np.log(1.12), b) * strength)  # >1 zooms in
    tx = rng.uniform(-0.06, 0.06, b) * strength
    ty = rng.uniform(-0.06, 0.06, b) * strength
    flip = np.where(rng.rand(b) < 0.5, -1.0, 1.0)
    cos, sin = np.cos(ang) / scale, np.sin(ang) / scale
    theta = np.zeros((b, 2, 3), np.float32)
    theta[:, 0, 0] = cos * flip
    theta[:, 0, 1] = -sin
    theta[:, 0, 2] = tx
    theta[:, 1, 0] = sin * flip
    theta[:, 1, 1] = cos
    theta[:, 1, 2] = ty
    grid = F.affine_grid(torch.from_numpy(theta), [b, 1, P.SIZE, P.SIZE], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # intensity jitter before the percentile normalisation
    gamma = torch.from_numpy(np.exp(rng.uniform(np.log(0.7), np.log(1.45), b)).astype(np.float32)).view(b, 1, 1, 1)
    contrast = torch.from_numpy(rng.uniform(0.8, 1.2, b).astype(np.float32)).view(b, 1, 1, 1)
    bright = torch.from_numpy(rng.uniform(-0.08, 0.08, b).astype(np.float32)).view(b, 1, 1, 1)
    x = x.clamp(0, 1) ** gamma * contrast + bright
    x = percentile_normalise_torch(x)
    # blur (p = 0.3), noise, random erasing (p = 0.3)
    for i in range(b):
        if rng.rand() < 0.3:
            sig = rng.uniform(0.5, 1.2)
            k = torch.tensor([math.exp(-(d * d) / (2 * sig * sig)) for d in (-2, -1, 0, 1, 2)])
            k = (k / k.sum()).float()
            xi = x[i:i + 1]
            xi = F.conv2d(F.pad(xi, (2, 2, 0, 0), mode="replicate"), k.view(1, 1, 1, 5))
            xi = F.conv2d(F.pad(xi, (0, 0, 2, 2), mode="replicate"), k.view(1, 1, 5, 1))
            x[i:i + 1] = xi
    sigma = torch.from_numpy(rng.uniform(0.0, 0.03, b).astype(np.float32)).view(b, 1, 1, 1)
    x = x + sigma * torch.from_numpy(rng.randn(b, 1, P.SIZE, P.SIZE).astype(np.float32))
    for i in range(b):
        if rng.rand() < 0.2:  # periphery erasing: the outer band carries no label information
            bw = rng.randint(6, 25)
            val = float(rng.uniform(0.3, 0.7))
            x[i, 0, :bw, :] = val
            x[i, 0, -bw:, :] = val
            x[i, 0, :, :bw] = val
            x[i, 0, :, -bw:] = val
        if rng.rand() < 0.3:
            h, w = rng.randint(8, 33), rng.randint(8, 33)
            y0, x0 = rng.randint(0, P.SIZE - h), rng.randint(0, P.SIZE - w)
            x[i, 0, y0:y0 + h, x0:x0 + w] = float(rng.uniform(0, 1))
    return ((x.clamp(0, 1) - P.MEAN) / P.STD).float()


# ------------------------------------------------------------------------------------- model
def conv_bn(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class XrayNet(nn.Module):
    CHANNELS = (8, 16, 32, 64, 128)

    def __init__(self, dropout=0.2, width=1):
        super().__init__()
        c = tuple(width * k for k in self.CHANNELS)
        layers = conv_bn(1, c[0]) + [nn.MaxPool2d(2)]
        layers += conv_bn(c[0], c[1]) + [nn.MaxPool2d(2)]
        layers += conv_bn(c[1], c[2]) + [nn.MaxPool2d(2)]
        layers += conv_bn(c[2], c[3]) + [nn.MaxPool2d(2)]
        layers += conv_bn(c[3], c[4]) + conv_bn(c[4], c[4])
        self.features = nn.Sequential(*layers)
        self.drop = nn.Dropout2d(dropout)
        self.head = nn.Conv2d(c[4], 1, 1)

    def forward(self, x):
        cam = self.head(self.drop(self.features(x)))
        return cam.mean(dim=(2, 3)).squeeze(1), cam


def fold_bn(model: XrayNet) -> nn.Sequential:
    """A copy of model.features with every BatchNorm folded into the preceding conv (eval mode)."""
    out = []
    mods = list(model.features)
    i = 0
    while i < len(mods):
        m = mods[i]
        if isinstance(m, nn.Conv2d) and i + 1 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm2d):
            bn = mods[i + 1]
            conv = nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, padding=m.padding, bias=True)
            s = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
            conv.weight.data = m.weight.detach() * s.view(-1, 1, 1, 1)
            b0 = m.bias.detach() if m.bias is not None else torch.zeros_like(bn.running_mean)
            conv.bias.data = (b0 - bn.running_mean) * s + bn.bias.detach()
            out.append(conv)
            i += 2
        else:
            out.append(nn.ReLU() if isinstance(m, nn.ReLU) else m)
            i += 1
    return nn.Sequential(*out)


def merge_members(models) -> tuple[nn.Sequential, nn.Conv2d]:
    """One plain CNN that computes a mean-logit ensemble of ``models`` exactly, for export.

    Every member's BN-folded features are stacked side by side: the first conv concatenates the
    members' output channels (they all read the same image), each later conv is a grouped conv with
    one group per member (weights concatenated along the output axis), ReLU and max-pool act per
    channel, and the 1x1 head reads all members' channels with weights / N and the mean bias. So
    cam = mean of the members' CAMs and logit = mean(cam) = mean of the members' logits. With one
    member this is the member itself."""
    n = len(models)
    folded = [list(fold_bn(m)) for m in models]
    layers = []
    for i, first in enumerate(folded[0]):
        if isinstance(first, nn.Conv2d):
            convs = [f[i] for f in folded]
            groups = 1 if first.in_channels == 1 else n
            conv = nn.Conv2d(first.in_channels * (1 if groups == 1 else n), first.out_channels * n, first.kernel_size,
                             padding=first.padding, bias=True, groups=groups)
            conv.weight.data = torch.cat([c.weight.detach() for c in convs], dim=0)
            conv.bias.data = torch.cat([c.bias.detach() for c in convs], dim=0)
            layers.append(conv)
        else:
            layers.append(first)
    h0 = models[0].head
    head = nn.Conv2d(h0.in_channels * n, 1, 1, bias=True)
    head.weight.data = torch.cat([m.head.weight.detach() for m in models], dim=1) / n
    head.bias.data = torch.stack([m.head.bias.detach() for m in models]).mean(0)
    return nn.Sequential(*layers), head


class ExportNet(nn.Module):
    """The exported graph: image -> (probability, cam) of the mean-logit ensemble of ``models``."""

    def __init__(self, models, temperature: float):
        super().__init__()
        self.features, self.head = merge_members(models)
        self.register_buffer("inv_t", torch.tensor([[1.0 / temperature]], dtype=torch.float32))

    def forward(self, image):
        cam = self.head(self.features(image))
        logit = torch.mean(cam, dim=(2, 3))  # [1, 1]
        probability = torch.sigmoid(logit * self.inv_t)
        return probability, cam


# ----------------------------------------------------------------------------------- metrics
def auc(pos, neg):
    """Mann-Whitney AUC with ties counted as 1/2."""
    pos, neg = np.asarray(pos, np.float64), np.asarray(neg, np.float64)
    if len(pos) == 0 or len(neg) == 0:
        return None
    allv = np.concatenate([pos, neg])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(len(allv))
    sv = allv[order]
    i = 0
    while i < len(sv):
        j = i
        while j + 1 < len(sv) and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    rp = ranks[: len(pos)].sum()
    return float((rp - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def wilson(k, n, z=1.96):
    if n == 0:
        return None
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [round(c - h, 4), round(c + h, 4)]


def patient_stats(prob, rows, thr, draws=2000, seed=1):
    """Per source on these rows: images, patients, the largest patient's image count, patients
    with a wrong call, and a 95 % patient-bootstrap interval of the source's rate (patients
    resampled with replacement), because several films of one patient tend to be right or wrong
    together and the Wilson interval assumes independent images. `edge-screen xray-eval` computes
    the same from the product's output."""
    rng = np.random.RandomState(seed)
    out = {}
    for s_ in SOURCES:
        per = defaultdict(lambda: [0, 0])
        for p_, r in zip(prob, rows):
            if r["source"] == s_:
                correct = (p_ >= thr) if r["y"] == 1 else (p_ < thr)
                per[r["patient_id"]][0] += int(correct)
                per[r["patient_id"]][1] += 1
        if not per:
            continue
        cl = np.array(list(per.values()), np.int64)
        draws_v = []
        for _ in range(draws):
            pick = cl[rng.randint(0, len(cl), len(cl))]
            draws_v.append(pick[:, 0].sum() / max(pick[:, 1].sum(), 1))
        lo, hi = np.percentile(draws_v, [2.5, 97.5])
        out[s_] = {"images": int(cl[:, 1].sum()), "patients": int(len(cl)), "largest_patient_images": int(cl[:, 1].max()),
                   "patients_with_a_wrong_call": int((cl[:, 0] < cl[:, 1]).sum()),
                   "rate": round(float(cl[:, 0].sum() / cl[:, 1].sum()), 4),
                   "patient_bootstrap_95": [round(float(lo), 4), round(float(hi), 4)]}
    return out


def patient_md(ps):
    if not ps:
        return ""
    lines = ["| source | images | patients | most images of one patient | patients with a wrong call | rate | 95 % patient bootstrap |",
             "|---|---|---|---|---|---|---|"]
    for s_, v in ps.items():
        lines.append(f"| {s_} | {v['images']} | {v['patients']} | {v['largest_patient_images']} | {v['patients_with_a_wrong_call']} | "
                     f"{v['rate']:.3f} | {v['patient_bootstrap_95'][0]:.2f}–{v['patient_bootstrap_95'][1]:.2f} |")
    return "\n".join(lines)


def bce(p, y):
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1 - 1e-7)
    y = np.asarray(y, np.float64)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def per_source_metrics(prob, y, src, thr):
    """Sensitivity on ieee, specificity on kermany and nih, AUCs of ieee vs each normal source."""
    prob, y, src = np.asarray(prob), np.asarray(y), np.asarray(src)
    out = {}
    for s in SOURCES:
        m = src == s
        p, yy = prob[m], y[m]
        d = {"n": int(m.sum()), "n_covid": int(yy.sum()), "mean_probability": round(float(p.mean()), 4) if m.any() else None}
        if yy.sum() > 0:
            k = int((p[yy == 1] >= thr).sum())
            d["sensitivity"] = round(k / int(yy.sum()), 4)
            d["sensitivity_ci95"] = wilson(k, int(yy.sum()))
        if (yy == 0).sum() > 0:
            k = int((p[yy == 0] < thr).sum())
            d["specificity"] = round(k / int((yy == 0).sum()), 4)
            d["specificity_ci95"] = wilson(k, int((yy == 0).sum()))
        out[s] = d
    pos = prob[y == 1]
    for s in ("kermany", "nih"):
        a = auc(pos, prob[(src == s) & (y == 0)])
        out[f"auc_ieee_vs_{s}"] = None if a is None else round(a, 4)
    a = auc(pos, prob[y == 0])
    out["pooled"] = {
        "n": int(len(y)),
        "auc": None if a is None else round(a, 4),
        "sensitivity": round(float((pos >= thr).mean()), 4) if len(pos) else None,
        "specificity": round(float((prob[y == 0] < thr).mean()), 4) if (y == 0).any() else None,
    }
    return out


def reliability(prob, y, bins=10):
    prob, y = np.asarray(prob, np.float64), np.asarray(y, np.float64)
    table, ece = [], 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        m = (prob >= lo) & ((prob < hi) if b < bins - 1 else (prob <= hi))
        n = int(m.sum())
        row = {"bin": f"{lo:.1f}-{hi:.1f}", "n": n}
        if n:
            conf, acc = float(prob[m].mean()), float(y[m].mean())
            row.update(mean_probability=round(conf, 4), fraction_covid=round(acc, 4))
            ece += n / len(prob) * abs(conf - acc)
        table.append(row)
    return table, round(ece, 4)


def fit_temperature(logits, y):
    logits, y = np.asarray(logits, np.float64), np.asarray(y, np.float64)
    best = None
    for lt in np.linspace(np.log(0.2), np.log(8.0), 801):
        t = float(np.exp(lt))
        nll = bce(1 / (1 + np.exp(-logits / t)), y)
        if best is None or nll < best[1]:
            best = (t, nll)
    return best[0]


def choose_threshold(prob, y, target=TARGET_SENS):
    """The largest threshold t with sensitivity (p >= t) >= target on these cases."""
    pos = np.sort(np.asarray(prob, np.float64)[np.asarray(y) == 1])
    misses = int(math.floor((1 - target) * len(pos) + 1e-9))
    return float(pos[misses])


# --------------------------------------------------------------------------------- training
def predict_torch(model, inp, bs=128, device="cpu"):
    model.eval()
    logits = []
    with torch.no_grad():
        for i in range(0, len(inp), bs):
            lg, _ = model(torch.from_numpy(inp[i:i + bs]).unsqueeze(1).to(device))
            logits.append(lg.cpu().numpy())
    return np.concatenate(logits).astype(np.float64)


def balanced_loss(prob, y, src):
    src = np.asarray(src)
    return float(np.mean([bce(prob[src == s], np.asarray(y)[src == s]) for s in SOURCES if (src == s).any()]))


def train_model(args, rows, c160, inp, device="cpu"):
    """Train one network; returns (model on the CPU with the weights of the epoch with the lowest
    tune loss, that epoch, per-epoch history). ``device`` only moves the network and batches (the
    augmentation stays on the CPU): training/xray/sweep.py uses it on a GPU."""
    torch.manual_seed(args.seed)
    rng = np.random.RandomState(args.seed)
    markers = MarkerBank(args.seed)
    idx = {sp: np.array([i for i, r in enumerate(rows) if r["split"] == sp]) for sp in SPLITS}
    y = np.array([r["y"] for r in rows], np.float32)
    src = np.array([r["source"] for r in rows])
    per_src = {s: idx["train"][src[idx["train"]] == s] for s in SOURCES}
    weights = dict(zip(SOURCES, (float(v) for v in args.source_weights.split(","))))
    sw = np.array([weights[s] for s in src], np.float32)
    width = getattr(args, "width", 1)
    model = XrayNet(dropout=args.dropout, width=width).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    total = args.epochs * args.steps
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=total, pct_start=0.08,
                                                anneal_strategy="cos", div_factor=10, final_div_factor=100)
    tune = idx["tune"]
    per = args.batch // len(SOURCES)
    pools = {s: [] for s in SOURCES}
    best = None
    history = []
    bad = 0
    ema_model = XrayNet(dropout=args.dropout, width=width).to(device)
    ema_model.load_state_dict(model.state_dict())
    ema_state = ema_model.state_dict()
    for ep in range(args.epochs):
        model.train()
        t0 = time.time()
        losses = []
        for _ in range(args.steps):
            sel = []
            for s in SOURCES:
                while len(pools[s]) < per:
                    pools[s].extend(rng.permutation(per_src[s]).tolist())
                sel += pools[s][:per]
                pools[s] = pools[s][per:]
            sel = np.array(sel)
            xb = augment(c160[sel], rng, markers).to(device)
            yb = torch.from_numpy(y[sel]).to(device)
            wb = torch.from_numpy(sw[sel]).to(device)
            logit, _ = model(xb)
            loss = (F.binary_cross_entropy_with_logits(logit, yb, reduction="none") * wb).sum() / wb.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss))
            with torch.no_grad():  # exponential moving average of weights and BN statistics
                for k, v in model.state_dict().items():
                    if v.dtype.is_floating_point:
                        ema_state[k].mul_(args.ema).add_(v, alpha=1 - args.ema)
                    else:
                        ema_state[k].copy_(v)
        lg = predict_torch(ema_model, inp[tune], device=device)
        p = 1 / (1 + np.exp(-lg))
        tl = balanced_loss(p, y[tune], src[tune])
        pos = p[y[tune] == 1]
        aucs = [auc(pos, p[(src[tune] == s) & (y[tune] == 0)]) for s in ("kermany", "nih")]
        mauc = float(np.mean([a for a in aucs if a is not None])) if any(a is not None for a in aucs) else 0.0
        history.append({"epoch": ep + 1, "train_loss": round(float(np.mean(losses)), 4), "tune_balanced_loss": round(tl, 4),
                        "tune_auc_ieee_vs_kermany": aucs[0], "tune_auc_ieee_vs_nih": aucs[1], "seconds": round(time.time() - t0, 1)})
        log(f"epoch {ep + 1}/{args.epochs} train {np.mean(losses):.4f} tune bal-loss {tl:.4f} "
            f"auc k {aucs[0]} nih {aucs[1]} ({time.time() - t0:.1f} s)")
        key = (tl, -mauc)
        if best is None or key < best[0]:
            best = (key, ep + 1, {k: v.detach().clone() for k, v in ema_model.state_dict().items()})
            bad = 0
        else:
            bad += 1
            if bad >= args.patience and ep + 1 >= args.min_epochs:
                log(f"early stop after epoch {ep + 1} (best {best[1]})")
                break
    model.load_state_dict(best[2])
    model.eval()
    return model.cpu(), best[1], history


# ----------------------------------------------------------------------------- export/quant
def export_onnx(models, temperature, path: Path):
    import onnx

    net = ExportNet(models, temperature).eval()
    dummy = torch.zeros(1, 1, P.SIZE, P.SIZE)
    torch.onnx.export(net, dummy, str(path), input_names=["image"], output_names=["probability", "cam"],
                      opset_version=OPSET, do_constant_folding=True, dynamo=False)
    m = onnx.load(str(path))
    onnx.checker.check_model(m)
    ops = sorted({n.op_type for n in m.graph.node})
    assert "BatchNormalization" not in ops, ops
    allowed = {"Conv", "Relu", "MaxPool", "ReduceMean", "GlobalAveragePool", "Div", "Mul", "Sigmoid", "Reshape", "Flatten", "Squeeze"}
    assert set(ops) <= allowed, ops
    return ops


def equalize_onnx(path: Path, iters: int = 10):
    """Cross-layer equalisation (Nagel et al. 2019) in place on the exported float graph: for each
    pair of consecutive convs joined by ReLU (and max-pool), output channel i of the first is divided
    by s_i and input channel i of the second multiplied by s_i, with s_i = sqrt(r1_i / r2_i) (r = max
    |weight| of that channel). ReLU and max-pool commute with positive scaling, so the function is
    unchanged, but the per-tensor weight ranges become even, which per-tensor int8 needs."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(path))
    inits = {i.name: i for i in m.graph.initializer}
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    w = [numpy_helper.to_array(inits[c.input[1]]).astype(np.float64) for c in convs]
    b = [numpy_helper.to_array(inits[c.input[2]]).astype(np.float64) for c in convs]
    groups = [next((a.i for a in c.attribute if a.name == "group"), 1) for c in convs]

    def by_input(k):
        """View of conv k's weight as [groups, out per group, in per group, kh, kw]: input channel
        g * in_per_group + j is column j of group g."""
        o, ig, kh, kw = w[k].shape
        return w[k].reshape(groups[k], o // groups[k], ig, kh, kw)

    for _ in range(iters):
        for k in range(len(convs) - 1):
            r1 = np.abs(w[k]).reshape(w[k].shape[0], -1).max(1)
            r2 = np.abs(by_input(k + 1)).max(axis=(1, 3, 4)).reshape(-1)
            assert r2.shape == r1.shape, (r1.shape, r2.shape)
            s = np.where((r1 > 0) & (r2 > 0), np.sqrt(r1 / np.maximum(r2, 1e-30)), 1.0)
            w[k] /= s[:, None, None, None]
            b[k] /= s
            by_input(k + 1)[...] *= s.reshape(groups[k + 1], 1, -1, 1, 1)
    for c, wk, bk in zip(convs, w, b):
        inits[c.input[1]].CopyFrom(numpy_helper.from_array(wk.astype(np.float32), c.input[1]))
        inits[c.input[2]].CopyFrom(numpy_helper.from_array(bk.astype(np.float32), c.input[2]))
    onnx.save(m, str(path))


def quantize(float_path: Path, int8_path: Path, calib: np.ndarray):
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"image": calib[i:i + 1, None]} for i in range(len(calib))])

        def get_next(self):
            return next(self.it, None)

    quantize_static(str(float_path), str(int8_path), Reader(), quant_format=QuantFormat.QDQ, per_channel=False,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QUInt8, op_types_to_quantize=["Conv", "Relu"],
                    extra_options={"QuantizeBias": False, "QDQKeepRemovableActivations": True})
    q = onnx.load(str(int8_path))
    onnx.checker.check_model(q)
    ops = sorted({n.op_type for n in q.graph.node})
    for n in q.graph.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            for a in n.attribute:
                assert not (a.name == "axis"), "per-channel QDQ found"
    inits = {i.name: i for i in q.graph.initializer}
    for n in q.graph.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 1:
            sc = inits.get(n.input[1])
            if sc is not None:
                assert len(sc.dims) == 0 or int(np.prod(sc.dims)) == 1, "per-channel scale"
            zp = inits.get(n.input[2]) if len(n.input) > 2 else None
            if zp is not None:
                assert zp.data_type == onnx.TensorProto.UINT8, "zero point not u8"
    assert not {"QLinearConv", "ConvInteger", "QGemm", "QLinearMatMul"} & set(ops), ops
    return ops


def ort_session(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = THREADS
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def ort_run(sess, inp, bs=1):
    """inp [N, 128, 128] f32 -> probability [N], cam [N, 8, 8]."""
    probs, cams = [], []
    for i in range(len(inp)):
        p, c = sess.run(["probability", "cam"], {"image": inp[i:i + 1, None]})
        probs.append(float(p[0, 0]))
        cams.append(c[0, 0])
    return np.array(probs, np.float64), np.array(cams, np.float32)


# ------------------------------------------------------------------------------------ golden
def synthetic_images(seed=1234):
    rng = np.random.RandomState(seed)
    out = []
    for name, (w, h) in (("synthetic_37x53", (37, 53)), ("synthetic_300x200", (300, 200)), ("synthetic_90x150", (90, 150))):
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        img = 0.5 + 0.25 * np.sin(xx / w * 5.1 + 0.3) * np.cos(yy / h * 3.7) + 0.15 * (yy / h) - 0.1 * (xx / w)
        img += 0.04 * rng.randn(h, w)
        img = np.clip(img, 0.0, 1.0)
        out.append((name, img))
    return out


def sha256(path: Path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_goldens(out: Path, data: Path, rows, float_sess, int8_sess, temperature, threshold):
    g = out / "golden"
    g.mkdir(parents=True, exist_ok=True)
    entries, model_out = [], []
    for name, img in synthetic_images():
        h, w = img.shape
        img.astype("<f8").tofile(g / f"{name}.gray.f64")
        inp = P.preprocess(img)
        inp.astype("<f4").tofile(g / f"{name}.input.f32")
        entries.append({"name": name, "kind": "synthetic", "width": w, "height": h,
                        "gray": f"{name}.gray.f64", "gray_sha256": sha256(g / f"{name}.gray.f64"),
                        "input": f"{name}.input.f32", "input_sha256": sha256(g / f"{name}.input.f32")})
    # three real images, one per source, from the holdout split (first by filename)
    for s in SOURCES:
        r = sorted([r for r in rows if r["source"] == s and r["split"] == "holdout"], key=lambda r: r["filename"])[0]
        img = P.load_gray(data / r["filename"])
        h, w = img.shape
        name = f"real_{s}"
        inp = P.preprocess(img)
        inp.astype("<f4").tofile(g / f"{name}.input.f32")
        entries.append({"name": name, "kind": "real", "source": s, "label": r["label"], "width": w, "height": h,
                        "path": r["filename"], "path_base": "../shared/data/xray", "file_sha256": sha256(data / r["filename"]),
                        "input": f"{name}.input.f32", "input_sha256": sha256(g / f"{name}.input.f32")})
    for e in entries:
        inp = np.fromfile(g / e["input"], dtype="<f4").reshape(1, 1, P.SIZE, P.SIZE)
        rec = {"name": e["name"]}
        for tag, sess in (("float", float_sess), ("int8", int8_sess)):
            p, c = sess.run(["probability", "cam"], {"image": inp})
            rec[tag] = {"probability": float(p[0, 0]), "cam": [[float(v) for v in row] for row in c[0, 0]]}
        model_out.append(rec)
    index = {
        "preprocess_version": P.PREPROCESS_VERSION,
        "tolerance_input": 1e-4,
        "layout": "gray: raw little-endian f64, row-major H x W (row 0 = top), values in [0, 1]; "
                  "input: raw little-endian f32, row-major 128 x 128 = the model input [1, 1, 128, 128]",
        "images": entries,
    }
    (g / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    (g / "model_outputs.json").write_text(json.dumps({
        "models": {"float": "xray_float.onnx", "int8": "xray_int8.onnx"},
        "temperature": temperature, "threshold": threshold,
        "note": "onnxruntime 1.20.1 outputs for golden/<name>.input.f32",
        "cases": model_out}, indent=1) + "\n")
    return entries


# ------------------------------------------------------------------------------------ report
def fmt(v, nd=3):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def source_table(m):
    lines = ["| source | n | covid | sensitivity (95% CI) | specificity (95% CI) | mean probability |", "|---|---|---|---|---|---|"]
    for s in SOURCES:
        d = m[s]
        sens = f"{fmt(d.get('sensitivity'))} ({fmt(d['sensitivity_ci95'][0], 2)}–{fmt(d['sensitivity_ci95'][1], 2)})" if "sensitivity" in d else "–"
        spec = f"{fmt(d.get('specificity'))} ({fmt(d['specificity_ci95'][0], 2)}–{fmt(d['specificity_ci95'][1], 2)})" if "specificity" in d else "–"
        lines.append(f"| {s} | {d['n']} | {d['n_covid']} | {sens} | {spec} | {fmt(d['mean_probability'])} |")
    lines.append(f"\nAUC ieee vs kermany: {fmt(m['auc_ieee_vs_kermany'])}; AUC ieee vs nih: {fmt(m['auc_ieee_vs_nih'])}; "
                 f"pooled (all sources together, for reference only): AUC {fmt(m['pooled']['auc'])}, "
                 f"sensitivity {fmt(m['pooled']['sensitivity'])}, specificity {fmt(m['pooled']['specificity'])}.")
    return "\n".join(lines)


def reliability_md(rows_before, rows_after):
    lines = ["| bin | n | mean p (T = 1) | fraction covid (T = 1) | n | mean p (fitted T) | fraction covid (fitted T) |", "|---|---|---|---|---|---|---|"]
    for a, b in zip(rows_before, rows_after):
        lines.append(f"| {a['bin']} | {a['n']} | {fmt(a.get('mean_probability'))} | {fmt(a.get('fraction_covid'))} | "
                     f"{b['n']} | {fmt(b.get('mean_probability'))} | {fmt(b.get('fraction_covid'))} |")
    return "\n".join(lines)


def audit_md(audit):
    lines = ["| variant | AUC ieee vs kermany | AUC ieee vs nih | sens ieee | spec kermany | spec nih | mean p ieee | mean p kermany | mean p nih |",
             "|---|---|---|---|---|---|---|---|---|"]
    for v in AUDIT_VARIANTS:
        m = audit[v]
        lines.append(f"| {v} | {fmt(m['auc_ieee_vs_kermany'])} | {fmt(m['auc_ieee_vs_nih'])} | {fmt(m['ieee'].get('sensitivity'))} | "
                     f"{fmt(m['kermany'].get('specificity'))} | {fmt(m['nih'].get('specificity'))} | {fmt(m['ieee']['mean_probability'])} | "
                     f"{fmt(m['kermany']['mean_probability'])} | {fmt(m['nih']['mean_probability'])} |")
    return "\n".join(lines)


def goal_check(m):
    res = {"sensitivity_ieee": m["ieee"].get("sensitivity"), "specificity_kermany": m["kermany"].get("specificity"),
           "specificity_nih": m["nih"].get("specificity")}
    ok = (res["sensitivity_ieee"] or 0) >= 0.95 and (res["specificity_kermany"] or 0) >= 0.90 and (res["specificity_nih"] or 0) >= 0.90
    return res, ok


def interpret_audit(audit):
    """Plain statements derived from the audit numbers (no fixed conclusions)."""
    out = []
    full, lm, lo, bo = (audit[v] for v in AUDIT_VARIANTS)
    for pair in ("auc_ieee_vs_kermany", "auc_ieee_vs_nih"):
        name = pair.replace("auc_", "").replace("_", " ")
        a_full, a_lm, a_lo, a_bo = full[pair], lm[pair], lo[pair], bo[pair]
        if a_full is None:
            continue
        s = f"{name}: full {a_full:.3f}, lungs masked {a_lm:.3f}, lungs only {a_lo:.3f}, borders only {a_bo:.3f}. "
        if a_lm >= 0.9:
            s += "With the lung fields hidden the model still separates the classes well, so it uses cues outside the lungs (body habitus, heart/mediastinum, age, film type, markers or hospital). "
        elif a_lm >= 0.75:
            s += "With the lung fields hidden the separation drops but stays well above chance: part of the signal comes from outside the lungs. "
        else:
            s += "Hiding the lung fields removes most of the separation, which is consistent with the lungs carrying most of the signal. "
        quiet = bo["ieee"].get("sensitivity", 0) == 0 and bo["ieee"]["mean_probability"] < 0.05
        if a_bo >= 0.8:
            s += "The outer 16 px band alone separates the classes (AUC >= 0.8): border content (markers, collimation, figure edges) is informative to the model - a shortcut"
            s += (" in the ranking, although with only the band visible nothing is flagged at the threshold (all probabilities near 0). " if quiet else ". ")
        elif a_bo >= 0.65:
            s += "The border band alone carries some label information (AUC between 0.65 and 0.8). "
        else:
            s += "The border band alone carries little label information. "
        out.append(s)
    kp, np_ = full["kermany"]["mean_probability"], full["nih"]["mean_probability"]
    fk, fn = 1 - full["kermany"].get("specificity", 1), 1 - full["nih"].get("specificity", 1)
    out.append(f"Age/hospital probe: adult nih normals get a mean probability of {np_:.3f} and child kermany normals {kp:.3f} "
               f"(false-positive rates {fn:.3f} vs {fk:.3f}). "
               + ("Adult normals look much more like covid to the model than child normals: part of what separates covid from kermany is age (or hospital), and the kermany specificity overstates the specificity on adults."
                  if np_ > 2 * kp and fn > fk else "The model does not treat adult normals markedly worse than child normals on this split."))
    return out


def preserved_speed_section(card: Path):
    title = "## Speed and memory on the edge board"
    default = title + "\n\nMeasured by `cargo bench --bench xray_model`; see below.\n"
    if not card.exists():
        return default
    text = card.read_text()
    if title not in text:
        return default
    rest = text.split(title, 1)[1]
    nxt = rest.find("\n## ")
    return title + (rest if nxt < 0 else rest[:nxt + 1])


def write_card(out: Path, M):
    h, t = M["holdout"], M["tune"]
    goal, ok = M["goal"]["values"], M["goal"]["met"]
    q = M["int8_vs_float"]
    members = M["training"].get("members") or [{"seed": M["config"]["seed"], "best_epoch": M["training"].get("best_epoch")}]
    n_members = len(members)
    best = ", ".join(str(m["best_epoch"]) for m in members)
    if M["config"]["patience"] >= M["config"]["epochs"]:
        stop_text = ("No early stop: each member keeps the weights of its epoch with the lowest source-balanced "
                     f"tune loss (best epochs: {best}).")
    else:
        stop_text = (f"Early stopping on the source-balanced tune loss (patience {M['config']['patience']}, not before "
                     f"epoch {M['config']['min_epochs']}); best epochs: {best}.")
    cam_text = "that map" if n_members == 1 else "the mean of the members' maps"
    ensemble_text = "" if n_members == 1 else (
        f"A mean-logit ensemble of {n_members} members trained with the same recipe and different seeds: "
        "averaging removes much of the seed-to-seed spread, which on this small data set moves nih specificity "
        "by +-0.1 from one seed to the next (training/xray/EXPERIMENTS.md). For export the members are merged "
        "into **one plain graph** that computes the ensemble exactly (`merge_members` in train.py): the first conv "
        "stacks the members' channels, each later conv is a grouped conv with one group per member, and the 1x1 "
        "head averages the members' maps, so `cam` is the mean of the members' CAMs and the Rust side runs "
        "it like a single CNN. ")
    card = f"""# Chest X-ray COVID-19-vs-normal classifier (edge-screen)

Generated by `bash training/xray/train.sh` from `models/xray/metrics.json` (every number below comes
from that run). Model files: `xray_float.onnx` ({M['files']['xray_float.onnx']['bytes']} bytes) and
`xray_int8.onnx` ({M['files']['xray_int8.onnx']['bytes']} bytes, the one the kiosk runs).

## Intended use
A **screening aid** on a kiosk: it flags frontal chest radiographs that resemble the COVID-19 images
of the development set so that a clinician looks at them first. It is **not a diagnosis**, does not
rule COVID-19 in or out, and has not been validated outside this development set. It was not trained
on other diseases: pneumonia of other causes, effusions, devices etc. may be flagged or missed
arbitrarily.

## Data and its confounders
`../shared/data/xray` (see its README): {M['data']['counts']['ieee']} covid images from `ieee`
(Cohen et al. collection, adults, many hospitals, some journal-figure crops),
{M['data']['counts']['kermany']} normals from `kermany` (children aged 1-5, Guangzhou) and
{M['data']['counts']['nih']} normals from `nih` (adults, one hospital, 69 % AP). Covid exists only in
`ieee`, so every result is reported **per source**: sensitivity on ieee, specificity on kermany and on
nih. The confounders are strong: age (every kermany image is a small child), hospital/scanner,
projection (AP portable vs PA), text markers and lines, and figure crops from articles in ieee.

Split (`split.csv`): patient-disjoint, stratified by source, seed {M['config'].get('split_seed', M['config']['seed'])}:

| split | ieee | kermany | nih | patients |
|---|---|---|---|---|
""" + "\n".join(f"| {sp} | {M['data']['split_counts'][sp]['ieee']} | {M['data']['split_counts'][sp]['kermany']} | "
                f"{M['data']['split_counts'][sp]['nih']} | {M['data']['split_counts'][sp]['patients']} |" for sp in SPLITS) + f"""

`tune` is used to choose each member's best epoch, the temperature and the threshold; `holdout` is the
reported validation split: never used in training, but it has informed the recipe (see "How this recipe was
reached" below). No patient is in two splits (asserted).

## Training command
    bash training/xray/train.sh            # full run, writes models/xray/ ({M['timing']['total_seconds']:.0f} s on {M['config']['threads']} threads)
    bash training/xray/train.sh --smoke    # CI: tiny subset, 1 epoch, temporary folder

Configuration, for each of the {n_members} ensemble members (seeds {', '.join(str(m['seed']) for m in members)}; the
recipe is identical, only the seed of initialisation, batches and augmentation differs): {M['config']['epochs']} epochs x {M['config']['steps']} steps, batch {M['config']['batch']}
({M['config']['batch'] // 3} per source, 1:1:1; loss weights ieee,kermany,nih = {M['config']['source_weights']}:
the easy child normals count less and the hard adult normals more, positives keep one third of the
weight), AdamW lr {M['config']['lr']} (one-cycle cosine),
weight decay {M['config']['weight_decay']}, dropout {M['config']['dropout']}. {stop_text}
Augmentation: peripheral marker pasting on both classes (letters/words like L, R, AP, PORTABLE,
boxes, lines), random affine (rotation +-7 deg, scale 0.9-1.12, shift +-6 %), horizontal flip,
gamma/contrast/brightness jitter before the percentile normalisation, Gaussian noise, blur, random
erasing, periphery erasing (outer band of 6-24 px set to a flat gray, p = 0.2). Evaluated weights: exponential moving average
(decay {M['config']['ema']} per step). Images are decoded once and cached after the border crop at 160 x 160.

## Architecture
{ensemble_text}Each member is a plain CNN for tract on an edge CPU: [3x3 conv + BN + ReLU + 2x2 max-pool] with {', '.join(map(str, XrayNet.CHANNELS[:4]))}
channels (128 -> 8 px), then two 3x3 conv + BN + ReLU with {XrayNet.CHANNELS[4]} channels at 8 x 8, a 1x1 conv to one
channel (its class-activation map). Output `cam` = {cam_text};
logit = mean(cam); probability = sigmoid(logit / T) with T = {M['temperature']:.4f} fitted on tune and
baked into the graph. {M['model']['parameters']} parameters
({M['model'].get('parameters_per_member', M['model']['parameters'])} per member).
BN is folded into the convs. Float graph ops: {', '.join(M['model']['float_ops'])}.
Int8 graph ops: {', '.join(M['model']['int8_ops'])} (static QDQ, per-tensor, u8 activations and u8
weights; Conv and Relu outputs quantized, biases kept in float; calibrated with MinMax on
{M['config']['calib_images']} train images through the exact preprocessing). Before quantization the float graph is
cross-layer equalised (per-channel rescaling between consecutive convs through ReLU/max-pool, which
leaves the function unchanged; max difference to the PyTorch model {M['export_max_abs_diff_vs_torch']:.1e}), so that
per-tensor weight ranges fit u8.

## Preprocessing
Exactly `models/xray/PREPROCESSING.md` (version {P.PREPROCESS_VERSION}): gray [0, 1] -> 8 % border crop -> area
resize to 128 x 128 -> 2/98 percentile contrast normalisation -> (x - 0.5) / 0.25.
Python: `training/xray/preprocess.py`; golden files for the Rust parity test in `models/xray/golden/`.

## Input and outputs
* input `image`: float32 [1, 1, 128, 128]
* output `probability`: float32 [1, 1], calibrated probability of the covid class
* output `cam`: float32 [1, 1, 8, 8], logit contribution of each 16 x 16 px cell (mean = uncalibrated logit)

## Threshold
Rule: the largest threshold with **tune sensitivity >= {TARGET_SENS}** (flag when probability >=
threshold), chosen on the int8 model's tune probabilities because the kiosk runs the int8 model:
**threshold = {M['threshold']:.4f}** (tune sensitivity {t['int8']['ieee'].get('sensitivity')}).
Sensitivity comes first for a screening aid: a missed case costs more than a second look.

## Results on holdout (patient-disjoint; not used for the best epoch, temperature or threshold)
Int8 model (the one the kiosk runs):

{source_table(h['int8'])}

Float model:

{source_table(h['float'])}

Goal of the issue (holdout sensitivity >= 0.95 on ieee, specificity >= 0.90 on kermany and on nih,
int8): sensitivity ieee {fmt(goal['sensitivity_ieee'])}, specificity kermany {fmt(goal['specificity_kermany'])},
specificity nih {fmt(goal['specificity_nih'])} -> **{'met' if ok else 'NOT met'}** on this split. The holdout
split is small (see n and the 95 % Wilson intervals); these numbers are optimistic for the field.

Patients behind these numbers (int8, holdout). Films of one patient tend to be right or wrong
together, so the Wilson intervals above, which treat images as independent, are too narrow where one
patient has many films; the patient bootstrap resamples patients instead:

{patient_md(M.get('holdout_patients'))}

The same table, from the product's own output, for this split or any labelled set (for example the
external evaluation set):

    edge-screen xray --json IMAGES... > predictions.jsonl
    edge-screen xray-eval --labels models/xray/split.csv --split holdout predictions.jsonl

How this recipe was reached, and why the holdout split is not untouched: the first recipe (16 epochs,
one network) was refined over four runs whose holdout results were looked at (EMA, periphery
erasing, source-weighted loss, equalisation before quantization). It shipped with holdout nih
specificity 0.61 and AUC ieee vs nih 0.94. Later experiments (training/xray/EXPERIMENTS.md) found that
it was undertrained and that single networks vary a lot from seed to seed. A sweep of 54 networks on
the same split then compared 60 and 120 epochs, width x2, less kermany weight, and ensembles of 3 and
5. On tune and on holdout alike, training longer raised AUC ieee vs nih, and an ensemble of three
narrowed the spread. No network and no ensemble met the nih goal. The present recipe (60 epochs,
3 members) was chosen with these holdout numbers in view. So the holdout split has informed design
choices and is optimistic; the external evaluation set is the real test.

## Results on tune (used for choosing the best epoch, temperature and threshold)
Int8 model:

{source_table(t['int8'])}

## Calibration (holdout, float model)
Temperature T = {M['temperature']:.4f} fitted on tune. ECE (10 equal-width bins) on holdout:
**{M['calibration']['ece_before']:.4f} before** and **{M['calibration']['ece_after']:.4f} after** temperature
scaling (int8 after: {M['calibration']['ece_after_int8']:.4f}). The holdout mixes the sources in their data-set
proportions ({h['float']['pooled']['n']} images, {h['float']['ieee']['n_covid']} covid); calibration is only meaningful
for that prevalence.

{reliability_md(M['calibration']['reliability_before'], M['calibration']['reliability_after'])}

## Float vs int8
On holdout ({q['n']} images): max |delta probability| {q['max_abs_dprob']:.4f}, mean {q['mean_abs_dprob']:.4f};
max |delta cam| {q['max_abs_dcam']:.4f}; decisions at the threshold agree on {q['agreement']:.4f}
({q['disagreements']} disagreements). Tune: max |delta probability| {M['int8_vs_float_tune']['max_abs_dprob']:.4f}.

## Shortcut audit (holdout, int8 model, threshold {M['threshold']:.4f})
Variants (PREPROCESSING.md audit regions, masked pixels = mid-gray): `full`; `lungs_masked` (both
lung ellipses set to mid-gray); `lungs_only` (everything except the ellipses mid-gray);
`borders_only` (only the outer 16 px band kept).

{audit_md(M['audit'])}

Age probe: mean probability of nih adult normals {fmt(M['age_probe']['nih_mean_probability'], 4)} vs kermany child
normals {fmt(M['age_probe']['kermany_mean_probability'], 4)} (full images, holdout); false-positive rate
nih {fmt(1 - (h['int8']['nih'].get('specificity') or 0))} vs kermany {fmt(1 - (h['int8']['kermany'].get('specificity') or 0))}.

Both masked variants are unlike any training image (large flat gray areas), so a drop in AUC is
partly distribution shift, not only lost evidence; a high AUC that survives masking is the informative
direction (the model can separate the classes without that region).

CAM audit (full images, int8): share of the positive logit evidence (positive CAM cells, each weighted
by its fraction of lung-ellipse pixels) that lies in the lung ellipses, which cover
{M.get('cam_audit', {}).get('lung_area_share', float('nan')):.2f} of the frame:
""" + "\n".join(f"* {s}: {fmt(M['cam_audit'][s]['positive_cam_share_in_lungs'])} in the lungs, {fmt(M['cam_audit'][s]['positive_cam_share_in_outer_cells'])} in the outer ring of 8 x 8 cells (28 of 64 cells, 0.44 of the frame)" for s in SOURCES if 'cam_audit' in M) + """

Interpretation (from the numbers above):
""" + "\n".join(f"* {s}" for s in M["audit_interpretation"]) + f"""

## What the model may be learning instead of disease
The audit can only show that cues exist outside the lung ellipses; it cannot prove that the lung
signal is disease. Likely shortcuts in this data: **age** (child vs adult anatomy: all kermany
normals are children; the nih adults partly break this, and the nih-vs-kermany probability gap above
is a direct probe), **hospital/scanner** (each source has its own look, noise and processing; nih is
one hospital), **projection** (AP portable/supine films are common in ieee and nih), **markers and
lines** (text, arrows, ECG leads; augmented against by pasting markers on both classes, and the 8 %
border crop removes most corner text), **journal-figure crops** in ieee (tight crops, arrows,
annotations, low resolution). The CAM output lets a reviewer check where the evidence lies.

## Known limits
* An external set from other hospitals is expected to be harder than this holdout; sensitivity and
  specificity there will be lower.
* Small data: {M['data']['counts']['ieee']} covid images from {M['data']['patients']['ieee']} patients; holdout intervals are wide.
* The ensemble's members learned from the same images: averaging removes seed noise, not the
  shortcuts they share.
* The covid label is a diagnosis from the source metadata, not a radiological finding: some covid
  films are clear, so no image model can reach 100 % sensitivity honestly.
* Normal nih labels were mined from reports (about 90 % accurate).
* Only frontal adult/child views of these sources; lateral views, other diseases and other age groups
  are out of scope.

""" + preserved_speed_section(out / "MODEL_CARD.md")
    (out / "MODEL_CARD.md").write_text(card)


def write_metrics_md(out: Path, M):
    h = M["holdout"]
    txt = f"""# X-ray model metrics (generated by training/xray/train.py; see metrics.json)

Threshold {M['threshold']:.4f} (largest with tune sensitivity >= {TARGET_SENS}, int8), temperature {M['temperature']:.4f}.

## Holdout, int8
{source_table(h['int8'])}

## Holdout, float
{source_table(h['float'])}

## Tune, int8
{source_table(M['tune']['int8'])}

## Calibration (holdout, float): ECE before {M['calibration']['ece_before']:.4f}, after {M['calibration']['ece_after']:.4f}
{reliability_md(M['calibration']['reliability_before'], M['calibration']['reliability_after'])}

## Int8 vs float (holdout)
max |dp| {M['int8_vs_float']['max_abs_dprob']:.4f}, mean |dp| {M['int8_vs_float']['mean_abs_dprob']:.4f}, max |dcam| {M['int8_vs_float']['max_abs_dcam']:.4f}, agreement {M['int8_vs_float']['agreement']:.4f}

## Shortcut audit (holdout, int8)
{audit_md(M['audit'])}

Goal met: {M['goal']['met']} ({M['goal']['values']})
"""
    (out / "metrics.md").write_text(txt)


def write_model_json(out: Path, M):
    """model.json, read by src/xray/model.rs (serde deny_unknown_fields: exactly these four keys)."""
    info = {"name": "xray-cnn-int8", "version": "2.0.0+" + M["files"]["xray_int8.onnx"]["sha256"][:12],
            "threshold": round(float(M["threshold"]), 6), "preprocess_version": P.PREPROCESS_VERSION}
    (out / "model.json").write_text(json.dumps(info, indent=2) + "\n")


def write_reports(out: Path, M):
    write_metrics_md(out, M)
    write_card(out, M)
    write_model_json(out, M)


# -------------------------------------------------------------------------------------- main
def main():
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
    ap.add_argument("--calib", type=int, default=200)
    ap.add_argument("--source-weights", default="1,0.5,1.5",
                    help="loss weight of ieee,kermany,nih samples (batches are 1:1:1 by source)")
    ap.add_argument("--ema", type=float, default=0.98, help="EMA decay per step of the evaluated weights")
    ap.add_argument("--smoke", action="store_true", help="tiny subset, 1 epoch (CI)")
    ap.add_argument("--reports-only", action="store_true",
                    help="only rewrite metrics.md, MODEL_CARD.md and model.json from OUT/metrics.json")
    args = ap.parse_args()
    if args.reports_only:
        out = Path(args.out)
        M = json.loads((out / "metrics.json").read_text())
        M["audit_interpretation"] = interpret_audit(M["audit"])
        if "holdout_patients" not in M:  # metrics.json written before this block existed
            rows = [dict(r, y=int(r["label"] == "covid")) for r in csv.DictReader(open(out / "split.csv")) if r["split"] == "holdout"]
            build_cache(rows, Path(args.data), Path(args.cache))
            _, inp = load_arrays(rows, Path(args.cache))
            pq, _ = ort_run(ort_session(out / "xray_int8.onnx"), inp)
            M["holdout_patients"] = patient_stats(pq, rows, M["threshold"])
        (out / "metrics.json").write_text(json.dumps(M, indent=1) + "\n")
        write_reports(out, M)
        return
    t_start = time.time()
    np.random.seed(args.seed)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    data, out, cache = Path(args.data), Path(args.out), Path(args.cache)
    out.mkdir(parents=True, exist_ok=True)

    rows = make_split(read_manifest(data), args.split_seed)
    counts = {s: sum(r["source"] == s for r in rows) for s in SOURCES}
    patients = {s: len({r["patient_id"] for r in rows if r["source"] == s}) for s in SOURCES}
    if args.smoke:
        keep = []
        for sp, k in (("train", 12), ("tune", 6), ("holdout", 6)):
            for s in SOURCES:
                keep += sorted([r for r in rows if r["split"] == sp and r["source"] == s], key=lambda r: r["filename"])[:k]
        rows = keep
        args.epochs, args.steps, args.calib = 1, 2, 8
    write_split_csv(rows, out / "split.csv")
    split_counts = {sp: {**{s: sum(r["split"] == sp and r["source"] == s for r in rows) for s in SOURCES},
                         "patients": len({r["patient_id"] for r in rows if r["split"] == sp})} for sp in SPLITS}
    log("split", split_counts)

    build_cache(rows, data, cache)
    c160, inp = load_arrays(rows, cache)
    t_train = time.time()
    models, member_info = [], []
    for k in range(args.members):
        t_member = time.time()
        member_args = argparse.Namespace(**{**vars(args), "seed": args.seed + k})
        log(f"member {k + 1}/{args.members}: seed {member_args.seed}")
        model, best_epoch, history = train_model(member_args, rows, c160, inp)
        models.append(model)
        member_info.append({"seed": member_args.seed, "best_epoch": best_epoch, "history": history,
                            "seconds": round(time.time() - t_member, 1)})
    train_seconds = time.time() - t_train

    idx = {sp: np.array([i for i, r in enumerate(rows) if r["split"] == sp]) for sp in SPLITS}
    y = np.array([r["y"] for r in rows])
    src = np.array([r["source"] for r in rows])

    # temperature on tune (torch float model == exported float graph up to float rounding)
    tune_logits = np.mean([predict_torch(m, inp[idx["tune"]]) for m in models], axis=0)
    temperature = fit_temperature(tune_logits, y[idx["tune"]])
    log(f"temperature {temperature:.4f}")

    float_path, int8_path = out / "xray_float.onnx", out / "xray_int8.onnx"
    float_ops = export_onnx(models, temperature, float_path)
    equalize_onnx(float_path)
    with torch.no_grad():
        tp, tc = ExportNet(models, temperature).eval()(torch.from_numpy(inp[idx["holdout"][:16], None]))
    op_, oc_ = ort_run(ort_session(float_path), inp[idx["holdout"][:16]])
    export_diff = float(max(np.abs(op_ - tp.numpy()[:, 0]).max(), np.abs(oc_ - tc.numpy()[:, 0]).max()))
    log(f"float ONNX (BN folded, equalised) vs torch: max diff {export_diff:.2e}")
    assert export_diff < 1e-3, export_diff
    # the merged graph must be the members' mean logit, checked against the members themselves
    member_mean = np.mean([predict_torch(m, inp[idx["holdout"][:16]]) for m in models], axis=0)
    merge_diff = float(np.abs(oc_.reshape(len(oc_), -1).mean(1) - member_mean).max())
    log(f"merged graph's logit vs mean of the {len(models)} members' logits: max diff {merge_diff:.2e}")
    assert merge_diff < 1e-3, merge_diff
    rng = np.random.RandomState(args.seed + 7)
    calib_idx = np.sort(rng.choice(idx["train"], size=min(args.calib, len(idx["train"])), replace=False))
    int8_ops = quantize(float_path, int8_path, inp[calib_idx])
    fs, qs = ort_session(float_path), ort_session(int8_path)
    log("float ops", float_ops, "int8 ops", int8_ops)

    res = {}
    for sp in ("tune", "holdout"):
        ii = idx[sp]
        pf, cf = ort_run(fs, inp[ii])
        pq, cq = ort_run(qs, inp[ii])
        res[sp] = {"pf": pf, "cf": cf, "pq": pq, "cq": cq}
    # threshold on tune, int8 probabilities (the kiosk runs the int8 model)
    threshold = choose_threshold(res["tune"]["pq"], y[idx["tune"]])
    log(f"threshold {threshold:.4f}")

    M = {"preprocess_version": P.PREPROCESS_VERSION, "smoke": args.smoke,
         "config": {k: getattr(args, k) for k in ("seed", "split_seed", "epochs", "steps", "batch", "lr", "weight_decay", "dropout", "patience", "min_epochs", "ema", "source_weights", "members")}
         | {"threads": THREADS, "calib_images": int(len(calib_idx)), "target_tune_sensitivity": TARGET_SENS, "opset": OPSET},
         "data": {"counts": counts, "patients": patients, "split_counts": split_counts},
         "training": {"members": member_info, "seconds": round(train_seconds, 1)},
         "temperature": temperature, "threshold": threshold, "export_max_abs_diff_vs_torch": export_diff,
         "threshold_rule": f"largest threshold with tune sensitivity (int8, p >= t) >= {TARGET_SENS}",
         "model": {"parameters": int(sum(p.numel() for m in models for p in m.parameters())),
                   "parameters_per_member": int(sum(p.numel() for p in models[0].parameters())), "float_ops": float_ops, "int8_ops": int8_ops,
                   "input": {"name": "image", "shape": [1, 1, 128, 128], "type": "float32"},
                   "outputs": [{"name": "probability", "shape": [1, 1], "type": "float32"},
                               {"name": "cam", "shape": [1, 1, 8, 8], "type": "float32"}]}}
    for sp in ("tune", "holdout"):
        ii = idx[sp]
        M[sp] = {"float": per_source_metrics(res[sp]["pf"], y[ii], src[ii], threshold),
                 "int8": per_source_metrics(res[sp]["pq"], y[ii], src[ii], threshold)}
    for sp, key in (("holdout", "int8_vs_float"), ("tune", "int8_vs_float_tune")):
        r = res[sp]
        dp = np.abs(r["pf"] - r["pq"])
        agree = (r["pf"] >= threshold) == (r["pq"] >= threshold)
        M[key] = {"n": int(len(dp)), "max_abs_dprob": float(dp.max()), "mean_abs_dprob": float(dp.mean()),
                  "max_abs_dcam": float(np.abs(r["cf"] - r["cq"]).max()), "agreement": float(agree.mean()),
                  "disagreements": int((~agree).sum())}
    # calibration on holdout (float): logit = mean(cam)
    hl = res["holdout"]["cf"].reshape(len(idx["holdout"]), -1).mean(1).astype(np.float64)
    yh = y[idx["holdout"]]
    rb, eb = reliability(1 / (1 + np.exp(-hl)), yh)
    ra, ea = reliability(res["holdout"]["pf"], yh)
    _, eq = reliability(res["holdout"]["pq"], yh)
    M["calibration"] = {"ece_before": eb, "ece_after": ea, "ece_after_int8": eq, "reliability_before": rb, "reliability_after": ra,
                        "tune_nll_before": bce(1 / (1 + np.exp(-tune_logits)), y[idx["tune"]]),
                        "tune_nll_after": bce(1 / (1 + np.exp(-tune_logits / temperature)), y[idx["tune"]])}
    # shortcut audit on holdout with the int8 model (and float AUCs for reference)
    audit, audit_float = {}, {}
    ih = idx["holdout"]
    for v in AUDIT_VARIANTS:
        x = inp[ih] * P.STD + P.MEAN
        xv = np.stack([P.apply_audit(xi.astype(np.float64), v) for xi in x])
        iv = ((xv - P.MEAN) / P.STD).astype(np.float32)
        pq, _ = ort_run(qs, iv)
        pf, _ = ort_run(fs, iv)
        audit[v] = per_source_metrics(pq, y[ih], src[ih], threshold)
        audit_float[v] = {k: per_source_metrics(pf, y[ih], src[ih], threshold)[k] for k in ("auc_ieee_vs_kermany", "auc_ieee_vs_nih")}
    M["audit"] = audit
    # CAM audit (in-distribution, full images): share of the positive logit evidence that lies in the
    # lung ellipses, per source; each 16 x 16 cell weighted by its fraction of lung-ellipse pixels
    lung_frac = P.lung_mask().reshape(8, 16, 8, 16).mean(axis=(1, 3))
    cam_audit = {"lung_area_share": round(float(lung_frac.mean()), 4)}
    for s_ in SOURCES:
        cams = res["holdout"]["cq"][src[ih] == s_].astype(np.float64)
        pos = np.clip(cams, 0, None)
        tot = pos.sum(axis=(1, 2))
        share = (pos * lung_frac).sum(axis=(1, 2)) / np.maximum(tot, 1e-12)
        border_cells = np.zeros((8, 8), bool)
        border_cells[[0, -1], :] = True
        border_cells[:, [0, -1]] = True
        cam_audit[s_] = {"positive_cam_share_in_lungs": round(float(share[tot > 0].mean()), 4) if (tot > 0).any() else None,
                         "positive_cam_share_in_outer_cells": round(float(((pos * border_cells).sum(axis=(1, 2)) / np.maximum(tot, 1e-12))[tot > 0].mean()), 4) if (tot > 0).any() else None,
                         "mean_cam": [[round(float(v), 3) for v in row] for row in cams.mean(0)]}
    M["cam_audit"] = cam_audit
    M["audit_float_auc"] = audit_float
    M["audit_interpretation"] = interpret_audit(audit)
    M["audit_regions"] = {"lung_mask_pixels": int(P.lung_mask().sum()), "border_mask_pixels": int(P.border_mask().sum()),
                          "pixel_convention": "pixel (i, j) is inside a region when its centre ((j + 0.5) / 128, (i + 0.5) / 128) is"}
    M["age_probe"] = {"nih_mean_probability": M["holdout"]["int8"]["nih"]["mean_probability"],
                      "kermany_mean_probability": M["holdout"]["int8"]["kermany"]["mean_probability"],
                      "nih_mean_probability_float": M["holdout"]["float"]["nih"]["mean_probability"],
                      "kermany_mean_probability_float": M["holdout"]["float"]["kermany"]["mean_probability"]}
    M["holdout_patients"] = patient_stats(res["holdout"]["pq"], [rows[i] for i in ih], threshold)
    gv, ok = goal_check(M["holdout"]["int8"])
    gvf, okf = goal_check(M["holdout"]["float"])
    M["goal"] = {"values": gv, "met": ok, "values_float": gvf, "met_float": okf}

    write_goldens(out, data, rows, fs, qs, temperature, threshold)
    M["files"] = {f: {"bytes": (out / f).stat().st_size, "sha256": sha256(out / f)} for f in ("xray_float.onnx", "xray_int8.onnx")}
    assert M["files"]["xray_int8.onnx"]["bytes"] <= 2 * 1024 * 1024, "int8 model over 2 MB"
    M["timing"] = {"total_seconds": round(time.time() - t_start, 1)}
    (out / "metrics.json").write_text(json.dumps(M, indent=1) + "\n")
    write_reports(out, M)
    log(f"holdout int8: {gv} goal met: {ok}; float: {gvf}")
    log(f"done in {time.time() - t_start:.0f} s -> {out}")


if __name__ == "__main__":
    main()
