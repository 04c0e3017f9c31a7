"""Merge at the full study's scale: the run stores of a finished study, hard-linked under N run
ids (the full study has 1034), merged into one study.zarr; then every figure and table its blocks
support drawn from it. Stores of a real study, so every array has its real shape; only the count
is scaled (per-sample arrays keep the source dataset's size).

    python -m osrstudy.benchmarks.merge --study config/demo_full.yaml --runs-dir results/demo_full/runs --n 1034

It also times what snakemake checks at the start of every invocation (each store's file sizes
against its manifest) and `snakemake verify` (every checksum) at that scale.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from osrstudy.merge import link_or_copy, merge
from osrstudy.study import expansion, job_spec, load_study
from osrstudy.study_state import damaged_run_stores, merged_state
from osrstudy.verify import verify_study


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m osrstudy.benchmarks.merge", description=__doc__.split("\n")[0])
    p.add_argument("--study", required=True)
    p.add_argument("--runs-dir", required=True)
    p.add_argument("--n", type=int, default=1034, help="how many runs to merge")
    p.add_argument("--no-figures", action="store_true", help="merge and checks only")
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
        checks = time_checks(scaled, runs_dir, Path(tmp) / "study.zarr")
        timings = {} if a.no_figures else render_all(Path(tmp) / "study.zarr", list(study["blocks"]), Path(tmp) / "out")
    print(f"merged {a.n} run stores ({len(runs)} distinct) in {merged:.1f} s")
    for name, seconds in checks.items():
        print(f"  {name}: {seconds:.2f} s")
    for name, seconds in timings.items():
        print(f"  {name}: {seconds:.1f} s")
    print(f"every figure and table: {sum(timings.values()):.1f} s in one process")


def time_checks(runs: list[dict], runs_dir: Path, study_zarr: Path) -> dict[str, float]:
    """Seconds of what snakemake checks when it builds its DAG (sizes against each manifest) and
    of `snakemake verify` (every checksum), over every store of the study."""
    receipt = study_zarr.with_name("merged.json")
    receipt.write_text("{}")
    stores = {r["run_id"]: runs_dir / f"{r['run_id']}.zarr" for r in runs}
    specs = {r["run_id"]: job_spec(r) for r in runs}
    timings = {}
    for name, check, intact in (
        ("DAG-time size check of every run store", lambda: damaged_run_stores(stores, dry_run=True), lambda r: r == []),
        ("DAG-time check of study.zarr (sizes, run specs)", lambda: merged_state(study_zarr, receipt, specs),
         lambda r: r.current),
        ("snakemake verify (every checksum)", lambda: verify_study(runs_dir, list(stores), study_zarr, receipt),
         lambda r: r == []),
    ):
        t = time.perf_counter()
        result = check()
        timings[name] = time.perf_counter() - t
        assert intact(result), f"{name}: a freshly merged study reads as damaged or stale: {result}"
    return timings


def render_all(store: Path, blocks: list[str], out: Path) -> dict[str, float]:
    """Seconds to draw each figure and table the study's blocks support (files written, as the
    rules do, but in one process: no interpreter start per figure)."""
    from osrstudy import figures, tables

    timings = {}
    for module, registry, suffix in ((figures, figures.FIGURES, ".png"), (tables, tables.TABLES, ".csv")):
        for name in registry.names():
            if module.applies(name, blocks):
                t = time.perf_counter()
                module.render(name, store, [str(out / f"{name}{suffix}")])
                timings[name] = time.perf_counter() - t
    return timings


if __name__ == "__main__":
    main()
