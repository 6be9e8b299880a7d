"""Can a spectral statistic of the mean-depth trace alone tell the weak RealSense recordings from noise?

    training/.venv/bin/python training/breathing/line_gate_check.py [--data ../shared/data/resp/realsense-d435]

The check behind the README's note on the three RealSense recordings at 2-3 m that edge-screen
refuses for quality. For windows of 60 s at 10 Hz (band-passed 0.05-1 Hz as the analyser does, by
FFT masking here), it compares, on 1500 windows of white noise (seed 1) and on the first 60 s of
every recording: the share of the band's power (4-60 /min) within +-0.03 Hz of the peak over the
share noise alone puts there, for a plain Hann periodogram and for a Welch average of 20, 30 and
40 s segments at a 5 s hop. Prints, per statistic, the noise's 99th and 99.9th percentile and
maximum, then the six weakest recordings with their statistic and peak rate. On 2026-12-01 the
Welch 30 s statistic put two refused files just above the noise maximum (2.34, 2.52 vs 2.25).
"""

from __future__ import annotations

import argparse
import glob
import os

import numpy as np

HZ = 10.0
NFFT = 4096
FR = np.fft.rfftfreq(NFFT, 1 / HZ) * 60
BAND = (FR >= 4) & (FR <= 60)


def band_pass(y: np.ndarray) -> np.ndarray:
    spec = np.fft.rfft(y)
    f = np.fft.rfftfreq(len(y), 1 / HZ)
    spec[(f < 0.05) | (f > 1.0)] = 0
    return np.fft.irfft(spec, len(y))


def power(z: np.ndarray) -> np.ndarray:
    z = z - z.mean()
    return np.abs(np.fft.rfft(z * np.hanning(len(z)), NFFT)) ** 2


def line_ratio(y: np.ndarray, seg_s: float | None) -> tuple[float, float]:
    """(peak rate /min, peak share over noise share) of a periodogram or a Welch average."""
    if seg_s is None:
        p, seg_s = power(y), len(y) / HZ
    else:
        seg = int(seg_s * HZ)
        p = sum(power(y[s:s + seg]) for s in range(0, len(y) - seg + 1, int(5 * HZ)))
    k = int(np.argmax(p * BAND))
    w = int(round(1.8 / (FR[1] - FR[0])))
    share = p[max(k - w, 0):k + w + 1].sum() / p[BAND].sum()
    return float(FR[k]), float(share / ((0.06 + 2 / seg_s) / 0.93))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__),
                                                    "../../../shared/data/resp/realsense-d435"))
    args = ap.parse_args()
    files = {}
    for f in sorted(glob.glob(os.path.join(args.data, "realsense_*.csv"))):
        a = np.loadtxt(f, delimiter=",", skiprows=1)
        t, x = a[:, 0], a[:, 1]
        tt = np.arange(t[0], t[-1], 1 / HZ)
        files[os.path.basename(f)] = band_pass(np.interp(tt, t, x))[:600]
    if not files:
        raise SystemExit(f"{args.data}: no realsense_*.csv")
    rng = np.random.default_rng(1)
    noise = [band_pass(rng.standard_normal(1200))[600:] for _ in range(1500)]
    for seg in (None, 20.0, 30.0, 40.0):
        r = np.array([line_ratio(y, seg)[1] for y in noise])
        name = "periodogram" if seg is None else f"Welch {seg:.0f} s"
        weakest = sorted((line_ratio(y, seg)[1], line_ratio(y, seg)[0], n) for n, y in files.items())
        print(f"{name}: noise p99 {np.percentile(r, 99):.2f}, p99.9 {np.percentile(r, 99.9):.2f}, "
              f"max {r.max():.2f}; weakest recordings: "
              + ", ".join(f"{n[10:-4]} {v:.2f} at {p:.1f}/min" for v, p, n in weakest[:6]))


if __name__ == "__main__":
    main()
