"""The full study's projected cost on this device: measured throughput times each run's work.

Throughput is measured here, in one process (ratios are what one run can be trusted for on a
shared machine): training images/s per (backbone, input shape) at batch 128 with crop_flip, and
exact Jacobian samples/s per (backbone, input shape, embedding dimension). A run's work: its
training images (steps x batch; twice for self-supervised runs, whose rotated copies go through
the backbone too) and its Jacobian samples (before training on every evaluated sample or the
`jacobian_before` subsample; after it on every sample or `jacobian_after` per partition; the
probe's `probe_jacobians` at every checkpoint, `max_checkpoints` bounding their number; the
16 x 21 interpolation points). Features, scorers and metrics are left out (seconds per run,
against hours). The run stores' size is modelled per evaluated sample; study.zarr holds every
run group once (the demo's: 3.2 MB for 10 run stores of 0.34 MB).

    python -m osrstudy.benchmarks.projection --device cpu       # CPU hours, here
    python -m osrstudy.benchmarks.projection --device cuda      # GPU hours, on a GPU node

Split sizes come from osrstudy/benchmarks/study_sizes.json, measured on the real-format data
(`--measure-sizes DATA_ROOT` writes it again).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from osrstudy.backbones import build_backbone
from osrstudy.benchmarks.gpu_smoke import measure_training
from osrstudy.benchmarks.jacobian import timed
from osrstudy.data import DATASETS, load_split
from osrstudy.features import INTERPOLATION_STEPS
from osrstudy.jacobian import exact_norms, in_chunks
from osrstudy.run_spec import EvaluationConfig, ScheduleConfig
from osrstudy.study import expand_study, load_study

SIZES = Path(__file__).with_name("study_sizes.json")
OOD_SET_SIZE = 10_000  # each of ODIN's four sets
PROBE_DEFAULT = 300
# A run store's size: per evaluated sample the embedding (float32 x d), logits and a fitted head's
# logits (float32 x 2K at most), a float64 score per scorer and about 60 bytes of labels, indices,
# prediction and norms; plus about 150 kB of metadata, summaries and interpolation paths. Against
# the demo's stores (789 samples, d = 16, K = 6, 13 scorers): 368 kB modelled, 343 kB on disk.
STORE_FIXED_BYTES, STORE_SAMPLE_BYTES = 150_000, 60


# Every evaluation budget lifted (`--budget` items, for the cost "before"): every sample of every
# partition evaluated, each with exact Jacobians before and after training, the probe at every
# checkpoint on all its samples, scorers fitted to the whole training set.
UNBUDGETED = ("jacobian_before=null", "jacobian_after=null", "probe_jacobians=null", "max_samples=null",
              "schedule.max_checkpoints=null")


def with_budgets(runs: list[dict], items: list[str]) -> list[dict]:
    """The runs with `KEY=JSON` overrides: a key is a dotted path into the run's evaluation settings
    (or into `schedule.` / `train.` where it starts so); null removes the setting."""
    out = []
    for run in runs:
        run = copy.deepcopy(run)  # the caller's runs stay as they were
        for item in items:
            key, sep, value = item.partition("=")
            if not sep:
                raise SystemExit(f"error: budget {item!r} is not KEY=JSON (e.g. jacobian_before=500)")
            path = key.split(".")
            if path[0] not in ("schedule", "train"):
                path = ["evaluation", *path]
            *parents, leaf = path
            node = run
            for part in parents:
                node = node.setdefault(part, {})
            if (parsed := json.loads(value)) is None:
                node.pop(leaf, None)
            else:
                node[leaf] = parsed
        out.append(run)
    return out


def size_key(train: dict) -> str:
    return train["dataset"] if train["n_known"] is None else f"{train['dataset']}@{train['n_known']}"


def measure_sizes(runs: list[dict], data_root: str) -> dict[str, dict[str, int]]:
    """Train / val / test sizes of split 0 of every (dataset, n_known) the runs use."""
    sizes = {}
    for train in {size_key(r["train"]): r["train"] for r in runs}.values():
        split = load_split(train["dataset"], 0, data_root, train["n_known"])
        sizes[size_key(train)] = {"train": len(split.train), "val": len(split.val), "test": len(split.test)}
    return sizes


def work(run: dict, sizes: dict[str, dict[str, int]]) -> dict[str, float]:
    """Training steps and images, and Jacobian samples of one run: in all and per pass (before
    and after training, the probes, the interpolation paths)."""
    t, evaluation = run["train"], run["evaluation"]
    size, budget = sizes[size_key(t)], evaluation.get("max_samples", {})
    per_epoch = size["train"] // t["batch_size"]
    steps = t["iterations"] or t["epochs"] * per_epoch
    epochs = math.ceil(steps / per_epoch)
    n_val = min(size["val"], budget.get("val", math.inf))
    n_test = min(size["test"], budget.get("test", math.inf))
    n_ood = len(evaluation.get("eval_sets", [])) * min(OOD_SET_SIZE, budget.get("ood", budget.get("test", math.inf)))
    n_eval = n_val + n_test + n_ood
    after = evaluation.get("jacobian_after") or {}
    cap = (lambda kind: after) if isinstance(after, int) else (lambda kind: after.get(kind, math.inf))
    n_sets = len(evaluation.get("eval_sets", []))
    n_after = min(n_val, cap("val")) + min(n_test, cap("test")) + n_sets * min(n_ood / max(1, n_sets), cap("ood"))
    every = ScheduleConfig(**run["schedule"]).cadence(epochs)
    checkpoints = 1 + epochs // every + (epochs % every > 0)
    probed = min(evaluation.get("probe_samples", PROBE_DEFAULT), n_val)
    probe = checkpoints * min(evaluation.get("probe_jacobians") or probed, probed)
    before = min(evaluation.get("jacobian_before") or n_eval, n_eval)
    images = steps * t["batch_size"] * (2 if t["self_supervision"] > 0 else 1)
    n_known = t["n_known"] or len(DATASETS[t["dataset"]]().known_splits()[0])
    per_sample = 4 * t["embed_dim"] + 8 * n_known + 8 * len(evaluation["scorers"]) + STORE_SAMPLE_BYTES
    paths = evaluation.get("interpolation_pairs", EvaluationConfig.interpolation_pairs) * INTERPOLATION_STEPS
    return {"steps": steps, "images": images, "jacobians": before + n_after + probe + paths,
            "jacobians_before": before, "jacobians_after": n_after, "probe_jacobians": probe, "path_points": paths,
            "feature_samples": min(size["train"], budget.get("train", math.inf)) + n_eval, "evaluated": n_eval,
            "store_bytes": STORE_FIXED_BYTES + n_eval * per_sample}


def input_shape(dataset: str) -> tuple[int, int]:
    ds = DATASETS[dataset]
    return ds.channels, ds.image_size


def jacobian_speed(backbone: str, shape: tuple[int, int], d: int, device: torch.device, samples: int) -> float:
    """Exact Jacobian samples/s (one chunk of `samples`, after a warm-up)."""
    model = build_backbone(backbone, shape[0], d).to(device).eval()
    norms = exact_norms(model)
    x = torch.randn(samples, shape[0], shape[1], shape[1], device=device)
    _, seconds, _ = timed(lambda: in_chunks(norms, x, samples), device, repeats=1)
    return samples / seconds


def speeds(runs: list[dict], device: torch.device, steps: int, jacobian_samples: int, log=print) -> tuple[dict, dict]:
    """Measured training images/s per (backbone, shape) and Jacobian samples/s per (backbone, shape, d)."""
    train_speed, jac_speed = {}, {}
    for t in sorted({(r["train"]["backbone"], r["train"]["dataset"], r["train"]["embed_dim"]) for r in runs}):
        backbone, shape, d = t[0], input_shape(t[1]), t[2]
        if (backbone, shape) not in train_speed:
            measured = measure_training(backbone, device, steps, 128, False, shape, rotation=False)
            train_speed[backbone, shape] = measured[0]
            log(f"{backbone} {shape}: training {train_speed[backbone, shape]:.1f} images/s")
        if (backbone, shape, d) not in jac_speed:
            jac_speed[backbone, shape, d] = jacobian_speed(backbone, shape, d, device, jacobian_samples)
            log(f"{backbone} {shape} d = {d}: Jacobian {jac_speed[backbone, shape, d]:.2f} samples/s")
    return train_speed, jac_speed


def project(runs: list[dict], sizes: dict, train_speed: dict, jac_speed: dict) -> list[dict]:
    """Hours per block (a run in several blocks counts in each) and in all (each run once)."""
    blocks: dict[str, dict] = defaultdict(lambda: {"runs": 0, "train_h": 0.0, "eval_h": 0.0, "store_gb": 0.0})
    total = {"block": "all (each run once)", "runs": 0, "train_h": 0.0, "eval_h": 0.0, "store_gb": 0.0}
    for run in runs:
        t, w = run["train"], work(run, sizes)
        shape = input_shape(t["dataset"])
        train_h = w["images"] / train_speed[t["backbone"], shape] / 3600
        eval_h = w["jacobians"] / jac_speed[t["backbone"], shape, t["embed_dim"]] / 3600
        for row in [*(blocks[b] for b in run["blocks"]), total]:
            row["runs"] += 1
            row["train_h"] += train_h
            row["eval_h"] += eval_h
            row["store_gb"] += w["store_bytes"] / 1e9
    rows = [{"block": name, **row} for name, row in blocks.items()] + [total]
    for row in rows:
        row["eval_over_train"] = row["eval_h"] / row["train_h"]
    return rows


def add_budget_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--budget", nargs="*", default=[], metavar="KEY=JSON",
                   help="evaluation budgets applied to every run, e.g. jacobian_before=500 "
                        "'jacobian_after={\"test\": 2000}' jacobian_after=null schedule.max_checkpoints=null")
    p.add_argument("--unbudgeted", action="store_true",
                   help="lift every evaluation budget (exact Jacobians of every sample, every probe whole)")


def budgeted_runs(a: argparse.Namespace) -> list[dict]:
    """The study's runs with the command line's budgets applied."""
    return with_budgets(expand_study(load_study(a.study)), [*(UNBUDGETED if a.unbudgeted else ()), *a.budget])


def markdown(rows: list[dict], unit: str) -> str:
    lines = [f"| block | runs | training {unit}-h | evaluation {unit}-h | evaluation / training | run stores GB |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['block']} | {r['runs']} | {r['train_h']:.1f} | {r['eval_h']:.1f} | {r['eval_over_train']:.2f} "
              f"| {r['store_gb']:.2f} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m osrstudy.benchmarks.projection", description=__doc__.split("\n")[0])
    p.add_argument("--study", default="config/study.yaml")
    p.add_argument("--device", default="cuda")
    p.add_argument("--steps", type=int, default=3, help="timed training steps per backbone and shape")
    p.add_argument("--jacobian-samples", type=int, default=4, help="samples per timed Jacobian chunk")
    p.add_argument("--measure-sizes", metavar="DATA_ROOT", help=f"measure split sizes there and write {SIZES}")
    add_budget_arguments(p)
    a = p.parse_args(argv)
    runs = budgeted_runs(a)
    if a.measure_sizes:
        SIZES.write_text(json.dumps(measure_sizes(runs, a.measure_sizes), indent=1, sort_keys=True) + "\n")
    sizes = json.loads(SIZES.read_text())
    torch.manual_seed(0), np.random.seed(0)
    device = torch.device(a.device)
    train_speed, jac_speed = speeds(runs, device, a.steps, a.jacobian_samples)
    print(markdown(project(runs, sizes, train_speed, jac_speed), "GPU" if device.type == "cuda" else "CPU"))


if __name__ == "__main__":
    main()
