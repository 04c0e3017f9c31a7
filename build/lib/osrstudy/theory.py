"""The balanced-geometry paper's theory as numbers (sections 4, 5, 8; formulas in docs/design.md).

Pure functions of prototypes, thresholds and score samples. Readings the extracted text lost are
checked against the paper's surviving numbers in tests/test_theory.py.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist

from osrstudy.codes import simplex_code
from osrstudy.geometry import simplex_defects
from osrstudy.scorers import ratio_score


def ratio_lipschitz_bound(prototypes: np.ndarray) -> float:
    """Lipschitz constant of R for distinct prototypes, 4 / d_min (Theorem 2; tight at K = 2)."""
    return 4.0 / distance_range(prototypes)[0]


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


# --- Sections 4-7: the statements whose constants the extraction lost, rederived from the
# surviving proofs (triangle inequality, Minkowski, Cauchy-Schwarz / Kantorovich). Each is a
# bound that tests/test_theory.py checks on sampled embeddings.


def distance_range(prototypes: np.ndarray) -> tuple[float, float]:
    """(D_min, D_max): the smallest and largest pairwise prototype distances."""
    d = pdist(prototypes)
    return float(d.min()), float(d.max())


def kantorovich(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Largest mean(x^2) / mean(x)^2 over numbers x in [a, b], a > 0: (a + b)^2 / (4ab)."""
    return (a + b) ** 2 / (4 * a * b)


def ratio_comparison_constant(prototypes: np.ndarray, grid: int = 20_001) -> float:
    """C with R^2 <= C * R2 everywhere (the inner constant of Theorem 8 (iv) / Lemma 7).

    The rival distances of z lie in [max(d*, D_min - d*), D_max + d*] (d* = nearest distance;
    triangle inequality), and R^2 / R2 = mean(d_j^2) / mean(d_j)^2 over rivals, so C is the
    largest Kantorovich ratio over d* >= 0, capped by K - 1 (Cauchy-Schwarz, any prototypes). On a
    simplex (D_min = D_max = s) the maximum is at d* = s / 2 and C = 4 / 3 (Lemma 7)."""
    k = len(prototypes)
    d_min, d_max = distance_range(prototypes)
    r = np.linspace(0, 4 * d_max, grid)[1:]
    lower = np.maximum(r, d_min - r)
    return float(min(k - 1, kantorovich(lower, d_max + r).max()))


def local_ratio_constant(prototypes: np.ndarray, k: int, r: float) -> float:
    """Theorem 12: if d_k(z) <= r < D_min / 2 then k is the nearest prototype and
    R2 <= R^2 <= ((delta_k m_k + r) / (m_k - r))^2 R2, with m_k the mean distance from p_k to the
    other prototypes and delta_k its simplex defect (the rivals' mean is >= m_k - r by the
    triangle inequality, their RMS <= delta_k m_k + r by Minkowski). Tends to delta_k^2 as r -> 0."""
    d_min, _ = distance_range(prototypes)
    if not 0 <= r < d_min / 2:
        raise ValueError(f"Theorem 12 needs 0 <= r < D_min / 2 = {d_min / 2:.4g}; got r = {r}")
    m_k = float(np.delete(np.linalg.norm(prototypes - prototypes[k], axis=1), k).mean())
    delta = float(simplex_defects(prototypes)[k])
    return ((delta * m_k + r) / (m_k - r)) ** 2


def sufficient_dimension(k: int, tau: float, far: float) -> float:
    """Corollary 19: the Theorem 13 (iii) bound K exp(-(d - 1) s^2 / 2) is <= far as soon as
    d >= 1 + 2 log(K / far) / s^2, s = cap_cosine(K, tau^2); round up for an integer d."""
    s = cap_cosine(k, tau * tau)
    return float(1 + 2 * np.log(k / far) / (s * s))


def mean_training_ratio_bound(intra: float, prototypes: np.ndarray) -> float:
    """Proposition 14: if the intra-class loss mean ||z_i - p_y_i||^2 is <= intra, the mean
    training R is <= min(1, 2 sqrt(intra) / D_min). (R <= 1 always; below D_min / 2 the true
    prototype is nearest and R <= d / (D_min - d) <= 2 d / D_min; then Jensen.) On a simplex of
    radius rho, D_min = rho sqrt(2K / (K - 1))."""
    d_min, _ = distance_range(prototypes)
    return float(min(1.0, 2 * np.sqrt(intra) / d_min))


def background_ratio_bound(margin: float, prototypes: np.ndarray) -> float:
    """Proposition 15: with the background hinge at zero (margin mu), every background sample is
    at squared distance >= mu from every prototype, and then R >= sqrt(mu) / (sqrt(mu) + D_max)
    (each rival distance is <= d* + D_max)."""
    _, d_max = distance_range(prototypes)
    return float(np.sqrt(margin) / (np.sqrt(margin) + d_max))


def separation_bounds(prototypes: np.ndarray, r: float, gamma: float) -> tuple[float, float]:
    """Theorem 17: if every training sample is within r < D_min / 2 of its prototype and every
    background sample at least gamma from every prototype, then training R <= r / (D_min - r)
    (i) and background R >= gamma / (gamma + D_max) (ii); a separating threshold exists when the
    first is below the second (iii, condition 21). Returns (training upper, background lower)."""
    d_min, d_max = distance_range(prototypes)
    if not 0 <= r < d_min / 2:
        raise ValueError(f"Theorem 17 needs 0 <= r < D_min / 2 = {d_min / 2:.4g}; got r = {r}")
    return r / (d_min - r), gamma / (gamma + d_max)
