import pytest
import torch
from torch.autograd.functional import jacobian

from osrstudy.backbones import build_backbone
from osrstudy.benchmarks.gpu_smoke import INPUT_SHAPES as GPU_SMOKE_SHAPES
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
    estimate = jacobian_norms_estimate(backbone, x, 8, seed=3)
    torch.testing.assert_close(estimate, jacobian_norms_estimate(backbone, x, 8, seed=3))


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


INPUT_SHAPES = {name: (channels, side, side) for name, (channels, side) in GPU_SMOKE_SHAPES.items()}


def test_every_backbone_has_an_input_shape_here():
    from osrstudy.backbones import BACKBONES

    assert set(INPUT_SHAPES) == set(BACKBONES.names())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(INPUT_SHAPES))
def test_a_jacobian_pass_stays_within_its_memory_budget(name):
    """At d = 128 (the study's width) the old fixed chunk of 256 needed 134-305 GiB; the chunk is
    now chosen from a two-sample probe so that the measured peak stays under the budget."""
    from osrstudy.backbones import build_backbone
    from osrstudy.memory import peak_bytes, reset_cpu_peak

    if not reset_cpu_peak():
        pytest.skip("this platform cannot measure a CPU memory peak (/proc/self/clear_refs)")
    torch.manual_seed(0)
    backbone = build_backbone(name, INPUT_SHAPES[name][0], 128).eval()
    x = torch.randn(4, *INPUT_SHAPES[name])
    budget = 3 << 30
    norms, peak = peak_bytes(lambda: jacobian_norms(backbone, x, budget_bytes=budget), x.device)
    assert peak <= budget, f"{name}: {peak / 2**30:.2f} GiB"
    assert norms.shape == (4,) and torch.isfinite(norms).all()


def test_the_chunk_follows_the_budget_and_is_a_power_of_two():
    from osrstudy.backbones import build_backbone
    from osrstudy.jacobian import exact_norms
    from osrstudy.memory import jacobian_chunk, reset_cpu_peak

    if not reset_cpu_peak():
        pytest.skip("this platform cannot measure a CPU memory peak (/proc/self/clear_refs)")
    backbone = build_backbone("classifier32", 3, 128).eval()
    x = torch.randn(8, 3, 32, 32)
    small, large = (jacobian_chunk(exact_norms(backbone), x, budget) for budget in (1 << 20, 1 << 40))
    assert small == 1 and large == 256
    middle = jacobian_chunk(exact_norms(backbone), x, 2 << 30)
    assert 1 <= middle <= 256 and middle & (middle - 1) == 0


def test_a_chunk_that_runs_out_of_gpu_memory_is_halved_and_retried():
    from osrstudy.jacobian import in_chunks

    sizes = []

    def fn(chunk):
        sizes.append(len(chunk))
        if len(chunk) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated: this machine has no GPU)")
        return chunk.sum(1)

    x = torch.arange(14.0).view(7, 2)
    torch.testing.assert_close(in_chunks(fn, x, 8), x.sum(1))
    assert sizes[:3] == [7, 4, 2]  # halved until it fits, then kept


def test_interpolation_honours_the_chunk(monkeypatch):
    import osrstudy.jacobian as jacobian_module

    seen = []
    real = jacobian_module.in_chunks
    monkeypatch.setattr(jacobian_module, "in_chunks", lambda fn, x, chunk: seen.append(chunk) or real(fn, x, chunk))
    w = torch.randn(3, 5)
    jacobian_module.interpolation_norms(lambda b: b @ w.T, torch.randn(2, 5), torch.randn(2, 5), steps=4, chunk_size=3)
    assert seen == [3]


def test_the_gpu_smoke_script_runs_its_course_on_the_cpu(capsys):
    """It is the first thing to run on a GPU; here it runs on the CPU, briefly, so it cannot
    fail there for a reason a CPU could have shown."""
    from osrstudy.benchmarks.gpu_smoke import main

    main(["--device", "cpu", "--backbones", "small_cnn", "--steps", "2", "--batch", "16"])
    out = capsys.readouterr().out
    assert f"torch {torch.__version__}, built for CUDA {torch.version.cuda}, driver " in out
    assert "small_cnn Jacobian (d = 128): chunk 2: " in out and "chosen chunk: " in out
    assert "small_cnn training (fp32): " in out and "small_cnn training (bf16 + channels_last): " in out
    assert out.count("0 host-device syncs in 2 steps") == 2
