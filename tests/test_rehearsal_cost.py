"""The rehearsal's cost table: unit costs read from a run store, and a study costed with them."""
import json

import numpy as np
import pytest

from osrstudy.benchmarks import projection, rehearsal_cost
from osrstudy.run import execute
from osrstudy.store import open_run
from osrstudy.study import expand_study


def test_unit_costs_divide_each_stage_by_its_work_and_the_projection_multiplies_them_back(tmp_path, tiny_spec,
                                                                                           tiny_study):
    spec = tiny_spec({"jacobian_before": 30, "probe_samples": 40, "probe_jacobians": 12, "interpolation_pairs": 2},
                     {"iterations": 6})
    execute(spec, tmp_path / "runs" / "r.zarr", tmp_path / "ckpt", threads=1, log=lambda _: None)
    u = rehearsal_cost.unit_costs(tmp_path / "runs" / "r.zarr")
    samples, summary = open_run(tmp_path / "runs" / "r.zarr")
    seconds = json.loads(samples.attrs["stage_seconds"])
    assert u["key"] == ("digits", "small_cnn") and u["d"] == 8
    assert u["jacobians_before"] == pytest.approx(seconds["jacobians_before"] / 30)
    assert u["probe"] == pytest.approx(seconds["probe"] / (summary.sizes["step"] * 12))
    assert u["train"] == pytest.approx((seconds["train"] - seconds["probe"]) / (6 * 32))  # batch 32, no S
    assert u["iteration_s"] == pytest.approx((seconds["train"] - seconds["probe"]) / 6)
    assert u["interpolation"] == pytest.approx(seconds["interpolation"] / (2 * 21))
    assert all(u[p] > 0 for p in ("train", "jacobians_before", "jacobians_after", "probe", "features"))

    run = next(r for r in expand_study(tiny_study) if r["train"]["loss"] == "movr")
    sizes = projection.measure_sizes([run], None)
    (block, total) = rehearsal_cost.project([run], [u], sizes)
    w = projection.work(run, sizes)
    assert block["block"] == "t" and block["runs"] == total["runs"] == 1
    assert block["train"] == pytest.approx(u["train"] * w["images"] / 3600)
    assert block["jacobians_after"] == pytest.approx(u["jacobians_after"] * w["jacobians_after"] / 3600)
    table = rehearsal_cost.block_table([block, total]).splitlines()
    assert "| jacobians_after h |" in table[0] and table[2].startswith("| t | 1 |")
    assert f"| {block['jacobians_after']:.1f} |" in table[2] and len(table[2].split("|")) == len(table[0].split("|"))
    wider = {**run, "train": {**run["train"], "embed_dim": 16}}  # Jacobian units scale with d
    assert rehearsal_cost.units_for(wider, [u])["probe"] == pytest.approx(2 * u["probe"])
    assert rehearsal_cost.units_for(wider, [u])["train"] == u["train"]
    with pytest.raises(SystemExit, match="no rehearsal run of digits with lenet"):
        rehearsal_cost.units_for({**run, "train": {**run["train"], "backbone": "lenet"}}, [u])


def test_a_run_resumed_from_its_last_checkpoint_times_no_training_and_borrows_it(tmp_path, tiny_spec, tiny_study):
    """A re-evaluated run (training restored from its final checkpoint) has no training or probe
    time of its own: those units come from another run of the same dataset and backbone."""
    spec = tiny_spec({"jacobian_before": 30}, {"iterations": 6})
    quiet = dict(threads=1, log=lambda _: None)
    execute(spec, tmp_path / "first.zarr", tmp_path / "ckpt", **quiet)
    execute(spec, tmp_path / "again.zarr", tmp_path / "ckpt", **quiet)  # resumed at its end: evaluation only
    timed, resumed = (rehearsal_cost.unit_costs(tmp_path / f"{n}.zarr") for n in ("first", "again"))
    assert np.isnan(resumed["train"]) and np.isnan(resumed["probe"]) and resumed["jacobians_after"] > 0
    run = next(r for r in expand_study(tiny_study) if r["train"]["loss"] == "movr")
    borrowed = rehearsal_cost.units_for(run, [resumed, timed])
    assert borrowed["train"] == timed["train"] and borrowed["jacobians_after"] == resumed["jacobians_after"]


def test_the_study_store_is_projected_with_the_rehearsals_own_overhead_once_it_is_merged(tmp_path):
    (tmp_path / "runs" / "a.zarr").mkdir(parents=True)
    (tmp_path / "runs" / "a.zarr" / "c").write_bytes(b"x" * 400)
    measured = [{"store_mb": rehearsal_cost.tree_bytes(tmp_path / "runs" / "a.zarr") / 1e6}]
    assert "merge the rehearsal" in rehearsal_cost.study_store_line(tmp_path / "runs", measured, 2.0)
    (tmp_path / "study.zarr" / "a").mkdir(parents=True)
    (tmp_path / "study.zarr" / "a" / "c").write_bytes(b"x" * 500)
    line = rehearsal_cost.study_store_line(tmp_path / "runs", measured, 2.0)
    assert line.startswith("study.zarr: about 2.5 GB projected")


def test_the_store_size_per_sample_is_fitted_over_runs_of_the_commonest_dimension():
    runs = [{"d": 128, "evaluated": n, "store_mb": (40_000 + 600 * n) / 1e6} for n in (100, 300, 100)]
    line = rehearsal_cost.store_size_line([*runs, {"d": 8, "evaluated": 100, "store_mb": 5.0}])
    assert line.startswith("run-store size at d = 128: 600 bytes per evaluated sample + 40 kB")
    assert "not separable" in rehearsal_cost.store_size_line(runs[:1])
