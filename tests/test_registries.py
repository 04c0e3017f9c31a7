"""Every registry, tested over its registered names (as timm's tests run over list_models()):
registering a loss, backbone, out-of-distribution set, augmentation, figure or table is all it
takes to have it tested. Scorers, metrics and datasets have theirs beside their maths
(test_scorers, test_metrics, test_datasets)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from osrstudy.augment import KINDS, build_augment
from osrstudy.backbones import BACKBONES, build_backbone
from osrstudy.benchmarks.gpu_smoke import INPUT_SHAPES
from osrstudy.data.ood import OOD_SETS, shape_of
from osrstudy.figures import FIGURES
from osrstudy.losses import LOSSES, build_loss, resolve_loss
from osrstudy.readers import matches, produce
from osrstudy.tables import TABLES, paper

REPO = Path(__file__).resolve().parents[1]
STUDY_BLOCKS = yaml.safe_load((REPO / "config/study.yaml").read_text())["blocks"]


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_trains_one_step_and_scores_every_sample(name):
    torch.manual_seed(0)
    cls = LOSSES[name]
    cls.check_dimensions(4, 6, resolve_loss(name, {}))
    loss = build_loss(name, 4, 6, {})
    z = torch.randn(8, 6, requires_grad=True)
    y = torch.randint(0, 4, (8,))
    value = loss(z, y, torch.randn(5, 6)) if cls.uses_background else loss(z, y)
    value.backward()
    assert torch.isfinite(value) and z.grad.abs().sum() > 0
    for out in (loss.logits(z), loss.sample_loss(z), loss.native_score(z)):
        assert out.shape[0] == 8 and torch.isfinite(out).all()
    assert loss.represent(z).shape == (8, 6)
    assert loss.prototypes(z.detach(), y).shape == (4, 6)
    assert isinstance(loss.factors(), dict)


@pytest.mark.parametrize("name", BACKBONES.names())
def test_every_backbone_embeds_its_input_and_passes_gradients(name):
    channels, side = INPUT_SHAPES[name]
    torch.manual_seed(0)
    backbone = build_backbone(name, channels, 16)
    x = torch.randn(2, channels, side, side, requires_grad=True)
    z = backbone(x)
    assert z.shape == (2, 16) and torch.isfinite(z).all()
    z.sum().backward()
    assert x.grad.abs().sum() > 0
    backbone.eval()
    assert torch.equal(backbone(x[:1]), backbone(x[:1]))  # eval mode: deterministic, samples independent


@pytest.mark.parametrize("name", OOD_SETS.names())
def test_every_out_of_distribution_set_declares_its_shape_and_where_it_comes_from(name, tmp_path):
    channels, side = shape_of(name, 1, 28)
    assert channels in (1, 3) and side in (28, 32)
    entry = OOD_SETS[name]
    if not entry.sources():  # generated: any shape, the same images every time
        images = entry.load(None, 1, 28)
        assert images.shape[1:] == (1, 28, 28) and images.dtype == np.uint8
        np.testing.assert_array_equal(images[:5], entry.load(None, 1, 28)[:5])
    else:  # fetched: a missing download names the file and the fix
        with pytest.raises(FileNotFoundError, match="snakemake data|unpack"):
            entry.load(str(tmp_path), 3, 32)


@pytest.mark.parametrize("kind", KINDS)
def test_every_augmentation_keeps_the_batch_shape(kind):
    augment = build_augment(kind, 32, True, (0.5,) * 3, (0.25,) * 3)
    x = torch.randn(16, 3, 32, 32)
    out = x if augment is None else augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and torch.isfinite(out).all()


@pytest.mark.parametrize("registry, name",
                         [(FIGURES, n) for n in FIGURES.names()] + [(TABLES, n) for n in TABLES.names()],
                         ids=lambda v: v if isinstance(v, str) else v.kind)
def test_every_figure_and_table_has_a_caption_and_reads_blocks_the_full_study_has(registry, name):
    fn = registry[name]
    assert len(" ".join(fn.__doc__.split())) > 60, f"{name}: its docstring is its caption"
    dead = [p for p in fn.reads if not any(matches(b, (p,)) for b in STUDY_BLOCKS)]
    assert not dead, f"{name} reads {dead}, which match no block of config/study.yaml"


@pytest.mark.parametrize("name", [n for n in FIGURES.names() if not FIGURES[n].reads])
def test_every_synthetic_figure_draws_without_a_study(name):
    import matplotlib.pyplot as plt

    drawn = produce(FIGURES[name], store=None)
    assert drawn.axes
    plt.close(drawn)


@pytest.mark.parametrize("name", [n for n in TABLES.names() if not TABLES[n].reads])
def test_every_synthetic_table_tabulates_without_a_study(name):
    frame = produce(TABLES[name], store=None)
    assert len(frame) and frame.select_dtypes("number").notna().any().any()


def test_table1_rows_name_blocks_that_train_them_on_every_paper_dataset():
    """Before, Table 1 found its runs by block-name prefix: 'protocol_a_movr' missed the Tiny
    ImageNet runs of 'protocol_a_tiny_imagenet_movr', so the combined rows had no Tiny ImageNet
    cells."""
    spec = paper("jacobian_norm_table1")
    for row in (r for r in spec["rows"] if "ours" in r):
        ours = row["ours"]
        backbones = {ours["backbone"], "resnet18_64" if ours["backbone"] == "resnet18" else ours["backbone"]}
        covered = set()
        for block in ours["blocks"]:
            entry = STUDY_BLOCKS[block]
            losses = {loss if isinstance(loss, str) else loss["name"] for loss in entry["losses"]}
            if ours["loss"] in losses and backbones & set(entry["backbones"]):
                covered |= set(entry["datasets"])
        assert covered == set(spec["datasets"]), f"{row['method']} / {row['arch']}: {set(spec['datasets']) - covered}"


def test_table3_readings_put_each_reading_of_the_own_score_side_by_side():
    import xarray as xr

    from osrstudy.readers import Selection
    from osrstudy.study_frames import StudyView

    scorers, metrics = ["loss", "loss_margin", "maxlogit"], ["auroc", "accuracy", "detacc"]
    results = np.zeros((3, 1, 3, 3))  # run, eval_set, scorer, metric
    results[:, 0, 0, 0] = [0.6, 0.7, 0.9]  # loss AUROC
    results[:, 0, 1, 0] = [0.8, 0.9, 0.5]  # loss_margin AUROC
    history = np.full((3, 2, 1), np.nan)
    history[:, :, 0] = [[0.1, 0.3], [0.2, np.nan], [0.5, 0.5]]  # jacobian_gap: last finite value counts
    root = xr.Dataset(
        {"results": (("run", "eval_set", "scorer", "metric"), results),
         "history": (("run", "step", "quantity"), history),
         "membership": (("run", "block"), np.array([[1, 0], [1, 0], [0, 1]], dtype=bool))},
        coords={"run": ["a", "b", "c"], "eval_set": ["held_out"], "scorer": scorers, "metric": metrics,
                "step": [5, 10], "quantity": ["jacobian_gap"], "block": ["table3_movr", "table3_k"],
                "dataset": ("run", ["digits"] * 3)},
    )
    fn = TABLES["jn_table3_readings"]
    frame = fn(Selection(StudyView(root, Path("unused"), {}), fn.reads))
    movr = frame.set_index("row").loc["movr"]
    assert movr.n == 2 and movr.auroc_loss_mean == pytest.approx(65)
    assert movr.auroc_loss_margin_mean == pytest.approx(85)
    assert movr.jacobian_gap_mean == pytest.approx(0.25) and np.isnan(movr.auroc_jacobian_mean)  # no jacobian scorer
    assert list(frame.row) == ["movr", "k"]  # the paper's row order
    shown = fn.display(frame)
    assert shown.set_index("row").loc["movr", "auroc_loss"] == "65.00 ± 7.07"
