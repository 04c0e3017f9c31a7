import json

import numpy as np
import pytest
import xarray as xr

from osrstudy import manifest
from osrstudy.run import execute
from osrstudy.store import open_run

COMPARED = ["embedding", "logits", "jacobian_norm", "jacobian_norm_init", "score_loss", "score_msp"]


class Preempted(Exception):
    pass


def assert_same_numbers(a_path, b_path):
    (a, a_sum), (b, b_sum) = open_run(a_path), open_run(b_path)
    for name in COMPARED:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    for name in ["results", "history", "geometry"]:
        np.testing.assert_array_equal(a_sum[name].values, b_sum[name].values, err_msg=name)


@pytest.mark.parametrize("loss", ["sce", "movr"])
def test_fixed_seed_gives_identical_numbers_on_cpu(tmp_path, tiny_specs, loss):
    spec = tiny_specs[loss]
    execute(spec, tmp_path / "a.zarr", threads=1, log=lambda _: None)
    execute(spec, tmp_path / "b.zarr", threads=1, log=lambda _: None)
    assert_same_numbers(tmp_path / "a.zarr", tmp_path / "b.zarr")


def test_resumed_run_equals_uninterrupted_run(tmp_path, tiny_specs):
    spec = tiny_specs["movr"]
    execute(spec, tmp_path / "straight.zarr", tmp_path / "ckpt-a", threads=1, log=lambda _: None)

    def preempt(epoch):
        if epoch == 2:
            raise Preempted

    with pytest.raises(Preempted):
        execute(spec, tmp_path / "resumed.zarr", tmp_path / "ckpt-b", threads=1, on_checkpoint=preempt,
                log=lambda _: None)
    assert not (tmp_path / "resumed.zarr").exists()  # no partial store
    lines = []
    execute(spec, tmp_path / "resumed.zarr", tmp_path / "ckpt-b", threads=1, log=lines.append)
    assert any("resumed from" in line and "epoch 2/4" in line for line in lines)
    # the norms before training were kept beside the checkpoint, not paid for again
    assert any("Jacobian norms before training read from" in line for line in lines)
    assert_same_numbers(tmp_path / "straight.zarr", tmp_path / "resumed.zarr")


def test_kept_norms_before_training_count_only_for_the_same_samples_and_budget(tmp_path, tiny_spec):
    """A resumed job reads the norms of the untrained model from beside its checkpoint; an
    evaluation change keeps the run id but not the evaluated samples or the budget, and a damaged
    file is no reason to fail: both are computed anew, never read."""
    from osrstudy.run import norms_before_training
    from osrstudy.run_spec import EvaluationConfig

    path, lines = tmp_path / "run.before.npz", []
    budget = EvaluationConfig(("loss",), ("auroc",), {"test": 80}, jacobian_before=20)
    first = norms_before_training(path, budget, lambda: np.arange(5.0), lines.append)
    again = norms_before_training(path, budget, lambda: pytest.fail("computed again"), lines.append)
    np.testing.assert_array_equal(first, again)
    assert lines == [f"Jacobian norms before training read from {path}"]
    for other in (EvaluationConfig(("loss",), ("auroc",), {"test": 80}, jacobian_before=30),
                  EvaluationConfig(("loss",), ("auroc",), {"test": 90}, jacobian_before=20),
                  EvaluationConfig(("loss",), ("auroc",), {"test": 80}, ("gaussian_noise",), jacobian_before=20)):
        np.testing.assert_array_equal(norms_before_training(path, other, lambda: np.ones(3), lines.append), np.ones(3))
        np.testing.assert_array_equal(norms_before_training(path, budget, lambda: np.zeros(2), lines.append),
                                      np.zeros(2))  # the other settings' file was replaced
    path.write_bytes(path.read_bytes()[:40])  # truncated
    np.testing.assert_array_equal(norms_before_training(path, budget, lambda: np.full(4, 7.0), lines.append),
                                  np.full(4, 7.0))
    assert len(lines) == 1  # read once only: every other call computed
    np.testing.assert_array_equal(norms_before_training(None, budget, lambda: np.ones(1), lines.append), np.ones(1))
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_run_store_follows_the_results_contract(tmp_path, tiny_specs):
    spec = tiny_specs["movr"]
    summary = execute(spec, tmp_path / "r.zarr", threads=1, log=lambda _: None)
    samples, s = open_run(tmp_path / "r.zarr")
    assert samples.attrs["run_id"] == spec["run_id"]
    assert json.loads(samples.attrs["spec"]) == spec
    factors = json.loads(samples.attrs["factors"])
    assert factors["loss"] == "movr" and factors["margin"] == 0.5 and factors["n_known"] == 6
    assert set(samples.partition.values) == {"val", "test"}
    test_known = (samples.partition == "test") & (samples.label >= 0)
    acc = float((samples.prediction == samples.label).where(test_known, drop=True).mean())
    assert s.results.sel(eval_set="held_out", scorer="msp", metric="accuracy").item() == pytest.approx(acc)
    assert summary["loss"]["auroc"] == s.results.sel(eval_set="held_out", scorer="loss", metric="auroc").item()
    assert list(s.step.values) == [0, 1, 2, 3, 4]
    assert samples.embedding.shape[1] == 8
    assert np.allclose(np.linalg.norm(samples.embedding.values, axis=1), 1, atol=1e-5)  # movr works on the sphere
    assert (samples.jacobian_norm > 0).all() and (samples.jacobian_norm_init > 0).all()
    # Fig. 4 paths: both ends are known test samples of different classes
    assert samples.interpolation_jacobian_norm.shape == (16, 21)
    ends = samples.pair_index.values
    test = samples.partition.values == "test"
    by_index = dict(zip(samples["index"].values[test], samples.label.values[test]))
    assert all(by_index[a] >= 0 and by_index[b] >= 0 and by_index[a] != by_index[b] for a, b in ends)
    # DBI of the known test embeddings, against scikit-learn on what the store holds
    from sklearn.metrics import davies_bouldin_score

    z, y = samples.embedding.values[test_known.values], samples.label.values[test_known.values]
    assert s.geometry.sel(diagnostic="dbi").item() == pytest.approx(davies_bouldin_score(z, y))


