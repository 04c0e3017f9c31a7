"""The study as its merged store will be, known before any job starts: each planned run's factors
(the coordinates the merge writes) and block membership, without results.

Tables and figures read blocks by pattern ("geometry*", "table3_*") and refuse, when they render,
to average runs of different settings (osrstudy.study_frames.check_replicates). That refusal
needs only the runs' factors, which the study's expansion already knows: `mixed_settings` runs
every figure and table the study would render on the planned store, so a block that would fall
into another's mean fails when snakemake reads the config, not after a thousand trainings.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from osrstudy.figures import FIGURES
from osrstudy.geometry import DIAGNOSTICS
from osrstudy.losses import build_loss
from osrstudy.merge import factor_coordinate
from osrstudy.readers import Selection, applies
from osrstudy.run import factors_of
from osrstudy.run_spec import RunTraining
from osrstudy.study import KnownSplits
from osrstudy.study_frames import MixedSettings, StudyView
from osrstudy.tables import TABLES


@lru_cache(maxsize=None)
def loss_factors(loss: str, n_known: int, embed_dim: int, options: str) -> dict:
    return build_loss(loss, n_known, embed_dim, json.loads(options)).factors()


def planned_factors(train: dict, splits: KnownSplits) -> dict:
    """A run's factors as its store will record them (osrstudy.run.run_factors), from its config."""
    record = RunTraining.from_dict(train).as_dict()
    n_known = record["n_known"] or len(splits(record["dataset"])[record["split"]])
    options = json.dumps(record["loss_options"], sort_keys=True)
    factors = factors_of(record, loss_factors(record["loss"], n_known, record["embed_dim"], options), n_known)
    return json.loads(json.dumps(factors, sort_keys=True))  # as the store's attribute reads back


# What every run records beside its factors (osrstudy.run_record.summary_dataset), so that a reader
# selecting one of them reaches its later rows' refusals instead of stopping at a missing label.
HISTORY = ("train_loss", "lr", "val_accuracy", "dbi", "inter_class_distance", "val_auroc", "jacobian_gap",
           "jacobian_known")
SEPARATION = ("dbi", "inter_class_distance")


def planned_root(runs: list[dict], evaluation: dict) -> xr.Dataset:
    """The merged root for the expanded `runs`: their factors and block membership as the merge
    writes them, every result NaN (`evaluation`: the study's, for the scorer, metric and eval-set labels)."""
    splits = KnownSplits()
    factors = [planned_factors(run["train"], splits) for run in runs]
    names = sorted({name for f in factors for name in f})
    blocks = sorted({b for run in runs for b in run["blocks"]})
    coords = {name: ("run", factor_coordinate([f.get(name) for f in factors])) for name in names}
    membership = np.array([[b in run["blocks"] for b in blocks] for run in runs], dtype=bool)
    labels = {"eval_set": ["held_out", *evaluation.get("eval_sets", [])], "scorer": list(evaluation["scorers"]),
              "metric": list(evaluation["metrics"]), "step": [0], "quantity": list(HISTORY),
              "diagnostic": [*DIAGNOSTICS, *SEPARATION]}
    unknown = {name: (("run", *dims), np.full((len(runs), *(len(labels[d]) for d in dims)), np.nan))
               for name, dims in (("results", ("eval_set", "scorer", "metric")), ("history", ("step", "quantity")),
                                  ("geometry", ("diagnostic",)))}
    return xr.Dataset(
        {"membership": (("run", "block"), membership), **unknown},
        coords={"run": [run["run_id"] for run in runs], "block": blocks, **labels,
                "blocks": ("run", [",".join(run["blocks"]) for run in runs]), **coords},
    )


def one_per_setting(runs: list[dict]) -> list[dict]:
    """The run of each setting (everything but split and seed, and its blocks) with the smallest
    split and seed. A refusal depends only on which settings meet in one mean, and the readers that
    pick by split take the smallest one, so these runs are refused exactly when all of them are;
    the full study's 1034 runs are 214 settings."""
    chosen: dict[str, dict] = {}
    for run in sorted(runs, key=lambda r: (r["train"]["split"], r["train"]["seed"])):
        setting = {k: v for k, v in run["train"].items() if k not in ("split", "seed")}
        chosen.setdefault(json.dumps([setting, run["blocks"]], sort_keys=True, default=str), run)
    return list(chosen.values())


def mixed_settings(runs: list[dict], evaluation: dict) -> list[str]:
    """Why each figure or table the study renders would refuse its runs: one line per refusal."""
    if not runs:
        return []
    view = StudyView(planned_root(one_per_setting(runs), evaluation), Path("(planned)"), {})
    blocks = list(view.root.block.values)
    refusals = []
    for registry in (TABLES, FIGURES):
        for name in registry.names():
            fn = registry[name]
            if not (fn.reads and fn.averages and applies(fn, blocks)):
                continue
            try:
                fn(Selection(view, fn.reads))
            except MixedSettings as refused:
                refusals.append(f"{registry.kind} {name}: {str(refused).removeprefix(name).lstrip()}")
            except Exception:  # noqa: BLE001 -- the planned store has no results to draw; only the refusal counts
                pass
            finally:
                plt.close("all")
    return refusals
