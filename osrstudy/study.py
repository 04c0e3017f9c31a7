"""A study config -> its run table (one row per trained model).

The config names blocks, each a small factorial; the study is their union, and a run needed by
several blocks is trained once. A run id is a readable prefix plus a hash of the canonical JSON of
the training parameters only: launcher, paths, evaluation and checkpoint cadence are left out, so
changing them never makes a new run.
"""
from __future__ import annotations

import hashlib
import itertools
import json
from importlib import resources
from pathlib import Path

import yaml

TRAINING_DEFAULTS = {
    "epochs": 30,
    "iterations": None,  # a step budget instead of epochs (the wrn_vgg recipe's 20k)
    "batch_size": 64,
    "lr": 0.05,
    "lr_min": 1e-5,
    "momentum": 0.9,
    "weight_decay": 5e-4,  # the W switch of Table 3 (0 = off)
    "augment": "none",  # the A switch: none | crop_flip | randaugment
    "self_supervision": 0.0,  # the S switch: weight of the rotation-prediction loss (paper: 0.1)
    "precision": "fp32",  # fp32 | bf16 (autocast, CUDA only)
    "channels_last": False,  # memory layout on CUDA
    "background": None,  # {dataset: NAME}: the background set of losses that use one (UCDSC)
}
SCHEDULE_DEFAULTS = {"checkpoint_every": 5}
EVALUATION_DEFAULTS = {
    "scorers": ["msp", "maxlogit", "energy", "loss", "native", "jacobian", "min_distance", "ratio", "ratio_sq",
                "knn", "react", "vim", "odin", "openmax"],
    "metrics": ["auroc", "oscr", "accuracy", "fpr95", "aupr_in", "aupr_out", "detacc", "macro_f1",
                "balanced_accuracy_val"],
}
BLOCK_DEFAULTS = {"splits": [0], "embed_dims": [32], "seeds": [0]}


class StudyConfigError(ValueError):
    pass


def recipes() -> dict:
    text = resources.files("osrstudy").joinpath("recipes.yaml").read_text()
    return yaml.safe_load(text)


def training_settings(*layers: dict, where: str) -> dict:
    """Defaults, then each layer in order (study, block); a layer's `recipe` applies its preset
    before the layer's own keys."""
    from osrstudy.registry import did_you_mean

    presets = recipes()
    settings = {**TRAINING_DEFAULTS, **SCHEDULE_DEFAULTS}
    for layer in layers:
        layer = dict(layer)
        if (name := layer.pop("recipe", None)) is not None:
            if name not in presets:
                raise StudyConfigError(
                    f"{where}: unknown recipe {name!r}.{did_you_mean(name, list(presets))} "
                    f"Known: {', '.join(sorted(presets))}."
                )
            settings.update({k: v for k, v in presets[name].items() if k not in ("source", "ours")})
        settings.update(layer)
    return settings


def schema() -> dict:
    text = resources.files("osrstudy").joinpath("schemas/study.schema.yaml").read_text()
    return yaml.safe_load(text)


def load_study(path: str | Path) -> dict:
    """Read and structurally validate a study YAML (names are checked by expand_study)."""
    import jsonschema

    path = Path(path)
    if not path.exists():
        raise StudyConfigError(
            f"study config {str(path)!r} does not exist; pass an existing file with "
            "--config study=PATH (the default is config/demo.yaml)"
        )
    study = yaml.safe_load(path.read_text())
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(study), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  at {'/'.join(map(str, e.absolute_path)) or '<top>'}: {e.message}" for e in errors]
        raise StudyConfigError(f"study config {str(path)!r} is invalid:\n" + "\n".join(lines))
    return study


