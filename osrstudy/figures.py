"""Figures: one pure function each (the selected runs in, matplotlib figure out), in a registry.

Each figure declares the study blocks it reads (exact names or fnmatch patterns, see
osrstudy.readers); the `figures` rule renders the figures whose blocks the study has, and every
figure that reads none (the theory's synthetic experiments, osrstudy.synthetic). Block names are
those of config/study.yaml.

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

from osrstudy import synthetic  # noqa: E402, F401  (registers the synthetic figures)
from osrstudy.metrics import rank_correlation  # noqa: E402
from osrstudy.readers import FIGURES, Selection, figure, produce  # noqa: E402
from osrstudy.render_cli import render_main, save  # noqa: E402
from osrstudy.study_frames import (  # noqa: E402
    NoRuns,
    check_replicates,
    factor_frame,
    final,
    history_frame,
    main_backbone,
    per_sample_frame,
    plain,
    readable_factor,
    summary_frame,
)

DYNAMICS = {"dbi": "DBI (intra / inter)", "inter_class_distance": "mean inter-class distance",
            "jacobian_gap": "Jacobian-norm gap (unknown - known)", "val_auroc": "AUROC (validation)",
            "jacobian_unknown": "Jacobian norm of unknowns"}


def titled(fig: plt.Figure, text: str) -> plt.Figure:
    fig.suptitle(text, fontsize=10)
    fig.tight_layout()
    return fig


def jacobian_histograms(study: Selection, runs: np.ndarray, title: str, what: str) -> plt.Figure:
    """Histograms of log10 ||df/dx||_F, known vs unknown test samples, before vs after training,
    one column per dataset and loss (splits pooled)."""
    check_replicates(study.root, runs, ["dataset", "loss"], what)
    frame = per_sample_frame(study, runs, {"jacobian_norm_init": "before training", "jacobian_norm": "after training"})
    long = frame.melt(id_vars=["dataset", "loss", "unknown", "run"], value_vars=["before training", "after training"],
                      var_name="stage", value_name="jacobian norm")
    long = long.dropna(subset=["jacobian norm"])  # evaluation.jacobian_before: norms of a subsample
    # log10 on a linear axis: readable ticks even when a panel spans less than a decade
    long["log10 Jacobian norm"] = np.log10(long["jacobian norm"])
    long["samples"] = np.where(long.unknown, "unknown", "known")
    panels = sorted(long.groupby(["dataset", "loss"]).groups)
    stages = ["before training", "after training"]
    fig, axes = plt.subplots(2, len(panels), figsize=(3.2 * len(panels), 5.2), squeeze=False)
    for col, (dataset, loss) in enumerate(panels):
        for row, stage in enumerate(stages):
            ax = axes[row, col]
            data = long[(long.dataset == dataset) & (long.loss == loss) & (long.stage == stage)]
            sns.histplot(data, x="log10 Jacobian norm", hue="samples", hue_order=["known", "unknown"], stat="density",
                         common_norm=False, element="step", bins=30, ax=ax, legend=(row, col) == (0, 0))
            ax.set_title(f"{dataset} / {loss}, {stage}", fontsize=9)
            ax.locator_params(axis="x", nbins=4)
    return titled(fig, title)


def sce_and_ours(study: Selection) -> np.ndarray:
    """Runs of the figure's blocks on their main backbone, bare SCE and m-OvR only."""
    root, runs = study.root, study.runs()
    runs &= (root.backbone == main_backbone(root, runs)).values & np.isin(root.loss.values, ["sce", "movr"])
    return runs


def combined_movr(study: Selection) -> np.ndarray:
    """Runs of m-OvR combined in the figure's (Protocol A) blocks, on their main backbone."""
    root = study.root
    runs = study.runs() & (root.loss == "movr").values
    return runs & (root.backbone == main_backbone(root, runs)).values


@figure("jn_fig03_jacobian_norms", reads=("protocol_a*",))
def jacobian_norms(study: Selection) -> plt.Figure:
    """Jacobian-norm paper, Figure 3: distribution of the Jacobian norm of the representation,
    known vs unknown test samples, before and after training (SCE and m-OvR, Protocol A)."""
    return jacobian_histograms(study, sce_and_ours(study),
                               "Jacobian norm ||df/dx||_F, known vs unknown test samples, splits pooled\n"
                               "(regenerates Fig. 3 of the Jacobian-norm paper)", "jn_fig03_jacobian_norms")


