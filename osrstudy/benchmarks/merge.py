"""Merge at the full study's scale: the run stores of a finished study, hard-linked under N run
ids (the full study has 1034), merged into one study.zarr; then one figure and one table drawn
from it. Stores of a real study, so every array has its real shape; only the count is scaled.

    python -m osrstudy.benchmarks.merge --study config/demo_full.yaml --runs-dir results/demo_full/runs --n 1034
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from osrstudy.merge import link_or_copy, merge, open_study
from osrstudy.study import expansion, load_study


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m osrstudy.benchmarks.merge", description=__doc__.split("\n")[0])
    p.add_argument("--study", required=True)
    p.add_argument("--runs-dir", required=True)
    p.add_argument("--n", type=int, default=1034, help="how many runs to merge")
    a = p.parse_args(argv)
    study = load_study(a.study)
    runs, skipped = expansion(study)
    runs = [r for r in runs if (Path(a.runs_dir) / f"{r['run_id']}.zarr").exists()]
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir, scaled = Path(tmp) / "runs", []
        for i in range(a.n):
            source = runs[i % len(runs)]
            run = {**source, "run_id": f"{source['run_id']}-copy{i}"}
            shutil.copytree(Path(a.runs_dir) / f"{source['run_id']}.zarr", runs_dir / f"{run['run_id']}.zarr",
                            copy_function=link_or_copy)
            scaled.append(run)
        t = time.perf_counter()
        merge(study, scaled, runs_dir, Path(tmp) / "study.zarr", "", skipped)
        merged = time.perf_counter() - t
        from osrstudy.tables import TABLES

        t = time.perf_counter()
        root = open_study(Path(tmp) / "study.zarr").to_dataset(inherit=False)
        TABLES["scorer_grid"](root)
        table = time.perf_counter() - t
    print(f"merged {a.n} run stores ({len(runs)} distinct) in {merged:.1f} s; "
          f"opened the merged study and built the scorer grid in {table:.1f} s")


if __name__ == "__main__":
    main()
