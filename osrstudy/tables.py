"""Tables: one pure function each (merged root dataset in, tidy DataFrame out), in a registry.

Each table is written as CSV (tidy, full precision) and Markdown (formatted for reading).

    python -m osrstudy.tables NAME --store results/demo/study.zarr --out NAME.csv NAME.md
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import xarray as xr

from osrstudy.registry import Registry
from osrstudy.render_cli import render_main, write_table

TABLES = Registry("table")


@TABLES.register("accuracy_auroc")
def accuracy_auroc(root: xr.Dataset, scorer: str = "loss", eval_set: str = "held_out") -> pd.DataFrame:
    """Jacobian-norm paper, Table 1 style: closed-set accuracy and AUROC (%) per dataset and loss,
    mean and std over splits and seeds, unknown detection by the sample-wise loss score."""
    results = root.results.sel(scorer=scorer, eval_set=eval_set, metric=["accuracy", "auroc"]) * 100
    frame = results.to_dataframe(name="value").reset_index()  # factor coordinates come along
    table = (
        frame.groupby(["dataset", "backbone", "loss", "metric"])["value"]
        .agg(mean="mean", std="std", n="count")
        .reset_index()
    )
    table["std"] = table["std"].fillna(0.0)  # a single split has no spread
    return table


def markdown(table: pd.DataFrame) -> str:
    """Rows: backbone + loss; columns: dataset x metric, as mean ± std."""
    cells = table.assign(cell=table["mean"].map("{:.1f}".format) + " ± " + table["std"].map("{:.1f}".format))
    wide = cells.set_index(["backbone", "loss", "dataset", "metric"])["cell"].unstack(["dataset", "metric"])
    wide.columns = [f"{dataset} {metric.upper()}" for dataset, metric in wide.columns]
    n = int(table["n"].max())
    note = f"mean ± sample std (ddof 1) over {n} splits and seeds, in %."
    return wide.reset_index().to_markdown(index=False) + f"\n\n{note}\n"


def render(name: str, store: str | Path, outputs: list[str]) -> None:
    from osrstudy.merge import open_study

    root = open_study(store).to_dataset(inherit=False)
    table = TABLES[name](root)
    write_table(table, TABLES[name].__doc__, markdown(table), outputs)


def main(argv: list[str] | None = None) -> None:
    render_main("osrstudy.tables", TABLES, render, ".csv, .md", argv)


if __name__ == "__main__":
    main()
