"""MedMNIST 2D sets through the medmnist package's file names, URLs and MD5s: BloodMNIST (8
classes, 4 known) and PathMNIST (9 classes, 6 known), at 28x28 and the larger released sizes.
MedMNIST ships its own validation split, which is used as val."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from osrstudy.data.base import DATASETS, Dataset, Samples, Source, missing_files_error
from osrstudy.data.splits import published_splits

SIZES = (28, 64, 128, 224)


class MedMNIST(Dataset):
    flag: str
    size: int
    channels = 3
    folder = "medmnist"

    @property
    def filename(self) -> str:
        return f"{self.flag}{'' if self.size == 28 else f'_{self.size}'}.npz"

    def sources(self):
        from medmnist import INFO

        suffix = "" if self.size == 28 else f"_{self.size}"
        info = INFO[self.flag]
        return [Source(info[f"url{suffix}"], self.filename, info[f"MD5{suffix}"])]

    def load(self, root: str | None = None) -> Samples:
        path = Path(root or ".") / self.folder / self.filename
        if not path.exists():
            raise missing_files_error(self.name, path.parent, [self.filename], "download it from the medmnist site")
        with np.load(path) as npz:
            parts = [(npz[f"{p}_images"], npz[f"{p}_labels"].reshape(-1)) for p in ("train", "val", "test")]
        images = np.concatenate([x for x, _ in parts])
        if images.ndim == 3:  # grayscale sets have no channel axis
            images = images[:, None]
        else:
            images = images.transpose(0, 3, 1, 2)
        labels = np.concatenate([y for _, y in parts]).astype(np.int64)
        partition = np.concatenate([np.full(len(y), p, dtype="<U5")
                                    for p, (_, y) in zip(("train", "val", "test"), parts)])
        return Samples(np.ascontiguousarray(images, dtype=np.uint8), labels, partition)

    def known_splits(self):
        return published_splits(self.flag)


def _register(flag: str, class_names: tuple[str, ...], mean, std) -> None:
    for size in SIZES:
        name = flag if size == 28 else f"{flag}_{size}"
        attrs = {"name": name, "flag": flag, "size": size, "image_size": size,
                 "class_names": class_names, "mean": mean, "std": std}
        DATASETS.register(name)(type(name, (MedMNIST,), attrs))


_register("bloodmnist", ("basophil", "eosinophil", "erythroblast", "immature granulocytes", "lymphocyte",
                         "monocyte", "neutrophil", "platelet"), (0.7943, 0.6597, 0.6962), (0.2156, 0.2416, 0.1179))
_register("pathmnist", ("adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle",
                        "normal colon mucosa", "cancer-associated stroma", "colorectal adenocarcinoma epithelium"),
          (0.7405, 0.5330, 0.7058), (0.1237, 0.1768, 0.1244))
