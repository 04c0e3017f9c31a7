import numpy as np
import pytest

from osrstudy.codes import harmonic_code, simplex_code
from osrstudy.scorers import ratio_score
from osrstudy.theory import (
    algorithm1_thresholds,
    cap_cosine,
    dkw_margin,
    far_bound,
    far_empirical,
    r2_sublevel_balls,
    ratio_lipschitz_bound,
    tail_scale,
)


@pytest.mark.parametrize("k, d", [(2, 1), (4, 3), (4, 8), (10, 9), (10, 32)])
def test_simplex_gram_matrix_is_exact(k, d):
    p = simplex_code(k, d, rho=2.0)
    gram = np.full((k, k), -4.0 / (k - 1))
    np.fill_diagonal(gram, 4.0)
    np.testing.assert_allclose(p @ p.T, gram, atol=1e-12)


def test_simplex_refuses_too_small_a_dimension():
    with pytest.raises(ValueError, match="needs embedding dimension d >= 9"):
        simplex_code(10, 8)


@pytest.mark.parametrize("k", [2, 3, 4, 6, 10, 20])
@pytest.mark.parametrize("d", [2, 3, 5, 8, 16])
def test_harmonic_code_is_balanced_for_every_k_and_d(k, d):
    p = harmonic_code(k, d, rho=1.5)
    np.testing.assert_allclose(p.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.5, atol=1e-12)


def test_far_bound_reproduces_the_papers_surviving_numbers():
    # section 8.3, K = 4, tau = 0.2: bounds 1, 0.6645, 0.1729, 0.0048 at d = 3, 5, 8, 16
    assert far_bound(4, 3, 0.2) == 1.0
    assert [round(far_bound(4, d, 0.2), 4) for d in (5, 8, 16)] == [0.6645, 0.1729, 0.0048]


def test_empirical_far_matches_the_papers_surviving_numbers():
    # paper: 0.1048 (d = 3) and 0.0088 (d = 5); its sample size was lost, 4 std here of 1e5 draws
    assert far_empirical(simplex_code(4, 3), 0.2, 100_000, seed=0) == pytest.approx(0.1048, abs=0.004)
    assert far_empirical(simplex_code(4, 5), 0.2, 100_000, seed=0) == pytest.approx(0.0088, abs=0.0012)
    for d in (3, 5, 8, 16):
        assert far_empirical(simplex_code(4, d), 0.2, 20_000, seed=1) <= far_bound(4, d, 0.2)


@pytest.mark.parametrize("code", ["simplex", "harmonic"])
@pytest.mark.parametrize("t", [0.05, 0.3, 0.7])
def test_r2_sublevel_set_is_the_union_of_balls(code, t):
    """Theorem 8, checked by sampling: R2(z) <= t exactly when z lies in one of the balls."""
    p = simplex_code(4, 3, rho=2.0) if code == "simplex" else harmonic_code(5, 3, rho=2.0)
    centres, radius = r2_sublevel_balls(p, t)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(20_000, 3)) * 4 * radius + centres[rng.integers(len(p), size=20_000)]
    inside = (np.linalg.norm(z[:, None] - centres[None], axis=2) <= radius).any(1)
    r2 = ratio_score(z, p, power=2)
    far_from_boundary = np.abs(r2 - t) > 1e-9
    np.testing.assert_array_equal(inside[far_from_boundary], (r2 <= t)[far_from_boundary])
    assert inside.any() and (~inside).any()


def test_cap_cosine_matches_the_balls_on_the_sphere():
    # a point on the sphere at the cap's edge angle lies on the ball's boundary
    k, t, rho = 4, 0.2, 1.0
    p = simplex_code(k, 3, rho)
    centres, radius = r2_sublevel_balls(p, t)
    s = cap_cosine(k, t)
    axis = p[0] / rho
    ortho = np.cross(axis, [0.3, 0.1, 0.9])
    ortho /= np.linalg.norm(ortho)
    z = rho * (s * axis + np.sqrt(1 - s * s) * ortho)
    assert np.linalg.norm(z - centres[0]) == pytest.approx(radius)


@pytest.mark.parametrize("seed", range(3))
def test_ratio_is_lipschitz_with_four_over_dmin(seed):
    rng = np.random.default_rng(seed)
    p = rng.normal(size=(5, 3))
    z = rng.normal(size=(20_000, 3)) * 2
    dz = rng.normal(size=(20_000, 3)) * 1e-3
    slopes = np.abs(ratio_score(z + dz, p) - ratio_score(z, p)) / np.linalg.norm(dz, axis=1)
    assert slopes.max() <= ratio_lipschitz_bound(p)


def test_lipschitz_bound_is_nearly_attained_at_k_two():
    # d_min = 2, bound 2. On the axis R = (1 + x) / (1 - x) for x in (-1, 0]: slope 2 / (1 - x)^2,
    # which tends to the bound as x approaches the midpoint from one side.
    p = np.array([[-1.0, 0.0], [1.0, 0.0]])
    z = np.array([[-1e-4, 0.0]])
    slope = (ratio_score(z + [[1e-7, 0.0]], p) - ratio_score(z, p)) / 1e-7
    assert abs(slope[0]) == pytest.approx(ratio_lipschitz_bound(p), rel=1e-3)


