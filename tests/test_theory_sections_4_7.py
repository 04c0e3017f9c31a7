"""Numerical checks of the balanced-geometry paper's remaining statements of sections 4-7
(Lemma 7, Theorem 12, Corollary 19, Propositions 14-15, Theorem 17). Their constants were lost in
extraction; osrstudy.theory rederives them from the surviving proofs, and these tests check each
bound on sampled embeddings, including points chosen to come close to it."""
import numpy as np
import pytest
import torch

from osrstudy.codes import harmonic_code, simplex_code
from osrstudy.scorers import ratio_score
from osrstudy.theory import (
    background_ratio_bound,
    distance_range,
    far_bound,
    far_empirical,
    local_ratio_constant,
    mean_training_ratio_bound,
    ratio_comparison_constant,
    separation_bounds,
    sufficient_dimension,
)


def probe_points(p, n, rng):
    """Gaussian clouds at several scales, points near prototypes, on segments between them."""
    k, d = p.shape
    scale = np.linalg.norm(p, axis=1).mean()
    clouds = [rng.normal(size=(n, d)) * scale * s for s in (0.1, 1, 5)]
    i, j = rng.integers(0, k, (2, n))
    t = rng.uniform(0, 1, (n, 1))
    segments = p[i] + t * (p[j] - p[i]) + rng.normal(size=(n, d)) * 0.05 * scale
    near = p[i] + rng.normal(size=(n, d)) * rng.uniform(0, 0.6, (n, 1)) * scale
    return np.concatenate(clouds + [segments, near])


def squared_ratio_over_r2(z, p):
    return ratio_score(z, p, 1) ** 2 / ratio_score(z, p, 2)


@pytest.mark.parametrize("k, d", [(3, 2), (4, 3), (6, 8), (10, 9)])
def test_lemma_7_simplex_inner_constant_is_four_thirds(k, d):
    p = simplex_code(k, d, 1.7)
    assert ratio_comparison_constant(p) == pytest.approx(4 / 3, rel=1e-6)
    ratio = squared_ratio_over_r2(probe_points(p, 20_000, np.random.default_rng(k)), p)
    assert ratio.min() >= 1 - 1e-9 and ratio.max() <= 4 / 3 + 1e-9  # R2 <= R^2 <= (4/3) R2


@pytest.mark.parametrize("k, d", [(5, 2), (8, 4), (10, 8)])
def test_balanced_code_inner_constant_holds_below_the_simplex_dimension(k, d):
    """Theorem 8 (iv)'s global sandwich for harmonic codes (no simplex exists at these d)."""
    p = harmonic_code(k, d)
    c = ratio_comparison_constant(p)
    assert 4 / 3 < c <= k - 1
    assert squared_ratio_over_r2(probe_points(p, 20_000, np.random.default_rng(d)), p).max() <= c + 1e-9


def test_comparison_constant_is_cauchy_schwarz_for_arbitrary_prototypes():
    rng = np.random.default_rng(0)
    p = rng.normal(size=(6, 3)) * np.array([10, 1, 0.1])
    c = ratio_comparison_constant(p)
    assert c <= 5
    assert squared_ratio_over_r2(probe_points(p, 20_000, rng), p).max() <= c + 1e-9


@pytest.mark.parametrize("code, k, d", [("simplex", 5, 4), ("harmonic", 6, 3), ("harmonic", 10, 8)])
def test_theorem_12_local_equivalence_near_a_prototype(code, k, d):
    p = simplex_code(k, d) if code == "simplex" else harmonic_code(k, d)
    d_min, _ = distance_range(p)
    rng = np.random.default_rng(1)
    for r in (0.05 * d_min, 0.25 * d_min, 0.49 * d_min):
        u = rng.normal(size=(5_000, d))
        u *= (r * rng.uniform(0, 1, (5_000, 1)) ** (1 / d)) / np.linalg.norm(u, axis=1, keepdims=True)
        for cls in range(k):
            z = p[cls] + u
            assert (np.argmin(np.linalg.norm(z[:, None] - p[None], axis=-1), 1) == cls).all()
            assert squared_ratio_over_r2(z, p).max() <= local_ratio_constant(p, cls, r) + 1e-9
    # the factor tends to delta_k^2 (1 on a simplex) as r -> 0
    from osrstudy.geometry import simplex_defects

    assert local_ratio_constant(p, 0, 0.0) == pytest.approx(simplex_defects(p)[0] ** 2)
    with pytest.raises(ValueError, match="D_min / 2"):
        local_ratio_constant(p, 0, d_min)


@pytest.mark.parametrize("k, tau, far", [(4, 0.2, 0.05), (10, 0.3, 0.01), (4, 0.2, 0.001)])
def test_corollary_19_sufficient_dimension(k, tau, far):
    d_star = sufficient_dimension(k, tau, far)
    d = int(np.ceil(d_star))
    assert far_bound(k, d, tau) <= far < far_bound(k, d - 1, tau)  # sufficient, and the least such d
    if d <= 200:  # the empirical FAR of a simplex at that dimension meets the target as well
        assert far_empirical(simplex_code(k, d), tau, 20_000, seed=d) <= far


