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
