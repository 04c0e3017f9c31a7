"""Tiny-ImageNet (200 classes, 64x64): the official zip's folder layout. Its test labels are not
public, so test is the official val folder (labels in val/val_annotations.txt). The JPEGs are
decoded once and cached beside them as one .npz."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from osrstudy import atomic
from osrstudy.data.base import DATASETS, Dataset, Samples, Source, missing_files_error, official_partition
from osrstudy.data.splits import published_splits

CACHE = "osrstudy-cache-v1.npz"


def read_jpeg(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)


def read_folders(base: Path) -> tuple[np.ndarray, np.ndarray, int]:
    wnids = sorted((base / "wnids.txt").read_text().split())  # splits index the sorted wnid list
    index = {w: i for i, w in enumerate(wnids)}
    train = [(p, index[w]) for w in wnids for p in sorted((base / "train" / w / "images").glob("*.JPEG"))]
    val = []
    for line in (base / "val" / "val_annotations.txt").read_text().splitlines():
        fields = line.split("\t")
        if len(fields) >= 2:
            val.append((base / "val" / "images" / fields[0], index[fields[1]]))
    items = train + val
    images = np.stack([read_jpeg(p) for p, _ in items])
    return images, np.array([c for _, c in items], dtype=np.int64), len(train)


@DATASETS.register("tiny_imagenet")
class TinyImageNet(Dataset):
    name = "tiny_imagenet"
    folder = ""  # the zip unpacks tiny-imagenet-200/ into the data root
    class_names = tuple(f"class_{i}" for i in range(200))  # wnids, in sorted order, in wnids.txt
    channels, image_size = 3, 64
    mean, std = (0.4802, 0.4481, 0.3975), (0.2770, 0.2691, 0.2821)

    def sources(self):
        # no checksum is published: the sha256 is recorded on first download
        return [Source("http://cs231n.stanford.edu/tiny-imagenet-200.zip", "tiny-imagenet-200.zip", extract=True)]

    def load(self, root: str | None = None) -> Samples:
        base = Path(root or ".") / "tiny-imagenet-200"
        needed = ["wnids.txt", "train", "val/val_annotations.txt", "val/images"]
        if missing := [f for f in needed if not (base / f).exists()]:
            raise missing_files_error(self.name, base, missing, "unzip tiny-imagenet-200.zip there")
        cache = base / CACHE
        if cache.exists():
            with np.load(cache) as saved:
                images, labels, n_train = saved["images"], saved["labels"], int(saved["n_train"])
        else:
            images, labels, n_train = read_folders(base)
            atomic.write_file(cache, lambda tmp: np.savez(tmp, images=images, labels=labels, n_train=n_train),
                              suffix=".npz")
        return Samples(images, labels, official_partition(labels[:n_train], len(labels) - n_train))

    def known_splits(self):
        return published_splits("tinyimagenet")
