"""Views of the merged study that figures and tables share: which runs a block holds, and long
DataFrames of results, histories and per-sample arrays with each run's factors as columns."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from osrstudy.merged_store import check_merged, read_manifest, verify_root, verify_run_group


@dataclass(frozen=True)
class StudyView:
    """What figures read: the merged root dataset, and each run's per-sample group on demand.
    Opening only the groups a figure draws keeps a 1000-run study fast (opening the whole
    DataTree reads every group's metadata first)."""

    root: xr.Dataset
    path: Path
    recorded: dict[str, dict]  # the store's manifest, read once: run id ("" for the root) -> its files

    @classmethod
    def open(cls, path: str | Path) -> "StudyView":
        path = check_merged(path)
        recorded = manifest_by_run(read_manifest(path))
        verify_root(path, recorded.get("", {}))
        return cls(xr.open_zarr(path, consolidated=True).load(), path, recorded)

    def run(self, run_id: str) -> xr.Dataset:
        """A run's per-sample arrays, checksums verified before anything is read."""
        verify_run_group(self.path, run_id, self.recorded.get(run_id, {}))
        return xr.open_zarr(self.path, group=f"runs/{run_id}", consolidated=False)


def manifest_by_run(recorded: dict[str, list]) -> dict[str, dict]:
    """A merged store's manifest split by run group (key "" for the root's own files)."""
    groups: dict[str, dict] = {}
    for name, entry in recorded.items():
        parts = name.split("/", 2)
        key = parts[1] if parts[0] == "runs" and len(parts) == 3 else ""
        groups.setdefault(key, {})[name] = entry
    return groups


PREFERRED_BACKBONES = ("wrn16_4", "lenet", "small_cnn")  # the papers' main backbone, then the toy ones


def main_backbone(root: xr.Dataset, runs: np.ndarray) -> str:
    """The backbone a figure shows when the runs have several: the papers' WRN-16-4 if present,
    else the most common one."""
    counts = Counter(plain(root.backbone.values[runs]))
    for name in PREFERRED_BACKBONES:
        if name in counts:
            return name
    return counts.most_common(1)[0][0] if counts else ""


def readable_factor(blocks: str, prefix: str) -> str:
    """A run's block list as the names after `prefix` ('protocol_a,table3_g' -> 'g')."""
    names = [b[len(prefix):] for b in str(blocks).split(",") if b.startswith(prefix)]
    return "/".join(names) or str(blocks)


def factors(root: xr.Dataset) -> list[str]:
    return [c for c in root.coords if root[c].dims == ("run",) and c != "run"]


def plain(values: np.ndarray) -> np.ndarray:
    """Strings as Python objects: zarr 3 reads them as numpy's StringDType, which pandas and
    fixed-width casts do not take."""
    return np.array([str(v) for v in values], dtype=object) if values.dtype.kind in "TUO" else values


class NoRuns(LookupError):
    """A figure or table found no run of what it shows (its blocks exist, its models do not)."""


class MixedSettings(ValueError):
    """A table would average runs that are not replicates of one setting."""


REPLICATE_FACTORS = ("run", "split", "seed", "blocks")  # what may differ among the runs one number averages


def check_replicates(root: xr.Dataset, runs: np.ndarray, by: list[str], what: str) -> None:
    """Refuse to average runs that differ in more than split and seed within a group of the
    factors `by`. A table reads blocks by pattern, so a block added to a study (a scan of a loss
    option, a second backbone) could otherwise slip into another row's mean unnoticed."""
    frame = factor_frame(root, runs).map(str)  # NaN as "nan": a factor set for one run and not another differs
    settings = [c for c in frame.columns if c not in (*REPLICATE_FACTORS, *by)]
    for key, group in (frame.groupby(by, sort=True) if by else [((), frame)]):
        differing = {f: sorted(set(group[f])) for f in settings if group[f].nunique() > 1}
        if differing:
            raise MixedSettings(mixed_settings_message(group, differing, dict(zip(by, np.atleast_1d(key))), what))


def mixed_settings_message(group: pd.DataFrame, differing: dict[str, list], where: dict, what: str) -> str:
    blocks = sorted({b for names in group.get("blocks", pd.Series(dtype=str)) for b in names.split(",")})
    place = "".join(f" {k} {v}," for k, v in where.items())
    settings = "; ".join(f"{factor}: {', '.join(values)}" for factor, values in differing.items())
    return (f"{what} would average, for{place or ' all its runs,'} runs of different settings ({settings}) "
            f"from blocks {', '.join(blocks)} (e.g. runs {', '.join(group.run.head(3))}). Its numbers must come "
            f"from replicates (splits, seeds) of one setting: give the other setting a block name this table "
            f"does not read, or take it out of the study")


def factor_frame(root: xr.Dataset, runs: np.ndarray) -> pd.DataFrame:
    """One row per selected run, its factors as columns (and `run`)."""
    frame = pd.DataFrame({name: plain(root[name].values[runs]) for name in factors(root)})
    frame.insert(0, "run", plain(root.run.values[runs]))
    return frame


def own_score(root: xr.Dataset) -> str:
    """Each method's own detection score: `native` where the study computed it, else `loss`."""
    return "native" if "native" in root.scorer.values else "loss"


def summary_frame(root: xr.Dataset, runs: np.ndarray, scorer: str, eval_set: str = "held_out") -> pd.DataFrame:
    """One row per run: factors and every metric of one scorer on one eval set, AUROC etc. in %."""
    if scorer not in root.scorer.values:
        raise NoRuns(f"this study did not compute the scorer {scorer!r}: add it to evaluation.scorers")
    frame = factor_frame(root, runs)
    results = root.results.sel(scorer=scorer, eval_set=eval_set).isel(run=np.flatnonzero(runs))
    for metric in results.metric.values:
        frame[str(metric)] = results.sel(metric=metric).values * 100
    return frame


def final(root: xr.Dataset, runs: np.ndarray, quantity: str) -> np.ndarray:
    """A history quantity at each run's last checkpoint."""
    history = root.history.sel(quantity=quantity).isel(run=np.flatnonzero(runs))
    return np.array([row[np.isfinite(row)][-1] if np.isfinite(row).any() else np.nan for row in history.values])


def history_frame(root: xr.Dataset, runs: np.ndarray) -> pd.DataFrame:
    """One row per run and checkpoint: the history quantities, the run's factors, and `model`
    (its Table 3 row where it has one) and `jacobian_unknown` (known + gap)."""
    if not runs.any():
        raise NoRuns("no run with a training history among the runs this figure shows")
    rows = []
    info = factor_frame(root, runs)
    history = root.history.isel(run=np.flatnonzero(runs))
    quantities = [str(q) for q in history.quantity.values]
    for (_, run), values in zip(info.iterrows(), history.values):
        table = pd.DataFrame(values, columns=quantities)
        table["epoch"] = root.step.values
        table = table.dropna(subset=["epoch"]).dropna(how="all", subset=quantities)
        rows.append(table.assign(**run.to_dict()))
    frame = pd.concat(rows, ignore_index=True)
    frame["model"] = [readable_factor(b, "table3_") for b in frame.blocks]
    if {"jacobian_known", "jacobian_gap"} <= set(frame):
        frame["jacobian_unknown"] = frame.jacobian_known + frame.jacobian_gap
    return frame


def per_sample_frame(study: StudyView, runs: np.ndarray, variables: dict[str, str],
                     partition: str = "test") -> pd.DataFrame:
    """Long table of per-sample variables of the selected runs, with the runs' factors as columns."""
    root = study.root
    if not runs.any():
        raise NoRuns(f"no run with per-sample {', '.join(variables)} among the runs this figure shows")
    frames = []
    for _, run in factor_frame(root, runs).iterrows():
        ds = study.run(run.run)
        ds = ds.where(ds.partition == partition, drop=True)
        frame = pd.DataFrame({label: ds[var].values for var, label in variables.items()})
        frame["unknown"] = ds.label.values < 0
        frames.append(frame.assign(**run.to_dict()))
    return pd.concat(frames, ignore_index=True)
