"""UCDSC (balanced-geometry paper, section 7): the loss, its background set, its config checks."""

import numpy as np
import pytest
import torch
from test_data import make_idx_dataset

from osrstudy.losses import build_loss
from osrstudy.run import execute
from osrstudy.store import open_run
from osrstudy.study import StudyConfigError, expand_study, job_spec


def test_ucdsc_by_hand():
    loss = build_loss("ucdsc", 3, 2, {"code": "harmonic", "ratio": 2.0, "hinge": 0.5, "margin": 1.5})
    p = loss.centres.numpy().astype(np.float64)
    z, y = np.array([[0.3, -0.2], [0.9, 0.1]]), np.array([1, 0])
    zb = np.array([[2.0, 2.0], [0.0, 0.1]])
    d2 = ((z[:, None] - p[None]) ** 2).sum(-1)
    own = d2[np.arange(2), y]
    rivals = (d2.sum(1) - own) / 2
    to_own = ((zb[:, None] - p[y][None]) ** 2).sum(-1)  # (background, training)
    expected = (own + 2.0 * own / rivals).mean() + 0.5 * np.maximum(0, 1.5 + own[None] - to_own).mean()
    value = loss(*(torch.tensor(a, dtype=torch.float32) for a in (z,)), torch.tensor(y),
                 torch.tensor(zb, dtype=torch.float32))
    assert value.item() == pytest.approx(expected, rel=1e-5)
    # its own score is the unsquared ratio R of the reject rule
    from osrstudy.scorers import ratio_score

    np.testing.assert_allclose(loss.native_score(torch.tensor(zb, dtype=torch.float32)).numpy(),
                               ratio_score(zb, p, power=1), rtol=1e-5)


def test_ucdsc_code_option_and_dimension_check():
    from osrstudy.losses import LOSSES

    assert not any(True for _ in build_loss("ucdsc", 4, 3, {}).parameters())  # simplex: fixed
    assert len(list(build_loss("ucdsc", 4, 3, {"code": "learned"}).parameters())) == 1
    with pytest.raises(ValueError, match="d >= 5"):
        LOSSES["ucdsc"].check_dimensions(6, 4, {"code": "simplex"})
    LOSSES["ucdsc"].check_dimensions(6, 4, {"code": "harmonic"})
    with pytest.raises(ValueError, match="simplex, harmonic or learned"):
        build_loss("ucdsc", 4, 3, {"code": "etf"})


def background_study(background, loss="ucdsc", dataset="fashion_mnist"):
    return {
        "name": "bg",
        "training": {"iterations": 3, "batch_size": 16, "checkpoint_every": 1, "background": background},
        "evaluation": {"scorers": ["native", "ratio"], "metrics": ["auroc", "accuracy"],
                       "max_samples": {"val": 60, "test": 60}},
        "blocks": {"b": {"datasets": [dataset], "backbones": ["lenet"], "embed_dims": [8], "losses": [loss]}},
    }


@pytest.mark.parametrize(
    "background, loss, dataset, message",
    [(None, "ucdsc", "fashion_mnist", "trains against a background set"),
     ({"dataset": "mnist"}, "sce", "fashion_mnist", "does not use a background set"),
     ({"dataset": "fashion_mnist"}, "ucdsc", "fashion_mnist", "study's own dataset"),
     ({"dataset": "digits"}, "ucdsc", "fashion_mnist", "must match"),
     ({"dataset": "mnsit"}, "ucdsc", "fashion_mnist", "Did you mean 'mnist'")],
)
def test_background_config_errors_name_the_fix(background, loss, dataset, message):
    with pytest.raises((StudyConfigError, KeyError), match=message):
        expand_study(background_study(background, loss, dataset))


def test_ucdsc_trains_against_a_background_dataset_end_to_end(tmp_path, fashion_mnist):
    """Fashion-MNIST (the real Debian files) known classes vs MNIST background (generated idx)."""
    make_idx_dataset(tmp_path / "data" / "mnist", n_train=300, n_test=50)
    spec = job_spec(expand_study(background_study({"dataset": "mnist"}))[0])
    execute(spec, tmp_path / "run.zarr", threads=1, data_root=str(tmp_path / "data"), log=lambda _: None)
    samples, summary = open_run(tmp_path / "run.zarr")
    assert np.isfinite(samples["score_native"].values).all()
    assert summary.history.sizes["step"] == 2  # before training, then after the 3 steps