@figure("prototype_jacobian_norms", reads=("geometry*",))
def prototype_jacobian_norms(study: Selection) -> plt.Figure:
    """Beyond both papers: Figure 3 of the Jacobian-norm paper for the balanced-geometry paper's
    representations (CE, simplex, harmonic, learned prototypes)."""
    return jacobian_histograms(study, study.runs(),
                               "Jacobian norm of prototype representations, known vs unknown test samples\n"
                               "(Fig. 3 of the Jacobian-norm paper applied to the geometry paper's models; "
                               "beyond both papers)", "prototype_jacobian_norms")


@figure("jn_fig04_interpolation", reads=("protocol_a*",))
def interpolation(study: Selection) -> plt.Figure:
    """Jacobian-norm paper, Figure 4: Jacobian norm along x_t = (1 - t) x0 + t x1 between test
    samples of two known classes (mean and interquartile band over pairs and splits)."""
    root = study.root
    runs = sce_and_ours(study)
    check_replicates(root, runs, ["dataset", "loss"], "jn_fig04_interpolation")
    parts = []
    for _, run in factor_frame(root, runs).iterrows():
        norms = study.run(run.run)["interpolation_jacobian_norm"].values  # (pair, path_t)
        norms = norms / norms[:, [0, -1]].mean(axis=1, keepdims=True)  # relative to the two endpoints
        t = np.linspace(0, 1, norms.shape[1])
        parts.append(pd.DataFrame({"t": np.tile(t, len(norms)), "relative norm": norms.ravel(),
                                   "dataset": run.dataset, "loss": run.loss}))
    frame = pd.concat(parts, ignore_index=True)
    datasets = sorted(frame.dataset.unique())
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.6 * len(datasets), 3.2), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        sns.lineplot(frame[frame.dataset == dataset], x="t", y="relative norm", hue="loss",
                     estimator="mean", errorbar=("pi", 50), ax=ax)
        ax.set_title(dataset, fontsize=9)
        ax.set_ylabel("||df/dx(x_t)|| / mean at the endpoints")
    return titled(fig, "Jacobian norm along the interpolation between two known classes\n"
                       "(regenerates Fig. 4 of the Jacobian-norm paper)")


def dynamics(study: Selection, runs: np.ndarray, quantities: list[str], hue: str, title: str, what: str) -> plt.Figure:
    """History quantities against the training epoch, one line per `hue` value and dataset
    (mean and 95 % interval over splits)."""
    check_replicates(study.root, runs, ["dataset", hue if hue in study.root.coords else "blocks"], what)
    frame = history_frame(study.root, runs)
    datasets = sorted(frame.dataset.unique())
    fig, axes = plt.subplots(len(datasets), len(quantities), figsize=(3.3 * len(quantities), 2.8 * len(datasets)),
                             squeeze=False)
    for row, dataset in enumerate(datasets):
        for col, quantity in enumerate(quantities):
            ax = axes[row, col]
            sns.lineplot(frame[frame.dataset == dataset], x="epoch", y=quantity, hue=hue, marker="o", markersize=3,
                         ax=ax, legend=(row, col) == (0, 0))
            ax.set_ylabel(DYNAMICS[quantity], fontsize=8)
            ax.set_title(dataset, fontsize=9)
    return titled(fig, title)


@figure("jn_fig05_training_dynamics", reads=("protocol_a*",))
def training_dynamics(study: Selection) -> plt.Figure:
    """Jacobian-norm paper, Figure 5: DBI, inter-class distance, Jacobian-norm gap and AUROC
    while m-OvR combined trains (validation probe at each checkpoint)."""
    runs = combined_movr(study)
    return dynamics(study, runs, ["dbi", "inter_class_distance", "jacobian_gap", "val_auroc"], "loss",
                    "Metrics while m-OvR (combined) trains\n(regenerates Fig. 5 of the Jacobian-norm paper)",
                    "jn_fig05_training_dynamics")


@figure("jn_fig06_dynamics_correlation", reads=("protocol_a*",))
def dynamics_correlation(study: Selection) -> plt.Figure:
    """Jacobian-norm paper, Figure 6: AUROC (top) and DBI (bottom) against the Jacobian-norm gap
    over the checkpoints of m-OvR combined, one column per dataset."""
    root = study.root
    runs = combined_movr(study)
    check_replicates(root, runs, ["dataset"], "jn_fig06_dynamics_correlation")
    frame = history_frame(root, runs)
    datasets = sorted(frame.dataset.unique())
    fig, axes = plt.subplots(2, len(datasets), figsize=(3.3 * len(datasets), 5.6), squeeze=False)
    for col, dataset in enumerate(datasets):
        for row, quantity in enumerate(["val_auroc", "dbi"]):
            sns.scatterplot(frame[frame.dataset == dataset], x="jacobian_gap", y=quantity, hue="epoch",
                            palette="viridis", ax=axes[row, col], legend=(row, col) == (0, 0))
            axes[row, col].set_title(dataset, fontsize=9)
            axes[row, col].set_ylabel(DYNAMICS[quantity], fontsize=8)
    return titled(fig, "AUROC and DBI against the Jacobian-norm gap during training\n"
                       "(regenerates Fig. 6 of the Jacobian-norm paper)")


