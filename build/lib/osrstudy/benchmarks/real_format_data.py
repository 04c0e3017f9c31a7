"""Every dataset of the full study in its exact published on-disk format, at its real size, with
random pixels: the data of the full-size rehearsal (shapes, dtypes, counts, file layouts and class
counts are the real ones; the numbers trained on them mean nothing). The tests write the same
formats at a few samples per class through the same functions.

    python -m osrstudy.benchmarks.real_format_data --root rehearsal-data
    python -m osrstudy.benchmarks.real_format_data --root small --scale 0.01 --only cifar10 svhn

Each dataset is written where its loader looks under the data root (the layout `snakemake data`
unpacks to); the archives themselves are not written (their published checksums would refuse
random content).
"""
from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path
from typing import Callable

import numpy as np

from osrstudy.data.idx import write_idx
from osrstudy.data.mnist import FILES as IDX_FILES
from osrstudy.registry import Registry

WRITERS: Registry[Callable[[Path, float, np.random.Generator], None]] = Registry("real-format dataset")
# Published sizes: (train, test) or, for MedMNIST, (train, val, test).
CIFAR_TRAIN, CIFAR_TEST = 50_000, 10_000
SVHN = (73_257, 26_032)
TINY_IMAGENET_PER_CLASS, TINY_IMAGENET_VAL = 500, 10_000
MNIST = (60_000, 10_000)
MEDMNIST = {"bloodmnist": ((11_959, 1_712, 3_421), 8), "pathmnist": ((89_996, 10_004, 7_180), 9)}
ODIN = {"Imagenet": "Imagenet/test", "Imagenet_resize": "Imagenet_resize/Imagenet_resize",
        "LSUN": "LSUN/test", "LSUN_resize": "LSUN_resize/LSUN_resize"}
ODIN_IMAGES = 10_000


def scaled(n: int, scale: float, least: int) -> int:
    return max(least, round(n * scale))


def pixels(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 256, shape, dtype=np.uint8)


def cycling_labels(n: int, classes: int) -> list[int]:
    """Every class present, in equal shares (as in the real sets, up to rounding)."""
    return (np.arange(n) % classes).tolist()


def write_cifar_batches(folder: Path, batches: dict[str, int], classes: int, rng: np.random.Generator) -> None:
    """The official python pickles: byte-string keys (the real Python 2 pickles load with
    encoding='bytes'), (N, 3072) uint8 rows of R, G, B planes."""
    folder.mkdir(parents=True, exist_ok=True)
    label_key = b"labels" if classes == 10 else b"fine_labels"
    for name, n in batches.items():
        labels = cycling_labels(n, classes)
        batch = {b"batch_label": name.encode(), label_key: labels, b"data": pixels(rng, (n, 3072)),
                 b"filenames": [f"{i}.png".encode() for i in range(n)]}
        if classes == 100:
            batch[b"coarse_labels"] = [c // 5 for c in labels]
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))


@WRITERS.register("cifar10")
def cifar10(root: Path, scale: float, rng: np.random.Generator) -> None:
    per_batch = scaled(CIFAR_TRAIN // 5, scale, 10)
    folder = root / "cifar-10-batches-py"
    write_cifar_batches(folder, {f"data_batch_{i}": per_batch for i in range(1, 6)}
                        | {"test_batch": scaled(CIFAR_TEST, scale, 10)}, 10, rng)
    meta = {b"label_names": [f"class{i}".encode() for i in range(10)], b"num_cases_per_batch": per_batch}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))


@WRITERS.register("cifar100")
def cifar100(root: Path, scale: float, rng: np.random.Generator) -> None:
    folder = root / "cifar-100-python"
    write_cifar_batches(folder, {"train": scaled(CIFAR_TRAIN, scale, 500), "test": scaled(CIFAR_TEST, scale, 100)},
                        100, rng)
    meta = {b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)]}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))


def write_svhn(root: Path, counts: tuple[int, int], rng: np.random.Generator) -> None:
    """The cropped-digits .mat files: X (32, 32, 3, N), y (N, 1) with 10 standing for the digit 0."""
    from scipy.io import savemat  # scipy.io is slow to import; only SVHN needs it

    folder = root / "svhn"
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in zip(("train_32x32.mat", "test_32x32.mat"), counts):
        y = (np.arange(n) % 10 + 1).reshape(-1, 1).astype(np.uint8)
        savemat(folder / name, {"X": pixels(rng, (32, 32, 3, n)), "y": y})


@WRITERS.register("svhn")
def svhn(root: Path, scale: float, rng: np.random.Generator) -> None:
    write_svhn(root, (scaled(SVHN[0], scale, 20), scaled(SVHN[1], scale, 20)), rng)


