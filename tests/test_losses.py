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


def test_nsce_is_cross_entropy_on_scaled_cosines():
    loss = build_loss("nsce", 2, 2, {"scale_T": 4.0})
    with torch.no_grad():
        loss.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 3.0]]))
    z, y = torch.tensor([[3.0, 4.0]]), torch.tensor([1])  # unit z = (0.6, 0.8): cosines (0.6, 0.8)
    expected = -math.log(math.exp(4 * 0.8) / (math.exp(4 * 0.6) + math.exp(4 * 0.8)))
    assert loss(z, y).item() == pytest.approx(expected, rel=1e-6)


def test_doc_is_one_vs_rest_sigmoid_on_a_linear_head():
    loss = build_loss("doc", 2, 2, {})
    with torch.no_grad():
        loss.head.weight.copy_(torch.eye(2)), loss.head.bias.copy_(torch.tensor([0.5, -0.5]))
    z, y = torch.tensor([[1.0, 2.0]]), torch.tensor([0])  # logits (1.5, 1.5)
    assert loss(z, y).item() == pytest.approx(softplus(-1.5) + softplus(1.5), rel=1e-6)


def test_prototype_loss_by_hand():
    loss = build_loss("harmonic", 3, 2, {"radius": 1.0, "compactness": 0.5, "ratio": 2.0})
    p = loss.centres.numpy().astype(np.float64)
    z = np.array([0.3, -0.2])
    d2 = ((z - p) ** 2).sum(1)
    y = 1
    ce = -np.log(np.exp(-d2[y]) / np.exp(-d2).sum())
    expected = ce + 0.5 * d2[y] + 2.0 * d2[y] / np.delete(d2, y).mean()
    value = loss(torch.tensor(z[None], dtype=torch.float32), torch.tensor([y])).item()
    assert value == pytest.approx(expected, rel=1e-5)


def test_fixed_prototypes_stay_and_learned_ones_move():
    for name, moves in [("simplex", False), ("harmonic", False), ("learned", True)]:
        torch.manual_seed(0)
        loss = build_loss(name, 4, 3, {})
        before = loss.centres.detach().clone()
        params = list(loss.parameters())
        if params:
            opt = torch.optim.SGD(params, lr=0.1)
            loss(torch.randn(16, 3), torch.randint(0, 4, (16,))).backward()
            opt.step()
        assert (not torch.equal(before, loss.centres.detach())) == moves, name


def test_learned_prototypes_start_from_the_harmonic_code():
    from osrstudy.codes import harmonic_code

    loss = build_loss("learned", 5, 4, {"radius": 2.0})
    np.testing.assert_allclose(loss.centres.detach().numpy(), harmonic_code(5, 4, 2.0), atol=1e-6)


def test_simplex_needs_dimension_k_minus_one_and_harmonic_does_not():
    from osrstudy.losses import LOSSES

    with pytest.raises(ValueError, match="d >= 5"):
        LOSSES["simplex"].check_dimensions(6, 4)
    LOSSES["harmonic"].check_dimensions(6, 4)
    LOSSES["learned"].check_dimensions(80, 8)


def test_frozen_head_fits_known_embeddings():
    from osrstudy.features import fit_linear_head

    rng = np.random.default_rng(0)
    for k in (2, 4):
        centres = rng.normal(size=(k, 3)) * 5
        labels = rng.integers(0, k, 400)
        z = centres[labels] + rng.normal(size=(400, 3)) * 0.3
        w, b = fit_linear_head(z, labels, k)
        assert w.shape == (k, 3) and b.shape == (k,)
        assert ((z @ w.T + b).argmax(1) == labels).mean() > 0.97


def test_gcpl_is_distance_cross_entropy_plus_prototype_loss():
    loss = build_loss("gcpl", 2, 2, {"pl_weight": 0.5})
    with torch.no_grad():
        loss.centres.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
    z, y = torch.tensor([[0.0, 1.0]]), torch.tensor([1])  # squared distances (1, 1)
    assert loss(z, y).item() == pytest.approx(math.log(2) + 0.5 * 1.0, rel=1e-6)
    assert loss.native_score(torch.tensor([[0.0, 3.0]])).item() == pytest.approx(5.0)  # to (1, 1)


def test_rpl_logits_are_distances_to_reciprocal_points():
    loss = build_loss("rpl", 2, 2, {"radius_weight": 0.5})
    with torch.no_grad():
        loss.points.copy_(torch.tensor([[0.0, 0.0], [2.0, 0.0]]))
        loss.radius.fill_(1.0)
    z, y = torch.tensor([[0.0, 2.0]]), torch.tensor([0])
    logits = torch.tensor([[4.0 / 2, 8.0 / 2]])  # mean over 2 dims of the squared offsets
    torch.testing.assert_close(loss.logits(z), logits)
    expected = F.cross_entropy(logits, y).item() + 0.5 * (2.0 - 1.0) ** 2
    assert loss(z, y).item() == pytest.approx(expected, rel=1e-6)
    assert loss.native_score(z).item() == pytest.approx(-4.0)
    # the radius is learned
    assert any(p is loss.radius for p in loss.parameters())


