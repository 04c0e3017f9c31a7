"""Figures: one pure function each (merged study in, matplotlib figure out), in a registry.

    python -m osrstudy.figures NAME --store results/demo/study.zarr --out NAME.pdf NAME.png
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # rules run headless
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import xarray as xr  # noqa: E402

from osrstudy.registry import Registry  # noqa: E402
from osrstudy.render_cli import render_main  # noqa: E402

FIGURES = Registry("figure")


def per_sample_frame(study: xr.DataTree, variables: dict[str, str], partition: str = "test") -> pd.DataFrame:
    """Long table of per-sample variables of every run, with the run's factors as columns."""
    root = study.to_dataset(inherit=False)
    factor_names = [c for c in root.coords if root[c].dims == ("run",) and c != "run"]
    frames = []
    for run_id in root.run.values:
        ds = study["runs"][str(run_id)].to_dataset(inherit=False)
        ds = ds.where(ds.partition == partition, drop=True)
        frame = pd.DataFrame({label: ds[var].values for var, label in variables.items()})
        frame["unknown"] = ds.label.values < 0
        frame["run"] = str(run_id)
        for name in factor_names:
            frame[name] = root[name].sel(run=run_id).item()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@FIGURES.register("jacobian_norms")
def jacobian_norms(study: xr.DataTree) -> plt.Figure:
    """Jacobian-norm paper, Figure 3: distribution of ||df/dx||_F, known vs unknown test samples,
    before vs after training, one column per dataset and loss (splits pooled)."""
    frame = per_sample_frame(study, {"jacobian_norm_init": "before training", "jacobian_norm": "after training"})
    long = frame.melt(
        id_vars=["dataset", "loss", "unknown", "run"],
        value_vars=["before training", "after training"],
        var_name="stage",
        value_name="jacobian norm",
    )
    # log10 on a linear axis: readable ticks even when a panel spans less than a decade
    long["log10 Jacobian norm"] = np.log10(long["jacobian norm"])
    long["samples"] = np.where(long.unknown, "unknown", "known")
    panels = sorted(long.groupby(["dataset", "loss"]).groups)
    stages = ["before training", "after training"]
    fig, axes = plt.subplots(len(stages), len(panels), figsize=(3.2 * len(panels), 5.2), squeeze=False)
    for col, (dataset, loss) in enumerate(panels):
        for row, stage in enumerate(stages):
            ax = axes[row, col]
            data = long[(long.dataset == dataset) & (long.loss == loss) & (long.stage == stage)]
            sns.histplot(
                data, x="log10 Jacobian norm", hue="samples", hue_order=["known", "unknown"], stat="density",
                common_norm=False, element="step", bins=30, ax=ax, legend=(row, col) == (0, 0),
            )
            ax.set_title(f"{dataset} / {loss}, {stage}", fontsize=9)
            ax.locator_params(axis="x", nbins=4)
    fig.suptitle(
        "Jacobian norm of the representation, known vs unknown test samples, splits pooled\n"
        "(regenerates Fig. 3 of the Jacobian-norm paper)", fontsize=10,
    )
    fig.tight_layout()
    return fig


def render(name: str, store: str | Path, outputs: list[str]) -> None:
    from osrstudy.merge import open_study

    figure = FIGURES[name](open_study(store))
    for out in outputs:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(out, bbox_inches="tight", dpi=150, metadata={"Title": FIGURES[name].__doc__.split(":")[0]})
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    render_main("osrstudy.figures", FIGURES, render, ".pdf, .png", argv)


if __name__ == "__main__":
    main()
