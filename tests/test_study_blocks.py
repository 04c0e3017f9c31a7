"""Block features of the study config: exclusions, scans, eval sets, the K scan, and the two
generated configs (the full study and its toy twin)."""
import json
from pathlib import Path

import numpy as np
import pytest

from osrstudy.data import load_split
from osrstudy.papers.studies import PAPER, TARGETS, TOY, text
from osrstudy.run import execute
from osrstudy.store import open_run
from osrstudy.study import StudyConfigError, block_counts, expand_study, expansion, job_spec, load_study, run_id

REPO = Path(__file__).resolve().parents[1]


def block(**extra):
    return {"datasets": ["digits"], "splits": [0], "backbones": ["small_cnn"], "embed_dims": [4],
            "losses": ["sce", "simplex"], **extra}


def study(**blocks):
    return {"name": "t", "blocks": blocks}


def test_a_cell_that_cannot_be_built_names_the_exclusion_that_would_skip_it():
    with pytest.raises(StudyConfigError, match=r"needs .*add exclude: \[\{loss: simplex, dataset: digits"):
        expand_study(study(g=block()))


def test_exclusions_skip_cells_and_record_why():
    why = "simplex needs d >= K - 1"
    runs, skipped = expansion(study(g=block(exclude=[{"loss": "simplex", "dataset": "digits", "why": why}])))
    assert [r["train"]["loss"] for r in runs] == ["sce"]
    assert skipped == [{"block": "g", "dataset": "digits", "split": 0, "backbone": "small_cnn", "embed_dim": 4,
                        "loss": "simplex", "seed": 0, "why": why}]
    counts = block_counts(study(g={}), runs, skipped)
    assert "1 training jobs" in counts and f"g: 1 runs; 1 left out: {why}" in counts


def test_an_exclusion_matching_nothing_is_an_error_not_silence():
    stale = [{"loss": "simplx", "why": "typo"}]
    with pytest.raises(StudyConfigError, match="matches no run of the block; correct or remove it"):
        expand_study(study(g=block(losses=["sce"], exclude=stale)))


def test_scan_crosses_training_values_and_rejects_unknown_keys():
    scan = {"weight_decay": [0.0, 1e-3], "self_supervision": [0.0, 0.1]}
    runs = expand_study(study(s=block(losses=["sce"], scan=scan)))
    assert sorted((r["train"]["weight_decay"], r["train"]["self_supervision"]) for r in runs) == [
        (0.0, 0.0), (0.0, 0.1), (1e-3, 0.0), (1e-3, 0.1)]
    typo = "'wieght_decay' is not a training parameter.*Did you mean 'weight_decay'"
    with pytest.raises(StudyConfigError, match=typo):
        expand_study(study(s=block(losses=["sce"], scan={"wieght_decay": [0.0]})))


def test_a_shared_run_gets_the_union_of_eval_sets_and_the_finest_checkpoints():
    config = study(a=block(losses=["sce"], eval_sets=["gaussian_noise"]),
                   b=block(losses=["sce"], eval_sets=["uniform_noise"], training={"checkpoint_every": 1}))
    config["training"] = {"checkpoint_every": 5}
    (run,) = expand_study(config)
    assert run["blocks"] == ["a", "b"] and run["evaluation"]["eval_sets"] == ["gaussian_noise", "uniform_noise"]
    assert run["schedule"] == {"checkpoint_every": 1}


def test_eval_sets_must_match_the_image_shape():
    with pytest.raises(StudyConfigError, match="'lsun_crop' has 3x32x32 images, 'digits' 1x8x8"):
        expand_study(study(a=block(losses=["sce"], eval_sets=["lsun_crop"])))
    with pytest.raises(Exception, match="Did you mean 'gaussian_noise'"):
        expand_study(study(a=block(losses=["sce"], eval_sets=["gausian_noise"])))


def test_new_training_keys_at_none_leave_run_ids_unchanged():
    train = {"dataset": "digits", "split": 0, "backbone": "small_cnn", "loss": "sce"}
    assert run_id({**train, "n_known": None}) == run_id(train) != run_id({**train, "n_known": 3})


