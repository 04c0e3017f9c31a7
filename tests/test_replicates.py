"""A table's mean is over replicates (splits, seeds) of one setting. Blocks are read by pattern
('geometry*'), so a block a user adds (here a compactness scan named geometry_compactness) falls
into another row's mean unless the table refuses; the refusal names the setting and the blocks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from osrstudy.readers import Selection
from osrstudy.render_cli import latex
from osrstudy.study_frames import MixedSettings, StudyView
from osrstudy.tables import TABLES, paper, readable

SCORERS, METRICS = ["loss", "knn", "ratio", "ratio_sq"], ["auroc", "accuracy", "detacc"]
DIAGNOSTICS = paper("geometry_tables")["table3"]["diagnostics"]


def study_root(runs: list[dict], blocks: list[str]) -> xr.Dataset:
    """A merged study's root as the tables read it: `runs` are dicts of factors plus `blocks`."""
    rng = np.random.default_rng(0)
    n = len(runs)
    membership = np.array([[b in r["blocks"] for b in blocks] for r in runs], dtype=bool)
    factors = {name: ("run", [r[name] for r in runs]) for name in runs[0] if name != "blocks"}
    return xr.Dataset(
        {"results": (("run", "eval_set", "scorer", "metric"), rng.uniform(0.5, 1, (n, 1, len(SCORERS), len(METRICS)))),
         "geometry": (("run", "diagnostic"), rng.uniform(0, 1, (n, len(DIAGNOSTICS)))),
         "history": (("run", "step", "quantity"), rng.uniform(0, 1, (n, 1, 1))),
         "membership": (("run", "block"), membership)},
        coords={"run": [f"r{i}" for i in range(n)], "eval_set": ["held_out"], "scorer": SCORERS, "metric": METRICS,
                "diagnostic": DIAGNOSTICS, "step": [5], "quantity": ["jacobian_gap"], "block": blocks,
                "blocks": ("run", [",".join(r["blocks"]) for r in runs]), **factors},
    )


def tabulate(name: str, root: xr.Dataset):
    fn = TABLES[name]
    return fn(Selection(StudyView(root, Path("unused"), {}), fn.reads))


def geometry_runs(with_scan: bool) -> list[dict]:
    runs = [{"dataset": "fashion_mnist", "loss": loss, "split": split, "compactness": 0.01, "blocks": ["geometry"]}
            for loss in ("sce", "simplex", "learned") for split in (0, 1)]
    if with_scan:
        runs.append({"dataset": "fashion_mnist", "loss": "simplex", "split": 0, "compactness": 0.1,
                     "blocks": ["geometry_compactness"]})
    return runs


GEOMETRY_TABLES = ["geo_table3_geometry", "geo_table4_best_scorer", "geo_table5_ce_vs_prototypes", "scorer_grid"]


@pytest.mark.parametrize("name", GEOMETRY_TABLES)
def test_a_geometry_table_refuses_to_average_two_compactness_settings(name):
    root = study_root(geometry_runs(with_scan=True), ["geometry", "geometry_compactness"])
    with pytest.raises(MixedSettings) as refused:
        tabulate(name, root)
    message = str(refused.value)
    assert "compactness: 0.01, 0.1" in message
    assert "loss simplex" in message and "dataset fashion_mnist" in message
    assert "blocks geometry, geometry_compactness" in message
    assert "block name this table does not read" in message


@pytest.mark.parametrize("name", GEOMETRY_TABLES)
def test_replicates_of_one_setting_tabulate(name):
    frame = tabulate(name, study_root(geometry_runs(with_scan=False), ["geometry"]))
    assert len(frame)


def test_table3_row_refuses_runs_of_two_margins_and_names_the_row():
    runs = [{"dataset": "digits", "loss": "movr", "split": s, "margin": 0.5, "blocks": ["table3_movr"]} for s in (0, 1)]
    runs.append({"dataset": "digits", "loss": "movr", "split": 2, "margin": 0.25, "blocks": ["table3_movr"]})
    for name in ("jn_table3_ablation", "jn_table3_readings"):
        with pytest.raises(MixedSettings, match=r"row movr would average, for dataset digits, runs of different "
                                                r"settings \(margin: 0\.25, 0\.5\)"):
            tabulate(name, study_root(runs, ["table3_movr"]))


def test_figures_refuse_too_naming_the_figure():
    from osrstudy.figures import FIGURES

    fn = FIGURES["prototype_jacobian_norms"]  # histograms per dataset and loss, splits pooled
    root = study_root(geometry_runs(with_scan=True), ["geometry", "geometry_compactness"])
    with pytest.raises(MixedSettings, match=r"^prototype_jacobian_norms would average, for dataset fashion_mnist, "
                                            r"loss simplex, runs of different settings \(compactness: 0\.01, 0\.1\)"):
        fn(Selection(StudyView(root, Path("unused"), {}), fn.reads))

    fn = FIGURES["jn_fig15_hyperparameters"]  # a point per T: the scan's other settings must not vary
    runs = [{"dataset": "digits", "loss": "movr", "split": s, "scale_T": t, "weight_decay": wd,
             "blocks": ["scan_scale_T"]} for s in (0, 1) for t, wd in ((8.0, 1e-3), (32.0, 1e-3))]
    runs.append({"dataset": "digits", "loss": "movr", "split": 2, "scale_T": 8.0, "weight_decay": 5e-4,
                 "blocks": ["scan_scale_T"]})
    with pytest.raises(MixedSettings, match=r"jn_fig15_hyperparameters \(scan_scale_T\) would average, for dataset "
                                            r"digits, scale_T 8\.0, runs of different settings \(weight_decay"):
        fn(Selection(StudyView(study_root(runs, ["scan_scale_T"]), Path("unused"), {}), fn.reads))


