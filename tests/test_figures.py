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
