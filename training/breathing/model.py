"""Breathing models, networks and training (PyTorch).

Models (batch_first, input [batch, 120, 11], all 11 features including the mask, one recurrent
layer of --hidden units, a dense layer to the six class logits):
  gru          unidirectional GRU; the hidden state of the final step (always real) -> dense.
  lstm         the same with an LSTM.
  bi_at_lstm   bidirectional LSTM + attention pooling.
  bi_at_gru    bidirectional GRU + attention pooling (the model the kiosk ships).
Attention pooling over the recurrent outputs h_t: score_t = v' tanh(W h_t + b); (mask_t - 1) * 1e4
is added so padding gets zero weight; weights = softmax over time; context = sum_t weight_t h_t.

Training: AdamW (lr --lr, default 3e-3, decoupled weight decay --weight-decay) with a cosine decay to
5% of it over --epochs (default 30), cross-entropy, dropout --dropout before the dense layer,
batches of --batch (default 64), gradient norm clipped at 1. The epoch with the best validation
macro-F1 is kept (the earliest on ties). Augmentation belongs mostly to the data generator; here
only --flip (default on: a random sign flip of features 0..9 per window; breathing polarity: a
depth camera's distance falls on inhalation, a belt rises) and --jitter (per window a random depth
x0.8-1.25 and white noise). Deterministic for a given
--seed and --threads (torch.use_deterministic_algorithms; every model starts from the same seed and
sees the same batch order).
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from training.breathing.data import Split
from training.breathing.metrics import classification_metrics

MODEL_NAMES = ["gru", "lstm", "bi_at_lstm", "bi_at_gru"]
EXPORTED = "bi_at_gru"


class AttentionPool(nn.Module):
    """Masked additive attention: score_t = v' tanh(W h_t + b), softmax over real steps, sum."""

    def __init__(self, dim: int, attn_dim: int):
        super().__init__()
        self.proj = nn.Linear(dim, attn_dim)            # W, b
        self.v = nn.Linear(attn_dim, 1, bias=False)     # v

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # h [B, T, dim], mask [B, T] (1 real, 0 padding)
        score = self.v(torch.tanh(self.proj(h))).squeeze(-1)  # [B, T]
        score = score + (mask - 1.0) * 1e4                   # padding -> weight exp(-1e4) = 0
        weight = torch.softmax(score, dim=1)
        return torch.bmm(weight.unsqueeze(1), h).squeeze(1)  # [B, dim]


