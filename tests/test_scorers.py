import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.neighbors import NearestNeighbors

from osrstudy.scorers import SCORERS, VirtualLogitMatching, ratio_score

rng = np.random.default_rng(0)
K, D = 4, 6


def model_arrays():
    return {
        "prototypes": rng.normal(size=(K, D)),
        "head_weight": rng.normal(size=(K, D)),
        "head_bias": rng.normal(size=K),
    }


def feature_arrays(n, model):
    z = rng.normal(size=(n, D))
    return {
        "embedding": z,
        "logits": z @ model["head_weight"].T + model["head_bias"],
        "sample_loss": rng.random(n),
        "jacobian_norm": rng.random(n),
        "odin": -rng.random(n),
        "native_score": rng.random(n),
        "margin_loss": rng.random(n),
        "labels": rng.integers(0, K, n),
    }


def test_energy_msp_maxlogit_by_hand():
    logits = np.array([[1.0, 2.0, 3.0]])
    f = {"logits": logits}
    assert SCORERS["energy"]().fit({}, {}).score(f)[0] == pytest.approx(-np.log(np.exp([1, 2, 3]).sum()))
    assert SCORERS["maxlogit"]().fit({}, {}).score(f)[0] == -3.0
    assert SCORERS["msp"]().fit({}, {}).score(f)[0] == pytest.approx(-np.exp(3) / np.exp([1, 2, 3]).sum())


def test_distance_scores_by_explicit_loops():
    prototypes = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    z = np.array([[0.5, 0.5], [1.0, 0.0]])  # the second is equidistant to prototypes 0 and 1
    m = {"prototypes": prototypes}
    for i, zi in enumerate(z):
        d = np.linalg.norm(prototypes - zi, axis=1)
        k = int(np.argmin(d))  # smallest index on ties
        rivals = np.delete(d, k)
        assert SCORERS["min_distance"]().fit({}, m).score({"embedding": z})[i] == pytest.approx(d[k])
        assert SCORERS["ratio"]().fit({}, m).score({"embedding": z})[i] == pytest.approx(d[k] / rivals.mean())
        r2 = SCORERS["ratio_sq"]().fit({}, m).score({"embedding": z})[i]
        assert r2 == pytest.approx(d[k] ** 2 / (rivals**2).mean())


def test_squared_ratio_is_not_the_square_of_the_ratio():
    p = rng.normal(size=(K, D))
    z = rng.normal(size=(50, D))
    assert not np.allclose(ratio_score(z, p, 2), ratio_score(z, p, 1) ** 2)


def test_knn_matches_sklearn_nearest_neighbors():
    model = model_arrays()
    train, test = feature_arrays(300, model), feature_arrays(40, model)
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    distances, _ = NearestNeighbors(n_neighbors=50).fit(unit(train["embedding"])).kneighbors(unit(test["embedding"]))
    ours = SCORERS["knn"]().fit(train, model).score(test)
    np.testing.assert_allclose(ours, distances[:, -1], rtol=1e-9, atol=1e-12)


def test_react_without_clipping_is_energy_of_the_head():
    model = model_arrays()
    train, test = feature_arrays(200, model), feature_arrays(30, model)
    react = SCORERS["react"]().fit(train, model)
    react.clip = np.inf
    np.testing.assert_allclose(react.score(test), -logsumexp(test["logits"], axis=1))
    clipped = SCORERS["react"]().fit(train, model)
    assert clipped.clip == pytest.approx(np.percentile(train["embedding"], 90))
    assert not np.allclose(clipped.score(test), react.score(test))


def test_vim_matches_an_svd_reference():
    model = model_arrays()
    train, test = feature_arrays(500, model), feature_arrays(30, model)
    vim = SCORERS["vim"]().fit(train, model)
    w, b = model["head_weight"], model["head_bias"]
    u = -np.linalg.pinv(w) @ b
    x = train["embedding"] - u
    keep = VirtualLogitMatching.principal_dim(D, K)
    v = np.linalg.svd(x, full_matrices=False)[2][:keep].T  # principal directions about u
    residual = lambda a: np.linalg.norm((a - u) - (a - u) @ v @ v.T, axis=1)  # noqa: E731
    alpha = train["logits"].max(1).mean() / residual(train["embedding"]).mean()
    expected = alpha * residual(test["embedding"]) - logsumexp(test["logits"], axis=1)
    np.testing.assert_allclose(vim.score(test), expected, rtol=1e-8)


def test_applicability_is_declared_not_guessed():
    model = model_arrays()
    features = feature_arrays(10, model)
    no_head = {"prototypes": model["prototypes"]}
    assert SCORERS["vim"].missing(features, no_head) == ["head_weight", "head_bias"]
    assert SCORERS["jacobian"].missing({"logits": features["logits"]}, model) == ["jacobian_norm"]
    assert SCORERS["ratio"].missing(features, model) == []


@pytest.mark.parametrize("name", SCORERS.names())
def test_every_scorer_gives_one_finite_score_per_sample(name):
    model = model_arrays()
    train, test = feature_arrays(200, model), feature_arrays(25, model)
    scores = SCORERS[name]().fit(train, model).score(test)
    assert scores.shape == (25,) and np.isfinite(scores).all()
