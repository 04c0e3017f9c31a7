import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score, roc_curve

from osrstudy.metrics import (
    METRICS,
    Scored,
    accuracy,
    auroc,
    average_precision,
    best_threshold,
    detection_accuracy,
    fpr_at_tpr,
    oscr,
    threshold_rejecting,
)

CASES = [(seed, ties) for seed in range(5) for ties in (None, 2)]


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


@pytest.mark.parametrize("seed, ties", CASES)
def test_auroc_matches_sklearn(seed, ties):
    scores, labels, _ = random_case(seed, tie_levels=ties)
    assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels < 0, scores), abs=1e-12)


@pytest.mark.parametrize("seed, ties", CASES)
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


@pytest.mark.parametrize("seed, ties", CASES)
def test_aupr_matches_sklearn(seed, ties):
    scores, labels, _ = random_case(seed, tie_levels=ties)
    unknown = labels < 0
    assert average_precision(scores, unknown) == pytest.approx(average_precision_score(unknown, scores), abs=1e-12)
    assert average_precision(-scores, ~unknown) == pytest.approx(average_precision_score(~unknown, -scores), abs=1e-12)


@pytest.mark.parametrize("seed, ties", CASES)
def test_fpr95_matches_the_roc_curve(seed, ties):
    scores, labels, _ = random_case(seed, tie_levels=ties)
    # known = positive with confidence -score: first ROC point reaching TPR >= 0.95
    fpr, tpr, _ = roc_curve(labels >= 0, -scores)
    assert fpr_at_tpr(scores, labels, 0.95) == pytest.approx(fpr[np.argmax(tpr >= 0.95)], abs=1e-12)


@pytest.mark.parametrize("seed, ties", CASES)
def test_detection_accuracy_is_the_best_balanced_accuracy_over_thresholds(seed, ties):
    scores, labels, _ = random_case(seed, tie_levels=ties)
    known = labels >= 0
    brute = max(
        ((scores[known] <= t).mean() + (scores[~known] > t).mean()) / 2
        for t in np.r_[-np.inf, np.unique(scores)]
    )
    assert detection_accuracy(scores, labels) == pytest.approx(brute, abs=1e-12)


def test_accuracy_ignores_unknown_samples():
    labels = np.array([0, 1, 2, -1, -1])
    assert accuracy(labels, np.array([0, 1, 0, 1, 1])) == pytest.approx(2 / 3)


def test_macro_f1_calibrates_on_validation_only():
    val_scores = np.arange(100.0)  # 90th percentile: 89.1 -> rejects 10 of 100 val known samples
    val = Scored(val_scores, np.zeros(100, dtype=int), np.zeros(100, dtype=int))
    assert threshold_rejecting(val_scores, 0.10) == pytest.approx(89.1)
    assert (val_scores > 89.1).sum() == 10
    test = Scored(np.array([10.0, 95.0, 50.0, 99.0]), np.array([0, 1, -1, -1]), np.array([0, 1, 1, 0]))
    # accepted: samples 0 and 2 (score <= 89.1); predicted labels (0, unknown, 1, unknown)
    expected = f1_score([0, 1, -1, -1], [0, -1, 1, -1], average="macro", labels=[-1, 0, 1])
    assert METRICS["macro_f1"](test, val) == pytest.approx(expected)
    # shifting every test score changes the result; shifting val moves the threshold instead
    shifted = Scored(test.scores + 1000, test.labels, test.predictions)
    assert METRICS["macro_f1"](shifted, val) != METRICS["macro_f1"](test, val)


def test_validation_threshold_is_chosen_on_validation():
    val = Scored(np.array([0.0, 1.0, 2.0, 3.0]), np.array([0, 0, -1, -1]), np.zeros(4, dtype=int))
    assert best_threshold(val.scores, val.labels) == 1.0
    test = Scored(np.array([0.5, 1.5, 1.2, 5.0]), np.array([0, 0, -1, -1]), np.zeros(4, dtype=int))
    # at threshold 1.0: known accepted 1/2, unknown rejected 2/2
    assert METRICS["balanced_accuracy_val"](test, val) == pytest.approx(0.75)


def test_every_registered_metric_runs_on_one_interface():
    scores, labels, predictions = random_case(0)
    test, val = Scored(scores, labels, predictions), Scored(scores[::-1], labels, predictions)
    values = {name: METRICS[name](test, val) for name in METRICS.names()}
    assert {"auroc", "oscr", "accuracy", "fpr95", "aupr_in", "aupr_out", "detacc", "macro_f1",
            "balanced_accuracy_val"} <= set(values)
    assert all(0 <= v <= 1 for v in values.values())


def test_rank_correlation_is_spearmans_and_nan_without_a_ranking():
    from scipy.stats import spearmanr

    from osrstudy.metrics import rank_correlation

    x = np.array([0.1, 0.5, 0.2, 0.9, 0.9])
    assert rank_correlation(x, x**3) == pytest.approx(1.0)
    assert rank_correlation(x, -x) == pytest.approx(-1.0)
    y = np.array([3.0, 1.0, 2.0, 5.0, 4.0])
    assert rank_correlation(x, y) == pytest.approx(spearmanr(x, y).statistic)
    assert np.isnan(rank_correlation(x, np.ones(5))) and np.isnan(rank_correlation([1.0, 2.0], [2.0, 1.0]))
    # ties in exact arithmetic stay ties under float noise: the harmonic code's 15 distances take 3 values
    from scipy.spatial.distance import pdist

    from osrstudy.codes import harmonic_code

    code, rng = harmonic_code(6, 8), np.random.default_rng(0)
    rotated = code @ np.linalg.qr(rng.normal(size=(8, 8)))[0]  # the same distances, other rounding
    other = rng.normal(size=15)
    assert rank_correlation(pdist(code), other) == pytest.approx(rank_correlation(pdist(rotated), other), abs=1e-12)
    assert rank_correlation(pdist(code), other) == pytest.approx(
        spearmanr(np.round(pdist(code), 6), other).statistic, abs=1e-12)
