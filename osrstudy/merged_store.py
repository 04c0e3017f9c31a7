"""A merged study.zarr, read back: every file checked against the manifest the merge wrote, so a
damaged store is an error that names its fix, never a wrong number.

Kept apart from the merge itself so that reading a study (figures, tables, `open_study`) does not
import the study's registries, and with them torch: each figure and table job is its own process.
"""
from __future__ import annotations

from pathlib import Path

import xarray as xr

from osrstudy import manifest
from osrstudy.store import ZARR_FORMAT

MERGE_FIX = ("rebuild it with `snakemake merge` (a damaged run group means a damaged run store too: "
             "snakemake verify finds those and reruns only them)")


def check_merged(path: str | Path) -> Path:
    path = Path(path)
    if not (path / ".zmetadata").exists():
        raise FileNotFoundError(
            f"no merged study at {str(path)!r}; build it with `snakemake` (or `snakemake merge`)"
        )
    return path


def read_manifest(path: Path) -> dict[str, list]:
    try:
        return manifest.read(path)
    except manifest.DamagedStoreError as err:
        raise manifest.DamagedStoreError(f"{err}; {MERGE_FIX}") from None


def verify_root(path: Path, recorded: dict[str, list]) -> None:
    """The merged root's checksums (results, history, geometry, coordinates): small, hashed in full."""
    manifest.verify(path, fix=MERGE_FIX, skip=("runs/",), recorded=recorded)


def verify_run_group(path: Path, run_id: str, recorded: dict[str, list]) -> None:
    manifest.verify(path, fix=MERGE_FIX, under=f"runs/{run_id}/", recorded=recorded)


def open_study(path: str | Path, full_check: bool = False) -> xr.DataTree:
    """The merged study as a DataTree (run groups opened lazily), its files checked against the
    manifest first: sizes of every file, and with `full_check` their checksums too (reads all)."""
    path = check_merged(path)
    manifest.verify(path, fix=MERGE_FIX, full=full_check)
    return xr.open_datatree(path, engine="zarr", zarr_format=ZARR_FORMAT)
