"""The one-vs-rest sample-wise loss at the predicted label, split into its own-class term and its
rival terms, each used as an open-set score, known samples against unknown ones.

m-OvR's own score (Jacobian-norm paper, Sec. 5.3: "the sample-wise loss function") is
softplus(-l_y) + sum over k != y of softplus(l_k), with l = T s the logits and y the predicted
class. The own term ranks samples by the cosine to their predicted prototype, as MaxLogit does;
the rival terms by how near the other prototypes lie: for a large T nearly T times the sum of
the positive rival cosines (softplus(x) exceeds max(0, x) by at most log 2). A rival a margin m
kept off in training may still have a positive cosine at inference, which this score counts.
When the score's AUROC moves with T or m while the embedding's MaxLogit does not
(Fig. 15's scans on Fashion-MNIST: docs/results.md), this says which part moved:

    python -m osrstudy.ovr_loss_terms results/<study>/runs/<run>.zarr ...
"""
from __future__ import annotations

import json
import sys

import numpy as np
import xarray as xr

from osrstudy.labels import UNKNOWN
from osrstudy.metrics import auroc
from osrstudy.store_reports import partition_main, partition_samples

ONE_VS_REST = ("movr",)  # losses whose sample-wise loss is the one-vs-rest sum over their logits


def loss_terms(logits: np.ndarray) -> dict[str, np.ndarray]:
    """Per sample, at the predicted class y: the own term softplus(-l_y), the rival terms'
    sum over k != y of softplus(l_k), their total (the sample-wise loss), and the nearest rival's
    logit; float64, since a confident sample's terms are near exp(-l), which float32 rounds away."""
    logits = np.asarray(logits, dtype=np.float64)
    predicted = logits.argmax(axis=1)
    rows = np.arange(len(logits))
    own = np.logaddexp(0.0, -logits[rows, predicted])
    rival_logits = logits.copy()
    rival_logits[rows, predicted] = -np.inf  # softplus(-inf) = 0: the predicted class drops out
    rivals = np.logaddexp(0.0, rival_logits).sum(axis=1)
    return {"loss": own + rivals, "own_term": own, "rival_terms": rivals,
            "nearest_rival": rival_logits.max(axis=1)}


def terms_summary(logits: np.ndarray, labels: np.ndarray) -> dict:
    """The AUROC of each term used as a score (a larger term or a nearer rival = unknown), the
    median share of the rival terms in the loss and the mean number of rivals with a positive
    logit (those the rival terms count linearly), for known and unknown samples."""
    known = labels != UNKNOWN
    logits = np.asarray(logits, dtype=np.float64)
    terms = loss_terms(logits)
    positive = (logits > 0).sum(axis=1) - (logits.max(axis=1) > 0)  # the predicted class left out
    share = np.divide(terms["rival_terms"], terms["loss"], out=np.zeros(len(labels)), where=terms["loss"] > 0)
    return {"known": int(known.sum()), "unknown": int((~known).sum()),
            **{f"auroc_{name}": auroc(values, labels) for name, values in terms.items()},
            "rival_share_median_known": float(np.median(share[known])),
            "rival_share_median_unknown": float(np.median(share[~known])),
            "positive_rivals_mean_known": float(positive[known].mean()),
            "positive_rivals_mean_unknown": float(positive[~known].mean())}


def run_terms(store: str, partition: str = "test") -> dict:
    """The summary on one partition of a one-vs-rest run's store, from its stored logits."""
    ds = xr.open_zarr(store)
    factors = json.loads(ds.attrs["factors"])
    if factors["loss"] not in ONE_VS_REST:
        raise ValueError(f"{store}: loss {factors['loss']!r} has no one-vs-rest sample-wise loss "
                         f"(this splits that of {', '.join(ONE_VS_REST)})")
    chosen = partition_samples(ds, store, partition)
    return {"run_id": ds.attrs["run_id"], "loss": factors["loss"], "scale_T": factors.get("scale_T"),
            "margin": factors.get("margin"), "partition": partition,
            **terms_summary(ds.logits.values[chosen], ds.label.values[chosen])}


def main(argv: list[str] | None = None) -> int:
    return partition_main(argv, __doc__.split("\n\n")[0],
                          "run stores of one-vs-rest losses (results/<study>/runs/<run>.zarr)", run_terms)


if __name__ == "__main__":
    sys.exit(main())
