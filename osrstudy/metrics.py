"""Open-set metrics. Scores are OOD-oriented (higher = more unknown); unknown samples have label -1.

Every metric has the signature (scores, labels, predictions) -> float, so the registry can run
them all the same way.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from osrstudy.registry import Registry

METRICS = Registry("metric")
UNKNOWN = -1


@METRICS.register("auroc")
def auroc(scores: np.ndarray, labels: np.ndarray, predictions: np.ndarray | None = None) -> float:
    """Area under ROC, unknown = positive; ties count one half (Mann-Whitney U)."""
    positive = labels == UNKNOWN
    n_pos, n_neg = positive.sum(), (~positive).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@METRICS.register("accuracy")
def accuracy(scores: np.ndarray, labels: np.ndarray, predictions: np.ndarray) -> float:
    """Closed-set accuracy on the known samples."""
    known = labels != UNKNOWN
    return float((predictions[known] == labels[known]).mean()) if known.any() else float("nan")


def oscr_curve(
    scores: np.ndarray, labels: np.ndarray, predictions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, CCR) at every distinct threshold, from (0, 0) to (1, accuracy).

    A sample is accepted as known iff its score is <= the threshold. Samples with equal scores are
    accepted together (one point per distinct score), which makes the area independent of the
    order of ties; the upper monotone envelope then takes the best CCR at each FPR.
    """
    known = labels != UNKNOWN
    correct = known & (predictions == labels)
    order = np.argsort(scores, kind="stable")
    s = scores[order]
    last_of_group = np.r_[s[1:] != s[:-1], True]
    ccr = np.cumsum(correct[order])[last_of_group] / max(known.sum(), 1)
    fpr = np.cumsum(~known[order])[last_of_group] / max((~known).sum(), 1)
    return np.r_[0.0, fpr], np.maximum.accumulate(np.r_[0.0, ccr])


@METRICS.register("oscr")
def oscr(scores: np.ndarray, labels: np.ndarray, predictions: np.ndarray) -> float:
    """Open-set classification rate: trapezoidal area under the CCR-vs-FPR envelope."""
    if not (labels == UNKNOWN).any() or not (labels != UNKNOWN).any():
        return float("nan")
    fpr, ccr = oscr_curve(scores, labels, predictions)
    return float(np.trapezoid(ccr, fpr))
