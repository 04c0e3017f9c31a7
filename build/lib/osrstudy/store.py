"""Zarr stores: one per run, written atomically, merged into the study dataset.

Stores use Zarr format 2: its spec covers fixed-width strings and consolidated metadata, which
Zarr format 3 (zarr-python 3.1) still flags as unspecified, so any zarr reader opens them.
"""
from __future__ import annotations

import datetime as dt
import socket
import subprocess
from pathlib import Path

import xarray as xr
import zarr

from osrstudy import __version__, atomic, manifest

ZARR_FORMAT = 2
RERUN_FIX = ("rerun its train job: delete the store (or run snakemake, which moves a damaged store aside "
             "and retrains only that run, resuming from its checkpoint)")


def provenance() -> dict:
    """Package version, git commit and creation time, for every store's attrs."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10
        )
        commit = done.stdout.strip() if done.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "osrstudy_version": __version__,
        "git_commit": commit or "unknown",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
    }


SUMMARY_GROUP = "summary"


def write_run(samples: xr.Dataset, summary: xr.Dataset, path: str | Path) -> Path:
    """A run store: per-sample arrays at the root, per-run summaries in the `summary` group.

    The split keeps the per-sample part free of the study's indexed dimensions (scorer, step, ...),
    so it can sit under the merged root, whose coordinates are the union over runs.
    """

    def build(tmp: Path) -> None:
        samples.to_zarr(tmp, mode="w-", zarr_format=ZARR_FORMAT, consolidated=False)
        summary.to_zarr(tmp, group=SUMMARY_GROUP, mode="w-", zarr_format=ZARR_FORMAT, consolidated=False)
        zarr.consolidate_metadata(tmp, zarr_format=ZARR_FORMAT)
        manifest.write(tmp)

    return atomic.replace_directory(build, path)


def open_run(path: str | Path, verify: bool = True) -> tuple[xr.Dataset, xr.Dataset]:
    """(samples, summary) of one run store, its checksums verified first; a missing, damaged or
    corrupt store gets an error naming the store, the array and what to do."""
    path = Path(path)
    if not (path / ".zmetadata").exists():
        raise FileNotFoundError(
            f"run store {str(path)!r} is missing or incomplete (no .zmetadata); "
            "delete it and rerun its train job (snakemake reruns it once it is gone)"
        )
    if verify:
        manifest.verify(path, fix=RERUN_FIX)
    try:
        samples = xr.open_zarr(path, zarr_format=ZARR_FORMAT)
        summary = xr.open_zarr(path, group=SUMMARY_GROUP, zarr_format=ZARR_FORMAT)
    except Exception as err:
        raise OSError(
            f"run store {str(path)!r} is corrupt ({type(err).__name__}: {err}); "
            "delete it and rerun its train job"
        ) from err
    return samples, summary
