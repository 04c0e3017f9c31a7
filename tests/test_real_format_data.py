"""The rehearsal's data generator writes every dataset of the full study in a format its loader
reads, with the published class counts; at scale 1 the published sizes."""
from __future__ import annotations

import numpy as np
import pytest

from osrstudy.benchmarks import real_format_data as real
from osrstudy.data import DATASETS, load_split
from osrstudy.data.ood import OOD_SETS, load_ood
from osrstudy.study import expand_study, load_study

SCALE = 0.004


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("real-format")
    real.write_all(root, SCALE, log=lambda _: None)
    return root


def full_study_datasets() -> set[str]:
    runs = expand_study(load_study("config/study.yaml"))
    return {r["train"]["dataset"] for r in runs}


@pytest.mark.parametrize("name", sorted(full_study_datasets()))
def test_every_dataset_of_the_full_study_loads_from_the_generated_files(root, name):
    samples = DATASETS[name]().load(str(root))
    assert samples.images.dtype == np.uint8 and samples.images.shape[1:] in {(1, 28, 28), (3, 28, 28), (3, 32, 32),
                                                                             (3, 64, 64)}
    for split in range(len(DATASETS[name]().known_splits())):
        assert len(load_split(name, split, str(root)).train) > 0


@pytest.mark.parametrize("name", [n for n in OOD_SETS.names() if OOD_SETS[n].sources()])
def test_every_odin_set_loads_from_the_generated_folders(root, name):
    images = load_ood(name, str(root))
    assert images.shape == (real.scaled(real.ODIN_IMAGES, SCALE, 10), 3, 32, 32)


def test_scale_one_is_the_published_size():
    assert real.scaled(real.CIFAR_TRAIN // 5, 1.0, 10) * 5 == 50_000
    assert [real.scaled(n, 1.0, 20) for n in real.MEDMNIST["pathmnist"][0]] == [89_996, 10_004, 7_180]
    assert real.scaled(real.TINY_IMAGENET_PER_CLASS, 1.0, 1) * 200 == 100_000
