"""X-ray classifier, data: the manifest, the patient-disjoint split, the decoded-image cache and the
training augmentation.

* Split: ``../shared/data/xray/manifest.csv``; patient-disjoint, stratified by source (train ~70 %,
  tune ~15 %, holdout ~15 %; no patient in two splits, asserted) -> split.csv.
* Cache (training/xray/cache/, gitignored): per image, the border-cropped image area-resized to
  160 x 160 (f32, before contrast normalisation; the augmentation works on it) and the exact model
  input of PREPROCESSING.md (f32 128 x 128, for evaluation and calibration).
* Augmentation (training batches only): peripheral marker pasting (letters, boxes, lines; both
  classes), random affine (rotation +-7 deg, scale, shift), horizontal flip, gamma/contrast/brightness
  before the percentile normalisation, noise, blur, random erasing, periphery erasing; with
  --acquisition-aug also resolution down/up-sampling, histogram equalisation or a random tone curve,
  unsharp masking and JPEG re-compression (``acquisition``; off by default: the shipped model was
  trained without it, see training/xray/EXPERIMENTS.md).
"""
from __future__ import annotations

import csv
import math
import os
import random
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from training.xray import log
from training.xray import preprocess as P

SOURCES = ("ieee", "kermany", "nih")
SPLITS = ("train", "tune", "holdout")
CACHE_SIZE = 160
SMOKE_IMAGES = (("train", 12), ("tune", 6), ("holdout", 6))  # --smoke: images per source and split


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


def source_counts(rows) -> tuple[dict, dict]:
    """Images and patients per source."""
    counts = {s: sum(r["source"] == s for r in rows) for s in SOURCES}
    patients = {s: len({r["patient_id"] for r in rows if r["source"] == s}) for s in SOURCES}
    return counts, patients


def smoke_subset(rows):
    """--smoke: the first images by filename of each split and source (SMOKE_IMAGES)."""
    keep = []
    for sp, k in SMOKE_IMAGES:
        for s in SOURCES:
            keep += sorted([r for r in rows if r["split"] == sp and r["source"] == s], key=lambda r: r["filename"])[:k]
    return keep


def split_counts(rows) -> dict:
    """Images per source and patients, per split."""
    return {sp: {**{s: sum(r["split"] == sp and r["source"] == s for r in rows) for s in SOURCES},
                 "patients": len({r["patient_id"] for r in rows if r["split"] == sp})} for sp in SPLITS}


def split_index(rows) -> dict:
    """Row indices per split."""
    return {sp: np.array([i for i, r in enumerate(rows) if r["split"] == sp]) for sp in SPLITS}


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


def acquisition(img: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """One 160 x 160 image in [0, 1] as another site's acquisition chain might have delivered it
    (--acquisition-aug): each step with its own probability, in the order a film goes through
    them. Resolution: area down-sampling by 1.5-4x and bilinear up-sampling back (low-resolution
    sources, journal figures). Processing look: a partial histogram equalisation (blend 0.2-0.8
    with the equalised image; vendors' and PACS' tone processing) or a random tone curve (a
    logistic with random centre and slope: contrast standardisation done differently), and unsharp
    masking (edge enhancement of some vendors). Storage: JPEG re-compression at quality 15-85 in
    8 bit. The preprocessing (PREPROCESSING.md) is unchanged; only the training images vary."""
    from PIL import Image, ImageFilter, ImageOps
    import io

    n = img.shape[0]
    out = img.astype(np.float32)
    if rng.rand() < 0.4:
        f = rng.uniform(1.5, 4.0)
        m = max(8, int(round(n / f)))
        small = Image.fromarray(out, mode="F").resize((m, m), Image.BOX)
        out = np.asarray(small.resize((n, n), Image.BILINEAR), dtype=np.float32)
    u8 = lambda a: Image.fromarray((np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8), mode="L")
    r = rng.rand()
    if r < 0.3:
        eq = np.asarray(ImageOps.equalize(u8(out)), dtype=np.float32) / 255.0
        a = rng.uniform(0.2, 0.8)
        out = (1 - a) * out + a * eq
    elif r < 0.5:
        c, k = rng.uniform(0.35, 0.65), rng.uniform(4, 10)
        lo, hi = 1 / (1 + np.exp(k * c)), 1 / (1 + np.exp(-k * (1 - c)))
        out = (1 / (1 + np.exp(-k * (out - c))) - lo) / (hi - lo)
    if rng.rand() < 0.25:
        sharp = u8(out).filter(ImageFilter.UnsharpMask(radius=rng.uniform(1, 3), percent=int(rng.uniform(50, 200)), threshold=0))
        out = np.asarray(sharp, dtype=np.float32) / 255.0
    if rng.rand() < 0.4:
        buf = io.BytesIO()
        u8(out).save(buf, format="JPEG", quality=int(rng.randint(15, 86)))
        out = np.asarray(Image.open(io.BytesIO(buf.getvalue())), dtype=np.float32) / 255.0
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def augment(c160: np.ndarray, rng: np.random.RandomState, markers: MarkerBank, strength=1.0, acq=False):
    """c160: [B, 160, 160] f32 intensities -> model input [B, 1, 128, 128]. acq: also apply
    `acquisition` (before the markers, which are burnt in later in a real chain)."""
    b = c160.shape[0]
    imgs = c160.copy()
    for i in range(b):
        if acq:
            imgs[i] = acquisition(imgs[i], rng)
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

