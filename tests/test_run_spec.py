"""TrainingConfig is the one source of the training keys: the schema, the recipes, the study
expansion and a stored run's factors all agree with it."""
from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import jsonschema
import pytest

from osrstudy import run_spec
from osrstudy.run_spec import Cell, EvaluationConfig, RunSpec, RunTraining, ScheduleConfig, TrainingConfig
from osrstudy.study import evaluation_defaults, expand_study, job_spec, recipes, run_id, schema

JSON_TYPES = {int: {"integer"}, float: {"number"}, str: {"string"}, bool: {"boolean"}, dict: {"object"},
              type(None): {"null"}}


def python_types(annotation: str) -> set[str]:
    """JSON types a field's annotation allows (an int is also a valid number)."""
    hint = eval(annotation, vars(typing), vars(run_spec))  # the module's own names: int | None, dict, ...
    members = typing.get_args(hint) or (hint,)
    return set().union(*(JSON_TYPES[typing.get_origin(m) or m] for m in members))


def schema_types(prop: dict) -> set[str]:
    if "type" in prop:
        return {prop["type"]} if isinstance(prop["type"], str) else set(prop["type"])
    if "enum" in prop:
        return {"string" if isinstance(v, str) else "null" for v in prop["enum"]}
    return set().union(*(schema_types(option) for option in prop.get("oneOf", prop.get("anyOf", []))))


TRAINING_SCHEMA = schema()["$defs"]["training"]["properties"]


def test_the_schema_names_exactly_the_training_and_schedule_keys():
    assert set(TRAINING_SCHEMA) == {*TrainingConfig.keys(), *ScheduleConfig.keys(), "recipe"}


@pytest.mark.parametrize("field", dataclasses.fields(TrainingConfig) + dataclasses.fields(ScheduleConfig),
                         ids=lambda f: f.name)
def test_each_key_has_the_same_type_in_the_schema_and_the_dataclass(field):
    assert schema_types(TRAINING_SCHEMA[field.name]) == python_types(field.type), field.name


def test_the_defaults_pass_the_schema():
    study = {"name": "x", "training": {**TrainingConfig.defaults(), **dataclasses.asdict(ScheduleConfig())},
             "blocks": {"b": {"datasets": ["digits"], "backbones": ["small_cnn"], "losses": ["sce"]}}}
    jsonschema.validate(study, schema())


@pytest.mark.parametrize("name", sorted(recipes()))
def test_every_recipe_sets_training_keys_only(name):
    keys = set(recipes()[name]) - {"source", "ours"}
    assert keys <= set(TrainingConfig.keys()), f"recipe {name}: {keys - set(TrainingConfig.keys())}"


def test_a_run_spec_round_trips_and_its_id_comes_from_its_typed_form(tiny_study):
    run = expand_study(tiny_study)[0]
    typed = RunSpec.from_dict(job_spec(run))
    assert typed.training.as_dict() == run["train"]
    assert run_id(typed.training.as_dict()) == run["run_id"] == typed.run_id
    assert typed.evaluation == EvaluationConfig.from_dict(run["evaluation"])
    assert typed.evaluation.scorers == tuple(evaluation_defaults()["scorers"])


def test_a_new_key_at_none_leaves_run_ids_as_they_were():
    cell = Cell("digits", 0, "small_cnn", 8, "sce", {}, 0)
    train = RunTraining(cell, TrainingConfig()).as_dict()
    assert run_id({**train, "a_future_key": None}) == run_id(train)
    assert run_id({**train, "epochs": 31}) != run_id(train)


def test_the_config_reference_documents_every_key():
    text = (Path(__file__).resolve().parents[1] / "config" / "README.md").read_text()
    study = schema()
    keys = {*TrainingConfig.keys(), *ScheduleConfig.keys(), "recipe", *study["properties"],
            *study["$defs"]["evaluation"]["properties"], *study["$defs"]["block"]["properties"]}
    missing = sorted(k for k in keys if f"`{k}`" not in text and f"{k}:" not in text)
    assert not missing, f"config/README.md does not document {missing}"


def test_the_checkpoint_cap_widens_the_cadence_only_where_it_binds():
    assert ScheduleConfig(5).cadence(171) == 5
    assert ScheduleConfig(5, max_checkpoints=20).cadence(171) == 9  # ceil(171 / 20): 19 checkpoints
    assert ScheduleConfig(5, max_checkpoints=20).cadence(60) == 5  # 12 checkpoints: the cap does not bind
    assert ScheduleConfig(1, max_checkpoints=3).cadence(6) == 2


def test_a_schedule_spec_leaves_an_unset_cap_out_and_a_shared_run_takes_the_denser_schedule():
    assert ScheduleConfig(5).as_spec() == {"checkpoint_every": 5}  # specs written before the cap stay as they were
    assert ScheduleConfig(5, 10).as_spec() == {"checkpoint_every": 5, "max_checkpoints": 10}
    assert ScheduleConfig(5, 10).shared_with(ScheduleConfig(2, 30)) == ScheduleConfig(2, 30)
    assert ScheduleConfig(5, 10).shared_with(ScheduleConfig(8)) == ScheduleConfig(5, None)