def test_block_summary_gives_each_setting_a_block_varies_its_own_row():
    runs = [{"dataset": "digits", "loss": "movr", "split": s, "scale_T": t, "compactness": np.nan,
             "blocks": ["scan_scale_T"]} for t in (8.0, 32.0) for s in (0, 1)]
    runs += [{"dataset": "digits", "loss": loss, "split": s, "scale_T": np.nan, "compactness": c,
              "blocks": ["geometry"]} for loss, c in (("sce", np.nan), ("simplex", 0.01)) for s in (0, 1, 2)]
    runs += [{"dataset": "digits", "loss": "simplex", "split": s, "scale_T": np.nan, "compactness": 0.1,
              "blocks": ["compactness_scan"]} for s in (0, 1)]
    root = study_root(runs, ["scan_scale_T", "geometry", "compactness_scan"])
    frame = tabulate("block_summary", root)
    # a factor is named where it takes two set values in the block; CE's unset compactness is not one
    assert list(zip(frame.block, frame.setting, frame.n)) == [
        ("scan_scale_T", "scale_T 8.0", 2), ("scan_scale_T", "scale_T 32.0", 2),
        ("geometry", "loss sce", 3), ("geometry", "loss simplex", 3), ("compactness_scan", "-", 2)]
    auroc = root.results.sel(eval_set="held_out", scorer="loss", metric="auroc").values * 100
    assert frame.auroc_loss_mean.tolist() == pytest.approx([auroc[0:2].mean(), auroc[2:4].mean(),
                                                            auroc[4:7].mean(), auroc[7:10].mean(),
                                                            auroc[10:12].mean()])
    assert frame.auroc_loss_std[0] == pytest.approx(auroc[0:2].std(ddof=1))
    assert np.isnan(frame.auroc_loss_margin_mean).all()  # the study has no loss_margin scorer: not made up


def test_a_factor_set_for_one_run_and_missing_for_another_is_a_difference():
    runs = [{"dataset": "digits", "loss": "simplex", "split": s, "compactness": c, "blocks": ["geometry"]}
            for s, c in ((0, 0.01), (1, np.nan))]
    with pytest.raises(MixedSettings, match=r"compactness: 0\.01, nan"):
        tabulate("geo_table3_geometry", study_root(runs, ["geometry"]))


def test_block_summary_names_an_option_a_block_scans_and_keeps_its_runs_apart():
    runs = [{"dataset": "digits", "loss": "simplex", "split": s, "compactness": c, "blocks": ["compactness_scan"]}
            for c in (0.1, 0.3) for s in (0, 1)]
    runs += [{"dataset": "digits", "loss": "sce", "split": s, "compactness": np.nan, "blocks": ["compactness_scan"]}
             for s in (0, 1)]
    frame = tabulate("block_summary", study_root(runs, ["compactness_scan"]))
    assert list(zip(frame.setting, frame.n)) == [("loss simplex, compactness 0.1", 2),
                                                 ("loss simplex, compactness 0.3", 2), ("loss sce", 2)]


def test_one_run_of_a_setting_shows_no_spread_rather_than_a_zero_one():
    # a study still training (osrstudy.finished_part) has settings with a single run: its sample
    # std is unknown, and '± 0.00' would read as a measured spread of zero
    runs = [{"dataset": "digits", "loss": "simplex", "split": 0, "compactness": c, "blocks": ["compactness_scan"]}
            for c in (0.1, 0.3)]
    runs += [{"dataset": "digits", "loss": "simplex", "split": s, "compactness": 0.5, "blocks": ["compactness_scan"]}
             for s in (0, 1)]
    root = study_root(runs, ["compactness_scan"])
    frame = tabulate("block_summary", root)
    assert frame.n.tolist() == [1, 1, 2]
    assert frame.auroc_loss_std.isna().tolist() == [True, True, False]
    auroc = root.results.sel(eval_set="held_out", scorer="loss", metric="auroc").values * 100
    shown = TABLES["block_summary"].display(frame)
    assert shown.auroc_loss.tolist() == [f"{auroc[0]:.2f}", f"{auroc[1]:.2f}",
                                         f"{auroc[2:].mean():.2f} ± {auroc[2:].std(ddof=1):.2f}"]


def test_a_geometry_table_of_one_split_shows_each_mean_alone():
    runs = [{"dataset": "fashion_mnist", "loss": loss, "split": 2, "compactness": 0.01, "blocks": ["geometry"]}
            for loss in ("sce", "simplex")]
    root = study_root(runs, ["geometry"])
    frame = tabulate("geo_table3_geometry", root)
    assert frame.n.eq(1).all() and frame.ours_std.isna().all()
    shown = readable(frame)
    expected = [f"{v:.2f}" for v in root.geometry.sel(diagnostic=frame.diagnostic[0]).values]
    assert shown[shown.diagnostic == frame.diagnostic[0]].ours.tolist() == expected


def test_latex_cells_keep_the_spread_and_escape_names():
    shown = pd.DataFrame({"auroc_loss": ["78.67 ± 1.40", "80.10"], "setting": ["loss sce", "compactness 0.1_a"]})
    tex = latex(shown, "caption")
    assert r"78.67 $\pm$ 1.40 & loss sce \\" in tex and r"80.10 & compactness 0.1\_a \\" in tex
    assert r"auroc\_loss & setting \\" in tex
