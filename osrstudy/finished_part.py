"""The finished part of a study that is still training, as a study of its own, so its figures
and tables can be read before the last run ends:

    python -m osrstudy.finished_part config/study.yaml
    snakemake tables figures --config study=config/study_finished.yaml

Writes `config/<name>_finished.yaml`: each block cut to the splits on which every one of its runs
has a store (or, where no split is complete, to the split where most of its losses have finished,
and those losses), blocks with nothing finished left out; and hard-links the finished run stores
into `results/<name>_finished/runs`, so nothing retrains and nothing is copied. Run ids do not depend
on blocks, so the cut study's runs are the same runs.
"""
from __future__ import annotations

import argparse
import copy
import os
import shutil
from pathlib import Path

import yaml

from osrstudy.study import expand_study, load_study


def block_runs(study: dict, name: str, **narrowed) -> list[dict]:
    """The runs of one block of `study`, with some of its keys replaced."""
    one = copy.deepcopy(study)
    one["blocks"] = {name: {**study["blocks"][name], **narrowed}}
    return expand_study(one)


def finished_block(study: dict, name: str, done: set[str]) -> dict | None:
    """The block cut to what has finished, or None when nothing of it has."""
    block = study["blocks"][name]
    complete = [s for s in block["splits"]
                if all(r["run_id"] in done for r in block_runs(study, name, splits=[s]))]
    if complete:
        return {**block, "splits": complete}
    def finished_losses(split: int) -> list:
        return [loss for loss in block["losses"]
                if all(r["run_id"] in done for r in block_runs(study, name, splits=[split], losses=[loss]))]

    # Runs finish out of order (a queue per core, a requeued job), so the split furthest along
    # can be any of them; max keeps the earliest of equals.
    by_split = {split: finished_losses(split) for split in block["splits"]}
    split = max(by_split, key=lambda s: len(by_split[s]))
    return {**block, "splits": [split], "losses": by_split[split]} if by_split[split] else None


def finished_part(study_path: str | Path, results: str | Path = "results") -> tuple[Path, dict, int]:
    """Write the finished part's config beside the study's and link its run stores; returns the
    config's path, the kept blocks and the number of runs."""
    study_path = Path(study_path)
    study = load_study(study_path)
    runs_dir = Path(results) / study["name"] / "runs"
    done = {p.stem for p in runs_dir.glob("*.zarr")}
    raw = yaml.safe_load(study_path.read_text())
    kept = {name: part for name in study["blocks"] if (part := finished_block(study, name, done))}
    if not kept:
        raise SystemExit(f"no block of {study_path} has a finished run in {runs_dir}: nothing to read yet")
    raw["name"] = f"{study['name']}_finished"
    raw["blocks"] = {name: {**raw["blocks"][name], **{k: kept[name][k] for k in ("splits", "losses")}}
                     for name in kept}
    out = study_path.with_name(f"{raw['name']}.yaml")
    out.write_text(yaml.safe_dump(raw, sort_keys=False))
    part_runs = expand_study(load_study(out))
    linked = Path(results) / raw["name"] / "runs"
    linked.mkdir(parents=True, exist_ok=True)
    for run in part_runs:
        target = linked / f"{run['run_id']}.zarr"
        if not target.exists():
            shutil.copytree(runs_dir / f"{run['run_id']}.zarr", target, copy_function=os.link)
    return out, kept, len(part_runs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study", help="the study's config, e.g. config/study.yaml")
    parser.add_argument("--results", default="results", help="the results folder (default: results)")
    args = parser.parse_args(argv)
    out, kept, n = finished_part(args.study, args.results)
    for name, block in kept.items():
        print(f"  {name}: splits {block['splits']}, {len(block['losses'])} loss setting(s)")
    print(f"{n} finished runs in {out}; read them with: snakemake tables figures --config study={out}")


if __name__ == "__main__":
    main()