@figure("jn_fig07_k_scan", reads=("k_scan*",))
def k_scan(study: Selection) -> plt.Figure:
    """Jacobian-norm paper, Figure 7: Jacobian-norm gap (and AUROC) at the end of training
    against the number K of known classes, the unknown classes fixed (dataset and K ours)."""
    root = study.root
    runs = study.runs()
    check_replicates(root, runs, ["dataset", "n_known"], "jn_fig07_k_scan")
    frame = summary_frame(root, runs, scorer="loss")
    frame["Jacobian-norm gap"] = final(root, runs, "jacobian_gap")
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.2))
    for ax, y in zip(axes, ["Jacobian-norm gap", "auroc"]):
        sns.lineplot(frame, x="n_known", y=y, hue="dataset", marker="o", ax=ax)
        ax.set_xlabel("K (known classes)")
    return titled(fig, "Jacobian-norm gap and AUROC vs the number of known classes (K values ours)\n"
                       "(regenerates Fig. 7 of the Jacobian-norm paper)")


@figure("jn_fig08_sce_vs_movr", reads=("table3_baseline", "table3_movr"))
def sce_vs_movr(study: Selection) -> plt.Figure:
    """Jacobian-norm paper, Figure 8: SCE vs m-OvR (no W, A, S) during training: DBI,
    inter-class distance, Jacobian-norm gap, AUROC."""
    return dynamics(study, study.runs(),
                    ["dbi", "inter_class_distance", "jacobian_gap", "val_auroc"], "loss",
                    "SCE vs m-OvR during training\n(regenerates Fig. 8 of the Jacobian-norm paper)",
                    "jn_fig08_sce_vs_movr")


@figure("jn_fig09_loss_vs_jacobian", reads=("protocol_a*",))
def loss_vs_jacobian(study: Selection) -> plt.Figure:
    """Jacobian-norm paper, Figure 9: sample-wise loss (the detection score) against the Jacobian
    norm of each test sample, m-OvR combined, split 0 (Spearman correlation in the title)."""
    from scipy.stats import spearmanr

    root = study.root
    runs = combined_movr(study) & (root.split == root.split.min()).values
    check_replicates(root, runs, ["dataset"], "jn_fig09_loss_vs_jacobian")
    frame = per_sample_frame(study, runs, {"score_loss": "sample-wise loss", "jacobian_norm": "Jacobian norm"})
    frame = frame.dropna(subset=["Jacobian norm"])  # evaluation.jacobian_after: norms of a subsample
    frame["samples"] = np.where(frame.unknown, "unknown", "known")
    datasets = sorted(frame.dataset.unique())
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.6 * len(datasets), 3.4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        data = frame[frame.dataset == dataset]
        sns.scatterplot(data, x="Jacobian norm", y="sample-wise loss", hue="samples", hue_order=["known", "unknown"],
                        s=6, alpha=0.5, linewidth=0, ax=ax)
        ax.set_xscale("log"), ax.set_yscale("log")
        rho = spearmanr(data["Jacobian norm"], data["sample-wise loss"]).statistic
        ax.set_title(f"{dataset}: Spearman {rho:.2f}", fontsize=9)
    return titled(fig, "Sample-wise loss vs Jacobian norm of the representation\n"
                       "(regenerates Fig. 9 of the Jacobian-norm paper)")


def switch_effect(study, blocks: tuple[str, str], hue: str, quantities: list[str], what: str, number: int):
    return dynamics(study, study.runs(*blocks), quantities, hue,
                    f"The effect of {what} ({blocks[0]} vs {blocks[1]})\n"
                    f"(regenerates Fig. {number} of the Jacobian-norm paper)", f"Fig. {number} ({what})")


