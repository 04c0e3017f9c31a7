"""Tables: one pure function each (merged root dataset in, DataFrame out), in a registry.

Where a paper prints numbers, the table puts ours (mean ± sample std over splits and seeds) beside
the paper's and their difference; the paper's numbers come from osrstudy/papers/*.yaml, where a
number lost in the text extraction is `lost` (shown as "lost", never guessed) and one the paper
does not report is null (shown as "-"). Each table is written as CSV (full precision), Markdown
and LaTeX.

    python -m osrstudy.tables NAME --store results/demo/study.zarr --out NAME.csv NAME.md NAME.tex
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
import yaml

from osrstudy import synthetic  # noqa: F401  (registers the synthetic tables)
from osrstudy.readers import TABLES, Selection, produce, table
from osrstudy.render_cli import render_main, write_table
from osrstudy.study_frames import (
    REPLICATE_FACTORS,
    NoRuns,
    check_replicates,
    factor_frame,
    final,
    main_backbone,
    own_score,
    plain,
    summary_frame,
)

LOST = "lost"  # how the paper files mark a number the text extraction lost
GEOMETRY = ["sce", "simplex", "harmonic", "learned"]


def paper(name: str) -> dict:
    return yaml.safe_load(resources.files("osrstudy.papers").joinpath(f"{name}.yaml").read_text())


def number(value) -> float:
    """A paper cell as a float: NaN for lost and for not reported (the note column says which)."""
    return np.nan if value is None or value == LOST else float(value)


def note(value) -> str:
    return "lost in extraction" if value == LOST else "not reported" if value is None else ""


def sample_std(values: pd.Series) -> float:
    """The sample std; NaN for fewer than two values, where a spread is unknown rather than zero."""
    return float(values.std(ddof=1)) if len(values) > 1 else np.nan


def mean_std(values: pd.Series) -> tuple[float, float, int]:
    values = values.dropna()
    return float(values.mean()) if len(values) else np.nan, sample_std(values), len(values)


def mean_std_cell(mean: float, std: float) -> str:
    """'mean ± std' for Markdown and LaTeX; the mean alone where one run gives no spread."""
    if not np.isfinite(mean):
        return "-"
    return f"{mean:.2f} ± {std:.2f}" if np.isfinite(std) else f"{mean:.2f}"


def lost_fields(theirs: dict, fields: tuple[str, ...]) -> str:
    """The paper cells of a row that the extraction lost (readable() shows them as 'lost')."""
    return ", ".join(f"paper_{f}" for f in fields if theirs.get(f) == LOST)


def beside(ours: pd.Series, paper_value, **keys) -> dict:
    """One comparison row: ours as mean / std / n, the paper's number, the difference."""
    mean, std, n = mean_std(ours)
    theirs = number(paper_value)
    return {**keys, "ours_mean": mean, "ours_std": std, "n": n, "paper": theirs, "difference": mean - theirs,
            "paper_note": note(paper_value)}


@table("jn_table1_protocol_a", reads=("protocol_a*",))
def protocol_a(study: Selection) -> pd.DataFrame:
    """Jacobian-norm paper, Table 1 (Protocol A): closed-set accuracy and AUROC (%) per method,
    backbone and dataset, ours beside the paper's; each method detects by its own score."""
    root = study.root
    spec = paper("jacobian_norm_table1")
    in_study = set(factor_frame(root, study.runs()).dataset)
    rows = []
    for row in spec["rows"]:
        ours = row.get("ours")
        if ours is None or not in_study & set(spec["datasets"]):
            continue
        runs = study.runs(*ours["blocks"]) & (root.loss == ours["loss"]).values
        backbones = {ours["backbone"], "resnet18_64" if ours["backbone"] == "resnet18" else ours["backbone"]}
        runs &= np.isin(root.backbone.values, list(backbones))
        check_replicates(root, runs, ["dataset"], f"jn_table1_protocol_a's row {row['method']} ({row['arch']})")
        frame = summary_frame(root, runs, scorer=own_score(root)) if runs.any() else pd.DataFrame(columns=["dataset"])
        for dataset, values in zip(spec["datasets"], row["paper"]):
            if dataset not in in_study:
                continue
            for metric, value in zip(spec["metrics"], values):
                mine = frame.loc[frame.dataset == dataset, metric] if metric in frame else pd.Series(dtype=float)
                rows.append(beside(mine, value, method=row["method"], arch=row["arch"], dataset=dataset, metric=metric))
    # datasets of this study the paper does not have (digits, Fashion-MNIST): ours alone
    known = set(spec["datasets"])
    others = study.runs() & ~np.isin(root.dataset.values, list(known))
    check_replicates(root, others, ["dataset", "loss", "backbone"], "jn_table1_protocol_a")
    frame = summary_frame(root, study.runs(), scorer=own_score(root))
    for (dataset, loss, backbone), group in frame[~frame.dataset.isin(known)].groupby(["dataset", "loss", "backbone"]):
        for metric in spec["metrics"]:
            rows.append(beside(group[metric], None, method=loss, arch=backbone, dataset=dataset, metric=metric))
    return pd.DataFrame(rows)


