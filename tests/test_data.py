import numpy as np
import pytest

from osrstudy.data import DATASETS, load_split
from osrstudy.data.base import UNKNOWN


@pytest.mark.parametrize("split", range(5))
def test_digits_split_partitions(split):
    s = load_split("digits", split)
    known = set(s.known)
    assert len(known) == 6
    # train never holds an unknown sample; val holds both; test holds both
    assert set(s.train.classes) == known and (s.train.labels != UNKNOWN).all()
    for part in (s.val, s.test):
        assert (part.labels == UNKNOWN).any() and (part.labels != UNKNOWN).any()
        assert set(part.classes[part.labels == UNKNOWN]).isdisjoint(known)
    # relabelling follows the order of the known list
    for i, c in enumerate(s.known):
        assert (s.train.labels[s.train.classes == c] == i).all()
    # partitions are disjoint and, with the unknown train samples moved to val, cover the dataset
    idx = np.concatenate([s.train.index, s.val.index, s.test.index])
    assert len(idx) == len(set(idx)) == 1797


def test_digits_splits_are_fixed_distinct_and_deterministic():
    splits = DATASETS["digits"]().known_splits()
    assert len(splits) == 5 and len({tuple(k) for k in splits}) == 5
    assert splits == DATASETS["digits"]().known_splits()
    assert splits[0] == [0, 1, 3, 4, 8, 9]  # recorded: changing the seed changes every run id's meaning
    a, b = load_split("digits", 2), load_split("digits", 2)
    np.testing.assert_array_equal(a.test.index, b.test.index)


def test_digits_partition_is_stratified():
    s = load_split("digits", 0)
    classes = np.concatenate([s.train.classes, s.val.classes, s.test.classes])
    test_share = np.bincount(s.test.classes, minlength=10) / np.bincount(classes, minlength=10)
    assert np.allclose(test_share, 0.3, atol=0.01)


def test_unknown_split_is_refused():
    with pytest.raises(ValueError, match="splits 0..4"):
        load_split("digits", 5)