@figure("jn_fig10_augmentation", reads=("table3_g", "table3_j"))
def augmentation_effect(study: Selection) -> plt.Figure:
    """Jacobian-norm paper, Figure 10: data augmentation (Table 3 rows g and j: m-OvR + W without
    and with A) on DBI, Jacobian-norm gap and AUROC during training."""
    return switch_effect(study, ("table3_g", "table3_j"), "augment", ["dbi", "jacobian_gap", "val_auroc"],
                         "data augmentation", 10)


@figure("jn_fig11_weight_decay", reads=("table3_movr", "table3_g"))
def weight_decay_effect(study: Selection) -> plt.Figure:
    """Jacobian-norm paper, Figure 11: weight decay (Table 3 rows m-OvR and g) on the inter-class
    distance, Jacobian-norm gap and AUROC during training."""
    return switch_effect(study, ("table3_movr", "table3_g"), "weight_decay",
                         ["inter_class_distance", "jacobian_gap", "val_auroc"], "weight decay", 11)


@figure("jn_fig12_self_supervision", reads=("table3_j", "table3_ours"))
def self_supervision_effect(study: Selection) -> plt.Figure:
    """Jacobian-norm paper, Figure 12: rotation self-supervision (Table 3 rows j and ours) on the
    Jacobian-norm gap, the Jacobian norm of unknowns and AUROC during training."""
    return switch_effect(study, ("table3_j", "table3_ours"), "self_supervision",
                         ["jacobian_gap", "jacobian_unknown", "val_auroc"], "self-supervision", 12)


@figure("jn_fig13_gap_vs_auroc", reads=("table3_*",))
def gap_vs_auroc(study: Selection) -> plt.Figure:
    """Jacobian-norm paper, Figure 13: Jacobian-norm gap at the end of training against test AUROC
    (sample-wise loss score), one point per model of Table 3, one panel per dataset; each panel's
    title gives the rank correlation the paper's caption calls positive."""
    root = study.root
    runs = study.runs()
    check_replicates(root, runs, ["dataset", "blocks"], "jn_fig13_gap_vs_auroc")
    frame = summary_frame(root, runs, scorer="loss")
    frame["Jacobian-norm gap"] = final(root, runs, "jacobian_gap")
    frame["model"] = [readable_factor(b, "table3_") for b in frame.blocks]
    datasets = sorted(frame.dataset.unique())
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.8 * len(datasets), 3.6), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        panel = frame[frame.dataset == dataset]
        sns.scatterplot(panel, x="Jacobian-norm gap", y="auroc", hue="model", ax=ax, legend=ax is axes[0, -1])
        rho = rank_correlation(panel["Jacobian-norm gap"], panel.auroc)
        ax.set_title(f"{dataset}: Spearman's rho {rho:+.2f} over {len(panel)} models", fontsize=9)
    if axes[0, -1].get_legend():
        sns.move_legend(axes[0, -1], "upper left", bbox_to_anchor=(1, 1), fontsize=7)
    return titled(fig, "Jacobian-norm gap vs AUROC across the models of Table 3\n"
                       "(regenerates Fig. 13 of the Jacobian-norm paper)")


def tsne_samples(norms: np.ndarray, n: int) -> np.ndarray:
    """Indices of at most n samples to draw, in a fixed random order: those with a final Jacobian
    norm first (evaluation.jacobian_after gives only a subsample one), so each of them is drawn in
    colour before any grey one."""
    order = np.random.default_rng(0).permutation(len(norms))
    normed = np.isfinite(norms[order])
    return np.concatenate([order[normed], order[~normed]])[:n]


