"""osrstudy.prototype_drift: how far learned prototypes leave their starting code, whether their
closeness follows the classes the model confuses, and the command on real run stores."""
import json

import numpy as np
import pytest
import xarray as xr
from scipy.spatial.distance import pdist

from osrstudy.codes import harmonic_code
from osrstudy.geometry import cv_pairwise_distances
from osrstudy.labels import UNKNOWN
from osrstudy.prototype_drift import drift_summary, main, pair_confusions
from osrstudy.run import execute


def test_pairs_by_hand():
    # drift_summary pairs scipy's pdist with pair_confusions: both in the order (0,1), (0,2), (1,2)
    np.testing.assert_allclose(pdist(np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])), [5.0, 1.0, np.sqrt(18.0)])
    labels = np.array([0, 0, 1, 2, 2, 2, UNKNOWN])
    predictions = np.array([1, 0, 0, 1, 2, 0, 1])  # the unknown sample's prediction never counts
    np.testing.assert_array_equal(pair_confusions(labels, predictions, 3), [2, 1, 1])


def test_prototypes_pulled_together_by_confusions_rank_with_them():
    start = harmonic_code(6, 8)
    # the six classes confuse in two groups of three (like garments and footwear)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, 3000)
    group = labels // 3
    confused = rng.random(3000) < 0.2
    predictions = np.where(confused, 3 * group + rng.integers(0, 3, 3000), labels)
    # training pulls each group's prototypes towards the group's centre, and everything outward
    centre = np.stack([start[:3].mean(0), start[3:].mean(0)])[np.arange(6) // 3]
    end = 3.0 * (start + 0.6 * (centre - start))
    report = drift_summary(start, end, labels, predictions, classes=list(range(6)))
    assert report["closeness_vs_confusions"] > 0.8
    assert report["cv_pairwise"]["start"] == pytest.approx(cv_pairwise_distances(start))
    assert report["cv_pairwise"]["end"] > report["cv_pairwise"]["start"]
    assert report["mean_radius"]["end"] == pytest.approx(np.linalg.norm(end, axis=1).mean())
    within = {frozenset(p) for p in ([0, 1], [0, 2], [1, 2], [3, 4], [3, 5], [4, 5])}
    assert frozenset(report["closest_pair"]["classes"]) in within
    assert frozenset(report["farthest_pair"]["classes"]) not in within
    assert report["farthest_pair"]["confusions"] == 0 and report["known_samples"] == 3000


def test_prototypes_that_never_moved_keep_the_codes_pattern():
    start = harmonic_code(6, 8)
    labels = np.repeat(np.arange(6), 10)
    report = drift_summary(start, 2.0 * start, labels, labels, classes=list(range(6)))
    assert report["end_vs_start_distances"] == pytest.approx(1.0)
    assert report["cv_pairwise"]["end"] == pytest.approx(report["cv_pairwise"]["start"])
    assert np.isnan(report["closeness_vs_confusions"])  # no confusions: nothing to rank


def test_the_command_reads_learned_run_stores(tmp_path, tiny_spec, capsys):
    learned, simplex = tmp_path / "learned.zarr", tmp_path / "simplex.zarr"
    execute(tiny_spec(losses=["learned"]), learned, threads=1, log=lambda _: None)
    execute(tiny_spec(losses=["simplex"]), simplex, threads=1, log=lambda _: None)
    assert main([str(learned)]) == 0
    own = json.loads(capsys.readouterr().out)
    assert own["loss"] == "learned" and own["confusions_of"] == own["run_id"]
    code = harmonic_code(*xr.open_zarr(learned).prototypes.shape)  # the code the run started from
    assert own["cv_pairwise"]["start"] == pytest.approx(cv_pairwise_distances(code))
    assert main([str(learned), "--confusions-of", str(simplex)]) == 0
    other = json.loads(capsys.readouterr().out)
    assert other["confusions_of"] != other["run_id"] and other["cv_pairwise"] == own["cv_pairwise"]
    assert main([str(simplex)]) == 2
    assert "loss 'simplex' has no learned prototypes" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(learned), str(learned), "--confusions-of", str(simplex)])
    assert "give one per learned store" in capsys.readouterr().err

