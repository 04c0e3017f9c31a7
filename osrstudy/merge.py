"""Merge the per-run stores of a study into one dataset: results/<study>/study.zarr.

Root: one row per run (dims run, eval_set, scorer, metric, step, quantity, diagnostic), every
factor a coordinate on `run`. Group runs/<run_id>: that run's per-sample arrays, hard-linked from
its run store (no copy, no decoding), so merging thousands of runs needs little memory; they use
none of the root's indexed dimensions, so each run may have its own scorers and steps.

    python -m osrstudy.merge --study config/demo.yaml --runs-dir results/demo/runs --out results/demo/study.zarr
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from osrstudy import atomic, manifest
from osrstudy.store import SUMMARY_GROUP, ZARR_FORMAT, open_run, provenance
from osrstudy.study import expansion, job_spec, load_study
from osrstudy.study_state import spec_hash

RUN_METADATA = ("wall_seconds", "train_seconds", "peak_memory_bytes", "device", "host", "threads")


def factor_coordinate(values: list) -> np.ndarray:
    """One coordinate from per-run values; runs lacking the factor get NaN (numbers) or ''."""
    present = [v for v in values if v is not None]
    if all(isinstance(v, str) for v in present):
        return np.array(["" if v is None else v for v in values])
    if all(isinstance(v, bool) for v in present) and len(present) == len(values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present) and len(present) == len(values):
        return np.array(values, dtype=np.int64)
    return np.array([np.nan if v is None else float(v) for v in values])


LABEL_DIMS = ("eval_set", "scorer", "metric", "quantity", "diagnostic")


def ordered_union(arrays) -> np.ndarray:
    """Labels in order of first appearance (held_out stays first), as one wide enough string dtype:
    xarray's outer join would keep the first run's width and truncate longer labels."""
    return np.array(list(dict.fromkeys(str(v) for values in arrays for v in values)))


def summary_dataset(runs: list[dict], stores: list[tuple[xr.Dataset, xr.Dataset]]) -> xr.Dataset:
    summaries = [summary for _, summary in stores]
    labels = {d: ordered_union(s[d].values for s in summaries if d in s.dims) for d in LABEL_DIMS}
    rows = [
        summary.reindex({d: labels[d] for d in LABEL_DIMS if d in summary.dims}, fill_value=np.nan)
        .expand_dims(run=np.array([r["run_id"]]))
        for r, summary in zip(runs, summaries)
    ]
    # encodings read from the run stores (string widths, chunks) would be written back as they were
    root = xr.concat(rows, dim="run", join="outer", fill_value=np.nan, data_vars="all").compute().drop_encoding()
    attrs = [samples.attrs for samples, _ in stores]
    factors = [json.loads(a["factors"]) for a in attrs]
    names = sorted({k for f in factors for k in f})
    coords = {name: ("run", factor_coordinate([f.get(name) for f in factors])) for name in names}
    coords["blocks"] = ("run", np.array([",".join(r["blocks"]) for r in runs]))
    all_blocks = sorted({b for r in runs for b in r["blocks"]})
    root = root.assign_coords(coords).assign_coords(block=all_blocks)
    root["membership"] = (("run", "block"), np.array([[b in r["blocks"] for b in all_blocks] for r in runs]))
    for key in RUN_METADATA:
        root[key] = ("run", factor_coordinate([a.get(key) for a in attrs]))
    # Why a scorer has no results for a run ("" where it applied), beside its NaN results.
    reasons = [json.loads(a.get("not_applicable", "{}")) for a in attrs]
    root["not_applicable"] = (
        ("run", "scorer"),
        np.array([[r.get(str(s), "") for s in root.scorer.values] for r in reasons], dtype=str),
    )
    return root


def merge(study: dict, runs: list[dict], runs_dir: str | Path, out: str | Path, config_text: str = "",
          skipped: list[dict] | None = None) -> Path:
    runs_dir = Path(runs_dir)
    paths = [runs_dir / f"{r['run_id']}.zarr" for r in runs]
    stores = [open_run(p) for p in paths]
    root = summary_dataset(runs, stores)
    root.attrs = {
        "study": study["name"],
        "description": study.get("description", ""),
        "config_sha256": hashlib.sha256(config_text.encode()).hexdigest(),
        "runs": [r["run_id"] for r in runs],
        # what each run's store was made from (training + evaluation settings): snakemake compares
        # it with the study to tell a current merged store from a stale one (osrstudy.study_state)
        "run_specs": json.dumps({r["run_id"]: spec_hash(job_spec(r)) for r in runs}, sort_keys=True),
        # cells a block declared out of the study, with the block and the reason (JSON list)
        "skipped": json.dumps(skipped or []),
        **provenance(),
    }

    def build(tmp: Path) -> None:
        root.to_zarr(tmp, mode="w-", zarr_format=ZARR_FORMAT, consolidated=False)
        zarr.open_group(tmp, mode="a", zarr_format=ZARR_FORMAT).require_group("runs")
        for r, src in zip(runs, paths):
            shutil.copytree(src, tmp / "runs" / r["run_id"], copy_function=link_or_copy,
                            ignore=shutil.ignore_patterns(*NOT_LINKED))
        zarr.consolidate_metadata(tmp, zarr_format=ZARR_FORMAT)
        manifest.write(tmp, study_manifest(tmp, runs, paths))

    return atomic.replace_directory(build, out)


NOT_LINKED = (SUMMARY_GROUP, ".zmetadata", *manifest.NOT_DATA)  # a run store's parts the merged group leaves out


def study_manifest(tmp: Path, runs: list[dict], paths: list[Path]) -> dict[str, list]:
    """The merged store's checksums: its own root files hashed, each run group's taken from the
    run store it was linked from (verified when it was opened), so nothing is hashed twice."""
    entries = manifest.entries_of(tmp, [name for name in manifest.files_of(tmp) if not in_run_group(name)])
    for r, src in zip(runs, paths):
        entries.update({f"runs/{r['run_id']}/{name}": entry for name, entry in manifest.read(src).items()
                        if not set(name.split("/")) & set(NOT_LINKED)})
    return entries


def in_run_group(name: str) -> bool:
    parts = name.split("/")
    return parts[0] == "runs" and len(parts) > 2


def link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or links not allowed
        shutil.copy2(src, dst)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m osrstudy.merge", description=__doc__.split("\n")[0])
    p.add_argument("--study", required=True, help="the study config (YAML)")
    p.add_argument("--runs-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--receipt", help="written once the merged store is in place (snakemake's output)")
    a = p.parse_args(argv)
    study = load_study(a.study)
    runs, skipped = expansion(study)
    merge(study, runs, a.runs_dir, a.out, Path(a.study).read_text(), skipped)
    if a.receipt:
        attrs = json.loads(Path(a.out, ".zattrs").read_text())
        Path(a.receipt).write_text(json.dumps(
            {"study_zarr": a.out, "study": a.study, "runs": len(runs), "created": attrs["created"]}, indent=1))
    print(f"merged {len(runs)} runs into {a.out}")


if __name__ == "__main__":
    main()
