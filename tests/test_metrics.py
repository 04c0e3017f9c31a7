import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from osrstudy.metrics import METRICS, accuracy, auroc, oscr


def random_case(seed, n=300, k=4, tie_levels=None):
    rng = np.random.default_rng(seed)
    labels = rng.integers(-1, k, n)
    scores = rng.normal(size=n) + (labels < 0)
    if tie_levels:
        scores = np.round(scores * tie_levels) / tie_levels
    predictions = np.where(rng.random(n) < 0.8, labels, rng.integers(0, k, n))
    predictions[labels < 0] = rng.integers(0, k, (labels < 0).sum())
    return scores, labels, predictions


def brute_force_oscr(scores, labels, predictions):
    """Share of (known, unknown) pairs in which the known sample is correctly classified and scores
    below the unknown one, ties counted 1/2: what the area under CCR vs FPR must equal."""
    known_correct = scores[(labels >= 0) & (predictions == labels)]
    unknown = scores[labels < 0]
    n_known = (labels >= 0).sum()
    wins = (known_correct[:, None] < unknown[None, :]).sum() + 0.5 * (known_correct[:, None] == unknown[None, :]).sum()
    return wins / (n_known * len(unknown))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("ties", [None, 2])
def test_auroc_matches_sklearn(seed, ties):
    scores, labels, _ = random_case(seed, tie_levels=ties)
    assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels < 0, scores), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("ties", [None, 2])
def test_oscr_matches_pairwise_definition(seed, ties):
    scores, labels, predictions = random_case(seed, tie_levels=ties)
    assert oscr(scores, labels, predictions) == pytest.approx(brute_force_oscr(scores, labels, predictions), abs=1e-12)


def test_oscr_does_not_depend_on_the_order_of_tied_samples():
    scores, labels, predictions = random_case(7, tie_levels=1)
    perm = np.random.default_rng(0).permutation(len(scores))
    assert oscr(scores, labels, predictions) == oscr(scores[perm], labels[perm], predictions[perm])


def test_oscr_extremes():
    labels = np.array([0, 1, -1, -1])
    predictions = np.array([0, 1, 0, 0])
    assert oscr(np.array([0.0, 0.1, 0.9, 1.0]), labels, predictions) == 1.0
    assert oscr(np.array([1.0, 0.9, 0.1, 0.0]), labels, predictions) == 0.0
    # perfect separation, half the known misclassified: area = accuracy
    assert oscr(np.array([0.0, 0.1, 0.9, 1.0]), labels, np.array([0, 0, 0, 0])) == 0.5


def test_accuracy_ignores_unknown_samples():
    labels = np.array([0, 1, 2, -1, -1])
    assert accuracy(None, labels, np.array([0, 1, 0, 1, 1])) == pytest.approx(2 / 3)


def test_metrics_registry_has_the_skeleton_metrics():
    assert {"auroc", "oscr", "accuracy"} <= set(METRICS.names())