@table("jn_table2_protocol_b", reads=("protocol_b*",))
def protocol_b(study: Selection) -> pd.DataFrame:
    """Jacobian-norm paper, Table 2 (Protocol B): macro-F1 (%) of the K + 1-way decision at the
    threshold rejecting 10 % of validation, per out-of-distribution set, ours beside the paper's."""
    root = study.root
    spec = paper("jacobian_norm_table2")
    runs = study.runs()
    eval_sets = [str(e) for e in root.eval_set.values if e != "held_out"]
    rows, shown = [], set()
    for row in spec["rows"]:
        ours = row.get("ours")
        if ours is None:
            continue
        # a study without the paper's backbone (a toy one) shows its main backbone, once per cell
        has_paper_backbone = (root.backbone == ours["backbone"]).values[runs].any()
        backbone = ours["backbone"] if has_paper_backbone else main_backbone(root, runs)
        if (ours["block"], ours["loss"], backbone) in shown:
            continue
        shown.add((ours["block"], ours["loss"], backbone))
        mine = study.runs(ours["block"]) & (root.loss == ours["loss"]).values
        mine &= (root.backbone == backbone).values
        check_replicates(root, mine, ["dataset"], f"jn_table2_protocol_b's row {row['method']} ({row['arch']})")
        sets = {name: value for name, value in zip(spec["eval_sets"], row["paper"])}
        per_set = {e: summary_frame(root, mine, scorer=own_score(root), eval_set=e)["macro_f1"] for e in eval_sets}
        for e in eval_sets:
            rows.append(beside(per_set[e], sets.get(e), method=row["method"], arch=row["arch"], backbone=backbone,
                               eval_set=e))
        average = pd.concat(per_set, axis=1).mean(axis=1) if per_set else pd.Series(dtype=float)
        rows.append(beside(average, sets["average"] if set(spec["eval_sets"][:4]) <= set(eval_sets) else None,
                           method=row["method"], arch=row["arch"], backbone=backbone, eval_set="average"))
    return pd.DataFrame(rows)


@table("jn_table3_ablation", reads=("table3_*",))
def ablation(study: Selection) -> pd.DataFrame:
    """Jacobian-norm paper, Table 3 (ablation of N, m, W, A, S; SCE without m-OvR): AUROC,
    accuracy and DetACC (%) per row and dataset, ours beside the paper's; `status` says whether
    the row's switches are certain or reconstructed. The score is the sample-wise loss at the
    predicted label without the margin (`loss`): eq. 5 defines s_k as the plain cosine and eq. 6
    adds the margin "during the training" only, while Sec. 5.3 scores with "the sample-wise loss
    function"; the margin reading (`loss_margin`) is in jn_table3_readings, beside it."""
    root = study.root
    spec = paper("jacobian_norm_table3")
    rows = []
    for name, row in spec["rows"].items():
        runs = study.runs(f"table3_{name}")
        check_replicates(root, runs, ["dataset"], f"jn_table3_ablation's row {name}")
        frame = summary_frame(root, runs, scorer="loss")
        datasets = sorted(set(frame.dataset))
        paper_values = dict(zip(spec["datasets"], row["paper"]))
        unreliable = "; its paper numbers repeat row j's: unreliable" if row.get("paper_unreliable") else ""
        status = row["status"] + unreliable
        for dataset in [*datasets, "average"]:
            mine = frame if dataset == "average" else frame[frame.dataset == dataset]
            for metric, value in zip(spec["metrics"], paper_values.get(dataset, [None] * len(spec["metrics"]))):
                if dataset == "average" and set(datasets) != set(spec["datasets"][:-1]):
                    value = None  # the paper's average is over its five datasets
                rows.append(beside(mine[metric], value, row=name, status=status, dataset=dataset, metric=metric))
    return pd.DataFrame(rows)


