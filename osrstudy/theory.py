"""The balanced-geometry paper's theory as numbers (sections 4, 5, 8; formulas in DESIGN.md).

Pure functions of prototypes, thresholds and score samples. Readings the extracted text lost are
checked against the paper's surviving numbers in tests/test_theory.py.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist

from osrstudy.scorers import ratio_score


def ratio_lipschitz_bound(prototypes: np.ndarray) -> float:
    """Lipschitz constant of R for distinct prototypes, 4 / d_min (Theorem 2; tight at K = 2)."""
    return 4.0 / pdist(prototypes).min()


def r2_sublevel_balls(prototypes: np.ndarray, t: float) -> tuple[np.ndarray, float]:
    """Theorem 8 (balanced equal-norm code, 0 <= t < 1): {R2 <= t} is the union over k of the
    balls centred at c p_k with radius rho sqrt(c^2 - 1), c = (K - 1 + t) / ((K - 1)(1 - t))."""
    k = len(prototypes)
    rho = float(np.linalg.norm(prototypes, axis=1).mean())
    c = (k - 1 + t) / ((k - 1) * (1 - t))
    return c * prototypes, rho * float(np.sqrt(c * c - 1))


def cap_cosine(k: int, t: float) -> float:
    """On the sphere of radius rho the R2 acceptance cap around p_k is {cos angle(z, p_k) >= s}."""
    return (k - 1) * (1 - t) / (k - 1 + t)


def far_bound(k: int, d: int, tau: float) -> float:
    """Theorem 13 (iii), isotropic unknowns, normalised route: min(1, K exp(-(d - 1) s^2 / 2)),
    s = cap_cosine(K, tau^2)."""
    s = cap_cosine(k, tau * tau)
    return float(min(1.0, k * np.exp(-(d - 1) * s * s / 2)))


def far_empirical(prototypes: np.ndarray, tau: float, n: int, seed: int) -> float:
    """Share of n unknowns uniform on the prototypes' sphere accepted by R <= tau."""
    rng = np.random.default_rng(seed)
    rho = float(np.linalg.norm(prototypes, axis=1).mean())
    u = rng.normal(size=(n, prototypes.shape[1]))
    u *= rho / np.linalg.norm(u, axis=1, keepdims=True)
    return float((ratio_score(u, prototypes, power=1) <= tau).mean())


def dkw_margin(n: int, gamma: float) -> float:
    """Dvoretzky-Kiefer-Wolfowitz: the empirical CDF is within this of the truth w.p. 1 - gamma."""
    return float(np.sqrt(np.log(2 / gamma) / (2 * n)))


def tail_scale(scores: np.ndarray, alphas: np.ndarray, gamma: float | None = None) -> float:
    """Algorithm 1, step (c): max over alpha of (q(1 - alpha) - mean)_+ / sqrt(2 log(1 / alpha)),
    q the empirical inverse CDF (q(u) = smallest x with F_n(x) >= u). With gamma, every quantile
    level is raised by the DKW margin (Remark 22); a level above 1 has no finite distribution-free
    quantile and the scale is infinite (the trivial bound)."""
    x = np.sort(np.asarray(scores, dtype=np.float64))
    n, mean = len(x), x.mean()
    best = 0.0
    for alpha in np.asarray(alphas, dtype=np.float64):
        level = 1 - alpha + (dkw_margin(n, gamma) if gamma is not None else 0.0)
        if level > 1:
            return float("inf")
        quantile = x[min(max(int(np.ceil(level * n)) - 1, 0), n - 1)]
        best = max(best, max(quantile - mean, 0.0) / np.sqrt(2 * np.log(1 / alpha)))
    return float(best)


def algorithm1_thresholds(
    scores: np.ndarray,
    labels: np.ndarray,
    miss_rate: float,
    alphas: np.ndarray = np.array([0.2, 0.1, 0.05, 0.02, 0.01]),
    gamma: float | None = None,
    score_max: float = np.inf,
) -> dict[int, dict[str, float]]:
    """Per known class: mean, tail scale and the threshold mean + scale sqrt(2 log(1 / eps)) for a
    target known-class miss rate eps, clipped to the score range (Algorithm 1, equation 25)."""
    out = {}
    for c in np.unique(labels[labels >= 0]):
        s = scores[labels == c]
        scale = tail_scale(s, alphas, gamma)
        threshold = min(s.mean() + scale * np.sqrt(2 * np.log(1 / miss_rate)), score_max)
        out[int(c)] = {"n": int(len(s)), "mean": float(s.mean()), "scale": scale, "threshold": float(threshold)}
    return out


FAR_DIMENSIONS = (3, 5, 8, 16, 32, 64)


def far_vs_dimension(k: int = 4, tau: float = 0.2, n: int = 100_000, seed: int = 0, dims=FAR_DIMENSIONS):
    """Section 8.3: empirical FAR of a K-simplex vs the Theorem 13 bound, per dimension."""
    import pandas as pd

    from osrstudy.codes import simplex_code

    rows = [
        {"d": d, "K": k, "tau": tau, "n_unknown": n,
         "far_empirical": far_empirical(simplex_code(k, d), tau, n, seed + d), "far_bound": far_bound(k, d, tau)}
        for d in dims
    ]
    return pd.DataFrame(rows)


def cap_probability(d: int, s: np.ndarray) -> np.ndarray:
    """P(<U, u> >= s) for U uniform on the unit sphere in R^d (a regularised incomplete beta)."""
    from scipy.special import betainc

    s = np.asarray(s, dtype=np.float64)
    half = 0.5 * betainc((d - 1) / 2, 0.5, np.clip(1 - s * s, 0, 1))
    return np.where(s >= 0, half, 1 - half)


def cap_discrepancy(
    unknown: np.ndarray, n_directions: int = 200, thresholds: np.ndarray | None = None, seed: int = 0
) -> float:
    """Section 8.2: max over random directions u and thresholds s of the gap between the empirical
    share of radially normalised unknowns with <z/|z|, u> >= s and the uniform cap probability.
    A Monte Carlo lower bound on the supremum in (U-Norm), small for isotropic unknowns."""
    z = np.asarray(unknown, dtype=np.float64)
    norms = np.linalg.norm(z, axis=1)
    z = z[norms > 0] / norms[norms > 0, None]
    d = z.shape[1]
    thresholds = np.linspace(-0.95, 0.95, 39) if thresholds is None else thresholds
    u = np.random.default_rng(seed).normal(size=(n_directions, d))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    projections = z @ u.T  # (n, directions)
    empirical = (projections[None, :, :] >= thresholds[:, None, None]).mean(1)  # (thresholds, directions)
    return float(np.abs(empirical - cap_probability(d, thresholds)[:, None]).max())
