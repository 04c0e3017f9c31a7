"""Every dataset read from files generated in its exact on-disk format, through the loaders users
run, plus the split invariants and the download step (offline here)."""
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from osrstudy.benchmarks import real_format_data as real
from osrstudy.data import DATASETS, load_split
from osrstudy.data.base import UNKNOWN
from osrstudy.data.download import DataUnavailableError, fetch

RNG = np.random.default_rng(0)


def write_cifar_tarball(root: Path, kind: str):
    """The official python tarball of the pickles real_format_data writes."""
    folder = root / ("cifar-10-batches-py" if kind == "cifar10" else "cifar-100-python")
    if kind == "cifar10":
        real.write_cifar_batches(folder, {f"data_batch_{i}": 30 for i in range(1, 6)} | {"test_batch": 40}, 10, RNG)
        (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"airplane"] * 10}, protocol=2))
    else:
        real.write_cifar_batches(folder, {"train": 1000, "test": 200}, 100, RNG)
    archive = root / f"{kind}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return archive


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    """Both tarballs, unpacked with torchvision's extract_archive (what `snakemake data` does)."""
    import shutil

    from torchvision.datasets.utils import extract_archive

    build, root = tmp_path_factory.mktemp("build"), tmp_path_factory.mktemp("data")
    for kind in ("cifar10", "cifar100"):
        archive = write_cifar_tarball(build, kind)
        shutil.rmtree(build / ("cifar-10-batches-py" if kind == "cifar10" else "cifar-100-python"))
        extract_archive(str(archive), str(root))
    return root


def write_svhn(root: Path):
    real.write_svhn(root, (120, 50), RNG)


def write_tiny_imagenet(root: Path, per_class: int = 1):
    from PIL import Image

    base = root / "tiny-imagenet-200"
    wnids = [f"n{i:08d}" for i in range(200)]
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(reversed(wnids)) + "\n")  # the file is not sorted
    lines = []
    for i, w in enumerate(wnids):
        (base / "train" / w / "images").mkdir(parents=True)
        for j in range(per_class):
            Image.fromarray(np.full((64, 64, 3), i, np.uint8)).save(base / "train" / w / "images" / f"{w}_{j}.JPEG")
        Image.fromarray(np.full((64, 64, 3), i, np.uint8)).save(base / "val" / "images" / f"val_{i}.JPEG")
        lines.append(f"val_{i}.JPEG\t{w}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")


def write_medmnist(root: Path, flag: str, size: int):
    real.write_medmnist(root, flag, size, (90, 30, 40), RNG)


@pytest.fixture(scope="module")
def every_dataset_root(cifar_root):
    """cifar_root plus every other dataset in its real format (MNIST as generated idx.gz)."""
    from test_data import make_idx_dataset

    write_svhn(cifar_root)
    write_tiny_imagenet(cifar_root, per_class=10)
    for flag in ("bloodmnist", "pathmnist"):
        for size in (28, 64, 128, 224):
            write_medmnist(cifar_root, flag, size)
    make_idx_dataset(cifar_root / "mnist", n_train=300, n_test=100)
    return cifar_root


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_and_split_keeps_unknowns_out_of_training(every_dataset_root, name, request):
    """For every registered dataset and each of its splits: train holds known classes only, val
    and test hold both, the partitions are disjoint and the same on a second load."""
    if name == "fashion_mnist":  # the real files, not generated ones
        request.getfixturevalue("fashion_mnist")
    ds = DATASETS[name]()
    unknown = ds.unknown_splits()
    for i, known in enumerate(ds.known_splits()):
        split = load_split(name, i, str(every_dataset_root))
        check_split_invariants(split, known, None if unknown is None else unknown[i],
                               closed_set=len(known) == ds.n_classes)
        again = load_split(name, i, str(every_dataset_root))
        for a, b in zip((split.train, split.val, split.test), (again.train, again.val, again.test)):
            np.testing.assert_array_equal(a.index, b.index)


def check_split_invariants(split, known, unknown=None, closed_set=False):
    for part in (split.train, split.val, split.test):
        k = part.labels >= 0
        assert (np.asarray(known)[part.labels[k]] == part.classes[k]).all()  # label i is known[i]
        assert ((part.labels == UNKNOWN) == ~np.isin(part.classes, known)).all()
        if unknown is not None:
            assert np.isin(part.classes, list(known) + list(unknown)).all()
    assert (split.train.labels >= 0).all() and np.isin(split.train.classes, known).all()  # never an unknown
    if closed_set:  # Protocol B's cifar10_all: every class known, unknowns come from the ODIN sets
        assert not (split.val.labels == UNKNOWN).any() and not (split.test.labels == UNKNOWN).any()
    else:
        assert (split.val.labels == UNKNOWN).any() and (split.test.labels == UNKNOWN).any()
    assert not set(split.train.index) & set(split.val.index) and not set(split.val.index) & set(split.test.index)


