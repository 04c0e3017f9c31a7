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
    "n_known": None,  # train on the split's first n_known known classes only (the K scan, Fig. 7)
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

    from osrstudy import strict_yaml

    path = Path(path)
    fix = "pass a study YAML file with --config study=PATH (the default is config/demo.yaml)"
    if not path.exists():
        raise StudyConfigError(f"study config {str(path)!r} does not exist; {fix}")
    if not path.is_file():
        raise StudyConfigError(f"study config {str(path)!r} is a directory, not a file; {fix}")
    try:
        study = strict_yaml.load(path)
    except yaml.YAMLError as err:
        raise StudyConfigError(f"study config {str(path)!r} is not valid YAML:\n{err}") from None
    if not isinstance(study, dict):
        what = "empty" if study is None else f"a {type(study).__name__}, not a mapping"
        raise StudyConfigError(f"study config {str(path)!r} is {what}; it needs at least `name:` and `blocks:` "
                               "(see config/demo.yaml, and the README section Studies and configuration)")
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(study), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  at {'/'.join(map(str, e.absolute_path)) or '<top>'}: {e.message}" for e in errors]
        raise StudyConfigError(f"study config {str(path)!r} is invalid:\n" + "\n".join(lines))
    return study


def run_hash(train: dict) -> str:
    """Hash of the canonical JSON of the training parameters, keys at None left out: a new
    training key with a None default leaves every existing run id as it was."""
    canonical = json.dumps({k: v for k, v in train.items() if v is not None}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def run_id(train: dict) -> str:
    prefix = f"{train['dataset']}-s{train['split']}-{train['backbone']}-{train['loss']}"
    return f"{prefix}-{run_hash(train)}".replace("_", "")


def _loss_entry(entry) -> tuple[str, dict]:
    return (entry, {}) if isinstance(entry, str) else (entry["name"], entry.get("options", {}))


MATCHABLE = ("dataset", "split", "backbone", "embed_dim", "loss", "seed", "n_known")


def _excluded(train: dict, exclusions: list[dict]) -> dict | None:
    """The first exclusion whose every key matches the run (None: the run is kept)."""
    for rule in exclusions:
        if all(train.get(key) == value for key, value in rule.items() if key != "why"):
            return rule
    return None


def expand_study(study: dict) -> list[dict]:
    """Every run of the study: {'run_id', 'blocks', 'train', 'schedule', 'evaluation'}."""
    return expansion(study)[0]


def expansion(study: dict) -> tuple[list[dict], list[dict]]:
    """(runs, skipped): every run of the study, and every cell a block's `exclude` removed, with
    its block and the reason.

    Checks every name against the registries (with a did-you-mean) and resolves loss options,
    so a typo fails here, before any job starts. A run needed by several blocks is trained once:
    it is evaluated on the union of their eval sets and checkpointed at the finest cadence.
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

    known_splits: dict[str, list] = {}  # per dataset, computed once: published lists are parsed YAML

    def splits_of(dataset: str) -> list:
        if dataset not in known_splits:
            known_splits[dataset] = DATASETS[dataset]().known_splits()
        return known_splits[dataset]

    runs: dict[str, dict] = {}
    skipped: list[dict] = []
    for block_name, block in study["blocks"].items():
        block = {**BLOCK_DEFAULTS, **block}
        where = f"blocks.{block_name}"
        settings = training_settings(study.get("training", {}), block.get("training", {}), where=where)
        for name in block["datasets"]:
            DATASETS.check(name, f"{where}.datasets")
        for name in block["backbones"]:
            BACKBONES.check(name, f"{where}.backbones")
        for key in block.get("scan", {}):
            if key not in TRAINING_DEFAULTS:
                raise StudyConfigError(
                    f"{where}.scan: {key!r} is not a training parameter.{did_you_mean(key, list(TRAINING_DEFAULTS))} "
                    "Scan loss options by listing one loss entry per value."
                )
        eval_sets = check_eval_sets(block.get("eval_sets", []), block["datasets"], where)
        # eval_sets only where a block names some: specs of other runs stay as they were
        block_evaluation = {**evaluation, **({"eval_sets": eval_sets} if eval_sets else {})}
        losses = []
        for entry in block["losses"]:
            name, options = _loss_entry(entry)
            try:
                losses.append((name, resolve_loss(name, options, f"{where}.losses")))
            except (TypeError, ValueError) as err:
                raise StudyConfigError(f"{where}.losses: {err}") from None
        exclusions = block.get("exclude", [])
        used = [False] * len(exclusions)
        scan = block.get("scan", {})
        schedule = {k: settings[k] for k in SCHEDULE_DEFAULTS}
        for values in itertools.product(*scan.values()):
            training = {k: settings[k] for k in TRAINING_DEFAULTS} | dict(zip(scan, values))
            if training["augment"] not in KINDS:
                raise StudyConfigError(
                    f"{where}: unknown augment {training['augment']!r}.{did_you_mean(training['augment'], list(KINDS))} "
                    f"Choose one of {', '.join(KINDS)}."
                )
            for (loss, _), dataset in itertools.product(losses, block["datasets"]):
                check_background(LOSSES[loss], loss, training["background"], dataset, where)
            for dataset, split, backbone, embed_dim, (loss, options), seed in itertools.product(
                block["datasets"], block["splits"], block["backbones"], block["embed_dims"], losses, block["seeds"]
            ):
                splits = splits_of(dataset)
                if split >= len(splits):
                    raise StudyConfigError(
                        f"{where}.splits: dataset {dataset!r} has splits 0..{len(splits) - 1}; got {split}"
                    )
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
                if (rule := _excluded(train, exclusions)) is not None:
                    used[exclusions.index(rule)] = True
                    skipped.append({"block": block_name, **{k: train[k] for k in MATCHABLE if train.get(k) is not None},
                                    "why": rule["why"]})
                    continue
                n_known = len(splits[split])
                if training["n_known"] is not None:
                    if not 2 <= training["n_known"] <= n_known:
                        raise StudyConfigError(
                            f"{where}: n_known {training['n_known']} on {dataset} split {split}: "
                            f"choose 2..{n_known} (the split's known classes)"
                        )
                    n_known = training["n_known"]
                try:
                    LOSSES[loss].check_dimensions(n_known, embed_dim, options)
                except ValueError as err:
                    raise StudyConfigError(
                        f"{where}: loss {loss!r} on {dataset} split {split}: {err}. To leave this cell out "
                        f"of the block, add exclude: [{{loss: {loss}, dataset: {dataset}, why: ...}}]"
                    ) from None
                add_run(runs, train, block_name, schedule, block_evaluation)
        for rule, hit in zip(exclusions, used):
            if not hit:
                raise StudyConfigError(
                    f"{where}.exclude: {rule} matches no run of the block; correct or remove it"
                )
    return list(runs.values()), skipped


def add_run(runs: dict, train: dict, block: str, schedule: dict, evaluation: dict) -> None:
    """Add a run, or merge a block into the run it shares with an earlier block."""
    rid = run_id(train)
    if rid not in runs:
        runs[rid] = {"run_id": rid, "blocks": [block], "train": train, "schedule": schedule, "evaluation": evaluation}
        return
    run = runs[rid]
    run["blocks"].append(block)
    run["schedule"] = {"checkpoint_every": min(run["schedule"]["checkpoint_every"], schedule["checkpoint_every"])}
    ours, theirs = run["evaluation"].get("eval_sets", []), evaluation.get("eval_sets", [])
    if sets := ours + [s for s in theirs if s not in ours]:
        run["evaluation"] = {**run["evaluation"], "eval_sets": sets}


def check_eval_sets(names: list[str], datasets: list[str], where: str) -> list[str]:
    """Out-of-distribution sets scored beside the held-out unknowns; their images must have the
    shape the model was trained on."""
    from osrstudy.data import DATASETS
    from osrstudy.data.ood import OOD_SETS, shape_of

    for name in names:
        OOD_SETS.check(name, f"{where}.eval_sets")
        for dataset in datasets:
            ours = DATASETS[dataset]
            shape = shape_of(name, ours.channels, ours.image_size)
            if shape != (ours.channels, ours.image_size):
                raise StudyConfigError(
                    f"{where}.eval_sets: {name!r} has {shape[0]}x{shape[1]}x{shape[1]} images, {dataset!r} "
                    f"{ours.channels}x{ours.image_size}x{ours.image_size}; choose a set of the same shape "
                    "(gaussian_noise and uniform_noise fit any)"
                )
    return list(names)


def block_counts(study: dict, runs: list[dict], skipped: list[dict]) -> str:
    """Per block: its runs, how many it shares with earlier blocks, and what it left out; then the total."""
    seen: set[str] = set()
    lines = []
    for block in study["blocks"]:
        ids = [r["run_id"] for r in runs if block in r["blocks"]]
        shared = sum(1 for i in ids if i in seen)
        seen.update(ids)
        left_out = [s for s in skipped if s["block"] == block]
        line = f"  {block}: {len(ids)} runs" + (f" ({shared} shared with blocks above)" if shared else "")
        if left_out:
            reasons = sorted({s["why"] for s in left_out})
            line += f"; {len(left_out)} left out: {'; '.join(reasons)}"
        lines.append(line)
    return "\n".join([f"study {study['name']}: {len(runs)} training jobs", *lines])


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
