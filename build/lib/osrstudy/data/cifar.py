"""CIFAR-10, CIFAR-100 (80 known / 20 unknown) and CIFAR+10 / CIFAR+50 (4 CIFAR-10 classes known,
10 or 50 CIFAR-100 classes unknown; ARPL/GoodOSR lists and CAC lists), from the python pickles."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from osrstudy.data.base import (
    DATASETS,
    Dataset,
    Samples,
    Source,
    missing_files_error,
    official_partition,
    random_known_splits,
)
from osrstudy.data.splits import published_splits, split_lists

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100_CLASSES = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly "
    "camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile "
    "cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp "
    "lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree "
    "orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine possum "
    "rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake spider "
    "squirrel streetcar sunflower sweet_pepper table tank telephone television tiger tractor train "
    "trout tulip turtle wardrobe whale willow_tree wolf woman worm"
).split()
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def read_pickle(path: Path) -> dict:
    """A CIFAR batch (a Python 2 pickle): keys as str whatever the pickle held."""
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise OSError(
            f"{path} is damaged ({type(err).__name__}: {err}); run `snakemake data` (it checks the unpacked "
            "files against the checksums taken when they were unpacked and unpacks the verified tarball again), "
            f"or delete {path.parent} and unpack the official tarball there"
        ) from None
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in batch.items()}


def to_images(data) -> np.ndarray:
    """(N, 3072) rows of R, G, B planes -> (N, 3, 32, 32) uint8."""
    return np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32)


class CifarSource(Dataset):
    channels, image_size = 3, 32
    mean, std = CIFAR_MEAN, CIFAR_STD
    torchvision_class: str
    files: tuple[str, ...]
    label_key: str

    folder = ""  # the tarball unpacks its own folder into the data root

    @property
    def base_folder(self) -> str:
        import torchvision.datasets

        return getattr(torchvision.datasets, self.torchvision_class).base_folder

    def sources(self):
        import torchvision.datasets

        cls = getattr(torchvision.datasets, self.torchvision_class)
        return [Source(cls.url, cls.filename, cls.tgz_md5, extract=True)]

    def read(self, root: str | None) -> tuple[np.ndarray, np.ndarray, int]:
        """(images, labels, n_train): official train batches, then test."""
        base = Path(root or ".") / self.base_folder
        missing = [f for f in self.files if not (base / f).exists()]
        if missing:
            raise missing_files_error(self.name, base, missing, "unpack the official python tarball into the data root")
        batches = [read_pickle(base / f) for f in self.files]
        images = np.concatenate([to_images(b["data"]) for b in batches])
        labels = np.concatenate([np.asarray(b[self.label_key], dtype=np.int64) for b in batches])
        n_train = len(images) - len(batches[-1][self.label_key])
        return images, labels, n_train

    def load(self, root: str | None = None) -> Samples:
        images, labels, n_train = self.read(root)
        return Samples(images, labels, official_partition(labels[:n_train], len(labels) - n_train))


@DATASETS.register("cifar10")
class CIFAR10(CifarSource):
    name = "cifar10"
    class_names = CIFAR10_CLASSES
    torchvision_class = "CIFAR10"
    files = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
    label_key = "labels"

    def known_splits(self):
        return published_splits("cifar10")


@DATASETS.register("cifar10_all")
class CIFAR10All(CIFAR10):
    """All ten CIFAR-10 classes known (Protocol B: the unknowns come from other datasets)."""

    name = "cifar10_all"

    def known_splits(self):
        return [list(range(10))]


@DATASETS.register("cifar100")
class CIFAR100(CifarSource):
    """80 known / 20 unknown fine classes (the balanced-geometry paper); no list is published,
    so five are drawn from a recorded seed."""

    name = "cifar100"
    class_names = tuple(CIFAR100_CLASSES)
    torchvision_class = "CIFAR100"
    files = ("train", "test")
    label_key = "fine_labels"
    mean, std = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
    split_seed = 20261126

    def known_splits(self):
        return random_known_splits(100, 80, 5, self.split_seed)


class CifarPlus(Dataset):
    """CIFAR-10 (labels 0-9) with CIFAR-100 (labels 10 + fine label): known are CIFAR-10
    classes, unknown N CIFAR-100 classes; the other CIFAR-10 classes take no part."""

    channels, image_size = 3, 32
    mean, std = CIFAR_MEAN, CIFAR_STD
    class_names = CIFAR10_CLASSES + tuple(CIFAR100_CLASSES)
    lists: str  # key in osr_splits.yaml
    n_unknown: int

    def load(self, root: str | None = None) -> Samples:
        parts = [CIFAR10().read(root), CIFAR100().read(root)]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([parts[0][1], parts[1][1] + 10])
        partition = np.concatenate([official_partition(labels[:n], len(labels) - n) for _, labels, n in parts])
        return Samples(images, labels, partition)

    folder = ""

    def sources(self):
        return CIFAR10().sources() + CIFAR100().sources()

    def known_splits(self):
        return published_splits(self.lists)

    def unknown_splits(self):
        return [[10 + c for c in u] for u in split_lists(self.lists)[f"unknown_{self.n_unknown}"]]


def _register_cifar_plus(name: str, lists: str, n_unknown: int) -> None:
    cls = type(name, (CifarPlus,), {"name": name, "lists": lists, "n_unknown": n_unknown})
    DATASETS.register(name)(cls)


for _n in (10, 50):
    _register_cifar_plus(f"cifar_plus{_n}", "cifar_plus", _n)  # ARPL / GoodOSR (Jacobian-norm paper)
    _register_cifar_plus(f"cifar_plus{_n}_cac", "cifar_plus_cac", _n)  # CAC (balanced-geometry paper)