@pytest.mark.parametrize("code", ["simplex", "harmonic"])
def test_proposition_14_mean_training_ratio(code):
    k, d, rho = 6, 8 if code == "simplex" else 3, 2.0
    p = simplex_code(k, d, rho) if code == "simplex" else harmonic_code(k, d, rho)
    rng = np.random.default_rng(2)
    y = rng.integers(0, k, 4_000)
    for sigma in (0.01, 0.1, 0.3, 1.0, 3.0):
        z = p[y] + rng.normal(size=(4_000, d)) * sigma
        intra = float(((z - p[y]) ** 2).sum(1).mean())
        assert ratio_score(z, p, 1).mean() <= mean_training_ratio_bound(intra, p) + 1e-12
    if code == "simplex":  # D_min of a simplex of radius rho is rho sqrt(2K / (K - 1))
        assert distance_range(p)[0] == pytest.approx(rho * np.sqrt(2 * k / (k - 1)))


def ucdsc_hinge(p, z, y, z_background, margin):
    """The hinge term of the UCDSC loss module, isolated (ratio and hinge weights 1)."""
    from osrstudy.losses import build_loss

    loss = build_loss("ucdsc", len(p), p.shape[1], {"code": "harmonic", "ratio": 0.0, "hinge": 1.0, "margin": margin})
    with torch.no_grad():
        loss.centres.copy_(torch.tensor(p))
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    loss = loss.double()
    return float(loss(t(z), torch.tensor(y), t(z_background)) - loss(t(z), torch.tensor(y)))


def test_proposition_15_zero_hinge_bounds_background_ratio_from_below():
    k, d, margin = 5, 4, 0.5
    p = harmonic_code(k, d)
    rng = np.random.default_rng(3)
    y = np.arange(200) % k  # every class appears
    z = p[y] + rng.normal(size=(200, d)) * 0.05
    intra_max = float(((z - p[y]) ** 2).sum(1).max())
    candidates = rng.normal(size=(50_000, d)) * 2
    gap = np.min(((candidates[:, None] - p[None]) ** 2).sum(-1), 1)
    background = candidates[gap >= margin + intra_max]  # squared distance >= mu + every own distance
    assert len(background) > 1000
    assert ucdsc_hinge(p, z, y, background, margin) == 0.0
    assert ratio_score(background, p, 1).min() >= background_ratio_bound(margin, p) - 1e-12
    # a violated hinge is positive, so the premise is what the loss drives to zero
    assert ucdsc_hinge(p, z, y, candidates[:100], margin) > 0


def test_theorem_17_separating_threshold_exists_under_condition_21():
    k, d = 4, 3
    p = simplex_code(k, d, 1.0)
    d_min, _ = distance_range(p)
    rng = np.random.default_rng(4)
    r, gamma = 0.1 * d_min, 1.5
    train_upper, background_lower = separation_bounds(p, r, gamma)
    assert train_upper < background_lower  # condition (21) holds for these radii
    y = rng.integers(0, k, 5_000)
    u = rng.normal(size=(5_000, d))
    z = p[y] + u * (r * rng.uniform(0, 1, (5_000, 1))) / np.linalg.norm(u, axis=1, keepdims=True)
    far = rng.normal(size=(50_000, d)) * 3
    far = far[np.min(np.linalg.norm(far[:, None] - p[None], axis=-1), 1) >= gamma]
    train_r, background_r = ratio_score(z, p, 1), ratio_score(far, p, 1)
    assert train_r.max() <= train_upper + 1e-12 and background_r.min() >= background_lower - 1e-12
    tau = (train_upper + background_lower) / 2
    assert (train_r <= tau).all() and (background_r > tau).all()
    # when the training spread is too wide, (21) fails and the bounds no longer separate
    wide_upper, _ = separation_bounds(p, 0.45 * d_min, 0.1)
    assert wide_upper > separation_bounds(p, 0.45 * d_min, 0.1)[1]


@pytest.mark.parametrize("code, k, d", [("simplex", 3, 2), ("simplex", 6, 8), ("harmonic", 5, 2), ("harmonic", 8, 4)])
def test_no_point_found_by_optimisation_beats_the_comparison_constant(code, k, d):
    """An adversarial search (Nelder-Mead from 20 random starts) for the largest R^2 / R2. At
    K = 3 the simplex supremum is 10/9, inside Lemma 7's 4/3: our constant is valid, not tight."""
    from scipy.optimize import minimize

    p = simplex_code(k, d) if code == "simplex" else harmonic_code(k, d)
    rng = np.random.default_rng(5)
    objective = lambda z: -squared_ratio_over_r2(z[None], p)[0]  # noqa: E731
    found = max(-minimize(objective, rng.normal(size=d) * 2, method="Nelder-Mead").fun for _ in range(20))
    assert 1.0 < found <= ratio_comparison_constant(p) + 1e-9
    if (code, k) == ("simplex", 3):
        assert found == pytest.approx(10 / 9, rel=1e-4)
