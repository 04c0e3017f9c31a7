"""osrstudy.prototype_rays: the angle and the radius of each embedding relative to its nearest
prototype, each as an open-set score, and the command on a real run store."""
import json

import numpy as np
import xarray as xr

from osrstudy.labels import UNKNOWN
from osrstudy.metrics import auroc
from osrstudy.prototype_rays import main, nearest_ray, ray_summary
from osrstudy.run import execute


def test_each_part_by_hand():
    parts = nearest_ray(np.array([[3.0, 4.0]]), np.array([[2.0, 0.0], [0.0, -1.0]]))
    np.testing.assert_allclose(parts["cosine"], [0.6])
    np.testing.assert_allclose(parts["relative_radius"], [2.5])  # |z| = 5 against the nearest's norm 2
    np.testing.assert_allclose(parts["distance"], [np.sqrt(17.0)])  # to (2, 0): (1, 4)


def test_known_samples_nearer_in_angle_but_farther_out_put_the_distance_below_chance():
    # the geometry the fixed codes learn on Fashion-MNIST: known on the rays and overshooting the
    # unit prototypes, unknown a little off the rays and nearer the unit sphere
    rng = np.random.default_rng(0)
    prototypes = np.eye(8)[:6]
    labels = np.r_[rng.integers(0, 6, 600), np.full(400, UNKNOWN)]
    rays = prototypes[rng.integers(0, 6, 1000)]
    off_ray = np.where(labels[:, None] == UNKNOWN, 0.35, 0.05) * rng.normal(size=(1000, 8))
    direction = (rays + off_ray) / np.linalg.norm(rays + off_ray, axis=1, keepdims=True)
    radius = np.where(labels == UNKNOWN, 1.2, 2.0) + 0.1 * rng.normal(size=1000)
    embedding = direction * radius[:, None]
    report = ray_summary(embedding, prototypes, labels)
    assert (report["known"], report["unknown"]) == (600, 400)
    assert report["cosine"]["auroc"] > 0.9 and report["relative_radius"]["auroc"] > 0.9
    assert report["distance"]["auroc"] < 0.5
    assert report["relative_radius"]["median_known"] > report["relative_radius"]["median_unknown"]
    # each AUROC is the metric's own on the part used as a score
    direct = np.linalg.norm(embedding[:, None] - prototypes[None], axis=2).min(axis=1)
    assert report["distance"]["auroc"] == auroc(direct, labels)


def test_the_command_reads_a_run_store(tmp_path, tiny_specs, capsys):
    store = tmp_path / "movr.zarr"
    execute(tiny_specs["movr"], store, threads=1, log=lambda _: None)
    assert main([str(store)]) == 0
    report = json.loads(capsys.readouterr().out)
    test = xr.open_zarr(store).partition.values == "test"
    assert report["loss"] == "movr" and report["known"] + report["unknown"] == test.sum()
    assert all(0 <= report[part]["auroc"] <= 1 for part in ("cosine", "relative_radius", "distance"))
    assert report["relative_radius"]["median_known"] > 0
    assert main([str(store), "--partition", "train"]) == 2
    assert "no sample of partition 'train' (it has ['test', 'val'])" in capsys.readouterr().err