# Table 3's rows under each reading of "the model's own score", side by side (column: (scorer, metric))
READINGS = {"auroc_loss": ("loss", "auroc"), "auroc_loss_margin": ("loss_margin", "auroc"),
            "auroc_maxlogit": ("maxlogit", "auroc"), "auroc_jacobian": ("jacobian", "auroc"),
            "accuracy": ("loss", "accuracy"), "detacc_loss": ("loss", "detacc")}


def mean_std_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """For Markdown and LaTeX: each <name>_mean / <name>_std pair as one 'mean ± std' cell."""
    out = frame.copy()
    for column in [c for c in frame.columns if c.endswith("_mean")]:
        name = column.removesuffix("_mean")
        cells = [mean_std_cell(m, s) for m, s in zip(frame[column], frame[f"{name}_std"])]
        out = out.drop(columns=[column, f"{name}_std"]).assign(**{name: cells})
    return out


def reading_values(study: Selection, runs: np.ndarray) -> pd.DataFrame:
    """One row per run: its dataset, each reading (%; NaN where the study lacks the scorer) and
    the final Jacobian-norm gap of the validation probe."""
    root = study.root
    frame = factor_frame(root, runs)[["dataset"]]
    results = root.results.sel(eval_set="held_out").isel(run=np.flatnonzero(runs))
    for column, (scorer, metric) in READINGS.items():
        have = scorer in results.scorer.values and metric in results.metric.values
        frame[column] = results.sel(scorer=scorer, metric=metric).values * 100 if have else np.nan
    frame["jacobian_gap"] = final(root, runs, "jacobian_gap")
    return frame


@table("jn_table3_readings", reads=("table3_*",), display=mean_std_cells)
def readings(study: Selection) -> pd.DataFrame:
    """Beyond the paper: Table 3's rows under each reading of the model's own score, side by
    side: AUROC (%) of the sample-wise loss without the margin (`loss`) and with it
    (`loss_margin`, eq. 5-6 as written), of MaxLogit and of the Jacobian norm, accuracy, DetACC
    of the loss score, and the final validation Jacobian-norm gap (unknown - known); mean ± sample
    std over splits and seeds. The Jacobian-norm AUROC is measured on the test samples that have a
    final norm: all of them, or the fixed-seed subsample of `evaluation.jacobian_after` where the
    study sets one (each run store's `jacobian_after_samples`; about 1 point of AUROC at 1000)."""
    spec = paper("jacobian_norm_table3")
    rows = []
    for name, row in spec["rows"].items():
        runs = study.runs(f"table3_{name}")
        if not runs.any():
            continue
        check_replicates(study.root, runs, ["dataset"], f"jn_table3_readings' row {name}")
        for dataset, group in reading_values(study, runs).groupby("dataset"):
            rows.append({"row": name, "status": row["status"], "dataset": dataset, "n": len(group),
                         **reading_cells(group)})
    if not rows:
        raise NoRuns("no run of a Table 3 row")
    return pd.DataFrame(rows)


def reading_cells(group: pd.DataFrame) -> dict:
    """Each reading's mean and sample std over a group of replicate runs (NaNs left out)."""
    cells = {}
    for column in [*READINGS, "jacobian_gap"]:
        cells[f"{column}_mean"], cells[f"{column}_std"], _ = mean_std(group[column])
    return cells


