"""The typed spec of one run: the one place the training keys, their types and defaults live.

A study config and a job's spec are plain YAML/JSON mappings (they are hashed and stored); these
dataclasses are their typed form. `TrainingConfig` is the source of truth for the training keys:
the study expansion reads its defaults, the run-id hash covers its values, `train()` takes it,
and a stored run's factors come from it. tests/test_run_spec.py proves the schema agrees.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TrainingConfig:
    """How a model is trained. A new key needs a default of None to keep existing run ids (keys at
    None are left out of the hash) and an entry in schemas/study.schema.yaml."""

    epochs: int = 30
    iterations: int | None = None  # a step budget instead of epochs (the wrn_vgg recipe's 20k)
    batch_size: int = 64
    lr: float = 0.05
    lr_min: float = 1e-5
    momentum: float = 0.9
    weight_decay: float = 5e-4  # the W switch of Table 3 (0 = off)
    augment: str = "none"  # the A switch: none | crop_flip | randaugment
    self_supervision: float = 0.0  # the S switch: weight of the rotation-prediction loss (paper: 0.1)
    precision: str = "fp32"  # fp32 | bf16 (autocast, CUDA only)
    channels_last: bool = False  # memory layout on CUDA
    background: dict | None = None  # {dataset: NAME}: the background set of losses that use one (UCDSC)
    n_known: int | None = None  # train on the split's first n_known known classes only (the K scan, Fig. 7)

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return dataclasses.asdict(cls())

    @classmethod
    def from_mapping(cls, values: dict) -> "TrainingConfig":
        """The training keys of a mapping that may hold others (a run's `train`, a settings layer)."""
        return cls(**{key: values[key] for key in cls.keys() if key in values})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ScheduleConfig:
    """When a job checkpoints; not part of the run id (a cadence never changes the numbers)."""

    checkpoint_every: int = 5  # epochs between checkpoints (and history rows)
    # At most this many checkpoints (None: no cap). A step budget over a small training set makes
    # many short epochs (the K scan's 2-class runs: 171 epochs of 20k iterations), and every
    # checkpoint runs the validation probe's Jacobians.
    max_checkpoints: int | None = None

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def cadence(self, epochs: int) -> int:
        """Epochs between checkpoints for a run of `epochs` epochs."""
        if self.max_checkpoints is None:
            return self.checkpoint_every
        return max(self.checkpoint_every, math.ceil(epochs / self.max_checkpoints))

    def as_spec(self) -> dict:
        """The spec's mapping; an unset cap is left out, so specs written before it stay as they were
        (a changed spec makes snakemake re-evaluate a finished run)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    def shared_with(self, other: "ScheduleConfig") -> "ScheduleConfig":
        """The schedule of a run two blocks share: the denser of the two."""
        caps = (self.max_checkpoints, other.max_checkpoints)
        return ScheduleConfig(min(self.checkpoint_every, other.checkpoint_every),
                              None if None in caps else max(caps))


@dataclass(frozen=True)
class Cell:
    """What a block's factorial crosses: one cell is one trained model (with a TrainingConfig)."""

    dataset: str
    split: int
    backbone: str
    embed_dim: int
    loss: str
    loss_options: dict = field(default_factory=dict)
    seed: int = 0


@dataclass(frozen=True)
class RunTraining:
    """A run's `train` mapping: the cell and its training config. `as_dict()` is what the run id
    hashes and what the store records."""

    cell: Cell
    config: TrainingConfig

    @classmethod
    def from_dict(cls, train: dict) -> "RunTraining":
        cell = Cell(**{f.name: train[f.name] for f in dataclasses.fields(Cell)})
        return cls(cell, TrainingConfig.from_mapping(train))

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self.cell), **self.config.as_dict()}


BUDGETS = ("jacobian_before", "probe_samples", "probe_jacobians", "jacobian_projections", "jacobian_after",
           "interpolation_pairs")


@dataclass(frozen=True)
class EvaluationConfig:
    """What a run measures after training."""

    scorers: tuple[str, ...]
    metrics: tuple[str, ...]
    max_samples: dict[str, int] = field(default_factory=dict)  # {val, test, ood, train}: fixed-seed subsamples
    eval_sets: tuple[str, ...] = ()  # out-of-distribution sets beside the held-out classes
    # Budgets of the evaluation's costliest parts; absent from a spec they take these defaults, so
    # specs written before them keep their hash.
    jacobian_before: int | None = None  # samples with a Jacobian norm before training (None: all)
    probe_samples: int = 300  # validation samples examined at each checkpoint
    probe_jacobians: int | None = None  # of those, the ones whose Jacobian norms give the gap (None: all)
    jacobian_projections: int | None = None  # final norms by the random-projection estimator (None: exact)
    # final norms on at most this many samples per partition, or {val, test, ood: N} per kind (None: all)
    jacobian_after: int | dict | None = None
    interpolation_pairs: int = 16  # Fig. 4's paths between test samples of two known classes

    @classmethod
    def from_dict(cls, evaluation: dict) -> "EvaluationConfig":
        budgets = {k: evaluation[k] for k in BUDGETS if k in evaluation}
        return cls(tuple(evaluation["scorers"]), tuple(evaluation["metrics"]),
                   dict(evaluation.get("max_samples", {})), tuple(evaluation.get("eval_sets", ())), **budgets)

    def ood_budget(self) -> int | None:
        return self.max_samples.get("ood", self.max_samples.get("test"))


@dataclass(frozen=True)
class RunSpec:
    """A job's spec: {'run_id', 'train', 'schedule', 'evaluation'} (osrstudy.study.job_spec)."""

    run_id: str
    training: RunTraining
    schedule: ScheduleConfig
    evaluation: EvaluationConfig

    @classmethod
    def from_dict(cls, spec: dict) -> "RunSpec":
        return cls(spec["run_id"], RunTraining.from_dict(spec["train"]), ScheduleConfig(**spec["schedule"]),
                   EvaluationConfig.from_dict(spec["evaluation"]))

    @property
    def cell(self) -> Cell:
        return self.training.cell

    @property
    def config(self) -> TrainingConfig:
        return self.training.config