def run_hash(train: dict) -> str:
    canonical = json.dumps(train, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def run_id(train: dict) -> str:
    prefix = f"{train['dataset']}-s{train['split']}-{train['backbone']}-{train['loss']}"
    return f"{prefix}-{run_hash(train)}".replace("_", "")


def _loss_entry(entry) -> tuple[str, dict]:
    return (entry, {}) if isinstance(entry, str) else (entry["name"], entry.get("options", {}))


def expand_study(study: dict) -> list[dict]:
    """Every run of the study: {'run_id', 'blocks', 'train', 'schedule', 'evaluation'}.

    Checks every name against the registries (with a did-you-mean) and resolves loss options,
    so a typo fails here, before any job starts.
    """
    from osrstudy.augment import KINDS
    from osrstudy.backbones import BACKBONES
    from osrstudy.registry import did_you_mean
    from osrstudy.data import DATASETS
    from osrstudy.losses import LOSSES, resolve_loss
    from osrstudy.metrics import METRICS
    from osrstudy.scorers import SCORERS

    evaluation = {**EVALUATION_DEFAULTS, **study.get("evaluation", {})}
    for name in evaluation["scorers"]:
        SCORERS.check(name, "evaluation.scorers")
    for name in evaluation["metrics"]:
        METRICS.check(name, "evaluation.metrics")

    runs: dict[str, dict] = {}
    for block_name, block in study["blocks"].items():
        block = {**BLOCK_DEFAULTS, **block}
        where = f"blocks.{block_name}"
        settings = training_settings(study.get("training", {}), block.get("training", {}), where=where)
        training = {k: settings[k] for k in TRAINING_DEFAULTS}
        schedule = {k: settings[k] for k in SCHEDULE_DEFAULTS}
        for name in block["datasets"]:
            DATASETS.check(name, f"{where}.datasets")
        if training["augment"] not in KINDS:
            raise StudyConfigError(
                f"{where}: unknown augment {training['augment']!r}.{did_you_mean(training['augment'], list(KINDS))} "
                f"Choose one of {', '.join(KINDS)}."
            )
        for name in block["backbones"]:
            BACKBONES.check(name, f"{where}.backbones")
        losses = []
        for entry in block["losses"]:
            name, options = _loss_entry(entry)
            try:
                losses.append((name, resolve_loss(name, options, f"{where}.losses")))
            except ValueError as err:
                raise StudyConfigError(f"{where}.losses: {err}") from None
        for (loss, _), dataset in itertools.product(losses, block["datasets"]):
            check_background(LOSSES[loss], loss, training["background"], dataset, where)
        for dataset, split, backbone, embed_dim, (loss, options), seed in itertools.product(
            block["datasets"], block["splits"], block["backbones"], block["embed_dims"], losses, block["seeds"]
        ):
            known_splits = DATASETS[dataset]().known_splits()
            if split >= len(known_splits):
                raise StudyConfigError(
                    f"{where}.splits: dataset {dataset!r} has splits 0..{len(known_splits) - 1}; got {split}"
                )
            try:
                LOSSES[loss].check_dimensions(len(known_splits[split]), embed_dim, options)
            except ValueError as err:
                raise StudyConfigError(f"{where}: loss {loss!r} on {dataset} split {split}: {err}") from None
            train = {
                "dataset": dataset,
                "split": split,
                "backbone": backbone,
                "embed_dim": embed_dim,
                "loss": loss,
                "loss_options": options,
                "seed": seed,
                **training,
            }
            rid = run_id(train)
            if rid in runs:
                runs[rid]["blocks"].append(block_name)
                continue
            runs[rid] = {
                "run_id": rid,
                "blocks": [block_name],
                "train": train,
                "schedule": schedule,
                "evaluation": evaluation,
            }
    return list(runs.values())


def check_background(loss_cls, loss: str, background: dict | None, dataset: str, where: str) -> None:
    """A background set only for losses that use one, never the study's own dataset (its other
    classes are the unknowns), and of the same image shape."""
    from osrstudy.data import DATASETS

    if loss_cls.uses_background and background is None:
        raise StudyConfigError(
            f"{where}: loss {loss!r} trains against a background set; add "
            "training: {background: {dataset: NAME}} with a dataset other than the study's"
        )
    if background is None:
        return
    if not loss_cls.uses_background:
        raise StudyConfigError(
            f"{where}: loss {loss!r} does not use a background set; remove training.background "
            "or use a loss that does (ucdsc)"
        )
    name = background["dataset"]
    DATASETS.check(name, f"{where}.training.background.dataset")
    if name == dataset:
        raise StudyConfigError(
            f"{where}: the background set is the study's own dataset {dataset!r}, whose other classes "
            "are the unknowns of the test; choose another dataset"
        )
    ours, theirs = DATASETS[dataset], DATASETS[name]
    if (ours.channels, ours.image_size) != (theirs.channels, theirs.image_size):
        raise StudyConfigError(
            f"{where}: background {name!r} has {theirs.channels}x{theirs.image_size}x{theirs.image_size} "
            f"images, {dataset!r} {ours.channels}x{ours.image_size}x{ours.image_size}; they must match"
        )


def job_spec(run: dict) -> dict:
    """What a training job needs (block membership is the merge's business, not the job's)."""
    return {k: v for k, v in run.items() if k != "blocks"}