UNSET = ("", "nan")  # a factor a run's loss does not have, as text


@table("block_summary", reads=("*",), display=mean_std_cells, averages=False)
def block_summary(study: Selection) -> pd.DataFrame:
    """Beyond both papers: every block of the study at a glance, one row per dataset and setting
    the block varies (its losses, a scanned option, its backbones): AUROC (%) of the sample-wise
    loss without and with the margin, of MaxLogit and of the Jacobian norm, accuracy, DetACC of
    the loss score and the final validation Jacobian-norm gap (unknown - known), as in
    jn_table3_readings; mean ± sample std over splits and seeds (n runs)."""
    root = study.root
    rows = []
    for block in plain(root.block.values):
        runs = study.runs(block)
        if not runs.any():
            continue
        settings = factor_frame(root, runs).drop(columns=[*REPLICATE_FACTORS, "dataset"], errors="ignore").map(str)
        varying = [c for c in settings.columns if settings[c].nunique() > 1]
        # named: factors with two values that are set (compactness 0.01 beside CE's unset one is the loss's own)
        named = [c for c in varying if settings[c][~settings[c].isin(UNSET)].nunique() > 1]
        frame = reading_values(study, runs).join(settings[varying])
        for key, group in frame.groupby(["dataset", *varying], sort=False):
            setting = ", ".join(f"{factor} {value}" for factor, value in zip(varying, key[1:])
                                if factor in named and value not in UNSET)
            rows.append({"block": block, "dataset": key[0], "setting": setting or "-", "n": len(group),
                         **reading_cells(group)})
    return pd.DataFrame(rows)


def geometry_runs(study: Selection) -> np.ndarray:
    return study.runs() & np.isin(study.root.loss.values, GEOMETRY)


@table("geo_table3_geometry", reads=("geometry*",))
def geometry(study: Selection) -> pd.DataFrame:
    """Balanced-geometry paper, Table 3: prototype geometry (barycentre norm, CV of radii, CV of
    pairwise distances, tangent-ball threshold tau*) per dataset and representation, mean over
    splits, ours beside the paper's (CE: class means of the training embeddings)."""
    root = study.root
    spec = paper("geometry_tables")["table3"]
    expected = {(r["dataset"], r["loss"]): r["paper"] for r in spec["rows"]}
    runs = geometry_runs(study)
    check_replicates(root, runs, ["dataset", "loss"], "geo_table3_geometry")
    frame = factor_frame(root, runs)[["dataset", "loss"]]
    for diagnostic in spec["diagnostics"]:
        frame[diagnostic] = root.geometry.sel(diagnostic=diagnostic).values[runs]
    rows = []
    for (dataset, loss), group in frame.groupby(["dataset", "loss"], sort=True):
        values = expected.get((dataset, loss), [None] * len(spec["diagnostics"]))
        for diagnostic, value in zip(spec["diagnostics"], values):
            rows.append(beside(group[diagnostic], value, dataset=dataset, representation=loss, diagnostic=diagnostic))
    return pd.DataFrame(rows)


def scorer_means(root: xr.Dataset, runs: np.ndarray, what: str, metric: str = "auroc") -> pd.DataFrame:
    """Mean and std over splits of one metric (%), per dataset, loss and scorer (for the table `what`)."""
    check_replicates(root, runs, ["dataset", "loss"], what)
    results = root.results.sel(eval_set="held_out", metric=metric).isel(run=np.flatnonzero(runs)) * 100
    frame = results.to_dataframe(name="value").reset_index()[["run", "scorer", "value"]]
    frame[["run", "scorer"]] = frame[["run", "scorer"]].astype(str)
    info = factor_frame(root, runs).set_index("run")
    frame["dataset"], frame["loss"] = frame.run.map(info.dataset), frame.run.map(info.loss)
    return (frame.groupby(["dataset", "loss", "scorer"])["value"]
            .agg(mean="mean", std=sample_std, n="count").reset_index())


