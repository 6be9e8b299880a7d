"""Chest X-ray preprocessing, version 1: numpy implementation of models/xray/PREPROCESSING.md.

Every step is written exactly as the contract states it (f64 throughout, integer index arithmetic),
because the Rust code (src/xray/preprocess.rs) is checked against the golden files this module
writes. Functions:

* ``load_gray(path)``            step 1 for the data set's PNG/JPEG files (8/16-bit gray, RGB(A), LA)
* ``border_crop(img)``           step 2
* ``area_resize(img, m_h, m_w)`` step 3 (also used with 160 x 160 for the training cache)
* ``normalise(img128)``          step 4 (percentile contrast), returns x in [0, 1]
* ``to_model_input(x)``          step 5, f32 [1, 1, 128, 128]
* ``preprocess(img)``            steps 2-5 for an H x W f64 gray image
* ``lung_mask()``, ``border_mask()`` audit regions (boolean 128 x 128, True = inside the region)
"""
from __future__ import annotations

import numpy as np

PREPROCESS_VERSION = 1
SIZE = 128
MIN_SIDE = 32
BORDER_PERCENT = 8
LO_PERCENT, HI_PERCENT = 2, 98
MIN_CONTRAST = 1e-3
MEAN, STD = 0.5, 0.25
AUDIT_BORDER_PX = 16
LUNG_CENTRES = ((0.30, 0.46), (0.70, 0.46))
LUNG_SEMI_AXES = (0.17, 0.30)  # x, y


class Refused(ValueError):
    """The image cannot be screened (too small or no contrast)."""


def load_gray(path) -> np.ndarray:
    """Step 1 for PNG/JPEG files: H x W f64 in [0, 1] (0 = black)."""
    from PIL import Image

    im = Image.open(path)
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        return a / 65535.0
    if mode == "L":
        return np.asarray(im, dtype=np.float64) / 255.0
    if mode == "LA":
        return np.asarray(im, dtype=np.float64)[:, :, 0] / 255.0
    if mode in ("RGB", "RGBA"):
        a = np.asarray(im, dtype=np.float64)[:, :, :3] / 255.0
        return 0.299 * a[:, :, 0] + 0.587 * a[:, :, 1] + 0.114 * a[:, :, 2]
    if mode == "P":
        return load_gray_from_pil(im.convert("RGBA"))
    raise ValueError(f"unsupported image mode {mode} in {path}")


def load_gray_from_pil(im) -> np.ndarray:
    a = np.asarray(im, dtype=np.float64)[:, :, :3] / 255.0
    return 0.299 * a[:, :, 0] + 0.587 * a[:, :, 1] + 0.114 * a[:, :, 2]


def border_crop(img: np.ndarray) -> np.ndarray:
    """Step 2: keep columns cx .. W - cx and rows cy .. H - cy (end exclusive)."""
    h, w = img.shape
    if h < MIN_SIDE or w < MIN_SIDE:
        raise Refused(f"image {w}x{h} is smaller than {MIN_SIDE} px on a side")
    cx = (w * BORDER_PERCENT) // 100
    cy = (h * BORDER_PERCENT) // 100
    return img[cy:h - cy, cx:w - cx]


def area_weights(n: int, m: int) -> np.ndarray:
    """m x n matrix: row j holds the weights of the input pixels for output cell j (sum 1)."""
    w = np.zeros((m, n), dtype=np.float64)
    scale = n / m
    for j in range(m):
        a = j * n / m
        b = (j + 1) * n / m
        i0 = int(np.floor(a))
        i1 = min(n, int(np.ceil(b)))
        for i in range(i0, i1):
            ov = min(i + 1.0, b) - max(float(i), a)
            if ov > 0.0:
                w[j, i] = ov / scale
    return w


_WCACHE: dict = {}


def _weights(n: int, m: int) -> np.ndarray:
    key = (n, m)
    if key not in _WCACHE:
        _WCACHE[key] = area_weights(n, m)
    return _WCACHE[key]


def area_resize(img: np.ndarray, m_h: int = SIZE, m_w: int = SIZE) -> np.ndarray:
    """Step 3: Wy . img . Wx^T in f64."""
    h, w = img.shape
    return _weights(h, m_h) @ img.astype(np.float64) @ _weights(w, m_w).T


def percentile_bounds(v: np.ndarray) -> tuple[float, float]:
    s = np.sort(v.reshape(-1).astype(np.float64))
    n = s.size
    return float(s[(n - 1) * LO_PERCENT // 100]), float(s[(n - 1) * HI_PERCENT // 100])


def normalise(img128: np.ndarray) -> np.ndarray:
    """Step 4: percentile contrast normalisation, x in [0, 1] (f64)."""
    lo, hi = percentile_bounds(img128)
    if hi - lo < MIN_CONTRAST:
        raise Refused("image has no contrast")
    return np.clip((img128 - lo) / (hi - lo), 0.0, 1.0)


def to_model_input(x: np.ndarray) -> np.ndarray:
    """Step 5: (x - 0.5) / 0.25 as f32, shape [1, 1, 128, 128]."""
    return ((x - MEAN) / STD).astype(np.float32).reshape(1, 1, SIZE, SIZE)


def preprocess_x(img: np.ndarray) -> np.ndarray:
    """Steps 2-4: x in [0, 1], 128 x 128 f64."""
    return normalise(area_resize(border_crop(img)))


def preprocess(img: np.ndarray) -> np.ndarray:
    """Steps 2-5 for an H x W f64 gray image in [0, 1]: the model input, f32 [1, 1, 128, 128]."""
    return to_model_input(preprocess_x(img))


def preprocess_file(path) -> np.ndarray:
    return preprocess(load_gray(path))


def _grid():
    c = (np.arange(SIZE, dtype=np.float64) + 0.5) / SIZE  # pixel centres in [0, 1]
    return np.meshgrid(c, c)  # xx, yy


def lung_mask() -> np.ndarray:
    """True inside either lung ellipse (pixel centre ((i + 0.5) / 128) inside or on the ellipse)."""
    xx, yy = _grid()
    ax, ay = LUNG_SEMI_AXES
    m = np.zeros((SIZE, SIZE), dtype=bool)
    for cx, cy in LUNG_CENTRES:
        m |= ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1.0
    return m


def border_mask() -> np.ndarray:
    """True in the outer 16 px band of each side."""
    m = np.ones((SIZE, SIZE), dtype=bool)
    b = AUDIT_BORDER_PX
    m[b:SIZE - b, b:SIZE - b] = False
    return m


def apply_audit(x: np.ndarray, variant: str) -> np.ndarray:
    """x in [0, 1] (128 x 128). variant: full | lungs_masked | lungs_only | borders_only.
    Masked pixels are set to x = 0.5 (model input 0)."""
    x = x.copy()
    if variant == "full":
        return x
    if variant == "lungs_masked":
        x[lung_mask()] = 0.5
    elif variant == "lungs_only":
        x[~lung_mask()] = 0.5
    elif variant == "borders_only":
        x[~border_mask()] = 0.5
    else:
        raise ValueError(variant)
    return x
