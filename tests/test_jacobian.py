import pytest
import torch
from torch.autograd.functional import jacobian

from osrstudy.backbones import build_backbone
from osrstudy.jacobian import jacobian_norms, jacobian_norms_estimate
from osrstudy.losses import build_loss


@pytest.mark.parametrize("loss_name", ["sce", "movr"])
def test_exact_norms_match_autograd_jacobian(loss_name):
    torch.manual_seed(0)
    backbone = build_backbone("small_cnn", 1, 8).eval()
    loss = build_loss(loss_name, 6, 8, {}).eval()
    # BatchNorm running statistics away from their initial values, so eval mode matters
    for m in backbone.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0)
    embed = lambda b: loss.represent(backbone(b))  # noqa: E731
    x = torch.randn(7, 1, 8, 8)
    fast = jacobian_norms(embed, x, chunk_size=3)
    reference = torch.stack([jacobian(lambda xi: embed(xi[None])[0], xi).norm() for xi in x])
    torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-6)


def test_chunking_does_not_change_norms():
    torch.manual_seed(1)
    backbone = build_backbone("small_cnn", 1, 4).eval()
    x = torch.randn(10, 1, 8, 8)
    torch.testing.assert_close(jacobian_norms(backbone, x, 1), jacobian_norms(backbone, x, 10))


def test_linear_map_norm_is_its_frobenius_norm():
    w = torch.randn(3, 5)
    x = torch.randn(4, 5)
    norms = jacobian_norms(lambda b: b @ w.T, x)
    torch.testing.assert_close(norms, w.norm().expand(4))


@pytest.mark.slow
def test_projection_estimator_is_unbiased_and_tightens_with_projections():
    torch.manual_seed(2)
    backbone = build_backbone("small_cnn", 1, 16).eval()
    x = torch.randn(64, 1, 8, 8)
    exact = jacobian_norms(backbone, x)
    errors = {}
    for m in (4, 64, 1024):
        estimate = jacobian_norms_estimate(backbone, x, m, seed=0)
        errors[m] = ((estimate**2 - exact**2) / exact**2).abs().mean().item()
        assert estimate.shape == exact.shape
    # mean relative error of the squared norm shrinks like 1 / sqrt(m) (bound sqrt(2 / m))
    assert errors[1024] < errors[64] < errors[4]
    assert errors[1024] < (2 / 1024) ** 0.5
    # unbiased: averaged over samples the squared estimate matches closely
    big = jacobian_norms_estimate(backbone, x, 1024, seed=1)
    assert (big**2).mean().item() == pytest.approx((exact**2).mean().item(), rel=0.02)


def test_projection_estimator_is_deterministic_for_a_seed():
    backbone = build_backbone("small_cnn", 1, 4).eval()
    x = torch.randn(5, 1, 8, 8)
    torch.testing.assert_close(jacobian_norms_estimate(backbone, x, 8, seed=3), jacobian_norms_estimate(backbone, x, 8, seed=3))


def test_interpolation_norms_equal_norms_at_the_interpolated_points():
    from osrstudy.jacobian import interpolation_norms

    torch.manual_seed(3)
    backbone = build_backbone("small_cnn", 1, 4).eval()
    x0, x1 = torch.randn(3, 1, 8, 8), torch.randn(3, 1, 8, 8)
    norms = interpolation_norms(backbone, x0, x1, steps=5)
    assert norms.shape == (3, 5)
    torch.testing.assert_close(norms[:, 0], jacobian_norms(backbone, x0))
    torch.testing.assert_close(norms[:, -1], jacobian_norms(backbone, x1))
    middle = 0.5 * x0 + 0.5 * x1
    torch.testing.assert_close(norms[:, 2], jacobian_norms(backbone, middle))