def accuracy_means(root: xr.Dataset, runs: np.ndarray) -> pd.Series:
    frame = summary_frame(root, runs, scorer=str(root.scorer.values[0]))  # accuracy: the same for every scorer
    return frame.groupby(["dataset", "loss"])["accuracy"].mean()


@table("geo_table4_best_scorer", reads=("geometry*",))
def best_scorer(study: Selection) -> pd.DataFrame:
    """Balanced-geometry paper, Table 4 (given there for CIFAR-100 only): the best scorer per
    representation and its AUROC, with closed-set accuracy (%), ours for every dataset of the
    study beside the paper's (where it reports them)."""
    root = study.root
    spec = {(r["dataset"], r["loss"]): r for r in paper("geometry_tables")["table4"]["rows"]}
    runs = geometry_runs(study)
    means, accuracy = scorer_means(root, runs, "geo_table4_best_scorer"), accuracy_means(root, runs)
    rows = []
    for (dataset, loss), group in means.groupby(["dataset", "loss"]):
        best = group.loc[group["mean"].idxmax()]
        theirs = spec.get((dataset, loss), {})
        rows.append({"dataset": dataset, "representation": loss, "best_scorer": best.scorer,
                     "auroc_mean": best["mean"], "auroc_std": best["std"], "accuracy": accuracy[(dataset, loss)],
                     "paper_scorer": theirs.get("scorer", ""), "paper_auroc": number(theirs.get("auroc")),
                     "paper_accuracy": number(theirs.get("accuracy")),
                     "difference": best["mean"] - number(theirs.get("auroc")),
                     "accuracy_difference": accuracy[(dataset, loss)] - number(theirs.get("accuracy")),
                     "paper_lost": lost_fields(theirs, ("auroc", "accuracy"))})
    return pd.DataFrame(rows)


@table("geo_table5_ce_vs_prototypes", reads=("geometry*",))
def ce_vs_prototypes(study: Selection) -> pd.DataFrame:
    """Balanced-geometry paper, Table 5: per dataset, the best CE scorer against the best
    prototype representation and scorer (AUROC %), ours beside the paper's (most of its numbers
    were lost in extraction)."""
    root = study.root
    spec = {r["dataset"]: r for r in paper("geometry_tables")["table5"]["rows"]}
    means = scorer_means(root, geometry_runs(study), "geo_table5_ce_vs_prototypes")
    rows = []
    for dataset, group in means.groupby("dataset"):
        ce, protos = group[group.loss == "sce"], group[group.loss != "sce"]
        best_ce = ce.loc[ce["mean"].idxmax()] if len(ce) else pd.Series({"scorer": "", "mean": np.nan})
        best_proto = (protos.loc[protos["mean"].idxmax()] if len(protos)
                      else pd.Series({"loss": "", "scorer": "", "mean": np.nan}))
        theirs = spec.get(dataset, {})
        rows.append({
            "dataset": dataset,
            "ce_scorer": best_ce.scorer, "ce_auroc": best_ce["mean"],
            "proto": f"{best_proto.loss}+{best_proto.scorer}" if len(protos) else "",
            "proto_auroc": best_proto["mean"],
            "paper_ce_scorer": str(theirs.get("ce_scorer", "")), "paper_ce_auroc": number(theirs.get("ce_auroc")),
            "ce_difference": best_ce["mean"] - number(theirs.get("ce_auroc")),
            "paper_proto": f"{theirs['proto_loss']}+{theirs['proto_scorer']}" if theirs else "",
            "paper_proto_auroc": number(theirs.get("proto_auroc")),
            "proto_difference": best_proto["mean"] - number(theirs.get("proto_auroc")),
            "paper_lost": lost_fields(theirs, ("ce_auroc", "proto_auroc")),
        })
    return pd.DataFrame(rows)


