import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from osrstudy.losses import build_loss, resolve_loss
from osrstudy.registry import UnknownNameError


def softplus(v):
    return math.log1p(math.exp(v))


def movr_with_prototypes(prototypes, **options):
    loss = build_loss("movr", len(prototypes), len(prototypes[0]), options)
    with torch.no_grad():
        loss.weight.copy_(torch.tensor(prototypes, dtype=torch.float32))
    return loss


def test_movr_without_margin_matches_hand_computation():
    loss = movr_with_prototypes([[1.0, 0.0], [0.0, 1.0]], scale_T=1.0, margin=0.0)
    z, y = torch.tensor([[2.0, 0.0]]), torch.tensor([0])
    # cosines (1, 0): -log sigmoid(1) - log(1 - sigmoid(0))
    expected = softplus(-1.0) + softplus(0.0)
    assert loss(z, y).item() == pytest.approx(expected, rel=1e-6)


def test_movr_margin_shifts_every_angle():
    loss = movr_with_prototypes([[1.0, 0.0], [0.0, 1.0]], scale_T=1.0, margin=math.pi / 2)
    z, y = torch.tensor([[3.0, 0.0]]), torch.tensor([0])
    # angles (0, pi/2) + pi/2 -> s = (0, -1): -log sigmoid(0) - log(1 - sigmoid(-1))
    expected = softplus(0.0) + softplus(-1.0)
    assert loss(z, y).item() == pytest.approx(expected, rel=1e-5)


def test_movr_inference_score_is_loss_at_predicted_label_without_margin():
    loss = movr_with_prototypes([[1.0, 0.0], [0.0, 1.0]], scale_T=2.0, margin=0.5)
    z = torch.tensor([[0.6, 0.8]])  # unit vector, cosines (0.6, 0.8): predicted label 1
    expected = softplus(-2 * 0.8) + softplus(2 * 0.6)
    assert loss.sample_loss(z).item() == pytest.approx(expected, rel=1e-6)
    assert loss.logits(z).argmax(1).item() == 1


@pytest.mark.parametrize("margin", [0.0, 0.5])
def test_movr_negative_prototype_optimum_sits_at_pi_minus_margin(margin):
    """Appendix C / Prop. 6-7: for one sample, the loss over a negative prototype's angle is
    minimal at pi - m (with m = 0 the negatives collapse onto -w_y). T = 1 keeps the float32
    landscape from flattening out (at T = 32 every angle past pi/2 costs < 1e-7)."""
    angles = np.linspace(0, math.pi, 3001)
    values = []
    for phi in angles:
        loss = movr_with_prototypes([[1.0, 0.0], [math.cos(phi), math.sin(phi)]], scale_T=1.0, margin=margin)
        values.append(loss(torch.tensor([[1.0, 0.0]]), torch.tensor([0])).item())
    assert angles[int(np.argmin(values))] == pytest.approx(math.pi - margin, abs=2e-3)


def test_sce_matches_cross_entropy_and_its_score_is_minus_log_msp():
    loss = build_loss("sce", 3, 4, {})
    z, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    logits = loss.head(z)
    assert loss(z, y).item() == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-6)
    msp = F.softmax(logits.double(), 1).max(1).values
    torch.testing.assert_close(loss.sample_loss(z), -torch.log(msp))


def test_margin_without_normalisation_is_refused():
    with pytest.raises(ValueError, match="normalize: true or margin: 0"):
        resolve_loss("movr", {"margin": 0.5, "normalize": False})


def test_unknown_loss_and_option_get_did_you_mean():
    with pytest.raises(UnknownNameError, match="Did you mean 'movr'"):
        resolve_loss("mvor", {})
    with pytest.raises(UnknownNameError, match="Did you mean 'scale_T'"):
        resolve_loss("movr", {"scale_t": 16})


def test_movr_defaults_are_the_papers():
    assert resolve_loss("movr", {}) == {"scale_T": 32.0, "margin": 0.5, "normalize": True}
