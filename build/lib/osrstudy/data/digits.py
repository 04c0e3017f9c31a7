"""scikit-learn's bundled handwritten digits (1797 real 8x8 images): the embedded dataset."""
from __future__ import annotations

import numpy as np

from osrstudy.data.base import (
    DATASETS,
    Dataset,
    Samples,
    random_known_splits,
    stratified_partition,
)

PARTITION_SEED = 20261122
SPLIT_SEED = 20261123


@DATASETS.register("digits")
class Digits(Dataset):
    name = "digits"
    class_names = tuple(str(i) for i in range(10))
    channels = 1
    image_size = 8
    split_seed = SPLIT_SEED
    # Statistics of the whole dataset after scaling to [0, 1]; fixed so every split agrees.
    mean = (0.3053,)
    std = (0.3760,)
    n_known = 6
    flip_ok = False
    n_splits = 5

    def load(self, root: str | None = None) -> Samples:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = (bunch.images / 16.0).astype(np.float32)[:, None]
        labels = bunch.target.astype(np.int64)
        partition = stratified_partition(labels, test_share=0.3, val_share=0.2, seed=PARTITION_SEED)
        return Samples(images, labels, partition)

    def known_splits(self) -> list[list[int]]:
        return random_known_splits(10, self.n_known, self.n_splits, SPLIT_SEED)