def test_cifar10_from_the_python_pickles(cifar_root):
    ds = DATASETS["cifar10"]()
    samples = ds.load(str(cifar_root))
    assert samples.images.shape == (190, 3, 32, 32) and samples.images.dtype == np.uint8
    assert (samples.partition[-40:] == "test").all() and (samples.partition[:150] != "test").all()
    # the first image's planes are R, G, B rows of 1024 bytes
    raw = pickle.loads((cifar_root / "cifar-10-batches-py" / "data_batch_1").read_bytes(), encoding="bytes")
    np.testing.assert_array_equal(samples.images[0, 1].reshape(-1), raw[b"data"][0, 1024:2048])
    for i, known in enumerate(ds.known_splits()):
        check_split_invariants(load_split("cifar10", i, str(cifar_root)), known)


def test_cifar100_eighty_twenty_splits_are_recorded_and_deterministic(cifar_root):
    ds = DATASETS["cifar100"]()
    splits = ds.known_splits()
    assert len(splits) == 5 and all(len(s) == 80 for s in splits) and splits == DATASETS["cifar100"]().known_splits()
    assert ds.split_seed == 20261126
    split = load_split("cifar100", 0, str(cifar_root))
    check_split_invariants(split, splits[0])
    assert split.n_known == 80


@pytest.mark.parametrize("name, lists", [("cifar_plus10", "cifar_plus"), ("cifar_plus50", "cifar_plus"),
                                         ("cifar_plus10_cac", "cifar_plus_cac"),
                                         ("cifar_plus50_cac", "cifar_plus_cac")])
def test_cifar_plus_uses_four_cifar10_classes_against_the_listed_cifar100_ones(cifar_root, name, lists):
    from osrstudy.data.splits import split_lists

    ds = DATASETS[name]()
    n = 10 if "10" in name.replace("cifar10", "") else 50
    for i in range(5):
        known = ds.known_splits()[i]
        unknown = [10 + c for c in split_lists(lists)[f"unknown_{n}"][i]]
        split = load_split(name, i, str(cifar_root))
        check_split_invariants(split, known, unknown)
        assert set(split.test.classes[split.test.labels == UNKNOWN]) == set(unknown)  # only the listed ones
    if lists == "cifar_plus_cac":
        assert all(k == [0, 1, 8, 9] for k in ds.known_splits())  # CAC: always the four vehicles


def test_svhn_from_the_mat_files(tmp_path):
    write_svhn(tmp_path)
    samples = DATASETS["svhn"]().load(str(tmp_path))
    assert samples.images.shape == (170, 3, 32, 32) and set(samples.labels) == set(range(10))
    assert samples.labels[9] == 0  # label 10 -> digit 0


def test_tiny_imagenet_from_its_folders_and_val_annotations(tmp_path):
    write_tiny_imagenet(tmp_path)
    base = tmp_path / "tiny-imagenet-200"
    samples = DATASETS["tiny_imagenet"]().load(str(tmp_path))
    assert samples.images.shape == (400, 3, 64, 64)
    assert (samples.partition[200:] == "test").all()
    np.testing.assert_array_equal(samples.labels[200:], np.arange(200))  # sorted wnid order
    assert abs(int(samples.images[201].mean()) - 1) <= 1  # JPEG of a flat image keeps its value
    assert (base / "osrstudy-cache-v1.npz").exists()
    again = DATASETS["tiny_imagenet"]().load(str(tmp_path))  # from the cache
    np.testing.assert_array_equal(again.images, samples.images)


@pytest.mark.parametrize("flag, size", [("bloodmnist", 28), ("pathmnist", 64)])
def test_medmnist_npz_in_the_layout_medmnist_itself_reads(tmp_path, flag, size):
    import medmnist

    write_medmnist(tmp_path, flag, size)
    name = flag if size == 28 else f"{flag}_{size}"
    ds = DATASETS[name]()
    # the medmnist package opens the very same file (its len() checks the real sample counts)
    their_class = getattr(medmnist, medmnist.INFO[flag]["python_class"])
    theirs = their_class(split="val", root=str(tmp_path / ds.folder), size=size)
    assert theirs.imgs.shape == (30, size, size, 3) and theirs.labels.shape == (30, 1)
    samples = ds.load(str(tmp_path))
    assert samples.images.shape == (160, 3, size, size) and (samples.partition[90:120] == "val").all()