def test_k_scan_keeps_the_unknown_classes_and_drops_the_other_known_ones():
    full, three = load_split("digits", 0), load_split("digits", 0, n_known=3)
    assert three.known == full.known[:3]
    unknown = sorted(set(range(10)) - set(full.known))
    assert sorted(set(three.test.classes[three.test.labels < 0])) == unknown
    assert set(three.test.classes) == set(full.known[:3]) | set(unknown)
    assert set(np.unique(three.train.labels)) == {0, 1, 2}
    with pytest.raises(StudyConfigError, match="n_known 7 on digits split 0: choose 2..6"):
        expand_study(study(k=block(losses=["sce"], scan={"n_known": [7]})))


def test_eval_sets_are_a_results_dimension_with_their_samples_stored(tmp_path):
    config = study(a=block(losses=["sce"], embed_dims=[8], eval_sets=["gaussian_noise", "uniform_noise"]))
    config["training"] = {"epochs": 2, "batch_size": 32, "checkpoint_every": 1}
    config["evaluation"] = {"scorers": ["msp", "jacobian"], "metrics": ["auroc", "accuracy", "macro_f1"],
                            "max_samples": {"val": 60, "test": 80}}
    (run,) = expand_study(config)
    execute(job_spec(run), tmp_path / "r.zarr", log=lambda _: None)
    samples, summary = open_run(tmp_path / "r.zarr")
    assert list(summary.eval_set.values) == ["held_out", "gaussian_noise", "uniform_noise"]
    auroc = summary.results.sel(metric="auroc")
    assert np.isfinite(auroc.values).all()
    assert (auroc.sel(eval_set="held_out") != auroc.sel(eval_set="uniform_noise")).any()
    # closed-set accuracy reads only the known test samples: the same under every eval set
    accuracy = summary.results.sel(metric="accuracy", scorer="msp").values
    assert np.allclose(accuracy, accuracy[0])
    parts = samples.partition.values
    assert (parts == "gaussian_noise").sum() == 80 and (samples.label.values[parts == "uniform_noise"] == -1).all()


@pytest.mark.parametrize("path, scale", list(TARGETS.items()))
def test_generated_configs_are_in_sync_and_valid(path, scale):
    assert (REPO / path).read_text() == text(scale), "regenerate with python -m osrstudy.papers.studies write"
    runs, skipped = expansion(load_study(REPO / path))
    assert runs and skipped and all(s["loss"] == "simplex" for s in skipped)


def test_the_toy_config_has_every_block_of_the_full_study():
    full = load_study(REPO / "config/study.yaml")["blocks"]
    toy = load_study(REPO / "config/demo_full.yaml")["blocks"]
    assert list(full) == list(toy)
    assert PAPER.name == "study" and TOY.name == "demo_full"


def test_full_study_shares_runs_between_tables():
    """Table 1's bare SCE and combined m-OvR on WRN-16-4 are Table 3's baseline and 'ours' rows."""
    runs = expand_study(load_study(REPO / "config/study.yaml"))
    baseline = [r for r in runs if "table3_baseline" in r["blocks"]]
    ours = [r for r in runs if "table3_ours" in r["blocks"]]
    assert all("protocol_a" in r["blocks"] or "protocol_a_tiny_imagenet" in r["blocks"] for r in baseline)
    assert all(any(b.endswith("_movr") for b in r["blocks"]) for r in ours)
    assert len({json.dumps(r["train"], sort_keys=True) for r in runs}) == len(runs)


def test_blocks_are_selected_by_exact_name_or_declared_pattern_only():
    import xarray as xr

    from osrstudy.readers import Selection
    from osrstudy.study_frames import StudyView

    blocks = ["table3_b", "table3_baseline", "protocol_a", "protocol_a_movr"]
    membership = np.array([[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]], dtype=bool)
    root = xr.Dataset({"membership": (("run", "block"), membership)}, coords={"block": blocks, "run": ["x", "y", "z"]})
    study = Selection(StudyView(root, Path("unused"), {}), reads=("table3_*", "protocol_a*", "geometry"))
    assert study.runs("table3_b").tolist() == [True, False, False]  # never table3_baseline
    assert study.runs("table3_*").tolist() == [True, True, False]
    assert study.runs("protocol_a*").tolist() == [False, True, True]
    assert study.runs("protocol_a").tolist() == [False, True, False]
    assert study.runs("geometry").tolist() == [False, False, False]
    assert study.runs().tolist() == [True, True, True]
    with pytest.raises(ValueError, match="does not declare"):
        study.runs("tsne_*")
