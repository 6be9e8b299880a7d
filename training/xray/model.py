"""X-ray classifier, the network and its training.

Each ensemble member is a small plain CNN: 3x3 conv + BN + ReLU + 2x2 max-pool, 8-16-32-64-128(-128)
channels, 8 x 8 at the end, 1x1 conv to the class-activation map, logit = mean of the map. Batches
are 1:1:1 by source (ieee : kermany : nih), loss weighted 1 : 0.5 : 1.5 by source, augmentation of
data.augment. AdamW, one-cycle cosine LR; the evaluated weights are an exponential moving average.
Each member keeps the weights of its epoch with the lowest source-balanced tune loss (tie: mean of
the per-pair tune AUCs). Members are trained with seeds SEED, SEED+1, ...; the ensemble is the mean
of their logits.

THREADS (environment, default 2) is the torch intra-op thread count, set on import, and the
onnxruntime one (export.ort_session).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from training.xray import log
from training.xray.data import SOURCES, MarkerBank, augment, split_index
from training.xray.metrics import auc, balanced_loss

THREADS = int(os.environ.get("THREADS", "2"))
torch.set_num_threads(THREADS)


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



def predict_torch(model, inp, bs=128, device="cpu"):
    model.eval()
    logits = []
    with torch.no_grad():
        for i in range(0, len(inp), bs):
            lg, _ = model(torch.from_numpy(inp[i:i + bs]).unsqueeze(1).to(device))
            logits.append(lg.cpu().numpy())
    return np.concatenate(logits).astype(np.float64)



def train_model(args, rows, c160, inp, device="cpu"):
    """Train one network; returns (model on the CPU with the weights of the epoch with the lowest
    tune loss, that epoch, per-epoch history). ``device`` only moves the network and batches (the
    augmentation stays on the CPU): training/xray/sweep.py uses it on a GPU."""
    torch.manual_seed(args.seed)
    rng = np.random.RandomState(args.seed)
    markers = MarkerBank(args.seed)
    idx = split_index(rows)
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
            xb = augment(c160[sel], rng, markers, acq=getattr(args, "acquisition_aug", False)).to(device)
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



def train_members(args, rows, c160, inp):
    """Trains args.members networks with seeds args.seed, args.seed + 1, ...; returns the models
    and, per member, its seed, best epoch, history and seconds."""
    models, member_info = [], []
    for k in range(args.members):
        t_member = time.time()
        member_args = argparse.Namespace(**{**vars(args), "seed": args.seed + k})
        log(f"member {k + 1}/{args.members}: seed {member_args.seed}")
        model, best_epoch, history = train_model(member_args, rows, c160, inp)
        models.append(model)
        member_info.append({"seed": member_args.seed, "best_epoch": best_epoch, "history": history,
                            "seconds": round(time.time() - t_member, 1)})
    return models, member_info
