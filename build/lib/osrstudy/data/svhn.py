"""SVHN (cropped digits) from the official train_32x32.mat / test_32x32.mat (MATLAB v5)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from osrstudy.data.base import DATASETS, Dataset, Samples, Source, missing_files_error, official_partition
from osrstudy.data.splits import published_splits


def read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """X (32, 32, 3, N) -> (N, 3, 32, 32) uint8; y (N, 1) with 10 for the digit 0 -> 0..9."""
    from scipy.io import loadmat

    mat = loadmat(path)
    images = np.ascontiguousarray(mat["X"].transpose(3, 2, 0, 1), dtype=np.uint8)
    return images, mat["y"].reshape(-1).astype(np.int64) % 10


@DATASETS.register("svhn")
class SVHN(Dataset):
    name = folder = "svhn"
    class_names = tuple(str(i) for i in range(10))
    channels, image_size = 3, 32
    mean, std = (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)
    flip_ok = False
    files = ("train_32x32.mat", "test_32x32.mat")

    def sources(self):
        import torchvision.datasets

        lists = torchvision.datasets.SVHN.split_list
        return [Source(url, filename, md5) for url, filename, md5 in (lists["train"], lists["test"])]

    def load(self, root: str | None = None) -> Samples:
        base = Path(root or ".") / self.folder
        if missing := [f for f in self.files if not (base / f).exists()]:
            raise missing_files_error(self.name, base, missing, "place the official .mat files there")
        (x_train, y_train), (x_test, y_test) = (read_mat(base / f) for f in self.files)
        return Samples(np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test]),
                       official_partition(y_train, len(y_test)))

    def known_splits(self):
        return published_splits("svhn")
