"""config/demo_full.yaml, reduced (one split, two epochs, a small evaluation budget), end to end
through snakemake: every block trains, merges, and every figure and table of both papers renders."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
from test_planned_study import planned_view, replicate_checks
from test_workflow import snakemake

from osrstudy.figures import FIGURES
from osrstudy.readers import applies
from osrstudy.study import load_study
from osrstudy.study_frames import StudyView, factors, plain
from osrstudy.tables import TABLES

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def reduced(workdir: Path, config: str, splits: list[int], **evaluation) -> str:
    """The config with two epochs, the given splits and a small evaluation budget."""
    study = yaml.safe_load((REPO / config).read_text())
    study["name"] = f"{study['name']}_reduced"
    study["training"].update(epochs=2, checkpoint_every=1)
    study.setdefault("evaluation", {}).update(max_samples={"val": 80, "test": 100}, **evaluation)
    for block in study["blocks"].values():
        block["splits"] = splits
    path = workdir / "config" / f"{study['name']}.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return f"config/{study['name']}.yaml"


def test_the_demo_renders_each_figure_and_table_its_blocks_support(tmp_path):
    # with the Jacobian budgets on: the per-sample figures draw the samples that have a norm
    config = reduced(tmp_path, "config/demo.yaml", [0, 1], jacobian_before=40, jacobian_after=30)
    snakemake(tmp_path, "--cores", "2", "--config", f"study={config}")
    out, blocks = tmp_path / "results/demo_reduced", ["protocol_a"]
    expected = [n for n in FIGURES.names() if applies(FIGURES[n], blocks)]
    assert len(expected) >= 6 and "jn_fig07_k_scan" not in expected and "geo_fig02_far_vs_dimension" in expected
    for name in expected:
        assert (out / f"figures/{name}.png").stat().st_size > 5_000, name
    for name in [n for n in TABLES.names() if applies(TABLES[n], blocks)]:
        assert "nothing to tabulate" not in (out / f"tables/{name}.md").read_text(), name


def test_every_block_trains_and_every_figure_and_table_renders(tmp_path, monkeypatch):
    config = reduced(tmp_path, "config/demo_full.yaml", [0])
    done = snakemake(tmp_path, "--cores", "2", "--config", f"study={config}")
    log = done.stdout + done.stderr
    assert "study demo_full_reduced: " in log and "training jobs" in log
    assert "geometry: 3 runs; 1 left out: a simplex of K = 6 prototypes needs d >= K - 1 = 5" in log

    out = tmp_path / "results/demo_full_reduced"
    for name in FIGURES.names():
        for suffix in ("pdf", "png"):
            assert (out / f"figures/{name}.{suffix}").stat().st_size > 5_000, name
    for name in TABLES.names():
        for suffix in ("csv", "md", "tex"):
            assert (out / f"tables/{name}.{suffix}").stat().st_size > 100, name

    root = xr.open_zarr(out / "study.zarr")
    skipped = yaml.safe_load(root.attrs["skipped"])
    assert [(s["block"], s["loss"]) for s in skipped] == [("geometry", "simplex")]
    assert set(root.eval_set.values) == {"held_out", "gaussian_noise", "uniform_noise"}
    # Protocol B's runs have the noise sets; the other runs hold NaN there (not evaluated)
    protocol_b = root.membership.sel(block="protocol_b").values
    noise = root.results.sel(eval_set="gaussian_noise", scorer="msp", metric="auroc").values
    assert (noise[protocol_b] > 0).all() and (noise[~protocol_b] != noise[~protocol_b]).any()
    assert sorted(set(root.n_known.values[root.membership.sel(block="k_scan").values].tolist())) == [2, 4, 6]

    # The planned study (checked when snakemake reads the config) is the merged one as the tables
    # see it: every factor of every run, and every replicate check each figure and table makes.
    planned = planned_view(load_study(tmp_path / config))
    merged = StudyView.open(out / "study.zarr")
    assert sorted(factors(planned.root)) == sorted(factors(merged.root))
    for name in ["run", *factors(merged.root)]:
        np.testing.assert_array_equal(plain(planned.root[name].values), plain(merged.root[name].values), err_msg=name)
    made = replicate_checks(merged, monkeypatch)
    assert sum(map(len, made.values())) > 30
    assert replicate_checks(planned, monkeypatch) == made

    # Table 3: all fourteen rows (baseline, m-OvR, a-k, ours), each with its run on digits (and the
    # average over datasets)
    ablation = pd.read_csv(out / "tables/jn_table3_ablation.csv")
    assert ablation["row"].nunique() == 14 and (ablation["n"] == 1).all()
    assert set(ablation.dataset) == {"digits", "average"}
