"""config/demo_full.yaml, reduced (one split, two epochs, a small evaluation budget), end to end
through snakemake: every block trains, merges, and every figure and table of both papers renders."""
from pathlib import Path

import pandas as pd
import xarray as xr
import yaml

from osrstudy.figures import FIGURES
from osrstudy.synthetic import SYNTHETIC, SYNTHETIC_FIGURES
from osrstudy.tables import TABLES
from test_workflow import snakemake

REPO = Path(__file__).resolve().parents[1]


def reduced_demo_full(workdir: Path) -> str:
    study = yaml.safe_load((REPO / "config/demo_full.yaml").read_text())
    study["name"] = "demo_full_reduced"
    study["training"].update(epochs=2, checkpoint_every=1)
    study["evaluation"]["max_samples"] = {"val": 80, "test": 100}
    for block in study["blocks"].values():
        block["splits"] = [0]
    path = workdir / "config" / "demo_full_reduced.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return "config/demo_full_reduced.yaml"


def test_every_block_trains_and_every_figure_and_table_renders(tmp_path):
    config = reduced_demo_full(tmp_path)
    done = snakemake(tmp_path, "--cores", "2", "--config", f"study={config}")
    log = done.stdout + done.stderr
    assert "study demo_full_reduced: " in log and "training jobs" in log
    assert "geometry: 3 runs; 1 left out: a simplex of K = 6 prototypes needs d >= K - 1 = 5" in log

    out = tmp_path / "results/demo_full_reduced"
    for name in FIGURES.names() + SYNTHETIC_FIGURES.names():
        for suffix in ("pdf", "png"):
            assert (out / f"figures/{name}.{suffix}").stat().st_size > 5_000, name
    for name in TABLES.names() + SYNTHETIC.names():
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

    # Table 3: all fourteen rows (baseline, m-OvR, a-k, ours), each with its run on digits (and the average over datasets)
    ablation = pd.read_csv(out / "tables/jn_table3_ablation.csv")
    assert ablation["row"].nunique() == 14 and (ablation["n"] == 1).all()
    assert set(ablation.dataset) == {"digits", "average"}