def test_missing_or_corrupt_run_store_is_reported_with_a_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="delete it and rerun its train job"):
        open_run(tmp_path / "missing.zarr")
    bad = tmp_path / "bad.zarr"
    bad.mkdir()
    (bad / ".zmetadata").write_text("{not json")
    with pytest.raises(OSError, match="has no .manifest.json"):
        open_run(bad)
    manifest.write(bad)  # its checksums match: the damage happened before they were taken
    with pytest.raises(OSError, match="is corrupt"):
        open_run(bad)


def test_existing_store_is_replaced_only_when_the_new_one_is_complete(tmp_path):
    from osrstudy.atomic import replace_directory

    target = tmp_path / "x.zarr"
    xr.Dataset({"v": ("i", [1, 2])}).to_zarr(target, zarr_format=2)

    def failing(tmp):
        tmp.mkdir()
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        replace_directory(failing, target)
    assert xr.open_zarr(target).v.values.tolist() == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["x.zarr"]  # no temporary left behind


def test_a_job_given_a_gpu_it_cannot_use_fails_at_once(tmp_path, tiny_specs, monkeypatch):
    """Before: with a SLURM GPU allocation and no usable CUDA, the run trained on the CPU, silently,
    to its time limit. (This machine has no GPU: exactly that situation.)"""
    import torch

    from osrstudy.device import GpuUnavailableError

    monkeypatch.setenv("SLURM_GPUS_ON_NODE", "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(GpuUnavailableError) as err:
        execute(tiny_specs["sce"], tmp_path / "run.zarr", threads=1, log=lambda _: None)
    message = str(err.value)
    assert "was given a GPU (SLURM_GPUS_ON_NODE=1) but cannot use it" in message
    assert f"torch {torch.__version__} is built for CUDA {torch.version.cuda}" in message
    assert "this node's driver: " in message and "Refusing to fall back to the CPU silently" in message
    assert not (tmp_path / "run.zarr").exists()


def test_the_store_records_the_numerics_settings(tmp_path, tiny_specs):
    execute(tiny_specs["sce"], tmp_path / "run.zarr", threads=1, log=lambda _: None)
    attrs = open_run(tmp_path / "run.zarr")[0].attrs
    assert attrs["device"] == "cpu" and attrs["tf32_matmul"] is False and attrs["tf32_cudnn"] is False
    assert attrs["deterministic_algorithms"] is True and attrs["jacobian_chunk"] >= 1
    assert "torch_cuda" in attrs and "cudnn_version" in attrs
    # where the run's time went, per stage (the cost tables read it)
    stages = json.loads(attrs["stage_seconds"])
    expected = {"load_inputs", "build_model", "jacobians_before", "train", "probe", "features", "jacobians_after",
                "logit_head", "odin", "interpolation", "scorers", "metrics", "geometry"}
    assert set(stages) == expected and all(v >= 0 for v in stages.values())
    assert stages["probe"] < stages["train"] and sum(stages.values()) - stages["probe"] <= attrs["wall_seconds"]
    assert attrs["evaluated_samples"] == open_run(tmp_path / "run.zarr")[0].sizes["sample"]


def test_evaluation_budgets_bound_the_costly_parts_and_are_recorded(tmp_path, tiny_spec):
    """The evaluation's budgets (the full-size rehearsal's issue): Jacobians before training on a
    subsample, an out-of-distribution budget of its own, the probe's size and the random-projection
    estimator; none changes the run id."""
    plain = tiny_spec()
    spec = tiny_spec({"max_samples": {"val": 60, "test": 80, "ood": 30}, "jacobian_before": 20, "probe_samples": 25,
                      "jacobian_projections": 4, "interpolation_pairs": 3}, eval_sets=["gaussian_noise"])
    assert spec["run_id"] == plain["run_id"] and spec["evaluation"] != plain["evaluation"]
    execute(spec, tmp_path / "run.zarr", threads=1, log=lambda _: None)
    samples, summary = open_run(tmp_path / "run.zarr")
    partition = samples.partition.values
    assert [(partition == p).sum() for p in ("val", "test", "gaussian_noise")] == [60, 80, 30]
    assert np.isfinite(samples.jacobian_norm_init.values).sum() == 20
    assert np.isfinite(samples.jacobian_norm.values).all()
    assert samples.attrs["jacobian_method"] == "estimated from 4 random projections"
    assert samples.attrs["jacobian_before_samples"] == 20 and samples.attrs["probe_samples"] == 25
    assert samples.sizes["pair"] == 3
    assert np.isfinite(summary.results.sel(scorer="jacobian", metric="auroc").values).all()


def test_final_jacobians_on_a_budgeted_subsample_change_nothing_else(tmp_path, tiny_spec):
    """evaluation.jacobian_after: the final norms of at most N samples per partition; the jacobian
    scorer is measured on those, every other number of the run is the unbudgeted run's."""
    full, budgeted = tiny_spec(), tiny_spec({"jacobian_after": 40})
    quiet = dict(threads=1, log=lambda _: None)
    execute(full, tmp_path / "full.zarr", tmp_path / "ckpt", **quiet)
    execute(budgeted, tmp_path / "budgeted.zarr", tmp_path / "ckpt", **quiet)  # the same model: its checkpoint
    (s_full, r_full), (s_cut, r_cut) = open_run(tmp_path / "full.zarr"), open_run(tmp_path / "budgeted.zarr")
    has = np.isfinite(s_cut.jacobian_norm.values)
    for part in ("val", "test"):
        assert has[s_cut.partition.values == part].sum() == 40
    np.testing.assert_array_equal(s_cut.jacobian_norm.values[has], s_full.jacobian_norm.values[has])
    others = [s for s in r_full.scorer.values if s != "jacobian"]
    np.testing.assert_array_equal(r_cut.results.sel(scorer=others).values, r_full.results.sel(scorer=others).values)
    jacobian = r_cut.results.sel(eval_set="held_out", scorer="jacobian", metric="auroc").item()
    assert np.isfinite(jacobian) and jacobian != r_full.results.sel(eval_set="held_out", scorer="jacobian",
                                                                    metric="auroc").item()
    assert s_cut.attrs["jacobian_after_samples"] == has.sum() == 80


def test_a_checkpoint_cap_and_a_probe_jacobian_budget_thin_the_probe_not_the_run(tmp_path, tiny_spec):
    """training.max_checkpoints bounds the probes of a run with many short epochs, and
    evaluation.probe_jacobians computes the probe's Jacobian gap on part of its samples: the probe's
    forward quantities and every final number stay those of the run without them."""
    full = tiny_spec({"probe_samples": 60}, {"epochs": 6})
    thin = tiny_spec({"probe_samples": 60, "probe_jacobians": 12}, {"epochs": 6, "max_checkpoints": 3})
    assert thin["run_id"] == full["run_id"] and thin["schedule"] == {"checkpoint_every": 1, "max_checkpoints": 3}
    quiet = dict(threads=1, log=lambda _: None)
    execute(full, tmp_path / "full.zarr", **quiet)
    execute(thin, tmp_path / "thin.zarr", **quiet)
    (s_full, r_full), (s_thin, r_thin) = open_run(tmp_path / "full.zarr"), open_run(tmp_path / "thin.zarr")
    assert list(r_full.step.values) == [0, 1, 2, 3, 4, 5, 6] and list(r_thin.step.values) == [0, 2, 4, 6]
    forward = ["val_accuracy", "val_auroc"]
    np.testing.assert_array_equal(r_thin.history.sel(quantity=forward).values,
                                  r_full.history.sel(quantity=forward, step=[0, 2, 4, 6]).values)
    gap = r_thin.history.sel(quantity="jacobian_gap").values
    assert np.isfinite(gap).all() and not np.array_equal(gap, r_full.history.sel(
        quantity="jacobian_gap", step=[0, 2, 4, 6]).values)
    np.testing.assert_array_equal(r_thin.results.values, r_full.results.values)
    assert s_thin.attrs["probe_jacobian_samples"] == 12 and s_full.attrs["probe_jacobian_samples"] == 60


def test_a_per_kind_final_jacobian_budget_keeps_the_test_norms_and_their_auroc_exact(tmp_path, tiny_spec):
    """evaluation.jacobian_after as {val: N}: the validation norms on a subsample, the test
    partition's (the held-out classes' Jacobian-score AUROC) all computed, as without a budget."""
    full, budgeted = tiny_spec(), tiny_spec({"jacobian_after": {"val": 40}})
    quiet = dict(threads=1, log=lambda _: None)
    execute(full, tmp_path / "full.zarr", tmp_path / "ckpt", **quiet)
    execute(budgeted, tmp_path / "budgeted.zarr", tmp_path / "ckpt", **quiet)
    (s_full, r_full), (s_cut, r_cut) = open_run(tmp_path / "full.zarr"), open_run(tmp_path / "budgeted.zarr")
    has, part = np.isfinite(s_cut.jacobian_norm.values), s_cut.partition.values
    assert has[part == "val"].sum() == 40 < (part == "val").sum() and has[part == "test"].all()
    np.testing.assert_array_equal(s_cut.jacobian_norm.values[has], s_full.jacobian_norm.values[has])
    held_out = dict(eval_set="held_out", scorer="jacobian", metric="auroc")
    assert r_cut.results.sel(**held_out).item() == r_full.results.sel(**held_out).item()


@pytest.mark.parametrize("loss", ["movr", "sce"])  # SCE's prototypes are class means of the training features
def test_a_training_feature_budget_changes_only_the_scorers_fitted_to_training_features(tmp_path, tiny_spec, loss):
    """evaluation.max_samples.train: KNN (and the other scorers fitted to training features) see a
    fixed-seed subsample of the training set; the scores of the model's own outputs do not move."""
    full, budgeted = tiny_spec(losses=[loss]), tiny_spec({"max_samples": {"train": 60}}, losses=[loss])
    assert budgeted["run_id"] == full["run_id"]
    quiet = dict(threads=1, log=lambda _: None)
    execute(full, tmp_path / "full.zarr", tmp_path / "ckpt", **quiet)
    execute(budgeted, tmp_path / "budgeted.zarr", tmp_path / "ckpt", **quiet)
    (s_full, r_full), (s_cut, r_cut) = open_run(tmp_path / "full.zarr"), open_run(tmp_path / "budgeted.zarr")
    own = ["msp", "maxlogit", "loss", "jacobian"]
    np.testing.assert_array_equal(r_cut.results.sel(scorer=own).values, r_full.results.sel(scorer=own).values)
    knn = dict(eval_set="held_out", scorer="knn", metric="auroc")
    assert r_cut.results.sel(**knn).item() != r_full.results.sel(**knn).item()
    assert s_cut.attrs["train_feature_samples"] == 60 < s_full.attrs["train_feature_samples"]
    assert s_cut.prototypes.shape == s_full.prototypes.shape and np.isfinite(s_cut.prototypes.values).all()
