"""Builds the out-of-scope evaluation set of the X-ray scope check, reproducibly.

    python training/xray/scope_oos.py --out DIR [--data ../shared/data/xray] [--wheels DIR]
        [--fixtures tests/fixtures/xray-scope]

Sources (nothing else is reachable here; see models/xray/MODEL_CARD.md, "Scope check"):
* images shipped inside two pinned wheels, fetched with pip and checked against their SHA-256:
  scikit-image 0.24.0 (skimage/data: photos, textures, documents, microscopy, fundus, a CT phantom,
  faces) and pydicom 3.0.2 (pydicom/data/test_files: CT and MR slices, colour test images);
* synthetic documents (PIL text rendering, seeded);
* held-out chest films of the development set (split `holdout`) rotated by 90/180/270 degrees,
  inverted, blanked, saturated or replaced by noise (seeded).

DIR/<category>/<name>.{png,jpg,dcm} is written; categories: photo, texture, document, microscopy,
ct_mr, face, rotated, inverted, blank, saturated, noise. With --fixtures, a small downscaled subset
(short side 160 px, total under 1 MB, kermany/nih films only for their licences) is written there
for tests/xray_scope.rs, with PROVENANCE.md.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import random
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

WHEELS = {
    "scikit_image-0.24.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl":
        "fa27b3a0dbad807b966b8db2d78da734cb812ca4787f7fbb143764800ce2fa9c",
    "pydicom-3.0.2-py3-none-any.whl":
        "abf971a5440f84dbaf42c4b6758e30e62480902584f8b270b9a5d146e278a07b",
}
PIP_ARGS = {
    "scikit_image": ["scikit-image==0.24.0", "--platform", "manylinux2014_x86_64",
                     "--python-version", "3.11", "--only-binary=:all:"],
    "pydicom": ["pydicom==3.0.2"],
}
SKIMAGE = {
    "photo": ["astronaut.png", "camera.png", "chelsea.png", "coffee.png", "rocket.jpg", "moon.png",
              "coins.png", "horse.png", "motorcycle_left.png", "clock_motion.png", "logo.png",
              "color.png", "hubble_deep_field.jpg", "chessboard_GRAY.png"],
    "texture": ["brick.png", "grass.png", "gravel.png"],
    "document": ["text.png", "page.png"],
    "microscopy": ["cell.png", "ihc.png", "retina.jpg", "microaneurysms.png"],
    "ct_mr": ["phantom.png"],
}
DICOM = ["CT_small.dcm", "MR_small.dcm"]  # liver_1frame.dcm: 1-bit, not decoded
FACES = 12
DOCUMENTS = 10
PER_TRANSFORM = 20
SEED = 7
FIXTURE_SIDE = 160


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_wheels(dest: Path) -> dict[str, Path]:
    dest.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, digest in WHEELS.items():
        p = dest / name
        if not p.exists():
            key = name.split("-")[0]
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                            "--disable-pip-version-check", "-d", str(dest), *PIP_ARGS[key]],
                           check=True)
        if sha(p) != digest:
            raise SystemExit(f"scope_oos: {p}: sha256 {sha(p)}, expected {digest}")
        out[name.split("-")[0]] = p
    return out


def save(img: Image.Image, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jpg":
        img.convert("RGB").save(path, quality=90)
    else:
        img.save(path)


def synthetic_document(rng: random.Random, w=600, h=800) -> Image.Image:
    im = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(im)
    font = ImageFont.load_default()
    words = ("patient name date of birth referral report chest clinic result form signature "
             "address phone please complete all fields below the screening station kiosk").split()
    y = rng.randint(20, 60)
    d.text((40, y), "SCREENING FORM " + str(rng.randint(100, 999)), fill=0, font=font)
    y += 40
    while y < h - 40:
        if rng.random() < 0.15:
            d.rectangle((40, y, w - 40, y + rng.randint(30, 80)), outline=0)
            y += 90
            continue
        line = " ".join(rng.choice(words) for _ in range(rng.randint(6, 14)))
        d.text((40, y), line, fill=rng.randint(0, 60), font=font)
        y += rng.randint(14, 24)
    return im


def transformed_films(data: Path, rng: random.Random, sources=("ieee", "kermany", "nih")):
    rows = [r for r in csv.DictReader(open("models/xray/split.csv", newline=""))
            if r["split"] == "holdout" and r["source"] in sources]
    picks = rng.sample(rows, min(len(rows), PER_TRANSFORM * 6))
    k = 0
    for cat in ("rotated", "inverted", "blank", "saturated", "noise"):
        n = PER_TRANSFORM * (3 if cat == "rotated" else 1)
        for i in range(n):
            r = picks[k % len(picks)]
            k += 1
            im = Image.open(data / r["filename"]).convert("L")
            a = np.asarray(im, dtype=np.float64)
            if cat == "rotated":
                out = np.rot90(a, 1 + i % 3)
            elif cat == "inverted":
                out = 255.0 - a
            elif cat == "blank":
                out = np.full_like(a, rng.choice([0.0, 255.0, 128.0])) + \
                    np.random.default_rng(k).normal(0, 0.4, a.shape)
            elif cat == "saturated":
                out = np.clip((a - 60.0) * 8.0, 0, 255)  # most pixels clipped white
            else:
                out = np.random.default_rng(k).uniform(0, 255, a.shape)
            name = Path(r["filename"]).stem + (f"-r{90 * (1 + i % 3)}" if cat == "rotated" else "")
            yield cat, r["source"], name, Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def build(out: Path, data: Path, wheels: dict[str, Path]):
    if out.exists():
        shutil.rmtree(out)
    rng = random.Random(SEED)
    made = []
    with zipfile.ZipFile(wheels["scikit_image"]) as z:
        for cat, names in SKIMAGE.items():
            for n in names:
                im = Image.open(io.BytesIO(z.read(f"skimage/data/{n}")))
                im.load()
                p = out / cat / n
                save(im, p)
                made.append((cat, p, "scikit-image 0.24.0 skimage/data/" + n))
        faces = np.load(io.BytesIO(z.read("skimage/data/lfw_subset.npy")))
        for i in rng.sample(range(len(faces)), FACES):
            f = (np.clip(faces[i], 0, 1) * 255).astype(np.uint8)
            # 25 x 25 px in the file: enlarged (bicubic) to 150 px, as a low-resolution photo.
            im = Image.fromarray(f).resize((150, 150), Image.BICUBIC)
            p = out / "face" / f"lfw_{i:03d}.png"
            save(im, p)
            made.append(("face", p, f"scikit-image 0.24.0 lfw_subset.npy[{i}], enlarged"))
    with zipfile.ZipFile(wheels["pydicom"]) as z:
        for n in DICOM:
            p = out / "ct_mr" / n
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(z.read(f"pydicom/data/test_files/{n}"))
            made.append(("ct_mr", p, "pydicom 3.0.2 pydicom/data/test_files/" + n))
    for i in range(DOCUMENTS):
        p = out / "document" / f"synthetic_{i:02d}.png"
        save(synthetic_document(rng), p)
        made.append(("document", p, f"synthetic (PIL text, seed {SEED})"))
    for cat, src, name, im in transformed_films(data, rng):
        p = out / cat / f"{name}.png"
        save(im, p)
        made.append((cat, p, f"development-set holdout film ({src}), {cat}"))
    return made


def fixtures(made, dest: Path):
    """A small subset for the Rust test: every non-film image, and 4 transformed kermany/nih films
    per category; short side FIXTURE_SIDE px (never enlarged); colour photos as JPEG."""
    if dest.exists():
        shutil.rmtree(dest)
    lines = []
    per_cat = {}
    for cat, p, what in made:
        film = what.startswith("development-set")
        if film and ("ieee" in what or per_cat.get(cat, 0) >= 4):
            continue
        if film:
            per_cat[cat] = per_cat.get(cat, 0) + 1
        q = dest / cat / p.name
        q.parent.mkdir(parents=True, exist_ok=True)
        if p.suffix == ".dcm":
            shutil.copy(p, q)
        else:
            im = Image.open(p)
            im.load()
            s = FIXTURE_SIDE / min(im.size)
            if s < 1:
                im = im.resize((max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s))),
                               Image.BOX)
            if im.mode in ("RGB", "RGBA", "P") and not film:
                q = q.with_suffix(".jpg")
            elif im.mode not in ("L", "LA"):
                im = im.convert("L") if film else im
            save(im, q)
        lines.append(f"| {cat} | {q.name} | {what} |")
    total = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
    (dest / "PROVENANCE.md").write_text(PROVENANCE.format(
        side=FIXTURE_SIDE, total=total, rows="\n".join(lines)))
    print(f"scope_oos: {len(lines)} fixtures, {total} bytes in {dest}")


PROVENANCE = """# Out-of-scope fixtures for tests/xray_scope.rs

