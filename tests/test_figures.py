"""What the figures choose to draw from a study."""
import numpy as np

from osrstudy.figures import tsne_samples


def test_fig14_draws_every_sample_with_a_final_norm_before_any_without():
    norms = np.full(10_000, np.nan)
    normed = np.random.default_rng(1).choice(10_000, 500, replace=False)  # a jacobian_after subsample
    norms[normed] = 1.0
    keep = tsne_samples(norms, 2000)
    assert len(keep) == len(set(keep)) == 2000
    assert set(keep[:500]) == set(normed) and np.isnan(norms[keep[500:]]).all()
    everything = tsne_samples(np.ones(3000), 2000)  # unbudgeted: a plain fixed-seed subsample
    assert np.array_equal(everything, np.random.default_rng(0).permutation(3000)[:2000])


def test_fig13_titles_each_panel_with_the_rank_correlation_of_its_points():
    from pathlib import Path

    from test_replicates import study_root

    from osrstudy.figures import FIGURES
    from osrstudy.readers import Selection
    from osrstudy.study_frames import StudyView

    rows = ("movr", "g", "j", "ours")
    runs = [{"dataset": d, "loss": "movr", "split": 0, "blocks": [f"table3_{r}"]} for d in ("a", "b") for r in rows]
    root = study_root(runs, [f"table3_{r}" for r in rows])
    gap = np.array([0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4])
    root["history"].loc[{"quantity": "jacobian_gap"}] = gap[:, None]
    # dataset a: the AUROC rises with the gap; dataset b: it falls
    root["results"].loc[{"scorer": "loss", "metric": "auroc"}] = np.r_[0.6, 0.7, 0.8, 0.9, 0.9, 0.8, 0.75, 0.6][:, None]
    fn = FIGURES["jn_fig13_gap_vs_auroc"]
    fig = fn(Selection(StudyView(root, Path("unused"), {}), fn.reads))
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["a: Spearman's rho +1.00 over 4 models", "b: Spearman's rho -1.00 over 4 models"]


def test_fig15_keeps_the_last_grid_point_inside_the_panel_and_labels_the_grid():
    from pathlib import Path

    from test_replicates import study_root

    from osrstudy.figures import FIGURES
    from osrstudy.readers import Selection
    from osrstudy.study_frames import StudyView

    runs = [{"dataset": "fashion_mnist", "loss": "movr", "split": s, "scale_T": t, "blocks": ["scan_scale_T"]}
            for t in (8.0, 16.0, 32.0, 64.0) for s in (0, 1, 2)]  # three splits: an interval band per point
    fn = FIGURES["jn_fig15_hyperparameters"]
    fig = fn(Selection(StudyView(study_root(runs, ["scan_scale_T"]), Path("unused"), {}), fn.reads))
    (ax,) = fig.axes
    high = ax.get_xlim()[1]
    # a margin on the drawn (logarithmic) axis; linear margins of 2.8 left 64 at the edge, half its marker out
    assert np.log(high / 64) > 0.04 * np.log(64 / 8)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["8", "16", "32", "64"]