@pytest.mark.parametrize("name, inner", [("imagenet_crop", "Imagenet/test"),
                                         ("lsun_resize", "LSUN_resize/LSUN_resize")])
def test_odin_sets_from_their_tarball_layout(tmp_path, name, inner):
    from PIL import Image

    from osrstudy.data.ood import load_ood

    build = tmp_path / "build"
    (build / inner).mkdir(parents=True)
    for i in range(12):
        Image.fromarray(RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(build / inner / f"{i}.jpg")
    top = inner.split("/")[0]
    (tmp_path / "data" / "ood").mkdir(parents=True)
    with tarfile.open(tmp_path / "data" / "ood" / f"{top}.tar.gz", "w:gz") as tar:
        tar.add(build / top, arcname=top)
    lines = []
    fetch(name, tmp_path / "data", log=lines.append)  # placed by hand: verified, recorded, unpacked
    assert "extracted" in lines[-1] and (tmp_path / "data" / "checksums.json").exists()
    images = load_ood(name, str(tmp_path / "data"))
    assert images.shape == (12, 3, 32, 32) and images.dtype == np.uint8
    fetch(name, tmp_path / "data", log=lines.append)  # second time: nothing to do
    assert lines[-1].endswith("present, verified, unpacked files verified")
    # an unpacked file damaged since is noticed and unpacked again from the verified tarball
    first = tmp_path / "data" / "ood" / inner / "0.jpg"
    original = first.read_bytes()
    first.write_bytes(original[:-9])
    fetch(name, tmp_path / "data", log=lines.append)
    damage = f"({inner}/0.jpg: {len(original) - 9} bytes, written as {len(original)})"
    assert f"1 unpacked file(s) damaged {damage}" in lines[-1]
    assert first.read_bytes() == original
    # a file that changed since its checksum was recorded is not trusted (and not deleted)
    (tmp_path / "data" / "ood" / f"{top}.tar.gz").write_bytes(b"not the same file")
    with pytest.raises(DataUnavailableError, match="did not match its checksum"):
        fetch(name, tmp_path / "data", log=lines.append)
    assert (tmp_path / "data" / "ood" / f"{top}.tar.gz.corrupt").exists()


def test_offline_download_fails_fast_naming_file_url_and_place(tmp_path):
    import time

    start = time.perf_counter()
    with pytest.raises(DataUnavailableError) as err:
        fetch("cifar10", tmp_path)
    message = str(err.value)
    assert "cifar-10-python.tar.gz" in message and "https://www.cs.toronto.edu/~kriz/" in message
    assert str(tmp_path / "cifar-10-python.tar.gz") in message and "c58f30108f718f92721af3b95e74349a" in message
    assert time.perf_counter() - start < 60


def test_published_checksums_come_from_torchvision_and_medmnist():
    import medmnist
    import torchvision.datasets as tv

    assert DATASETS["cifar10"]().sources()[0].md5 == tv.CIFAR10.tgz_md5
    assert [s.md5 for s in DATASETS["svhn"]().sources()] == [tv.SVHN.split_list[p][2] for p in ("train", "test")]
    assert DATASETS["bloodmnist_64"]().sources()[0].md5 == medmnist.INFO["bloodmnist"]["MD5_64"]
    assert DATASETS["tiny_imagenet"]().sources()[0].md5 is None  # none published: sha256 recorded


def test_missing_files_error_says_how_to_fetch(tmp_path):
    with pytest.raises(FileNotFoundError, match="snakemake data"):
        DATASETS["svhn"]().load(str(tmp_path))


def test_a_damaged_cifar_pickle_names_the_file_and_the_fix(tmp_path):
    from torchvision.datasets.utils import extract_archive

    extract_archive(str(write_cifar_tarball(tmp_path / "build", "cifar10")), str(tmp_path / "data"))
    batch = tmp_path / "data" / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:5000])  # before: a bare UnpicklingError, no file, no remedy
    with pytest.raises(OSError, match=r"data_batch_3 is damaged \(.*\); run `snakemake data`"):
        load_split("cifar10", 0, str(tmp_path / "data"))