def test_tail_scale_against_direct_quantiles_on_large_gaussian_samples():
    rng = np.random.default_rng(0)
    sigma = 0.3
    scores = rng.normal(1.0, sigma, 1_000_000)
    alphas = np.array([0.1, 0.01])
    expected = max(
        (np.quantile(scores, 1 - a, method="inverted_cdf") - scores.mean()) / np.sqrt(2 * np.log(1 / a))
        for a in alphas
    )
    assert tail_scale(scores, alphas) == pytest.approx(expected, rel=1e-12)
    # a Gaussian's tail scale read this way is below sigma (sub-Gaussian proxy, Lemma 5)
    assert expected < sigma


def test_algorithm1_threshold_controls_the_miss_rate_on_large_samples():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], 200_000)
    scores = np.where(labels == 0, rng.normal(0.1, 0.02, 400_000), rng.normal(0.2, 0.05, 400_000))
    out = algorithm1_thresholds(scores, labels, miss_rate=0.05)
    for c, row in out.items():
        s = scores[labels == c]
        assert row["mean"] == pytest.approx(s.mean())
        assert row["threshold"] == pytest.approx(row["mean"] + row["scale"] * np.sqrt(2 * np.log(20)))
        assert (s > row["threshold"]).mean() <= 0.05  # the target known-class miss rate


def test_dkw_correction_widens_and_can_become_trivial():
    rng = np.random.default_rng(2)
    scores, labels = rng.normal(0.04, 0.01, 30), np.zeros(30, dtype=int)
    plain = algorithm1_thresholds(scores, labels, 0.05, gamma=None, score_max=1.0)[0]
    # 30 samples, gamma 0.05: margin 0.248 > alpha for every alpha <= 0.2 -> no finite quantile
    assert dkw_margin(30, 0.05) == pytest.approx(np.sqrt(np.log(40) / 60))
    corrected = algorithm1_thresholds(scores, labels, 0.05, gamma=0.05, score_max=1.0)[0]
    assert corrected["scale"] == np.inf and corrected["threshold"] == 1.0 > plain["threshold"]
    widened = algorithm1_thresholds(np.tile(scores, 1000), np.zeros(30_000, dtype=int), 0.05, gamma=0.05)[0]
    assert plain["threshold"] < widened["threshold"] < 1.0


def test_proposition_6_squared_ratio_never_exceeds_the_squared_ratio():
    """R2 <= R^2 for any prototypes (mean of squares >= square of mean), so {R <= tau} lies inside
    {R2 <= tau^2}: the outer inclusion of Theorem 8 (iv) and the t = tau^2 of the FAR bound."""
    rng = np.random.default_rng(3)
    p, z = rng.normal(size=(6, 4)), rng.normal(size=(10_000, 4)) * 3
    assert (ratio_score(z, p, 2) <= ratio_score(z, p, 1) ** 2 + 1e-12).all()


@pytest.mark.parametrize("code, k, d", [("simplex", 4, 3), ("simplex", 6, 8), ("harmonic", 5, 2), ("harmonic", 7, 4)])
def test_corollary_9_balls_touch_exactly_at_the_tangent_threshold(code, k, d):
    from osrstudy.geometry import tangent_ball_threshold

    p = simplex_code(k, d, 1.3) if code == "simplex" else harmonic_code(k, d, 1.3)
    tau = tangent_ball_threshold(p)
    centres, radius = r2_sublevel_balls(p, tau)
    from scipy.spatial.distance import pdist

    assert pdist(centres).min() == pytest.approx(2 * radius, rel=1e-9)
    below, above = r2_sublevel_balls(p, tau * 0.99), r2_sublevel_balls(p, min(tau * 1.01, 0.999))
    assert pdist(below[0]).min() > 2 * below[1] and pdist(above[0]).min() < 2 * above[1]


def test_cap_probability_matches_monte_carlo():
    from osrstudy.theory import cap_probability

    rng = np.random.default_rng(4)
    for d in (2, 3, 8):
        u = rng.normal(size=(400_000, d))
        first = u[:, 0] / np.linalg.norm(u, axis=1)
        for s in (-0.5, 0.0, 0.3, 0.8):
            assert cap_probability(d, s) == pytest.approx((first >= s).mean(), abs=3e-3)


def test_cap_discrepancy_is_small_for_isotropic_and_large_for_anisotropic_unknowns():
    from osrstudy.theory import cap_discrepancy

    rng = np.random.default_rng(5)
    isotropic = rng.normal(size=(20_000, 8)) * 5
    anisotropic = isotropic * np.array([10, 1, 1, 1, 1, 1, 1, 1]) + [3, 0, 0, 0, 0, 0, 0, 0]
    assert cap_discrepancy(isotropic) < 0.03
    assert cap_discrepancy(anisotropic) > 0.3