class BreathingNet(nn.Module):
    """A recurrent layer (GRU or LSTM, uni- or bidirectional) + pooling + dense -> class logits.

    Unidirectional: the output of the final step (padding is at the start, so it is always real).
    Bidirectional: masked attention pooling over every step's output.
    """

    def __init__(self, cell: str, bidirectional: bool, features: int, hidden: int, classes: int,
                 merge: int = 1, dropout: float = 0.0):
        super().__init__()
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        # `merge` consecutive input steps form one recurrent step (a reshape inside the model, so
        # the input stays [B, 120, 11]); fewer recurrent steps make inference proportionally faster.
        self.merge = merge
        self.rnn = rnn(features * merge, hidden, num_layers=1, batch_first=True,
                       bidirectional=bidirectional)
        out_dim = hidden * (2 if bidirectional else 1)
        self.attention = AttentionPool(out_dim, hidden) if bidirectional else None
        self.dropout = nn.Dropout(dropout)  # training only; the export (eval mode) has no node for it
        self.dense = nn.Linear(out_dim, classes)

    def forward(self, x: torch.Tensor, state=None) -> torch.Tensor:
        if self.merge > 1:
            b, t, f = x.shape
            # The mask of a merged step is its last part's (padding is only at the start).
            x = x.reshape(b, t // self.merge, f * self.merge)
        h, _ = self.rnn(x, state)  # [B, T, out_dim]; state None means zeros
        if self.attention is None:
            pooled = h[:, -1, :]
        else:
            pooled = self.attention(h, x[:, :, -1])
        return self.dense(self.dropout(pooled))


def build_model(name: str, features: int, hidden: int, classes: int, merge: int = 1,
                dropout: float = 0.0) -> BreathingNet:
    cell, bidirectional = {"gru": ("gru", False), "lstm": ("lstm", False),
                           "bi_at_lstm": ("lstm", True), "bi_at_gru": ("gru", True)}[name]
    return BreathingNet(cell, bidirectional, features, hidden, classes, merge, dropout)


class Scores(nn.Module):
    """The exported form, for one window: softmax probabilities instead of logits.

    The zero initial state is a constant buffer so that the exporter writes it as an initializer
    feeding the GRU's `initial_h`; with no state it builds the zeros from the input's shape at run
    time (Shape, Gather, Unsqueeze, Concat, Expand nodes) for nothing, since the batch is fixed at 1.
    """

    def __init__(self, net: BreathingNet):
        super().__init__()
        self.net = net
        rnn = net.rnn
        self.register_buffer("h0", torch.zeros(2 if rnn.bidirectional else 1, 1, rnn.hidden_size))
        self.lstm = isinstance(rnn, nn.LSTM)

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        state = (self.h0, self.h0) if self.lstm else self.h0
        return torch.softmax(self.net(window, state), dim=-1)


@torch.no_grad()
def predict_proba(model: nn.Module, x: torch.Tensor, batch: int = 1024) -> np.ndarray:
    """The model's softmax probabilities (as exported, before the product's central-apnea gate)."""
    model.eval()
    return np.concatenate([torch.softmax(model(x[i:i + batch]), dim=-1).numpy()
                           for i in range(0, len(x), batch)])


def apnea_gate(proba: np.ndarray, apnea_seen: np.ndarray, classes: list[str]) -> np.ndarray:
    """The product's central-apnea gate (src/breathing/gru.rs, `apnea_gate`): in a window where
    the apnea detector found no apnea, the central-apnea score is spread evenly over the others."""
    ca = classes.index("central_apnea")
    out = proba.copy()
    no = ~apnea_seen
    moved = out[no, ca] / (len(classes) - 1)
    out[no] += moved[:, None]
    out[no, ca] = 0.0
    return out


def train_one(name: str, train: Split, val: Split, meta: dict, args) -> tuple[nn.Module, dict]:
    """Trains one model; returns it at its best validation macro-F1 epoch and its history."""
    classes = meta["classes"]
    torch.manual_seed(args.seed)  # same initial draw and batch order for every model
    model = build_model(name, meta["features"], args.hidden, len(classes), args.merge, args.dropout)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=args.epochs,
                                                          eta_min=args.lr * 0.05)
    order = torch.Generator().manual_seed(args.seed)
    x, y = torch.from_numpy(train.x), torch.from_numpy(train.y)
    xv = torch.from_numpy(val.x)
    signal_features = meta["features"] - 1  # features 0..9; the last one is the mask

    best = {"f1": -1.0, "epoch": 0, "state": None}
    history = []
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(len(y), generator=order)
        total, seen = 0.0, 0
        for i in range(0, len(perm), args.batch):
            idx = perm[i:i + args.batch]
            xb, yb = x[idx], y[idx]  # indexing copies, so the flip below leaves x untouched
            if args.flip:  # random polarity per window; padding stays zero
                sign = torch.randint(0, 2, (len(idx), 1, 1), generator=order).float() * 2 - 1
                xb[:, :, :signal_features] *= sign
            if args.jitter > 0:  # per window: depth x0.8-1.25 and white noise up to `jitter`
                real = xb[:, :, -1:]  # padding stays zero
                gain = torch.exp(torch.empty(len(idx), 1, 1).uniform_(-0.22, 0.22, generator=order))
                sigma = torch.empty(len(idx), 1, 1).uniform_(0, args.jitter, generator=order)
                noise = torch.randn(xb[:, :, :signal_features].shape, generator=order) * sigma
                xb[:, :, :signal_features] = (xb[:, :, :signal_features] * gain + noise) * real
            loss = F.cross_entropy(model(xb), yb)
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            total += loss.item() * len(idx)
            seen += len(idx)
        schedule.step()
        m = classification_metrics(
            val.y, apnea_gate(predict_proba(model, xv), val.apnea_seen, classes).argmax(1), classes)
        secs = time.perf_counter() - t0
        improved = m["macro_f1"] > best["f1"]
        if improved:
            best = {"f1": m["macro_f1"], "epoch": epoch, "state": copy.deepcopy(model.state_dict())}
        history.append({"epoch": epoch, "train_loss": total / seen, "val_accuracy": m["accuracy"],
                        "val_macro_f1": m["macro_f1"], "seconds": secs})
        print(f"{name:<10} epoch {epoch:3d}/{args.epochs}  train loss {total / seen:.4f}  "
              f"val acc {m['accuracy']:.4f}  val macro-F1 {m['macro_f1']:.4f}  {secs:5.1f} s"
              f"{'  *' if improved else ''}", flush=True)
    model.load_state_dict(best["state"])
    info = {"parameters": sum(p.numel() for p in model.parameters()), "best_epoch": best["epoch"],
            "best_val_macro_f1": best["f1"], "epochs": args.epochs,
            "train_seconds": time.perf_counter() - start, "history": history}
    return model, info

