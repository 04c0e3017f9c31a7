"""MNIST and Fashion-MNIST from their idx files (official train / test splits)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from osrstudy.data.base import DATASETS, Dataset, Samples, Source, official_partition, random_known_splits
from osrstudy.data.idx import read_idx
from osrstudy.data.splits import published_splits

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class IdxDataset(Dataset):
    """A dataset of four idx files; looked up in <data_root>/<name>/, then in `system_dirs`."""

    channels, image_size = 1, 28
    system_dirs: tuple[str, ...] = ()
    torchvision_class: str

    def locate(self, root: str | None) -> Path:
        candidates = ([Path(root) / self.name] if root else []) + [Path(d) for d in self.system_dirs]
        for folder in candidates:
            if all(self._file(folder, stem) for stem in FILES.values()):
                return folder
        where = candidates[0] if candidates else Path("<data_root>") / self.name
        raise FileNotFoundError(
            f"dataset {self.name!r}: the idx files {', '.join(FILES.values())} (optionally .gz) are "
            f"not in {', '.join(map(str, candidates)) or 'any configured folder'}. Download them "
            f"where there is network, e.g. torchvision.datasets.{self.torchvision_class}(root, download=True), "
            f"and place the files in {where} (or set data_root in the study config)."
        )

    @property
    def folder(self) -> str:
        return self.name

    def found_elsewhere(self, root):
        for folder in map(Path, self.system_dirs):
            if all(self._file(folder, stem) for stem in FILES.values()):
                return str(folder)
        return None

    def sources(self):
        """torchvision's published files and md5s (first mirror)."""
        import torchvision.datasets

        cls = getattr(torchvision.datasets, self.torchvision_class)
        return [Source(cls.mirrors[0] + name, name, md5) for name, md5 in cls.resources]

    @staticmethod
    def _file(folder: Path, stem: str) -> Path | None:
        for candidate in (folder / stem, folder / f"{stem}.gz", folder / "raw" / stem, folder / "raw" / f"{stem}.gz"):
            if candidate.exists():
                return candidate
        return None

    def load(self, root: str | None = None) -> Samples:
        folder = self.locate(root)
        arrays = {key: read_idx(self._file(folder, stem)) for key, stem in FILES.items()}
        for part in ("train", "test"):
            if len(arrays[f"{part}_images"]) != len(arrays[f"{part}_labels"]):
                raise ValueError(f"dataset {self.name!r} in {folder}: {part} images and labels differ in count")
        images = np.concatenate([arrays["train_images"], arrays["test_images"]])[:, None]
        labels = np.concatenate([arrays["train_labels"], arrays["test_labels"]]).astype(np.int64)
        partition = official_partition(labels[: len(arrays["train_labels"])], len(arrays["test_labels"]))
        return Samples(images, labels, partition)


@DATASETS.register("mnist")
class MNIST(IdxDataset):
    name = "mnist"
    class_names = tuple(str(i) for i in range(10))
    mean, std = (0.1307,), (0.3081,)
    torchvision_class = "MNIST"
    flip_ok = False

    def known_splits(self):
        return published_splits("mnist")


@DATASETS.register("fashion_mnist")
class FashionMNIST(IdxDataset):
    name = "fashion_mnist"
    class_names = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")
    mean, std = (0.2860,), (0.3530,)
    system_dirs = ("/usr/share/datasets/fashion-mnist",)  # Debian package dataset-fashion-mnist
    torchvision_class = "FashionMNIST"
    split_seed = 20261125  # no published open-set splits: five drawn from this seed

    def known_splits(self):
        return random_known_splits(10, 6, 5, self.split_seed)
