"""Datasets and open-set splits. Importing this package registers every dataset."""
from osrstudy.data import cifar, digits, medmnist_sets, mnist, svhn, tinyimagenet  # noqa: F401  (register)
from osrstudy.data.base import DATASETS, Dataset, OpenSetSplit, Partition, load_split

__all__ = ["DATASETS", "Dataset", "OpenSetSplit", "Partition", "load_split"]