def test_nsce_margin_widens_only_the_true_class_angle():
    loss = build_loss("nsce", 2, 2, {"scale_T": 1.0, "margin": 0.3})
    with torch.no_grad():
        loss.weight.copy_(torch.eye(2))
    z, y = torch.tensor([[math.cos(0.4), math.sin(0.4)]]), torch.tensor([0])  # angles 0.4, pi/2 - 0.4
    logits = torch.tensor([[math.cos(0.7), math.cos(math.pi / 2 - 0.4)]])
    assert loss(z, y).item() == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    assert resolve_loss("nsce", {}) == {"scale_T": 32.0, "margin": 0.0}  # plain N-SCE by default


def test_proposition_8_movr_inter_class_gradient_exceeds_sce_when_s_y_positive():
    """Jacobian-norm paper Prop. 8 (Appendix C, T = 1, no margin): dL/ds_k for a negative class k
    is sigmoid(s_k) under one-vs-rest and softmax_k under SCE; the first is larger whenever
    s_y > 0. With s_y < 0 the ordering can flip, so the assumption matters."""
    from osrstudy.losses import MarginalOneVsRest

    torch.manual_seed(0)
    s = (2 * torch.rand(2000, 6) - 1).requires_grad_()  # cosines in [-1, 1]
    y = torch.zeros(2000, dtype=torch.long)
    ovr = torch.autograd.grad(MarginalOneVsRest._ovr_loss(s, y).sum(), s)[0][:, 1:]
    sce = torch.autograd.grad(F.cross_entropy(s, y, reduction="sum"), s)[0][:, 1:]
    positive = s[:, 0] > 0
    assert (ovr[positive] > sce[positive]).all()
    # without the assumption, and with large logits, SCE's coefficient can be the larger one
    big = torch.tensor([[-5.0, 4.0, -5.0]], requires_grad=True)
    y1 = torch.zeros(1, dtype=torch.long)
    g_ovr = torch.autograd.grad(MarginalOneVsRest._ovr_loss(big, y1).sum(), big)[0][0, 1]
    g_sce = torch.autograd.grad(F.cross_entropy(big, y1), big)[0][0, 1]
    assert g_sce > g_ovr


def test_nsce_margin_target_logit_falls_with_the_angle_everywhere():
    """Without ArcFace's guard, cos(theta + m) rises again past pi - m and training found the
    degenerate optimum (all samples anti-aligned, 3 % accuracy on digits). The rival prototype is
    orthogonal to the plane z turns in, so the loss moves only with the target logit."""
    loss = build_loss("nsce", 2, 3, {"scale_T": 4.0, "margin": 0.5})
    with torch.no_grad():
        loss.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    y = torch.tensor([0])
    thetas = np.linspace(0, math.pi, 721)
    values = [loss(torch.tensor([[math.cos(t), math.sin(t), 0.0]], dtype=torch.float32), y).item() for t in thetas]
    assert all(b >= a - 1e-5 for a, b in zip(values, values[1:]))  # non-decreasing up to pi
    assert values[-1] > values[int(len(thetas) * (math.pi - 0.5) / math.pi)] + 0.1  # anti-aligned is worst


def test_movr_margin_sample_loss_is_eq_6_with_cos_angle_plus_m_for_every_class():
    """Jacobian-norm paper eq. 5-6 at inference, read literally: s_k = cos(theta_k + m) for every
    class, then sum_k BCE(T s_k, 1[k = predicted]); the `loss` scorer reads the same without m."""
    loss = build_loss("movr", 3, 2, {"scale_T": 4.0, "margin": 0.5})
    with torch.no_grad():
        loss.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
    angle = 0.3  # z at 0.3 rad from prototype 0: angles 0.3, pi/2 - 0.3, pi - 0.3
    z = torch.tensor([[math.cos(angle), math.sin(angle)]])
    thetas = [angle, math.pi / 2 - angle, math.pi - angle]

    def bce(logit, target):
        return -math.log(1 / (1 + math.exp(-logit))) if target else -math.log(1 - 1 / (1 + math.exp(-logit)))

    with_m = sum(bce(4.0 * math.cos(t + 0.5), k == 0) for k, t in enumerate(thetas))
    without_m = sum(bce(4.0 * math.cos(t), k == 0) for k, t in enumerate(thetas))
    assert loss.margin_sample_loss(z).item() == pytest.approx(with_m, rel=1e-6)
    assert loss.sample_loss(z).item() == pytest.approx(without_m, rel=1e-6)
    assert abs(with_m - without_m) > 0.1  # the margin moves every class, negatives included


def test_nsce_margin_sample_loss_widens_the_predicted_class_only():
    loss = build_loss("nsce", 2, 2, {"scale_T": 2.0, "margin": 0.3})
    with torch.no_grad():
        loss.weight.copy_(torch.eye(2))
    z = torch.tensor([[math.cos(0.4), math.sin(0.4)]])  # predicted class 0
    logits = torch.tensor([[2.0 * math.cos(0.7), 2.0 * math.cos(math.pi / 2 - 0.4)]], dtype=torch.float64)
    expected = F.cross_entropy(logits, torch.tensor([0])).item()
    assert loss.margin_sample_loss(z).item() == pytest.approx(expected, rel=1e-6)
    plain = build_loss("nsce", 2, 2, {})
    assert torch.equal(plain.margin_sample_loss(z), plain.sample_loss(z))  # no margin: the same score
