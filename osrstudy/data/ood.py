"""Protocol B's out-of-distribution sets as distributed with the ODIN paper (Liang et al. 2018):
10,000 32x32 JPEGs each, from tarballs that unpack to Imagenet/test/, Imagenet_resize/
Imagenet_resize/, LSUN/test/, LSUN_resize/LSUN_resize/. Every image is unknown (label -1); they
are evaluation sets for a model trained on all of CIFAR-10 (`cifar10_all`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from osrstudy.data.base import missing_files_error
from osrstudy.registry import Registry

OOD_SETS: Registry[tuple[str, str]] = Registry("out-of-distribution set")
for _name, _archive, _dropbox in [
    ("imagenet_crop", "Imagenet", "avgm2u562itwpkl"),
    ("imagenet_resize", "Imagenet_resize", "kp3my3412u5k9rl"),
    ("lsun_crop", "LSUN", "fhtsw1m3qxlwj6h"),
    ("lsun_resize", "LSUN_resize", "moqh2wh8696c3yl"),
]:
    OOD_SETS.register(_name)((_archive, f"https://www.dropbox.com/s/{_dropbox}/{_archive}.tar.gz?dl=1"))


def ood_sources(name: str):
    from osrstudy.data.download import Source

    archive, url = OOD_SETS[name]
    return [Source(url, f"{archive}.tar.gz", extract=True)]  # no published checksum: sha256 recorded


def image_folder(top: Path) -> Path | None:
    """The folder under `top` (itself or below) that holds the JPEGs."""
    for folder in [top, *sorted(p for p in top.rglob("*") if p.is_dir())]:
        if any(folder.glob("*.jpg")) or any(folder.glob("*.jpeg")) or any(folder.glob("*.png")):
            return folder
    return None


def load_ood(name: str, root: str | None) -> np.ndarray:
    """(N, 3, 32, 32) uint8 images of one ODIN set, in file-name order."""
    from osrstudy.data.tinyimagenet import read_jpeg

    archive, _ = OOD_SETS[name]
    top = Path(root or ".") / "ood" / archive
    folder = image_folder(top) if top.exists() else None
    if folder is None:
        raise missing_files_error(name, top, [f"{archive}.tar.gz (unpacked)"], "unpack the ODIN tarball there")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return np.stack([read_jpeg(p) for p in files])
