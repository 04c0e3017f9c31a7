"""A study config -> its run table (one row per trained model).

The config names blocks, each a small factorial; the study is their union, and a run needed by
several blocks is trained once. A run id is a readable prefix plus a hash of the canonical JSON of
the training parameters only: launcher, paths, evaluation and checkpoint cadence are left out, so
changing them never makes a new run.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterator

import jsonschema
import yaml

from osrstudy import strict_yaml
from osrstudy.augment import KINDS
from osrstudy.backbones import BACKBONES
from osrstudy.data import DATASETS
from osrstudy.data.ood import OOD_SETS, shape_of
from osrstudy.losses import LOSSES, resolve_loss
from osrstudy.metrics import METRICS
from osrstudy.registry import did_you_mean
from osrstudy.run_spec import Cell, RunTraining, ScheduleConfig, TrainingConfig
from osrstudy.scorers import SCORERS


def evaluation_defaults() -> dict:
    """Every registered scorer and metric, in registration order."""
    return {"scorers": SCORERS.in_registration_order(), "metrics": METRICS.in_registration_order()}


BLOCK_DEFAULTS = {"splits": [0], "embed_dims": [32], "seeds": [0]}


class StudyConfigError(ValueError):
    pass


def recipes() -> dict:
    text = resources.files("osrstudy").joinpath("recipes.yaml").read_text()
    return yaml.safe_load(text)


def training_settings(*layers: dict, where: str) -> dict:
    """Defaults, then each layer in order (study, block); a layer's `recipe` applies its preset
    before the layer's own keys."""
    presets = recipes()
    settings = {**TrainingConfig.defaults(), **dataclasses.asdict(ScheduleConfig())}
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


MATCHABLE = ("dataset", "split", "backbone", "embed_dim", "loss", "seed", "n_known")


def excluded(train: dict, exclusions: list[dict]) -> dict | None:
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
    evaluation = study_evaluation(study)
    splits = KnownSplits()
    runs: dict[str, dict] = {}
    skipped: list[dict] = []
    for name, block in study["blocks"].items():
        plan = BlockPlan.of(study, name, block, evaluation)
        used = [False] * len(plan.exclusions)
        for train in plan.cells(splits):
            if (rule := excluded(train, plan.exclusions)) is not None:
                used[plan.exclusions.index(rule)] = True
                skipped.append({"block": name, **{k: train[k] for k in MATCHABLE if train.get(k) is not None},
                                "why": rule["why"]})
                continue
            check_cell(train, splits, plan.where)
            add_run(runs, train, name, plan.schedule, plan.evaluation)
        for rule, hit in zip(plan.exclusions, used):
            if not hit:
                raise StudyConfigError(
                    f"{plan.where}.exclude: {rule} matches no run of the block; correct or remove it"
                )
    return list(runs.values()), skipped


def study_evaluation(study: dict) -> dict:
    """The study's evaluation settings over the defaults, every scorer and metric name checked."""
    evaluation = {**evaluation_defaults(), **study.get("evaluation", {})}
    for name in evaluation["scorers"]:
        SCORERS.check(name, "evaluation.scorers")
    for name in evaluation["metrics"]:
        METRICS.check(name, "evaluation.metrics")
    return evaluation


class KnownSplits:
    """Each dataset's known-class lists, read once per expansion (published lists are parsed YAML)."""

    def __init__(self):
        self._by_dataset: dict[str, list] = {}

    def __call__(self, dataset: str) -> list:
        if dataset not in self._by_dataset:
            self._by_dataset[dataset] = DATASETS[dataset]().known_splits()
        return self._by_dataset[dataset]


@dataclass(frozen=True)
class BlockPlan:
    """One block, its names checked: the settings every cell shares, and what its factorial crosses."""

    where: str
    block: dict
    settings: dict
    losses: list[tuple[str, dict]]
    evaluation: dict
    schedule: dict
    exclusions: list[dict]

    @classmethod
    def of(cls, study: dict, name: str, block: dict, evaluation: dict) -> "BlockPlan":
        block, where = {**BLOCK_DEFAULTS, **block}, f"blocks.{name}"
        settings = training_settings(study.get("training", {}), block.get("training", {}), where=where)
        for dataset in block["datasets"]:
            DATASETS.check(dataset, f"{where}.datasets")
        for backbone in block["backbones"]:
            BACKBONES.check(backbone, f"{where}.backbones")
        for key in block.get("scan", {}):
            if key not in TrainingConfig.keys():
                raise StudyConfigError(
                    f"{where}.scan: {key!r} is not a training parameter.{did_you_mean(key, TrainingConfig.keys())} "
                    "Scan loss options by listing one loss entry per value."
                )
        eval_sets = check_eval_sets(block.get("eval_sets", []), block["datasets"], where)
        # eval_sets only where a block names some: specs of other runs stay as they were
        block_evaluation = {**evaluation, **block_budgets(block, where),
                            **({"eval_sets": eval_sets} if eval_sets else {})}
        schedule = ScheduleConfig(**{k: settings[k] for k in ScheduleConfig.keys()}).as_spec()
        return cls(where, block, settings, resolved_losses(block["losses"], where), block_evaluation, schedule,
                   block.get("exclude", []))

    def trainings(self) -> Iterator[dict]:
        """The training config of each point of the block's scan (one, without a scan)."""
        scan = self.block.get("scan", {})
        for values in itertools.product(*scan.values()):
            training = {k: self.settings[k] for k in TrainingConfig.keys()} | dict(zip(scan, values))
            check_augment(training["augment"], self.where)
            for (loss, _), dataset in itertools.product(self.losses, self.block["datasets"]):
                check_background(LOSSES[loss], loss, training["background"], dataset, self.where)
            yield training

    def cells(self, splits: KnownSplits) -> Iterator[dict]:
        """Each cell's `train` mapping: datasets x splits x backbones x dims x losses x seeds x scan."""
        block = self.block
        for training in self.trainings():
            for dataset, split, backbone, embed_dim, (loss, options), seed in itertools.product(
                block["datasets"], block["splits"], block["backbones"], block["embed_dims"], self.losses, block["seeds"]
            ):
                if split >= len(splits(dataset)):
                    raise StudyConfigError(
                        f"{self.where}.splits: dataset {dataset!r} has splits 0..{len(splits(dataset)) - 1}; "
                        f"got {split}"
                    )
                cell = Cell(dataset, split, backbone, embed_dim, loss, options, seed)
                yield RunTraining(cell, TrainingConfig(**training)).as_dict()


