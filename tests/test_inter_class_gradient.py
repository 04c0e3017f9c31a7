"""Prop. 8 on trained embeddings (osrstudy.inter_class_gradient): the coefficient ratio against
autograd, the inequality where its assumption holds, and the command on a real run store."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from osrstudy.inter_class_gradient import cosines, log_rival_ratio, main, prop8_summary, with_margin
from osrstudy.run import execute


def autograd_coefficients(s: np.ndarray, labels: np.ndarray, scale_T: float):
    """dL/ds_k of the one-vs-rest loss (eq. 5) and of SCE, by autograd, at the rivals."""
    t = torch.tensor(s, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(labels)
    ovr = F.binary_cross_entropy_with_logits(scale_T * t, F.one_hot(y, s.shape[1]).double(), reduction="sum")
    g_ovr = torch.autograd.grad(ovr, t)[0].numpy()
    g_sce = torch.autograd.grad(F.cross_entropy(scale_T * t, y, reduction="sum"), t)[0].numpy()
    rivals = np.ones_like(s, dtype=bool)
    rivals[np.arange(len(s)), labels] = False
    return g_ovr[rivals], g_sce[rivals]


def test_the_ratio_is_the_ratio_of_the_two_losses_gradients():
    rng = np.random.default_rng(0)
    s, labels = rng.uniform(-1, 1, (500, 6)), rng.integers(0, 6, 500)
    g_ovr, g_sce = autograd_coefficients(s, labels, 4.0)
    np.testing.assert_allclose(log_rival_ratio(s, labels, 4.0).ravel(), np.log(g_ovr / g_sce), rtol=1e-9, atol=1e-12)


def test_one_vs_rest_pushes_rivals_harder_wherever_s_y_is_positive_and_not_always_otherwise():
    rng = np.random.default_rng(1)
    s, labels = rng.uniform(-1, 1, (4000, 6)), rng.integers(0, 6, 4000)
    positive = s[np.arange(4000), labels] > 0
    larger = log_rival_ratio(s, labels, 32.0) > 0
    assert larger[positive].all() and not larger[~positive].all()
    # a rival at cosine 1 and s_y barely positive: both coefficients are 1 to 14 digits, still strict
    near_tie = np.array([[1e-3, 1.0, -1.0]])
    assert (log_rival_ratio(near_tie, np.array([0]), 32.0)[0, 0] > 0)
    # every cosine negative (embeddings opposite all prototypes): SCE's push is the larger, finite
    opposite = np.full((1, 4), -1.0)
    opposite[0, 0] = -0.9
    ratio = log_rival_ratio(opposite, np.array([0]), 32.0)
    ovr, sce = np.exp(-32.0) / (1 + np.exp(-32.0)), np.exp(-32.0) / (np.exp(-28.8) + 3 * np.exp(-32.0))
    np.testing.assert_allclose(ratio, np.log(ovr / sce))
    assert (ratio < 0).all() and np.isfinite(ratio).all()
    summary = prop8_summary(s, labels, 32.0)
    assert summary["share_ovr_larger_where_s_y_positive"] == 1.0
    assert summary["share_s_y_positive"] == pytest.approx(positive.mean())


def test_the_margin_turns_every_angle_by_m():
    s = np.array([[1.0, 0.0, -1.0]])
    np.testing.assert_allclose(with_margin(s, 0.5), [[np.cos(0.5), np.cos(np.pi / 2 + 0.5), np.cos(np.pi + 0.5)]])
    np.testing.assert_allclose(cosines(np.array([[3.0, 4.0]]), np.array([[2.0, 0.0], [0.0, -1.0]])), [[0.6, -0.8]])


def test_the_command_reads_a_run_store_at_its_own_T_and_m(tmp_path, tiny_specs, capsys):
    execute(tiny_specs["movr"], tmp_path / "movr.zarr", threads=1, log=lambda _: None)
    execute(tiny_specs["sce"], tmp_path / "sce.zarr", threads=1, log=lambda _: None)
    assert main([str(tmp_path / "movr.zarr")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["loss"], report["scale_T"], report["margin"]) == ("movr", 32.0, 0.5)
    assert 0 < report["without_margin"]["samples"] and 0 <= report["with_margin"]["share_s_y_positive"] <= 1
    assert main([str(tmp_path / "sce.zarr")]) == 2
    assert "has no scale T (loss 'sce'); pass --scale-T" in capsys.readouterr().err
    assert main([str(tmp_path / "sce.zarr"), "--scale-T", "16"]) == 0
    assert json.loads(capsys.readouterr().out)["scale_T"] == 16.0
