"""Writes that a killed process cannot leave half done: fill a temporary name beside the target,
then rename it into place (a rename within one folder is atomic on POSIX file systems).

Readers see the old file or the new one, never a mix; a crash mid-write leaves the old one.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Callable


def temporary_beside(path: Path, kind: str = "tmp", suffix: str = "") -> Path:
    """A hidden, unique name in the target's folder (`suffix` for writers that append their own)."""
    return path.with_name(f".{path.name}.{kind}-{uuid.uuid4().hex[:8]}{suffix}")


def write_file(path: str | Path, write: Callable[[Path], None], suffix: str = "") -> Path:
    """Call write(tmp) to create a file beside `path`, then rename it over `path`. `suffix`: what
    the temporary name must end with (np.savez appends .npz to any other name)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_beside(path, suffix=suffix)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(path: str | Path, text: str) -> Path:
    return write_file(path, lambda tmp: tmp.write_text(text))


def write_json(path: str | Path, value, **dumps) -> Path:
    return write_text(path, json.dumps(value, **dumps))


def replace_directory(build: Callable[[Path], None], path: str | Path) -> Path:
    """Call build(tmp_dir) to fill a temporary directory beside `path`, then rename it into place.
    A directory that already exists is replaced only once its successor is complete (two renames:
    POSIX cannot rename over a non-empty directory)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_beside(path)
    try:
        build(tmp)
        if path.exists():
            old = temporary_beside(path, kind="old")
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old)
        else:
            os.rename(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return path
