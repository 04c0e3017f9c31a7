"""Datasets and open-set splits. Importing this package registers every dataset."""
from osrstudy.data.base import DATASETS, Dataset, OpenSetSplit, Partition, load_split
from osrstudy.data import digits, mnist  # noqa: F401  (register their datasets)

__all__ = ["DATASETS", "Dataset", "OpenSetSplit", "Partition", "load_split"]
