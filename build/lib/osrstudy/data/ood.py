"""Out-of-distribution evaluation sets: every image unknown (label -1), scored beside a split's
held-out unknown classes (`eval_sets:` of a study block; `eval_set` is a dimension of the results).

- Protocol B's four sets as distributed with the ODIN paper (Liang et al. 2018): 10,000 32x32
  JPEGs each, from tarballs that unpack to Imagenet/test/, Imagenet_resize/Imagenet_resize/,
  LSUN/test/, LSUN_resize/LSUN_resize/; for a model trained on all of CIFAR-10 (`cifar10_all`).
- ODIN's two synthetic sets, `gaussian_noise` (N(0.5, 1) clipped to [0, 1]) and `uniform_noise`
  (U[0, 1]), generated at whatever shape the model takes, so any dataset (digits, Fashion-MNIST)
  has an out-of-distribution set without a download.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from osrstudy.data.base import Source, missing_files_error
from osrstudy.data.tinyimagenet import read_jpeg
from osrstudy.registry import Registry

NOISE_SAMPLES, NOISE_SEED = 10_000, 20261123


class ArchivedSet:
    """One of the ODIN tarballs: 3x32x32 images, fetched by `snakemake data`."""

    def __init__(self, archive: str, url: str):
        self.archive, self.url = archive, url

    def shape(self, channels: int, size: int) -> tuple[int, int]:
        return 3, 32

    def load(self, root: str | None, channels: int, size: int) -> np.ndarray:
        top = Path(root or ".") / "ood" / self.archive
        folder = image_folder(top) if top.exists() else None
        if folder is None:
            raise missing_files_error(self.archive, top, [f"{self.archive}.tar.gz (unpacked)"],
                                      "unpack the ODIN tarball there")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        return np.stack([read_jpeg(p) for p in files])

    def sources(self):
        return [Source(self.url, f"{self.archive}.tar.gz", extract=True)]  # no published checksum: sha256 recorded


class NoiseSet:
    """Synthetic noise at the model's own shape, from a fixed seed (the same images every run)."""

    def __init__(self, draw):
        self.draw = draw

    def shape(self, channels: int, size: int) -> tuple[int, int]:
        return channels, size

    def load(self, root: str | None, channels: int, size: int) -> np.ndarray:
        rng = np.random.default_rng(NOISE_SEED)
        pixels = np.clip(self.draw(rng, (NOISE_SAMPLES, channels, size, size)), 0.0, 1.0)
        return np.round(pixels * 255).astype(np.uint8)

    def sources(self):
        return []


OOD_SETS: Registry[ArchivedSet | NoiseSet] = Registry("out-of-distribution set")
for _name, _archive, _dropbox in [
    ("imagenet_crop", "Imagenet", "avgm2u562itwpkl"),
    ("imagenet_resize", "Imagenet_resize", "kp3my3412u5k9rl"),
    ("lsun_crop", "LSUN", "fhtsw1m3qxlwj6h"),
    ("lsun_resize", "LSUN_resize", "moqh2wh8696c3yl"),
]:
    OOD_SETS.register(_name)(ArchivedSet(_archive, f"https://www.dropbox.com/s/{_dropbox}/{_archive}.tar.gz?dl=1"))
OOD_SETS.register("gaussian_noise")(NoiseSet(lambda rng, shape: rng.normal(0.5, 1.0, shape)))
OOD_SETS.register("uniform_noise")(NoiseSet(lambda rng, shape: rng.uniform(0.0, 1.0, shape)))


def ood_sources(name: str):
    return OOD_SETS[name].sources()


def shape_of(name: str, channels: int, size: int) -> tuple[int, int]:
    """(channels, size) of a set's images when evaluated by a model of that input shape."""
    return OOD_SETS[name].shape(channels, size)


def image_folder(top: Path) -> Path | None:
    """The folder under `top` (itself or below) that holds the JPEGs."""
    for folder in [top, *sorted(p for p in top.rglob("*") if p.is_dir())]:
        if any(folder.glob("*.jpg")) or any(folder.glob("*.jpeg")) or any(folder.glob("*.png")):
            return folder
    return None


def load_ood(name: str, root: str | None, channels: int = 3, size: int = 32) -> np.ndarray:
    """(N, C, H, W) uint8 images of one set, in a fixed order."""
    return OOD_SETS[name].load(root, channels, size)
