"""Breathing models, metrics on the TEST split, for every model and for the rule baseline.

Accuracy, macro precision, macro recall, macro F1, per-class precision/recall/F1 and the 6x6
confusion matrix (rows true, columns predicted, class order of spec.json), over
  all       every test window,
  full      full windows only (length_s >= 119.5),
  camera / signal   per source,
  sessions  one verdict per session (windows grouped by (source, session)): the argmax of the mean
            of the model's softmax scores over the session's windows; for the baseline the majority
            of its window answers (ties go to the class listed first; no answers at all: wrong).
A window the baseline gave no answer for counts as wrong (a miss for its true class, a prediction of
no class); the baseline's matrix has a `none` column for them. Macro averages are over the classes
present in the subset's true labels.
"""

from __future__ import annotations

import numpy as np

from training.breathing.data import FULL_WINDOW_S, Split, session_groups


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, macro and per-class precision/recall/F1 and the confusion matrix.

    y_pred -1 means no answer: wrong, counted in `no_answer` (per true class), predicts no class.
    Precision of a class never predicted is 0. Macro averages over the classes present in y_true.
    """
    k = len(classes)
    conf = np.zeros((k, k), np.int64)
    answered = y_pred >= 0
    np.add.at(conf, (y_true[answered], y_pred[answered]), 1)
    no_answer = np.bincount(y_true[~answered], minlength=k)
    support = np.bincount(y_true, minlength=k)
    predicted = conf.sum(axis=0)
    tp = np.diag(conf)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    present = support > 0
    n = len(y_true)
    return {
        "n": int(n),
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "macro_precision": float(precision[present].mean()) if present.any() else 0.0,
        "macro_recall": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "classes_averaged": [c for c, p in zip(classes, present) if p],
        "per_class": {c: {"precision": float(precision[i]), "recall": float(recall[i]),
                          "f1": float(f1[i]), "support": int(support[i])}
                      for i, c in enumerate(classes)},
        "confusion": conf.tolist(),
        "no_answer": no_answer.tolist(),
    }


def majority(labels: np.ndarray, k: int) -> int:
    """The most frequent answer (ties: the class listed first); -1 when there is no answer."""
    answered = labels[labels >= 0]
    if answered.size == 0:
        return -1
    return int(np.argmax(np.bincount(answered, minlength=k)))


def evaluate_subsets(split: Split, pred: np.ndarray, session_pred: np.ndarray,
                     classes: list[str]) -> dict:
    """Metrics over all windows, full windows, each source, and the session verdicts."""
    out = {"all": classification_metrics(split.y, pred, classes)}
    full = split.length_s >= FULL_WINDOW_S
    out["full"] = classification_metrics(split.y[full], pred[full], classes)
    for s in ("camera", "signal"):
        keep = split.source == s
        if keep.any():
            out[s] = classification_metrics(split.y[keep], pred[keep], classes)
    _, truth = session_groups(split)
    out["sessions"] = classification_metrics(truth, session_pred, classes)
    return out