@table("geo_table6_ratio_gap", reads=("geometry*",))
def ratio_gap(study: Selection) -> pd.DataFrame:
    """Balanced-geometry paper, Table 6: on learned-prototype embeddings, the best post-hoc scorer
    against the ratio scores R and R2 (AUROC %) and the gap, ours beside the paper's."""
    root = study.root
    spec = {r["dataset"]: r for r in paper("geometry_tables")["table6"]["rows"]}
    means = scorer_means(root, geometry_runs(study) & (root.loss == "learned").values, "geo_table6_ratio_gap")
    rows = []
    for dataset, group in means.groupby("dataset"):
        by = group.set_index("scorer")["mean"]
        posthoc = by.drop([s for s in ("ratio", "ratio_sq", "native", "loss") if s in by.index])
        best = posthoc.idxmax()
        ratio = max(by.get("ratio", np.nan), by.get("ratio_sq", np.nan))
        theirs = spec.get(dataset, {})
        rows.append({"dataset": dataset, "best_scorer": best, "best_auroc": posthoc[best],
                     "ratio_auroc": ratio, "gap": posthoc[best] - ratio,
                     "paper_best_scorer": str(theirs.get("best_scorer", "")),
                     "paper_best_auroc": number(theirs.get("best_auroc")),
                     "paper_ratio_auroc": number(theirs.get("ratio_auroc")), "paper_gap": number(theirs.get("gap")),
                     "best_difference": posthoc[best] - number(theirs.get("best_auroc")),
                     "ratio_difference": ratio - number(theirs.get("ratio_auroc")),
                     "paper_lost": lost_fields(theirs, ("best_auroc", "ratio_auroc", "gap"))})
    return pd.DataFrame(rows)


@table("scorer_grid", reads=("protocol_a*", "geometry*"))
def scorer_grid(study: Selection) -> pd.DataFrame:
    """Beyond both papers: AUROC (%) of every loss under every scorer, Protocol A (main backbone)
    and the geometry study, mean ± std over splits: which detector suits which representation."""
    root = study.root
    frames = []
    for pattern in study.reads:
        runs = study.runs(pattern)
        if not runs.any():
            continue
        if pattern == "protocol_a*":
            runs &= (root.backbone == main_backbone(root, runs)).values
        frames.append(scorer_means(root, runs, f"scorer_grid ({pattern})").assign(study_part=pattern.rstrip("*")))
    return pd.concat(frames, ignore_index=True)[["study_part", "dataset", "loss", "scorer", "mean", "std", "n"]]


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """For Markdown and LaTeX: mean ± std in one cell, numbers to 2-3 digits, missing paper
    numbers as 'lost' or '-' (per the paper_note / paper_lost columns), other missing numbers as '-'."""
    out = frame.copy()
    if {"ours_mean", "ours_std"} <= set(out):
        out.insert(out.columns.get_loc("ours_mean"), "ours",
                   [mean_std_cell(m, s) for m, s in zip(out.ours_mean, out.ours_std)])
        out = out.drop(columns=["ours_mean", "ours_std"])
    if "paper_note" in out:
        out["paper"] = [("lost" if n == "lost in extraction" else "-") if not np.isfinite(p) else f"{p:.3g}"
                        for p, n in zip(out.paper, out.paper_note)]
        out = out.drop(columns=["paper_note"])
    lost = [set(cells.split(", ")) for cells in out.pop("paper_lost")] if "paper_lost" in out else None
    for column in out.columns:
        if out[column].dtype.kind == "f":
            out[column] = [f"{v:.2f}" if np.isfinite(v) else "lost" if lost and column in lost[i] else "-"
                           for i, v in enumerate(out[column])]
    return out


def render(name: str, store: str | Path | None, outputs: list[str]) -> None:
    fn = TABLES[name]
    try:
        frame = produce(fn, store)
    except NoRuns as missing:  # the study has the blocks but not what this table compares
        frame = pd.DataFrame({"note": [f"nothing to tabulate in this study: {missing}"]})
    write_table(frame, fn.__doc__, (fn.display or readable)(frame), outputs)


def main(argv: list[str] | None = None) -> None:
    render_main("osrstudy.tables", TABLES, render, ".csv, .md, .tex", argv)


if __name__ == "__main__":
    main()
