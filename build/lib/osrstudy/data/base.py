"""What every dataset provides, and how an open-set split is cut from it.

A dataset yields all of its samples once, with a fixed train / val / test partition; a split only
decides which classes are known. Train holds known classes only; val (a fixed stratified share of
the official train split) holds known and unknown samples, for calibration; test is the official
test split (or a fixed stratified share where there is none).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from osrstudy.labels import UNKNOWN
from osrstudy.registry import Registry


@dataclass(frozen=True)
class Source:
    """A file a dataset is fetched from (osrstudy.data.download)."""

    url: str
    filename: str
    md5: str | None = None  # published checksum; None: sha256 recorded on first download
    extract: bool = False  # unpack the archive into the dataset folder


PARTITIONS = ("train", "val", "test")


@dataclass(frozen=True)
class Samples:
    images: np.ndarray  # (N, C, H, W), float32 in [0, 1] or uint8
    labels: np.ndarray  # (N,) original class index
    partition: np.ndarray  # (N,) one of PARTITIONS


class Dataset:
    """Subclass per dataset and register with @DATASETS.register(name)."""

    name: str
    class_names: tuple[str, ...]
    channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    split_seed: int | None = None  # recorded when splits are generated rather than published
    flip_ok: bool = True  # horizontal flips keep the class (not for digits)

    def load(self, root: str | None) -> Samples:
        raise NotImplementedError

    def known_splits(self) -> list[list[int]]:
        raise NotImplementedError

    def unknown_splits(self) -> list[list[int]] | None:
        """Per split, the classes that are unknown at test time; None: every class not known.
        (CIFAR+N: N CIFAR-100 classes, while the other CIFAR-10 classes take no part.)"""
        return None

    def sources(self) -> list:
        """What `osrstudy.data.download` fetches into <data_root>/<folder> (list of Source)."""
        return []

    folder: str = ""

    def found_elsewhere(self, root: str | None) -> str | None:
        """Where a complete copy outside the data root already is (a system package), if any."""
        return None

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


DATASETS: Registry[type[Dataset]] = Registry("dataset")


@dataclass(frozen=True)
class Partition:
    images: np.ndarray
    labels: np.ndarray  # 0..K-1 for known classes (in the order of `known`), UNKNOWN otherwise
    classes: np.ndarray  # original class index
    index: np.ndarray  # position in the dataset

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class OpenSetSplit:
    dataset: str
    split: int
    known: tuple[int, ...]
    train: Partition
    val: Partition
    test: Partition
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def n_known(self) -> int:
        return len(self.known)


def cut_split(samples: Samples, known: list[int], unknown: list[int] | None = None) -> dict[str, Partition]:
    """Relabel known classes 0..K-1. Train keeps the known classes of the train partition; val is
    the whole val partition (known and unknown, for calibration); unknown-class samples of the
    train partition are used nowhere, which keeps val a fixed share of the data. With `unknown`,
    classes in neither list are left out of val and test too."""
    lookup = np.full(int(samples.labels.max()) + 1, UNKNOWN, dtype=np.int64)
    lookup[np.asarray(known)] = np.arange(len(known))
    labels = lookup[samples.labels]
    is_known = labels != UNKNOWN
    taking_part = is_known | (np.isin(samples.labels, unknown) if unknown is not None else True)
    masks = {
        "train": (samples.partition == "train") & is_known,
        "val": (samples.partition == "val") & taking_part,
        "test": (samples.partition == "test") & taking_part,
    }
    return {
        name: Partition(
            images=samples.images[m],
            labels=labels[m],
            classes=samples.labels[m],
            index=np.flatnonzero(m),
        )
        for name, m in masks.items()
    }


def subsample(part: Partition, n: int | None, seed: int = 0) -> Partition:
    """At most n samples of a partition, drawn without replacement from a fixed seed and kept in
    dataset order (an evaluation budget for CPU studies; None keeps everything)."""
    if n is None or n >= len(part):
        return part
    keep = np.sort(np.random.default_rng(seed).choice(len(part), n, replace=False))
    return Partition(part.images[keep], part.labels[keep], part.classes[keep], part.index[keep])


def load_split(dataset: str, split: int, root: str | None = None, n_known: int | None = None) -> OpenSetSplit:
    """One open-set split. With n_known, only the split's first n_known known classes are known;
    the unknown classes stay those of the split and the other known classes take no part (the K
    scan: more known classes, the same unknowns)."""
    ds = DATASETS[dataset]()
    splits = ds.known_splits()
    if not 0 <= split < len(splits):
        raise ValueError(f"dataset {dataset!r} has splits 0..{len(splits) - 1}; got split {split}")
    known = splits[split]
    unknown = ds.unknown_splits()
    unknown = unknown[split] if unknown is not None else None
    if n_known is not None:
        if not 2 <= n_known <= len(known):
            raise ValueError(f"n_known {n_known}: dataset {dataset!r} split {split} has {len(known)} known classes")
        if unknown is None:
            unknown = [c for c in range(ds.n_classes) if c not in known]
        known = known[:n_known]
    parts = cut_split(ds.load(root), known, unknown)
    return OpenSetSplit(dataset, split, tuple(known), mean=ds.mean, std=ds.std, **parts)


def stratified_partition(
    labels: np.ndarray, test_share: float, val_share: float, seed: int
) -> np.ndarray:
    """Fixed stratified train / val / test assignment (val_share is a share of the non-test part)."""
    rng = np.random.default_rng(seed)
    partition = np.empty(len(labels), dtype="<U5")
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(test_share * len(idx)))
        n_val = int(round(val_share * (len(idx) - n_test)))
        partition[idx[:n_test]] = "test"
        partition[idx[n_test : n_test + n_val]] = "val"
        partition[idx[n_test + n_val :]] = "train"
    return partition


VAL_SHARE, VAL_SEED = 0.1, 20261124  # validation: a stratified 10 % of the official train split


def official_partition(train_labels: np.ndarray, n_test: int) -> np.ndarray:
    """Train / val from the official train split (val a fixed stratified share), then the
    official test split, in that order."""
    partition = np.array(["test"] * (len(train_labels) + n_test), dtype="<U5")
    partition[: len(train_labels)] = stratified_partition(train_labels, 0.0, VAL_SHARE, VAL_SEED)
    return partition


def missing_files_error(dataset: str, folder, files, how: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"dataset {dataset!r}: {', '.join(map(str, files))} not found in {folder}. Fetch it with "
        f"`snakemake data` (or python -m osrstudy.data.download {dataset} --root DATA_ROOT) where "
        f"there is network, or {how}, and set data_root in the study config."
    )


def random_known_splits(n_classes: int, n_known: int, n_splits: int, seed: int) -> list[list[int]]:
    """Distinct known-class sets drawn from a fixed seed (for datasets with no published lists)."""
    rng = np.random.default_rng(seed)
    splits: list[list[int]] = []
    while len(splits) < n_splits:
        known = sorted(rng.choice(n_classes, size=n_known, replace=False).tolist())
        if known not in splits:
            splits.append(known)
    return splits
