"""The rehearsal's cost table, and the full study's cost projected from it.

Every run store records the wall time of each stage of its run (`stage_seconds`) and how much
work the run did, so the rehearsal's runs, at full size but few iterations and small evaluation
budgets, give unit costs measured in the runs themselves: seconds per training image, per
Jacobian sample before and after training, per Jacobian sample of the probe, per interpolation
point, per sample through the features pass, and per evaluated sample for ODIN, the scorers and
the metrics; besides, peak memory and the size of the run store. The full study's runs are then
costed with the units of the rehearsal run of the same dataset and backbone (the
Jacobian units scaled by d where the embedding dimensions differ) and their own work
(`osrstudy.benchmarks.projection.work`, whose model of a store's size is used too; the size per
sample fitted over the rehearsal's own stores is printed beside it), per block.

    python -m osrstudy.benchmarks.rehearsal_cost results/rehearsal/runs --study config/study.yaml
    python -m osrstudy.benchmarks.rehearsal_cost results/rehearsal/runs --unbudgeted   # without them
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from osrstudy.benchmarks.projection import SIZES, add_budget_arguments, budgeted_runs, work
from osrstudy.features import INTERPOLATION_STEPS
from osrstudy.store import open_run

# stage -> the key of projection.work() that counts its units in a full run
PARTS = {"train": "images", "jacobians_before": "jacobians_before", "jacobians_after": "jacobians_after",
         "probe": "probe_jacobians", "interpolation": "path_points", "features": "feature_samples",
         "odin": "evaluated", "scorers": "evaluated", "metrics": "evaluated"}
JACOBIAN_PARTS = ("jacobians_before", "jacobians_after", "probe", "interpolation")  # cost ~ d
EVALUATION_PARTS = [p for p in PARTS if p != "train"]


def units_done(samples, summary, spec: dict) -> dict[str, float]:
    """How many units of each part a stored run did."""
    a, t = samples.attrs, spec["train"]
    evaluated = a["evaluated_samples"]
    if t["iterations"] is None:
        raise SystemExit(f"error: {spec['run_id']} trained for epochs; the cost table reads runs with a step "
                         "budget (training.iterations), as the rehearsal's")
    return {
        "train": t["iterations"] * t["batch_size"] * (2 if t["self_supervision"] > 0 else 1),
        "jacobians_before": a["jacobian_before_samples"],
        "jacobians_after": a["jacobian_after_samples"],
        "probe": summary.sizes["step"] * a.get("probe_jacobian_samples", a["probe_samples"]),
        "interpolation": samples.sizes["pair"] * INTERPOLATION_STEPS,
        "features": a.get("train_feature_samples", np.nan) + evaluated,
        "odin": evaluated, "scorers": evaluated, "metrics": evaluated,
    }


def unit_costs(store: Path) -> dict:
    """Seconds per unit of each part of one stored run, its peak memory and store bytes per sample."""
    samples, summary = open_run(store)
    spec, seconds = json.loads(samples.attrs["spec"]), json.loads(samples.attrs["stage_seconds"])
    seconds["train"] = seconds["train"] - seconds.get("probe", 0.0)  # train's stage holds the probes
    if "probe" not in seconds:  # resumed from its last checkpoint: this run timed no training
        seconds["train"] = seconds["probe"] = np.nan
    done = units_done(samples, summary, spec)
    size = tree_bytes(store)
    t = spec["train"]
    return {"run": store.name.removesuffix(".zarr"), "key": (t["dataset"], t["backbone"]), "d": t["embed_dim"],
            "iteration_s": seconds["train"] / t["iterations"],
            **{part: seconds.get(part, 0.0) / done[part] if done[part] else np.nan for part in PARTS},
            "peak_gib": samples.attrs["peak_memory_bytes"] / 2**30, "store_mb": size / 1e6,
            "evaluated": samples.attrs["evaluated_samples"]}


def units_for(run: dict, measured: list[dict]) -> dict:
    """The unit costs of the rehearsal run standing for a full run: same dataset and backbone,
    the nearest embedding dimension, Jacobian units scaled by the ratio of dimensions."""
    t = run["train"]
    same = [u for u in measured if u["key"] == (t["dataset"], t["backbone"])]
    if not same:
        raise SystemExit(f"error: no rehearsal run of {t['dataset']} with {t['backbone']}: rerun the rehearsal")
    by_distance = sorted(same, key=lambda u: abs(u["d"] - t["embed_dim"]))
    u = dict(by_distance[0])
    for part in PARTS:  # a part this run did not time (resumed) from the next one that did
        timed = [v for v in by_distance if np.isfinite(v[part])] or [u]
        scale = t["embed_dim"] / timed[0]["d"] if part in JACOBIAN_PARTS else 1.0
        u[part] = timed[0][part] * scale
    return u


def project(runs: list[dict], measured: list[dict], sizes: dict) -> list[dict]:
    """Hours per block of the full study (a run in several blocks counts in each, once in all)."""
    def row(name: str) -> dict:
        return {"block": name, "runs": 0, "peak_gib": 0.0, "store_gb": 0.0, **{p: 0.0 for p in PARTS}}

    blocks: dict[str, dict] = {}
    total = row("all (each run once)")
    for run in runs:
        u, w = units_for(run, measured), work(run, sizes)
        hours = {part: u[part] * w[key] / 3600 for part, key in PARTS.items()}
        for r in [*(blocks.setdefault(name, row(name)) for name in run["blocks"]), total]:
            r["runs"] += 1
            r["peak_gib"] = max(r["peak_gib"], u["peak_gib"])
            r["store_gb"] += w["store_bytes"] / 1e9
            for part, h in hours.items():
                r[part] += h
    return [*blocks.values(), total]


def unit_table(measured: list[dict]) -> str:
    head = " | ".join(["run", "d", "train s/iteration", "train ms/image", *(f"{p} ms/unit" for p in EVALUATION_PARTS),
                       "peak GiB", "store MB"])
    lines = [f"| {head} |", "|" + "---|" * (len(EVALUATION_PARTS) + 6)]
    for u in measured:
        cells = [u["run"], str(u["d"]), f"{u['iteration_s']:.3g}", *(f"{1000 * u[p]:.3g}" for p in PARTS),
                 f"{u['peak_gib']:.2f}", f"{u['store_mb']:.2f}"]
        lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines)


def block_table(rows: list[dict]) -> str:
    head = " | ".join(["block", "runs", "training h", *(f"{p} h" for p in EVALUATION_PARTS), "evaluation h",
                       "evaluation / training", "peak GiB", "run stores GB"])
    lines = [f"| {head} |", "|" + "---|" * (len(EVALUATION_PARTS) + 7)]
    for r in rows:
        evaluation = sum(r[p] for p in EVALUATION_PARTS)
        cells = [r["block"], str(r["runs"]), f"{r['train']:.1f}", *(f"{r[p]:.1f}" for p in EVALUATION_PARTS),
                 f"{evaluation:.1f}", f"{evaluation / r['train']:.2f}", f"{r['peak_gib']:.1f}", f"{r['store_gb']:.2f}"]
        lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines)


def store_size_line(measured: list[dict]) -> str:
    """A run store's bytes per evaluated sample and fixed part, fitted over the rehearsal's runs of
    one embedding dimension (the size grows with d), where their sample counts differ."""
    d = max({u["d"] for u in measured}, key=lambda dim: sum(u["d"] == dim for u in measured))
    runs = [u for u in measured if u["d"] == d]
    counts = np.array([u["evaluated"] for u in runs], dtype=float)
    if len(set(counts)) < 2:
        return f"run-store size per sample: not separable (every rehearsal run at d = {d} evaluated {counts[0]:.0f})"
    per_sample, fixed = np.polyfit(counts, [1e6 * u["store_mb"] for u in runs], 1)
    return (f"run-store size at d = {d}: {per_sample:.0f} bytes per evaluated sample + {fixed / 1e3:.0f} kB "
            f"(least squares over {len(runs)} rehearsal runs of {counts.min():.0f}-{counts.max():.0f} samples)")


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def study_store_line(runs_dir: Path, measured: list[dict], run_stores_gb: float) -> str:
    """study.zarr holds each run group once and the summaries: projected from the run stores' sum
    and the rehearsal's own ratio of study.zarr to its run stores, where its merge has run."""
    merged = runs_dir.parent / "study.zarr"
    if not merged.is_dir():
        return f"study.zarr: about {run_stores_gb:.1f} GB (the run stores' sum; merge the rehearsal for its overhead)"
    ratio = tree_bytes(merged) / (1e6 * sum(u["store_mb"] for u in measured))
    return (f"study.zarr: about {run_stores_gb * ratio:.1f} GB projected (the run stores' {run_stores_gb:.1f} GB "
            f"x {ratio:.2f}, the rehearsal's study.zarr over its run stores)")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m osrstudy.benchmarks.rehearsal_cost",
                                description=__doc__.split("\n")[0])
    p.add_argument("runs", type=Path, help="the rehearsal's run stores (results/rehearsal/runs)")
    p.add_argument("--study", default="config/study.yaml", help="the study to project")
    add_budget_arguments(p)
    a = p.parse_args(argv)
    stores = sorted(a.runs.glob("*.zarr"))
    if not stores:
        raise SystemExit(f"error: no run store under {a.runs}: run the rehearsal first")
    measured = [unit_costs(s) for s in stores]
    print(unit_table(measured), end="\n\n")
    print(store_size_line(measured), end="\n\n")
    rows = project(budgeted_runs(a), measured, json.loads(SIZES.read_text()))
    print(block_table(rows))
    print(study_store_line(a.runs, measured, rows[-1]["store_gb"]))


if __name__ == "__main__":
    main()
