import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import weibull_min

from osrstudy.openmax import fit_weibull_tails, openmax_unknown_probability, recalibrate
from osrstudy.perturbation import odin_scores


def linear_model(seed=0):
    torch.manual_seed(seed)
    w = torch.randn(3, 2 * 4 * 4)
    return lambda b: b.flatten(1) @ w.T


def test_odin_without_perturbation_is_tempered_msp():
    f, x = linear_model(), torch.randn(9, 2, 4, 4)
    expected = -F.softmax(f(x).double() / 1000, 1).max(1).values
    torch.testing.assert_close(odin_scores(f, x, (0.5, 0.5), epsilon=0.0), expected)


def test_odin_perturbation_raises_the_confidence_of_the_predicted_class():
    f, x = linear_model(1), torch.randn(9, 2, 4, 4)
    plain = odin_scores(f, x, (0.5, 0.5), temperature=1000, epsilon=0.0)
    perturbed = odin_scores(f, x, (0.5, 0.5), temperature=1000, epsilon=0.01)
    assert (perturbed < plain).all()  # score = -confidence


def test_odin_step_is_epsilon_over_std_per_channel():
    # logits depend on channel 0 only, through a +1 weight on its first pixel
    def f(b):
        return torch.stack([b[:, 0, 0, 0], torch.zeros(len(b))], 1)

    x = torch.zeros(1, 2, 4, 4)
    x[0, 0, 0, 0] = 1.0  # predicted class 0; the loss falls as that pixel rises
    eps, std, t = 0.01, (0.25, 1.0), 1.0
    expected = -F.softmax(torch.tensor([[1.0 + eps / std[0], 0.0]], dtype=torch.float64) / t, 1).max(1).values
    torch.testing.assert_close(odin_scores(f, x, std, temperature=t, epsilon=eps), expected)


def test_weibull_fit_recovers_known_parameters():
    rng = np.random.default_rng(0)
    k = 2
    logits = np.zeros((4000, k))
    labels = np.repeat(np.arange(k), 2000)
    logits[np.arange(4000), labels] = 50.0  # every sample correctly classified
    radius = weibull_min.rvs(3.0, scale=2.0, size=4000, random_state=rng)
    direction = rng.normal(size=(4000, k))
    logits += direction / np.linalg.norm(direction, axis=1, keepdims=True) * radius[:, None]
    _, shapes, scales = fit_weibull_tails(logits, labels, tail=4000)
    # distances to the fitted mean are close to the sampled radii, so the fit finds (3, 2)
    assert shapes == pytest.approx([3.0, 3.0], rel=0.1)
    assert scales == pytest.approx([2.0, 2.0], rel=0.05)


def test_recalibration_moves_logit_mass_to_the_unknown_class_and_conserves_it():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(50, 4)) * 3
    mavs, shapes, scales = rng.normal(size=(4, 4)), np.full(4, 2.0), np.full(4, 1.5)
    revised = recalibrate(logits, mavs, shapes, scales, alpha=2)
    np.testing.assert_allclose(revised.sum(1), logits.sum(1))
    # only the top-2 classes are revised
    top2 = np.argsort(-logits, 1)[:, :2]
    untouched = np.ones_like(logits, dtype=bool)
    untouched[np.arange(50)[:, None], top2] = False
    np.testing.assert_allclose(revised[:, 1:][untouched], logits[untouched])


def test_openmax_score_grows_away_from_the_class_mean():
    mavs = np.array([[5.0, 0.0], [0.0, 5.0]])
    shapes, scales = np.array([2.0, 2.0]), np.array([1.0, 1.0])
    at_mean = openmax_unknown_probability(np.array([[5.0, 0.0]]), mavs, shapes, scales, alpha=2)
    far = openmax_unknown_probability(np.array([[2.0, 0.5]]), mavs, shapes, scales, alpha=2)
    assert far[0] > at_mean[0]