@figure("jn_fig14_tsne", reads=("tsne_*",))
def tsne(study: Selection) -> plt.Figure:
    """Jacobian-norm paper, Figure 14: 2-d t-SNE of f(x) on test samples (left: classes, unknowns
    black; right: min-max normalised Jacobian norm), one row per model."""
    from sklearn.manifold import TSNE

    root = study.root
    runs = study.runs() & (root.split == root.split.min()).values
    models = {readable_factor(b, "tsne_"): run
              for run, b in zip(plain(root.run.values[runs]), plain(root.blocks.values[runs]))}
    order = ["sce", "movr", "ours"]
    names = sorted(models, key=lambda m: order.index(m) if m in order else len(order))  # one run per model
    ids = [models[m] for m in names]
    models = {run: m for m, run in models.items()}
    fig, axes = plt.subplots(len(ids), 2, figsize=(7, 3.3 * len(ids)), squeeze=False)
    for row, run_id in enumerate(ids):
        ds = study.run(run_id)
        ds = ds.where(ds.partition == "test", drop=True)
        keep = tsne_samples(ds.jacobian_norm.values, 2000)
        z, labels, j = ds.embedding.values[keep], ds.label.values[keep], ds.jacobian_norm.values[keep]
        xy = TSNE(2, init="pca", random_state=0, perplexity=min(30, len(z) - 1)).fit_transform(z)
        known = labels >= 0
        ax = axes[row, 0]
        ax.scatter(*xy[~known].T, c="black", s=3, label="unknown")
        ax.scatter(*xy[known].T, c=labels[known], cmap="tab10", s=3)
        ax.set_title(f"{models[run_id]}: classes (unknown black)", fontsize=9)
        has = np.isfinite(j)  # evaluation.jacobian_after leaves the other samples without a norm
        axes[row, 1].scatter(*xy[~has].T, c="lightgrey", s=3)
        low, span = (j[has].min(), np.ptp(j[has])) if has.any() else (0.0, 0.0)
        heat = axes[row, 1].scatter(*xy[has].T, c=(j[has] - low) / (span or 1), cmap="coolwarm", s=3)
        axes[row, 1].set_title("Jacobian norm (min-max normalised)", fontsize=9)
        fig.colorbar(heat, ax=axes[row, 1])
        for ax in axes[row]:
            ax.set_xticks([]), ax.set_yticks([])
    return titled(fig, "t-SNE of the representation and its Jacobian norm\n"
                       "(regenerates Fig. 14 of the Jacobian-norm paper)")


SCANS = {"scan_scale_T": ("scale_T", "scale T"), "scan_margin": ("margin", "margin m"),
         "scan_weight_decay": ("weight_decay", "weight decay"),
         "scan_self_supervision": ("self_supervision", "lambda_self")}


@figure("jn_fig15_hyperparameters", reads=tuple(SCANS))
def hyperparameters(study: Selection) -> plt.Figure:
    """Jacobian-norm paper, Figure 15: AUROC (sample-wise loss) of the full model against the
    scale T, the margin m, the weight decay and lambda_self (grids ours; mean and 95 % interval
    over splits)."""
    root = study.root
    present = [b for b in SCANS if study.runs(b).any()]
    fig, axes = plt.subplots(1, len(present), figsize=(3.3 * len(present), 3.2), squeeze=False)
    for ax, block in zip(axes[0], present):
        factor, label = SCANS[block]
        check_replicates(root, study.runs(block), ["dataset", factor], f"jn_fig15_hyperparameters ({block})")
        frame = summary_frame(root, study.runs(block), scorer="loss")
        sns.lineplot(frame, x=factor, y="auroc", hue="dataset", marker="o", ax=ax, legend=ax is axes[0, 0])
        if factor in ("scale_T", "weight_decay"):
            ax.set_xscale("symlog", linthresh=min(v for v in frame[factor] if v > 0))
            ax.set_xticks(sorted(frame[factor].unique()), [f"{v:g}" for v in sorted(frame[factor].unique())])
        ax.margins(x=0.06)  # again after the scale: the plot's linear margins left T = 64 half outside
        ax.set_xlabel(f"{label} (grid ours)")
    return titled(fig, "AUROC vs the hyperparameters of the full model\n"
                       "(regenerates Fig. 15 of the Jacobian-norm paper)")


@figure("jn_figD16_sce_dynamics", reads=("table3_e", "table3_h", "table3_f", "table3_i"))
def sce_dynamics(study: Selection) -> plt.Figure:
    """Jacobian-norm paper, Figure D.16: training dynamics of SCE models (Table 3 rows e, h, f, i:
    SCE and normalised SCE, each without and with augmentation)."""
    return dynamics(study, study.runs(),
                    ["dbi", "inter_class_distance", "jacobian_gap", "val_auroc"], "model",
                    "Training dynamics of SCE models: rows e (W), h (W A), f (N W), i (N W A)\n"
                    "(regenerates Fig. D.16 of the Jacobian-norm paper)", "jn_figD16_sce_dynamics")


def render(name: str, store: str | Path | None, outputs: list[str]) -> None:
    try:
        drawn = produce(FIGURES[name], store)
    except NoRuns as missing:  # the study has the blocks but not the models this figure compares
        drawn, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, f"{name}: nothing to draw in this study\n({missing})", ha="center", va="center")
    save(drawn, FIGURES[name].__doc__, outputs)


def main(argv: list[str] | None = None) -> None:
    render_main("osrstudy.figures", FIGURES, render, ".pdf, .png", argv)


if __name__ == "__main__":
    main()
