"""The cost projection's arithmetic: a run's work from its spec and the split sizes."""
import pytest

from osrstudy.benchmarks import projection
from osrstudy.study import expand_study, load_study


def run(**evaluation):
    return {"blocks": ["b"], "train": {"dataset": "cifar10", "n_known": None, "batch_size": 100, "iterations": None,
                                       "epochs": 10, "self_supervision": 0.1, "backbone": "wrn16_4", "embed_dim": 128},
            "schedule": {"checkpoint_every": 5},
            "evaluation": {"eval_sets": ["imagenet_crop"], "scorers": ["msp", "jacobian"], **evaluation}}


SIZES = {"cifar10": {"train": 1000, "val": 200, "test": 300}}


def test_a_runs_work_counts_its_steps_and_every_jacobian_pass():
    w = projection.work(run(), SIZES)
    assert w["images"] == 10 * 10 * 100 * 2  # 10 epochs of 10 steps, rotated copies too
    n_eval = 200 + 300 + 10_000
    assert w["evaluated"] == n_eval
    assert w["jacobians"] == n_eval * 2 + 3 * 200 + 16 * 21  # before + after, 3 probes of 200 val, the paths
    # CIFAR-10's 6 known classes, d = 128, 2 scorers
    assert w["store_bytes"] == projection.STORE_FIXED_BYTES + n_eval * (4 * 128 + 8 * 6 + 8 * 2 + 60)


def test_budgets_shrink_the_work():
    w = projection.work(run(max_samples={"val": 50, "test": 60, "ood": 70}, jacobian_before=10, probe_samples=20),
                        SIZES)
    assert w["evaluated"] == 50 + 60 + 70 and w["jacobians"] == 10 + 180 + 3 * 20 + 16 * 21


def test_the_projection_sums_blocks_and_counts_a_shared_run_once_in_all():
    runs = [run(), {**run(), "blocks": ["b", "c"]}]
    rows = projection.project(runs, SIZES, {("wrn16_4", (3, 32)): 3600.0}, {("wrn16_4", (3, 32), 128): 3600.0})
    by = {r["block"]: r for r in rows}
    assert by["b"]["runs"] == 2 and by["c"]["runs"] == 1 and by["all (each run once)"]["runs"] == 2
    assert by["c"]["train_h"] == pytest.approx(20_000 / 3600 / 3600)  # images / (images/s) in hours


def test_the_committed_sizes_cover_every_dataset_of_the_full_study():
    import json

    sizes = json.loads(projection.SIZES.read_text())
    runs = expand_study(load_study("config/study.yaml"))
    assert {projection.size_key(r["train"]) for r in runs} <= set(sizes)


def test_the_final_jacobian_budget_is_per_partition():
    w = projection.work(run(jacobian_after=100, jacobian_before=50, probe_samples=20), SIZES)
    assert w["jacobians"] == 50 + (100 + 100 + 100) + 3 * 20 + 16 * 21


def test_the_checkpoint_cap_and_the_probe_jacobian_budget_shrink_the_probe():
    capped = {**run(probe_samples=100, probe_jacobians=30), "schedule": {"checkpoint_every": 1, "max_checkpoints": 2}}
    w = projection.work(capped, SIZES)
    n_eval = 200 + 300 + 10_000
    assert w["jacobians"] == n_eval * 2 + 3 * 30 + 16 * 21  # cadence 5 of 10 epochs: probes at 0, 5, 10


def test_a_per_kind_final_jacobian_budget_caps_only_the_kinds_it_names():
    w = projection.work(run(jacobian_after={"val": 50, "ood": 100}, jacobian_before=50, probe_samples=20), SIZES)
    assert w["jacobians"] == 50 + (50 + 300 + 100) + 3 * 20 + 16 * 21  # the test partition whole


def test_budget_overrides_reach_evaluation_schedule_and_nested_settings_and_null_lifts_them():
    budgeted = {**run(max_samples={"train": 100, "test": 60}, jacobian_before=10, probe_jacobians=5),
                "schedule": {"checkpoint_every": 1, "max_checkpoints": 2}}
    (lifted,) = projection.with_budgets([budgeted], list(projection.UNBUDGETED))
    assert budgeted["evaluation"]["jacobian_before"] == 10  # the caller's run is left as it was
    assert "max_samples" not in lifted["evaluation"] and budgeted["evaluation"]["max_samples"]["train"] == 100
    assert "jacobian_before" not in lifted["evaluation"] and "max_checkpoints" not in lifted["schedule"]
    assert projection.work(lifted, SIZES)["jacobians"] > projection.work(budgeted, SIZES)["jacobians"]
    (changed,) = projection.with_budgets([budgeted], ['jacobian_after={"test": 7}', "schedule.checkpoint_every=5",
                                                      "max_samples.train=null"])
    assert changed["evaluation"]["jacobian_after"] == {"test": 7} and changed["schedule"]["checkpoint_every"] == 5
    assert changed["evaluation"]["max_samples"] == {"test": 60}
    with pytest.raises(SystemExit, match="not KEY=JSON"):
        projection.with_budgets([budgeted], ["jacobian_before"])
