"""`snakemake verify`: every store of a study checked against its full checksums.

A damaged run store is moved aside (never deleted), and a damaged merged store loses its merge
receipt, so the next `snakemake` retrains only those runs (each resuming from its checkpoint) and
merges again. Exit status 1 when anything was damaged.

    python -m osrstudy.verify --runs-dir results/demo/runs --study-zarr results/demo/study.zarr \
        --receipt results/demo/merged.json RUN_ID ...
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from osrstudy import manifest
from osrstudy.study_state import move_aside


def verify_study(runs_dir: Path, run_ids: list[str], study_zarr: Path, receipt: Path) -> list[str]:
    """Check every run store and the merged store; act on damage; one line per damaged store."""
    lines = []
    for run_id in run_ids:
        store = runs_dir / f"{run_id}.zarr"
        if store.exists() and (found := manifest.damage(store, full=True)):
            lines.append(f"{store}: {'; '.join(found[:3])} -> moved to {move_aside(store)}; {run_id} reruns")
    if study_zarr.exists() and (found := manifest.damage(study_zarr, full=True)):
        receipt.unlink(missing_ok=True)
        lines.append(f"{study_zarr}: {'; '.join(found[:3])} -> the next snakemake merges again")
    return lines


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m osrstudy.verify", description=__doc__.split("\n")[0])
    p.add_argument("--runs-dir", required=True, type=Path)
    p.add_argument("--study-zarr", required=True, type=Path)
    p.add_argument("--receipt", required=True, type=Path, help="the merge's output, dropped when study.zarr is damaged")
    p.add_argument("run_ids", nargs="*")
    a = p.parse_args(argv)
    start = time.monotonic()
    present = sum((a.runs_dir / f"{r}.zarr").exists() for r in a.run_ids)
    lines = verify_study(a.runs_dir, a.run_ids, a.study_zarr, a.receipt)
    print(f"verified {present} run stores and {a.study_zarr} by checksum in {time.monotonic() - start:.1f} s")
    if lines:
        print("damaged:\n  " + "\n  ".join(lines) + "\nrun snakemake again: it retrains only these runs "
              "(from their checkpoints) and merges again", file=sys.stderr)
        raise SystemExit(1)
    print("every store is as it was written")


if __name__ == "__main__":
    main()
