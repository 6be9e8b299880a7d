"""X-ray classifier, metrics: per-source sensitivity/specificity/AUC, Wilson and patient-bootstrap
intervals, calibration (temperature, reliability, ECE), the threshold rule, and the evaluation of the
exported float and int8 models with onnxruntime (ort_run) on tune and holdout (per source, float vs int8, calibration, shortcut
audit, CAM audit, age probe, patients, the issue's goal).
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from training.xray import preprocess as P
from training.xray.data import SOURCES

TARGET_SENS = 0.97
AUDIT_VARIANTS = ("full", "lungs_masked", "lungs_only", "borders_only")


def ort_run(sess, inp, bs=1):
    """inp [N, 128, 128] f32 -> probability [N], cam [N, 8, 8]."""
    probs, cams = [], []
    for i in range(len(inp)):
        p, c = sess.run(["probability", "cam"], {"image": inp[i:i + 1, None]})
        probs.append(float(p[0, 0]))
        cams.append(c[0, 0])
    return np.array(probs, np.float64), np.array(cams, np.float32)


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



def balanced_loss(prob, y, src):
    src = np.asarray(src)
    return float(np.mean([bce(prob[src == s], np.asarray(y)[src == s]) for s in SOURCES if (src == s).any()]))


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



def evaluate(res, rows, idx, y, src, inp, fs, qs, threshold, tune_logits, temperature) -> dict:
    """Everything measured on the exported models, as metrics.json's keys from `tune` to `goal` (in
    the file's order). `res[split]` holds the float (pf, cf) and int8 (pq, cq) probabilities and
    CAMs of onnxruntime on tune and holdout; `fs`, `qs` are the float and int8 sessions."""
    M = {}
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
                  "disagreements": int((~agree).sum()),
                  "per_source_max_abs_dprob": {s_: float(dp[src[idx[sp]] == s_].max()) for s_ in SOURCES if (src[idx[sp]] == s_).any()}}
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
    return M
