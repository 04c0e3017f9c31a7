"""osrstudy.ovr_loss_terms: m-OvR's sample-wise loss split into its own-class and rival terms,
each an open-set score, and the command on real run stores."""
import json

import numpy as np
import torch
import xarray as xr

from osrstudy.labels import UNKNOWN
from osrstudy.losses import LOSSES
from osrstudy.metrics import auroc
from osrstudy.ovr_loss_terms import loss_terms, main, terms_summary
from osrstudy.run import execute


def test_each_term_by_hand():
    terms = loss_terms(np.array([[2.0, 0.0, -1.0]]))  # predicted class 0
    np.testing.assert_allclose(terms["own_term"], [np.log1p(np.exp(-2.0))])
    np.testing.assert_allclose(terms["rival_terms"], [np.log(2.0) + np.log1p(np.exp(-1.0))])
    np.testing.assert_allclose(terms["loss"], terms["own_term"] + terms["rival_terms"])
    np.testing.assert_allclose(terms["nearest_rival"], [0.0])


def test_the_terms_add_up_to_the_loss_m_ovr_scores_with():
    torch.manual_seed(0)
    loss = LOSSES["movr"](n_classes=6, embed_dim=8, scale_T=32.0, margin=0.5, normalize=True)
    z = torch.randn(200, 8)
    with torch.no_grad():
        expected = loss.sample_loss(z).numpy()
        terms = loss_terms(loss.logits(z).numpy())
    np.testing.assert_allclose(terms["loss"], expected, rtol=1e-5)


def test_the_rival_terms_are_a_hinge_on_the_rival_cosines_up_to_log_2_each():
    # softplus(x) - max(0, x) lies in (0, log 2]: for a large T the rival terms count the rivals
    # with a positive cosine, each by T times that cosine, and the others hardly at all
    rng = np.random.default_rng(0)
    cosines = np.clip(rng.normal(0.0, 0.4, size=(500, 6)), -1, 1)
    cosines[np.arange(500), rng.integers(0, 6, 500)] = 0.95
    predicted = cosines.argmax(axis=1)
    rivals = np.where(np.arange(6) == predicted[:, None], -np.inf, cosines)
    T = 64.0
    hinge = T * np.maximum(rivals, 0).sum(axis=1)
    gap = loss_terms(T * cosines)["rival_terms"] - hinge
    assert np.all(gap > 0) and np.all(gap <= 5 * np.log(2) + 1e-12)
    np.testing.assert_allclose(loss_terms(T * cosines)["nearest_rival"], T * rivals.max(axis=1))


def test_the_summary_separates_what_each_term_sees():
    # known samples: a clear own class but a near rival; unknown: a weak own class, rivals far
    rng = np.random.default_rng(1)
    labels = np.r_[rng.integers(0, 6, 300), np.full(300, UNKNOWN)]
    known = labels != UNKNOWN
    cosines = np.full((600, 6), -0.6) + 0.05 * rng.normal(size=(600, 6))
    cosines[:, 0] = np.where(known, 0.9, 0.5)
    cosines[:, 1] = np.where(known, 0.3, -0.5)
    report = terms_summary(32.0 * cosines, labels)
    assert (report["known"], report["unknown"]) == (300, 300)
    assert report["auroc_own_term"] == 1.0 and report["auroc_rival_terms"] == 0.0
    assert report["auroc_loss"] == auroc(loss_terms(32.0 * cosines)["loss"], labels)
    assert report["rival_share_median_known"] > 0.99 > report["rival_share_median_unknown"]
    assert (report["positive_rivals_mean_known"], report["positive_rivals_mean_unknown"]) == (1.0, 0.0)


def test_the_command_reads_run_stores(tmp_path, tiny_specs, capsys):
    movr, sce = tmp_path / "movr.zarr", tmp_path / "sce.zarr"
    execute(tiny_specs["movr"], movr, threads=1, log=lambda _: None)
    assert main([str(movr)]) == 0
    report = json.loads(capsys.readouterr().out)
    ds = xr.open_zarr(movr)
    test = ds.partition.values == "test"
    assert (report["loss"], report["scale_T"], report["margin"]) == ("movr", 32.0, 0.5)
    assert report["known"] + report["unknown"] == test.sum()
    # the split reproduces the stored own score, which the run's loss computed itself
    assert np.isclose(report["auroc_loss"], auroc(ds.score_loss.values[test], ds.label.values[test]))
    execute(tiny_specs["sce"], sce, threads=1, log=lambda _: None)
    assert main([str(movr), str(sce)]) == 2
    assert "loss 'sce' has no one-vs-rest sample-wise loss" in capsys.readouterr().err
    assert main([str(movr), "--partition", "train"]) == 2