@WRITERS.register("tiny_imagenet")
def tiny_imagenet(root: Path, scale: float, rng: np.random.Generator) -> None:
    """The official folders: train/<wnid>/images/*.JPEG (500 per class), val/images with
    val/val_annotations.txt (10,000), and an unsorted wnids.txt; 64x64 RGB JPEGs."""
    from PIL import Image

    base = root / "tiny-imagenet-200"
    wnids = [f"n{i:08d}" for i in range(200)]
    (base / "val" / "images").mkdir(parents=True, exist_ok=True)
    (base / "wnids.txt").write_text("\n".join(reversed(wnids)) + "\n")
    for w in wnids:
        (base / "train" / w / "images").mkdir(parents=True, exist_ok=True)
        for j in range(scaled(TINY_IMAGENET_PER_CLASS, scale, 1)):
            Image.fromarray(pixels(rng, (64, 64, 3))).save(base / "train" / w / "images" / f"{w}_{j}.JPEG")
    lines = []
    for i in range(scaled(TINY_IMAGENET_VAL, scale, 200)):
        Image.fromarray(pixels(rng, (64, 64, 3))).save(base / "val" / "images" / f"val_{i}.JPEG")
        lines.append(f"val_{i}.JPEG\t{wnids[i % 200]}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")


@WRITERS.register("mnist")
def mnist(root: Path, scale: float, rng: np.random.Generator) -> None:
    """The four gzipped idx files (torchvision's names)."""
    n_train, n_test = scaled(MNIST[0], scale, 20), scaled(MNIST[1], scale, 10)
    data = {"train_images": pixels(rng, (n_train, 28, 28)), "train_labels": np.arange(n_train, dtype=np.uint8) % 10,
            "test_images": pixels(rng, (n_test, 28, 28)), "test_labels": np.arange(n_test, dtype=np.uint8) % 10}
    (root / "mnist").mkdir(parents=True, exist_ok=True)
    for key, stem in IDX_FILES.items():
        write_idx(root / "mnist" / f"{stem}.gz", data[key])


def write_medmnist(root: Path, flag: str, size: int, counts: tuple[int, int, int], rng: np.random.Generator) -> None:
    """One .npz as the medmnist package names and reads it: {train,val,test}_{images,labels}."""
    classes = MEDMNIST[flag][1]
    arrays = {}
    for part, n in zip(("train", "val", "test"), counts):
        arrays[f"{part}_images"] = pixels(rng, (n, size, size, 3))
        arrays[f"{part}_labels"] = (np.arange(n) % classes).reshape(-1, 1).astype(np.uint8)
    (root / "medmnist").mkdir(parents=True, exist_ok=True)
    np.savez(root / "medmnist" / f"{flag}{'' if size == 28 else f'_{size}'}.npz", **arrays)


def medmnist_writer(flag: str) -> Callable[[Path, float, np.random.Generator], None]:
    def write(root: Path, scale: float, rng: np.random.Generator) -> None:
        write_medmnist(root, flag, 28, tuple(scaled(n, scale, 20) for n in MEDMNIST[flag][0]), rng)
    return write


for _flag in MEDMNIST:
    WRITERS.register(_flag)(medmnist_writer(_flag))


def write_odin_folder(root: Path, archive: str, n: int, rng: np.random.Generator) -> None:
    """One of ODIN's four sets as its tarball unpacks: 32x32 RGB JPEGs in the archive's folder."""
    from PIL import Image

    folder = root / "ood" / ODIN[archive]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(pixels(rng, (32, 32, 3))).save(folder / f"{i}.jpg")


@WRITERS.register("odin")
def odin(root: Path, scale: float, rng: np.random.Generator) -> None:
    for archive in ODIN:
        write_odin_folder(root, archive, scaled(ODIN_IMAGES, scale, 10), rng)


def write_all(root: Path, scale: float = 1.0, only: list[str] | None = None, log=print) -> None:
    for name in only or WRITERS.names():
        start = time.perf_counter()
        WRITERS[name](root, scale, np.random.default_rng(0))
        log(f"{name}: written in {time.perf_counter() - start:.1f} s")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m osrstudy.benchmarks.real_format_data",
                                description=__doc__.split("\n")[0])
    p.add_argument("--root", required=True, type=Path, help="the data root to write (a study's data_root)")
    p.add_argument("--scale", type=float, default=1.0, help="fraction of each published size (1: the real size)")
    p.add_argument("--only", nargs="*", help=f"some of: {', '.join(WRITERS.names())}")
    a = p.parse_args(argv)
    write_all(a.root, a.scale, a.only)


if __name__ == "__main__":
    main()