STUDY_WIDE_EVALUATION = ("scorers", "metrics")  # the merged study compares every run by the same ones


def block_budgets(block: dict, where: str) -> dict:
    """A block's own evaluation settings (budgets), which replace the study's."""
    own = block.get("evaluation", {})
    for key in STUDY_WIDE_EVALUATION:
        if key in own:
            raise StudyConfigError(f"{where}.evaluation.{key}: {key} are study-wide, so that the merged study "
                                   f"compares every run alike; set evaluation.{key} at the study's top level")
    return own


def resolved_losses(entries: list, where: str) -> list[tuple[str, dict]]:
    """(name, full options) of each loss entry: a name, or {name, options}."""
    losses = []
    for entry in entries:
        name, options = (entry, {}) if isinstance(entry, str) else (entry["name"], entry.get("options", {}))
        try:
            losses.append((name, resolve_loss(name, options, f"{where}.losses")))
        except (TypeError, ValueError) as err:
            raise StudyConfigError(f"{where}.losses: {err}") from None
    return losses


def check_augment(kind: str, where: str) -> None:
    if kind not in KINDS:
        raise StudyConfigError(
            f"{where}: unknown augment {kind!r}.{did_you_mean(kind, list(KINDS))} Choose one of {', '.join(KINDS)}."
        )


def check_cell(train: dict, splits: KnownSplits, where: str) -> None:
    """A cell's known classes exist, and its loss can exist for them in its embedding dimension."""
    dataset, split, loss = train["dataset"], train["split"], train["loss"]
    n_known = len(splits(dataset)[split])
    if train["n_known"] is not None:
        if not 2 <= train["n_known"] <= n_known:
            raise StudyConfigError(
                f"{where}: n_known {train['n_known']} on {dataset} split {split}: "
                f"choose 2..{n_known} (the split's known classes)"
            )
        n_known = train["n_known"]
    try:
        LOSSES[loss].check_dimensions(n_known, train["embed_dim"], train["loss_options"])
    except ValueError as err:
        raise StudyConfigError(
            f"{where}: loss {loss!r} on {dataset} split {split}: {err}. To leave this cell out "
            f"of the block, add exclude: [{{loss: {loss}, dataset: {dataset}, why: ...}}]"
        ) from None


def add_run(runs: dict, train: dict, block: str, schedule: dict, evaluation: dict) -> None:
    """Add a run, or merge a block into the run it shares with an earlier block."""
    rid = run_id(train)
    if rid not in runs:
        runs[rid] = {"run_id": rid, "blocks": [block], "train": train, "schedule": schedule, "evaluation": evaluation}
        return
    run = runs[rid]
    differing = [k for k in {*run["evaluation"], *evaluation} - {"eval_sets"}
                 if run["evaluation"].get(k) != evaluation.get(k)]
    if differing:
        raise StudyConfigError(
            f"blocks.{block}: its run {rid} is also in block {run['blocks'][0]!r}, which evaluates it with other "
            f"{', '.join(sorted(differing))}; a run is evaluated once: give both blocks the same evaluation "
            "settings (or set them in the study's evaluation)"
        )
    run["blocks"].append(block)
    run["schedule"] = ScheduleConfig(**run["schedule"]).shared_with(ScheduleConfig(**schedule)).as_spec()
    ours, theirs = run["evaluation"].get("eval_sets", []), evaluation.get("eval_sets", [])
    if sets := ours + [s for s in theirs if s not in ours]:
        run["evaluation"] = {**run["evaluation"], "eval_sets": sets}


def check_eval_sets(names: list[str], datasets: list[str], where: str) -> list[str]:
    """Out-of-distribution sets scored beside the held-out unknowns; their images must have the
    shape the model was trained on."""
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