Made by `training/xray/scope_oos.py --fixtures` (do not edit by hand): the images below, downscaled
so that the short side is at most {side} px ({total} bytes in all). Not chest radiographs, or chest
films the kiosk must not screen as they are (rotated, inverted, blank, saturated, noise).

Licences:
* scikit-image 0.24.0 `skimage/data` (BSD-3-Clause package; the images' own terms are in the
  docstrings of `skimage/data/__init__.py`: public-domain NASA images (astronaut, rocket, hubble,
  moon), CC0 or BSD images by the scikit-image contributors (chelsea, coffee, coins, ...), the
  `lfw_subset` faces from Labeled Faces in the Wild (research use), microscopy from the Broad
  Bioimage Benchmark and the Human Protein Atlas, retina from Häggström (CC0)).
* pydicom 3.0.2 `pydicom/data/test_files` (MIT package; the files' origins are listed in that
  folder's README.txt: CT_small and MR_small from the GDCM/DCMTK test sets, liver from the
  NEMA/pydicom test data).
* Development-set films (kermany: CC BY 4.0, Kermany et al. 2018; nih: no restriction, NIH Clinical
  Center, Wang et al. CVPR 2017), transformed as named.
* Synthetic documents: made by the script.

| category | file | source |
|---|---|---|
{rows}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default="../shared/data/xray")
    ap.add_argument("--wheels", default="training/xray/cache/scope-wheels")
    ap.add_argument("--fixtures", default=None)
    a = ap.parse_args()
    wheels = fetch_wheels(Path(a.wheels))
    made = build(Path(a.out), Path(a.data), wheels)
    cats = {}
    for c, _, _ in made:
        cats[c] = cats.get(c, 0) + 1
    print(f"scope_oos: {len(made)} images in {a.out}: {cats}")
    if a.fixtures:
        fixtures(made, Path(a.fixtures))


if __name__ == "__main__":
    main()
