"""Prototype geometry diagnostics (balanced-geometry paper; formulas in docs/design.md).

Pure functions: prototypes (K, d) in, numbers out.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist, squareform

TINY64 = float(np.finfo(np.float64).tiny)


def mean_rival(d, own):
    """Per row of the (N, K) distances `d` (or their squares), the mean over the K - 1 prototypes
    other than the one `own` belongs to. NumPy arrays and torch tensors alike."""
    return (d.sum(1) - own) / (d.shape[1] - 1)


def rival_ratio(d, own, floor: float = TINY64):
    """The balanced-geometry paper's ratio: `own` (the distance, or its square, to the nearest
    prototype) over the mean of the same to the K - 1 others: R on distances, R2 on squared
    distances. `floor` keeps a zero denominator finite."""
    return own / mean_rival(d, own).clip(min=floor)


def class_means(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(K', d) mean embedding of each class present, in label order."""
    return np.stack([z[labels == c].mean(0) for c in np.unique(labels)])


def barycentre_norm(p: np.ndarray) -> float:
    return float(np.linalg.norm(p.mean(0)))


def cv_radii(p: np.ndarray) -> float:
    r = np.linalg.norm(p, axis=1)
    return float(r.std() / r.mean())


def cv_pairwise_distances(p: np.ndarray) -> float:
    d = pdist(p)
    return float(d.std() / d.mean())


def simplex_defects(p: np.ndarray) -> np.ndarray:
    """Per class: RMS / mean of its distances to the other prototypes (1 iff all equal)."""
    d = squareform(pdist(p))
    rivals = ~np.eye(len(p), dtype=bool)
    dk = d[rivals].reshape(len(p), len(p) - 1)
    return np.sqrt((dk**2).mean(1)) / dk.mean(1)


def tangent_ball_threshold(p: np.ndarray) -> float:
    """tau* on the R2 scale, from the minimum pairwise distance and the mean radius rho."""
    k = len(p)
    rho = np.linalg.norm(p, axis=1).mean()
    ratio = pdist(p).min() / rho
    if ratio >= 2:
        return 1.0
    a = 2 / np.sqrt(4 - ratio**2)
    return float((k - 1) * (a - 1) / (1 + (k - 1) * a))


DIAGNOSTICS = {
    "barycentre_norm": barycentre_norm,
    "cv_radii": cv_radii,
    "cv_pairwise_distances": cv_pairwise_distances,
    "mean_simplex_defect": lambda p: float(simplex_defects(p).mean()),
    "tangent_ball_threshold": tangent_ball_threshold,
}


def separation(z: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """How well known embeddings separate: Davies-Bouldin index (NaN with one class) and the mean
    distance between class means (the Jacobian-norm paper's Figs. 8, 10, 11)."""
    from sklearn.metrics import davies_bouldin_score

    # DBI needs 2 <= classes < samples (scikit-learn raises otherwise): NaN when a small probe
    # (evaluation.probe_samples) holds one known sample per class or a single class
    n_classes = len(np.unique(labels))
    dbi = davies_bouldin_score(z, labels) if 1 < n_classes < len(z) else float("nan")
    return {"dbi": float(dbi), "inter_class_distance": float(pdist(class_means(z, labels)).mean())}


def diagnostics(p: np.ndarray) -> dict[str, float]:
    return {name: fn(p) for name, fn in DIAGNOSTICS.items()}
