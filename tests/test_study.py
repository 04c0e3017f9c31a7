import copy
from pathlib import Path

import pytest
import yaml

from osrstudy.registry import UnknownNameError
from osrstudy.study import StudyConfigError, expand_study, load_study, run_id

REPO = Path(__file__).resolve().parents[1]
BASE = {
    "name": "t",
    "blocks": {
        "a": {"datasets": ["digits"], "splits": [0, 1], "backbones": ["small_cnn"], "losses": ["sce", "movr"]},
        "b": {"datasets": ["digits"], "splits": [0], "backbones": ["small_cnn"], "losses": ["sce"]},
    },
}


def test_blocks_expand_to_their_union_without_duplicates():
    runs = expand_study(copy.deepcopy(BASE))
    assert len(runs) == 4
    shared = [r for r in runs if r["blocks"] == ["a", "b"]]
    assert len(shared) == 1 and shared[0]["train"]["loss"] == "sce" and shared[0]["train"]["split"] == 0


def test_run_id_hashes_training_parameters_only():
    runs = {r["run_id"] for r in expand_study(copy.deepcopy(BASE))}
    changed = copy.deepcopy(BASE)
    changed["evaluation"] = {"scorers": ["msp"]}
    changed["training"] = {"checkpoint_every": 2}
    assert {r["run_id"] for r in expand_study(changed)} == runs
    changed["training"] = {"epochs": 3}
    assert {r["run_id"] for r in expand_study(changed)}.isdisjoint(runs)


def test_run_id_is_readable_and_stable():
    train = {"dataset": "digits", "split": 3, "backbone": "small_cnn", "loss": "movr", "x": 1}
    rid = run_id(train)
    assert rid.startswith("digits-s3-smallcnn-movr-") and len(rid.rsplit("-", 1)[1]) == 10
    assert run_id(dict(reversed(list(train.items())))) == rid


def test_loss_options_are_resolved_into_the_run():
    run = next(r for r in expand_study(copy.deepcopy(BASE)) if r["train"]["loss"] == "movr")
    assert run["train"]["loss_options"] == {"scale_T": 32.0, "margin": 0.5, "normalize": True}


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("blocks", "a", "losses"), ["sce", "mvor"], "unknown loss 'mvor' (in blocks.a.losses). Did you mean 'movr'?"),
        (("blocks", "a", "datasets"), ["digit"], "Did you mean 'digits'?"),
        (("blocks", "a", "backbones"), ["smallcnn"], "Did you mean 'small_cnn'?"),
        (("evaluation",), {"scorers": ["mps"]}, "Did you mean 'msp'?"),
        (("evaluation",), {"metrics": ["aurc"]}, "Did you mean 'auroc'?"),
    ],
)
def test_name_typos_fail_with_did_you_mean(path, value, message):
    study = copy.deepcopy(BASE)
    node = study
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(UnknownNameError) as err:
        expand_study(study)
    assert message in str(err.value)


def test_split_out_of_range_is_refused():
    study = copy.deepcopy(BASE)
    study["blocks"]["a"]["splits"] = [7]
    with pytest.raises(StudyConfigError, match="splits 0..4; got 7"):
        expand_study(study)


def test_schema_catches_structural_typos(tmp_path):
    study = copy.deepcopy(BASE)
    study["blokcs"] = study.pop("blocks")
    study["training"] = {"epoch": 3}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(study))
    with pytest.raises(StudyConfigError) as err:
        load_study(path)
    text = str(err.value)
    assert "'blocks' is a required property" in text and "'epoch' was unexpected" in text


def test_missing_config_file_says_how_to_fix():
    with pytest.raises(StudyConfigError, match="--config study=PATH"):
        load_study("config/nope.yaml")


def test_demo_config_is_valid_and_has_ten_runs():
    runs = expand_study(load_study(REPO / "config" / "demo.yaml"))
    assert len(runs) == 10
    assert {r["train"]["loss"] for r in runs} == {"sce", "movr"}


def test_simplex_below_its_dimension_is_refused_before_any_job():
    study = copy.deepcopy(BASE)
    study["blocks"]["a"]["losses"] = ["simplex"]
    study["blocks"]["a"]["embed_dims"] = [4]  # digits: K = 6 known classes need d >= 5
    with pytest.raises(StudyConfigError, match="needs embedding dimension d >= 5; got d = 4"):
        expand_study(study)


def test_a_block_sets_its_own_evaluation_budgets_over_the_studys_without_changing_run_ids():
    study = copy.deepcopy(BASE)
    study["evaluation"] = {"jacobian_before": 500, "jacobian_after": {"val": 500, "test": 1000}}
    study["blocks"]["c"] = {"datasets": ["digits"], "splits": [2], "backbones": ["small_cnn"], "losses": ["sce"],
                            "evaluation": {"jacobian_after": {"test": 300}, "probe_jacobians": 20}}
    base_ids = {r["run_id"] for r in expand_study(copy.deepcopy(BASE))}
    runs = {r["run_id"]: r for r in expand_study(study)}
    (own,) = [r for r in runs.values() if r["blocks"] == ["c"]]
    assert own["evaluation"]["jacobian_after"] == {"test": 300}  # replaced whole, not merged per kind
    assert own["evaluation"]["probe_jacobians"] == 20 and own["evaluation"]["jacobian_before"] == 500
    others = [r for r in runs.values() if r["blocks"] != ["c"]]
    assert {r["run_id"] for r in others} == base_ids
    assert all(r["evaluation"]["jacobian_after"] == {"val": 500, "test": 1000} for r in others)
    plain = copy.deepcopy(study)
    del plain["blocks"]["c"]["evaluation"]
    assert own["run_id"] in {r["run_id"] for r in expand_study(plain)}  # budgets are not in the run id


def test_a_run_shared_by_blocks_with_different_budgets_is_refused_naming_both():
    study = copy.deepcopy(BASE)
    study["blocks"]["b"]["evaluation"] = {"jacobian_before": 50}
    with pytest.raises(StudyConfigError, match=r"blocks\.b: its run digits-s0-smallcnn-sce-\w+ is also in block "
                                               r"'a', which evaluates it with other jacobian_before"):
        expand_study(study)
    study["blocks"]["a"]["evaluation"] = {"jacobian_before": 50}
    assert all(r["evaluation"]["jacobian_before"] == 50 for r in expand_study(study))


@pytest.mark.parametrize("key", ["scorers", "metrics"])
def test_scorers_and_metrics_stay_study_wide(key):
    study = copy.deepcopy(BASE)
    study["blocks"]["a"]["evaluation"] = {key: ["auroc" if key == "metrics" else "msp"]}
    with pytest.raises(StudyConfigError, match=rf"blocks\.a\.evaluation\.{key}: {key} are study-wide"):
        expand_study(study)


def test_a_typo_in_a_blocks_evaluation_is_caught_by_the_schema(tmp_path):
    study = copy.deepcopy(BASE)
    study["blocks"]["a"]["evaluation"] = {"jacobian_afer": 10}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(study))
    with pytest.raises(StudyConfigError, match="jacobian_afer"):
        load_study(path)
