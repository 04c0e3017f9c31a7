"""Open-set metrics. Scores are OOD-oriented (higher = more unknown); unknown samples have label -1;
a sample is accepted as known iff its score <= the threshold.

The maths are plain functions of arrays. The registry wraps each as `metric(test, val) -> float`
over two `Scored` sets, so threshold metrics can calibrate on validation and never see test
scores while choosing the threshold.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.stats import rankdata, spearmanr
from sklearn.metrics import f1_score

from osrstudy.labels import UNKNOWN
from osrstudy.registry import Registry


@dataclass(frozen=True)
class Scored:
    scores: np.ndarray
    labels: np.ndarray  # known class 0..K-1, UNKNOWN = -1
    predictions: np.ndarray  # closed-set prediction 0..K-1

    def __post_init__(self):
        if not len(self.scores) == len(self.labels) == len(self.predictions):
            raise ValueError("scores, labels and predictions differ in length")


Metric = Callable[[Scored, Scored], float]
METRICS: Registry[Metric] = Registry("metric")


def _both_present(labels: np.ndarray) -> bool:
    unknown = labels == UNKNOWN
    return bool(unknown.any() and (~unknown).any())


# --- the maths -------------------------------------------------------------------------------


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under ROC, unknown = positive; ties count one half (Mann-Whitney U)."""
    positive = labels == UNKNOWN
    n_pos, n_neg = positive.sum(), (~positive).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Closed-set accuracy on the known samples."""
    known = labels != UNKNOWN
    return float((predictions[known] == labels[known]).mean()) if known.any() else float("nan")


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of two paired samples; NaN for fewer than 3 pairs or a constant side (no
    ranking to compare). Values equal to 9 significant digits count as ties: the distances of a
    symmetric code, equal in exact arithmetic, differ in the last bits, and float noise must not
    rank them."""
    a, b = tie_float_noise(a), tie_float_noise(b)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def tie_float_noise(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    scale = np.abs(values).max(initial=0.0)
    return values if scale == 0 else np.round(values / scale, 9)


def oscr_curve(
    scores: np.ndarray, labels: np.ndarray, predictions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, CCR) at every distinct threshold, from (0, 0) to (1, accuracy).

    Samples with equal scores are accepted together (one point per distinct score), which makes
    the area independent of the order of ties; the upper monotone envelope then takes the best
    CCR at each FPR.
    """
    known = labels != UNKNOWN
    correct = known & (predictions == labels)
    order = np.argsort(scores, kind="stable")
    s = scores[order]
    last_of_group = np.r_[s[1:] != s[:-1], True]
    ccr = np.cumsum(correct[order])[last_of_group] / max(known.sum(), 1)
    fpr = np.cumsum(~known[order])[last_of_group] / max((~known).sum(), 1)
    return np.r_[0.0, fpr], np.maximum.accumulate(np.r_[0.0, ccr])


def oscr(scores: np.ndarray, labels: np.ndarray, predictions: np.ndarray) -> float:
    """Open-set classification rate: trapezoidal area under the CCR-vs-FPR envelope."""
    if not _both_present(labels):
        return float("nan")
    fpr, ccr = oscr_curve(scores, labels, predictions)
    return float(np.trapezoid(ccr, fpr))


def fpr_at_tpr(scores: np.ndarray, labels: np.ndarray, tpr: float = 0.95) -> float:
    """Share of unknown samples accepted at the smallest threshold accepting `tpr` of the known."""
    if not _both_present(labels):
        return float("nan")
    known = np.sort(scores[labels != UNKNOWN])
    threshold = known[int(np.ceil(tpr * len(known))) - 1]
    return float((scores[labels == UNKNOWN] <= threshold).mean())


def average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under precision-recall as the step sum sum_n (R_n - R_{n-1}) P_n, one step per
    distinct score (the definition scikit-learn uses)."""
    if not positive.any():
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    s, pos = scores[order], positive[order]
    last_of_group = np.r_[s[1:] != s[:-1], True]
    tp = np.cumsum(pos)[last_of_group]
    seen = np.flatnonzero(last_of_group) + 1
    recall = np.r_[0.0, tp / pos.sum()]
    return float(np.sum(np.diff(recall) * tp / seen))


def detection_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """max over thresholds of (TPR + TNR) / 2: known accepted, unknown rejected."""
    if not _both_present(labels):
        return float("nan")
    return balanced_accuracy(scores, labels, best_threshold(scores, labels))


def balanced_accuracy(scores: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    known = labels != UNKNOWN
    tpr = (scores[known] <= threshold).mean()
    tnr = (scores[~known] > threshold).mean()
    return float((tpr + tnr) / 2)


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold maximising (TPR + TNR) / 2 (candidates: every distinct score, and below all)."""
    order = np.argsort(scores, kind="stable")
    s, known = scores[order], labels[order] != UNKNOWN
    last_of_group = np.r_[s[1:] != s[:-1], True]
    tpr = np.r_[0.0, np.cumsum(known)[last_of_group] / known.sum()]
    tnr = np.r_[1.0, 1 - np.cumsum(~known)[last_of_group] / (~known).sum()]
    candidates = np.r_[-np.inf, s[last_of_group]]
    return float(candidates[np.argmax(tpr + tnr)])


def threshold_rejecting(known_scores: np.ndarray, share: float) -> float:
    """Threshold that rejects (score > threshold) about `share` of the given known samples."""
    return float(np.quantile(known_scores, 1 - share))


def open_set_macro_f1(
    scores: np.ndarray, labels: np.ndarray, predictions: np.ndarray, threshold: float
) -> float:
    """Macro-F1 over K + 1 classes: rejected samples are predicted unknown."""
    predicted = np.where(scores > threshold, UNKNOWN, predictions)
    return float(f1_score(labels, predicted, average="macro", labels=np.unique(np.r_[labels, predicted])))


# --- registered metrics: (test, val) -> float ------------------------------------------------

METRICS.register("auroc")(lambda test, val: auroc(test.scores, test.labels))
METRICS.register("oscr")(lambda test, val: oscr(test.scores, test.labels, test.predictions))
METRICS.register("accuracy")(lambda test, val: accuracy(test.labels, test.predictions))
METRICS.register("fpr95")(lambda test, val: fpr_at_tpr(test.scores, test.labels, 0.95))
METRICS.register("aupr_in")(lambda test, val: average_precision(-test.scores, test.labels != UNKNOWN))
METRICS.register("aupr_out")(lambda test, val: average_precision(test.scores, test.labels == UNKNOWN))
METRICS.register("detacc")(lambda test, val: detection_accuracy(test.scores, test.labels))


@METRICS.register("macro_f1")
def macro_f1_protocol_b(test: Scored, val: Scored) -> float:
    """Jacobian-norm paper, Protocol B: threshold rejecting 10% of the validation known samples."""
    threshold = threshold_rejecting(val.scores[val.labels != UNKNOWN], 0.10)
    return open_set_macro_f1(test.scores, test.labels, test.predictions, threshold)


@METRICS.register("balanced_accuracy_val")
def balanced_accuracy_val_threshold(test: Scored, val: Scored) -> float:
    """(TPR + TNR) / 2 on test at the threshold that maximises it on validation (known + unknown)."""
    if not (_both_present(val.labels) and _both_present(test.labels)):
        return float("nan")
    return balanced_accuracy(test.scores, test.labels, best_threshold(val.scores, val.labels))
