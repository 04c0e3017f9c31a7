"""How learned prototypes move away from the code they start from, and whether the moves follow the
classes the model confuses.

The geometry paper's learned prototypes start from the harmonic code and keep its balance
"approximately" (its Table 3: CV of pairwise distances 0.02-0.06, at 4 known classes). Where they
do not, this says what pulled them: when the pairs of classes that end up close are the pairs the
classifier confuses (a rank correlation near 1), the drift follows the data's class similarity,
which a code fixed in advance ignores. A learned run's own confusions partly follow its
prototypes; those of a simplex-code run on the same split (its prototypes equidistant) are the
data's alone:

    python -m osrstudy.prototype_drift results/<study>/runs/<learned run>.zarr ... \
        [--confusions-of results/<study>/runs/<simplex run, same split>.zarr ...]
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import xarray as xr
from scipy.spatial.distance import pdist

from osrstudy import codes
from osrstudy.geometry import cv_pairwise_distances
from osrstudy.labels import UNKNOWN
from osrstudy.metrics import rank_correlation
from osrstudy.store_reports import partition_samples, print_reports


def pair_confusions(labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """Known samples of class i predicted as j plus those of j predicted as i, for every pair i < j
    (np.triu_indices order); unknown samples do not count."""
    known = labels != UNKNOWN
    counts = np.zeros((n_classes, n_classes))
    np.add.at(counts, (labels[known], predictions[known]), 1)
    i, j = np.triu_indices(n_classes, 1)
    return counts[i, j] + counts[j, i]


def drift_summary(start: np.ndarray, end: np.ndarray, labels: np.ndarray, predictions: np.ndarray,
                  classes: list) -> dict:
    """The balance of the prototypes before and after training, how far they grew, and two rank
    correlations over class pairs: closeness at the end against the pair's confusions, and the end
    distances against the start ones (near 1: the code's own pattern survived)."""
    d_start, d_end = pdist(start), pdist(end)  # pairs i < j, the order of pair_confusions
    confusions = pair_confusions(labels, predictions, len(end))
    i, j = np.triu_indices(len(end), 1)
    closest, farthest = int(d_end.argmin()), int(d_end.argmax())
    return {
        "cv_pairwise": {"start": cv_pairwise_distances(start), "end": cv_pairwise_distances(end)},
        "mean_radius": {"start": float(np.linalg.norm(start, axis=1).mean()),
                        "end": float(np.linalg.norm(end, axis=1).mean())},
        "closeness_vs_confusions": rank_correlation(-d_end, confusions),
        "end_vs_start_distances": rank_correlation(d_end, d_start),
        "closest_pair": {"classes": [classes[i[closest]], classes[j[closest]]],
                         "distance": float(d_end[closest]), "confusions": int(confusions[closest])},
        "farthest_pair": {"classes": [classes[i[farthest]], classes[j[farthest]]],
                          "distance": float(d_end[farthest]), "confusions": int(confusions[farthest])},
        "known_samples": int((labels != UNKNOWN).sum()),
    }


def starting_code(factors: dict, n_classes: int, embed_dim: int) -> np.ndarray:
    """The code a run's learned prototypes start from (the harmonic code at the run's radius: the
    `learned` loss and `ucdsc` with code learned); a ValueError for a run without learned ones."""
    if factors["loss"] != "learned" and factors.get("prototype_code") != "learned":
        raise ValueError(f"loss {factors['loss']!r} has no learned prototypes: prototype_drift reads runs of "
                         "loss 'learned' (or 'ucdsc' with code: learned)")
    return codes.harmonic_code(n_classes, embed_dim, factors["radius"])


def run_drift(store: str, partition: str = "test", confusions_of: str | None = None) -> dict:
    """The summary of one run store, confusions counted on `partition` of `confusions_of` (a run
    with the same known classes; default: the store itself)."""
    ds = xr.open_zarr(store)
    factors = json.loads(ds.attrs["factors"])
    end = ds.prototypes.values.astype(float)
    try:
        start = starting_code(factors, *end.shape)
    except ValueError as error:
        raise ValueError(f"{store}: {error}") from None
    source = xr.open_zarr(confusions_of) if confusions_of else ds
    if source["class"].values.tolist() != ds["class"].values.tolist():
        raise ValueError(f"{confusions_of}: its known classes {source['class'].values.tolist()} are not "
                         f"{store}'s {ds['class'].values.tolist()}: pair each run with one of the same split")
    chosen = partition_samples(source, confusions_of or store, partition)
    return {"run_id": ds.attrs["run_id"], "loss": factors["loss"], "partition": partition,
            "confusions_of": source.attrs["run_id"],
            **drift_summary(start, end, source.label.values[chosen], source.prediction.values[chosen],
                            ds["class"].values.tolist())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stores", nargs="+", help="run stores of learned prototypes")
    parser.add_argument("--partition", default="test", help="test (default) or val")
    parser.add_argument("--confusions-of", nargs="+", metavar="STORE",
                        help="for each store in order, the run whose confusions count (default: its own)")
    args = parser.parse_args(argv)
    sources = args.confusions_of or [None] * len(args.stores)
    if len(sources) != len(args.stores):
        parser.error(f"--confusions-of names {len(sources)} stores for {len(args.stores)} learned ones: "
                     "give one per learned store, in the same order")
    in_order = iter(sources)  # print_reports reports each store once, in order
    return print_reports(args.stores, lambda store: run_drift(store, args.partition, next(in_order)))


if __name__ == "__main__":
    sys.exit(main())
