"""OpenMax (Bendale & Boult 2016) with Weibull tails fitted by scipy (no libmr).

Activation vectors are the logits; per class, the mean activation vector (MAV) of correctly
classified training samples and a Weibull fit (location 0) to the `tail` largest Euclidean
distances to it. At inference the top-`alpha` classes lose logit mass in proportion to the
Weibull CDF of their distance, weighted (alpha - rank) / alpha; the mass lost becomes the unknown
class's logit. Score = probability of the unknown class.
"""
from __future__ import annotations

import numpy as np
from scipy.special import softmax
from scipy.stats import weibull_min


def fit_weibull_tails(
    logits: np.ndarray, labels: np.ndarray, tail: int = 20
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(MAVs (K, K), shapes (K,), scales (K,)) from the correctly classified training samples."""
    k = logits.shape[1]
    correct = logits.argmax(1) == labels
    mavs, shapes, scales = np.zeros((k, k)), np.ones(k), np.ones(k)
    for c in range(k):
        av = logits[correct & (labels == c)].astype(np.float64)
        if len(av) == 0:  # a class never predicted right: no evidence, never revised
            mavs[c], scales[c] = np.nan, np.inf
            continue
        mavs[c] = av.mean(0)
        distances = np.sort(np.linalg.norm(av - mavs[c], axis=1))[-tail:]
        distances = np.maximum(distances, 1e-12)
        if len(distances) < 2 or np.ptp(distances) == 0:
            shapes[c], scales[c] = 1.0, distances.mean()
        else:
            shapes[c], _, scales[c] = weibull_min.fit(distances, floc=0)
    return mavs, shapes, scales


def recalibrate(
    logits: np.ndarray, mavs: np.ndarray, shapes: np.ndarray, scales: np.ndarray, alpha: int
) -> np.ndarray:
    """(N, K + 1) revised logits, column 0 the unknown class; the logit sum is preserved."""
    logits = logits.astype(np.float64)
    n, k = logits.shape
    alpha = min(alpha, k)
    distances = np.linalg.norm(logits[:, None, :] - np.nan_to_num(mavs)[None], axis=2)
    cdf = weibull_min.cdf(distances, shapes[None], loc=0, scale=scales[None])
    rank_weight = np.zeros((n, k))
    order = np.argsort(-logits, axis=1, kind="stable")[:, :alpha]
    rank_weight[np.arange(n)[:, None], order] = (alpha - np.arange(alpha)) / alpha
    w = rank_weight * np.nan_to_num(cdf)
    return np.concatenate([(logits * w).sum(1, keepdims=True), logits * (1 - w)], axis=1)


def openmax_unknown_probability(logits, mavs, shapes, scales, alpha: int) -> np.ndarray:
    return softmax(recalibrate(logits, mavs, shapes, scales, alpha), axis=1)[:, 0]
