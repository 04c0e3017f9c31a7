"""A run's data on the device: the open-set split, its evaluation samples and their labels."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from osrstudy.augment import build_augment
from osrstudy.data import DATASETS, OpenSetSplit, Partition, load_split
from osrstudy.data.base import subsample
from osrstudy.data.ood import load_ood
from osrstudy.images import DeviceImages, to_device
from osrstudy.labels import UNKNOWN
from osrstudy.run_spec import RunSpec
from osrstudy.train import TrainingData

HELD_OUT = "held_out"  # the eval set of the dataset's own unknown classes; out-of-distribution sets add more


@dataclass(frozen=True)
class EvalSamples:
    """Every evaluated sample, in order: validation, test, then each out-of-distribution set."""

    labels: np.ndarray  # known class 0..K-1 or UNKNOWN
    partition: np.ndarray  # "val", "test" or the out-of-distribution set's name
    classes: np.ndarray  # the dataset's own class index (UNKNOWN for out-of-distribution sets)
    index: np.ndarray  # position in the dataset (or in the out-of-distribution set)
    ood_sets: tuple[str, ...] = ()

    @classmethod
    def of(cls, split: OpenSetSplit, ood: dict[str, Partition]) -> "EvalSamples":
        parts = [split.val, split.test, *ood.values()]
        partition = np.array(["val"] * len(split.val) + ["test"] * len(split.test)
                             + [name for name, p in ood.items() for _ in range(len(p))])
        return cls(np.concatenate([p.labels for p in parts]), partition,
                   np.concatenate([p.classes for p in parts]), np.concatenate([p.index for p in parts]), tuple(ood))

    def per_partition(self, n: int | dict | None, seed: int = 0) -> np.ndarray:
        """Mask of a fixed-seed subsample of at most n samples of each partition; n a mapping
        {val, test, ood: N}: per kind, `ood` for each out-of-distribution set, a kind it leaves
        out kept whole; None: every sample."""
        keep = np.ones(len(self.labels), dtype=bool)
        if n is None:
            return keep
        rng = np.random.default_rng(seed)
        for name in dict.fromkeys(self.partition):
            cap = n if isinstance(n, int) else n.get(name if name in ("val", "test") else "ood")
            where = np.flatnonzero(self.partition == name)
            if cap is not None and len(where) > cap:
                keep[np.setdiff1d(where, rng.choice(where, cap, replace=False))] = False
        return keep

    def masks(self) -> dict[str, np.ndarray]:
        """Per eval set, the samples its metrics use: the test samples for the held-out classes;
        the known test samples and the set's own for each out-of-distribution set."""
        test = self.partition == "test"
        known_test = test & (self.labels >= 0)
        return {HELD_OUT: test, **{name: known_test | (self.partition == name) for name in self.ood_sets}}


@dataclass
class Inputs:
    split: OpenSetSplit
    x_train: DeviceImages  # uint8 on the device when it fits, normalised per batch
    y_train: torch.Tensor
    x_test: torch.Tensor
    x_eval: torch.Tensor  # normalised once: validation, test, then out-of-distribution samples
    samples: EvalSamples

    @property
    def x_val(self) -> torch.Tensor:
        return self.x_eval[: len(self.split.val)]


def ood_partition(name: str, data_root: str | None, channels: int, size: int) -> Partition:
    """An out-of-distribution set as a partition of unknowns (index: position in the set)."""
    images = load_ood(name, data_root, channels, size)
    unknown = np.full(len(images), UNKNOWN)
    return Partition(images, unknown, unknown, np.arange(len(images)))


def load_inputs(spec: RunSpec, data_root: str | None, device: torch.device) -> Inputs:
    """The split (with the evaluation's sample budgets applied) and its eval sets, on the device."""
    cell, budget = spec.cell, spec.evaluation.max_samples
    split = load_split(cell.dataset, cell.split, data_root, spec.config.n_known)
    split = dataclasses.replace(split, val=subsample(split.val, budget.get("val")),
                                test=subsample(split.test, budget.get("test")))
    dataset = DATASETS[cell.dataset]
    ood = {name: subsample(ood_partition(name, data_root, dataset.channels, dataset.image_size),
                           spec.evaluation.ood_budget())
           for name in spec.evaluation.eval_sets}
    norm = (split.mean, split.std, device)
    x_train = DeviceImages(split.train.images, split.mean, split.std, device,
                           channels_last=spec.config.channels_last and device.type == "cuda")
    x_val, x_test = (to_device(p.images, *norm) for p in (split.val, split.test))
    x_eval = torch.cat([x_val, x_test, *(to_device(p.images, *norm) for p in ood.values())])
    y_train = torch.as_tensor(split.train.labels, device=device)
    return Inputs(split, x_train, y_train, x_test, x_eval, EvalSamples.of(split, ood))


def training_data(spec: RunSpec, inputs: Inputs, data_root: str | None, device: torch.device) -> TrainingData:
    """What a training step draws from: the training images, the augmentation and (for losses
    that use one) the train share of a background dataset, all of its classes."""
    config, split, dataset = spec.config, inputs.split, DATASETS[spec.cell.dataset]
    background = None
    if config.background is not None:
        samples = DATASETS[config.background["dataset"]]().load(data_root)
        background = DeviceImages(samples.images[samples.partition == "train"], split.mean, split.std, device)
    augment = build_augment(config.augment, dataset.image_size, dataset.flip_ok, split.mean, split.std)
    return TrainingData(inputs.x_train, inputs.y_train, augment, background)
