"""Where embeddings sit relative to their nearest prototype, angle and radius apart, known samples
against unknown ones.

The distance to a prototype p mixes the two: ||z - p||^2 = |z|^2 + |p|^2 - 2 |z| |p| cos. When
the known samples lie nearer a prototype's direction but farther out along it than the unknown
ones (on Fashion-MNIST the fixed-code losses do this: docs/results.md), the two parts rank the
samples in opposite orders and a distance score can fall below chance while each part alone
separates them. This measures each part as a score of its own:

    python -m osrstudy.prototype_rays results/<study>/runs/<run>.zarr ...
"""
from __future__ import annotations

import json
import sys

import numpy as np
import xarray as xr

from osrstudy.inter_class_gradient import cosines
from osrstudy.labels import UNKNOWN
from osrstudy.metrics import auroc
from osrstudy.store_reports import partition_main, partition_samples


def nearest_ray(embedding: np.ndarray, prototypes: np.ndarray) -> dict[str, np.ndarray]:
    """Per sample: the cosine to the prototype of nearest direction, the radius relative to that
    prototype's norm, and the Euclidean distance to the nearest prototype."""
    cos = cosines(embedding, prototypes)
    nearest = cos.argmax(axis=1)
    norms = np.linalg.norm(prototypes, axis=1)
    distance = np.linalg.norm(embedding[:, None, :] - prototypes[None, :, :], axis=2).min(axis=1)
    return {"cosine": cos.max(axis=1),
            "relative_radius": np.linalg.norm(embedding, axis=1) / norms[nearest],
            "distance": distance}


# each part as an open-set score, higher = more unknown (osrstudy.scorers' convention)
AS_SCORE = {"cosine": lambda v: -v, "relative_radius": lambda v: -v, "distance": lambda v: v}


def ray_summary(embedding: np.ndarray, prototypes: np.ndarray, labels: np.ndarray) -> dict:
    """Medians of each part for known and unknown samples, and the AUROC of each part used as a
    score (a small cosine, a small radius, a large distance = unknown)."""
    known = labels != UNKNOWN
    report = {"known": int(known.sum()), "unknown": int((~known).sum())}
    for part, values in nearest_ray(embedding, prototypes).items():
        report[part] = {"median_known": float(np.median(values[known])),
                        "median_unknown": float(np.median(values[~known])),
                        "auroc": auroc(AS_SCORE[part](values), labels)}
    return report


def run_rays(store: str, partition: str = "test") -> dict:
    """The summary on one partition of a run store, against the run's stored prototypes (CE: the
    class means of its training embeddings)."""
    ds = xr.open_zarr(store)
    chosen = partition_samples(ds, store, partition)
    factors = json.loads(ds.attrs["factors"])
    return {"run_id": ds.attrs["run_id"], "loss": factors["loss"], "partition": partition,
            **ray_summary(ds.embedding.values[chosen], ds.prototypes.values, ds.label.values[chosen])}


def main(argv: list[str] | None = None) -> int:
    return partition_main(argv, __doc__.split("\n\n")[0], "run stores (results/<study>/runs/<run>.zarr)", run_rays)


if __name__ == "__main__":
    sys.exit(main())
