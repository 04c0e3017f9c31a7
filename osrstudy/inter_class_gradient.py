"""Prop. 8 of the Jacobian-norm paper checked on trained embeddings.

Prop. 8 (proof in Appendix C, eqs. C.3-C.6) compares the coefficient of dL/ds_k for a rival class
k != y: c_SCE = softmax(T s)_k under softmax cross-entropy and c_OvR = sigmoid(T s_k) under the
one-vs-rest loss, at the same cosines s, and claims c_OvR > c_SCE whenever s_y > 0. The claim is
algebra, so on trained embeddings the question is empirical: how often does the assumption
s_y > 0 hold, how much larger is the one-vs-rest push where it does, and does the inequality
survive the margin (s_k = cos(theta_k + m), eq. 6) that training applies.

    python -m osrstudy.inter_class_gradient results/<study>/runs/<run>.zarr ...
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import xarray as xr
from scipy.special import expit, logsumexp

from osrstudy.store_reports import print_reports


def cosines(embedding: np.ndarray, prototypes: np.ndarray) -> np.ndarray:
    """(n, K) cosine similarity of each embedding to each prototype."""
    z = embedding / np.linalg.norm(embedding, axis=1, keepdims=True)
    w = prototypes / np.linalg.norm(prototypes, axis=1, keepdims=True)
    return z @ w.T


def with_margin(s: np.ndarray, margin: float) -> np.ndarray:
    """Eq. 6: cos(arccos(s) + m), on every class as m-OvR's training applies it."""
    return np.cos(np.arccos(np.clip(s, -1.0, 1.0)) + margin)


def log_rival_ratio(s: np.ndarray, labels: np.ndarray, scale_T: float) -> np.ndarray:
    """(n, K - 1): log(c_OvR / c_SCE) for every rival k != y, where c_OvR = sigmoid(T s_k) and
    c_SCE = softmax(T s)_k are the coefficients of dL/ds_k up to the common factor T (eqs. C.3,
    C.4). The ratio is (e^{x_k} + r_k) / (e^{x_k} + 1) with x = T s and r_k = sum over j != k of
    e^{x_j} (eq. C.6: above 1 iff r_k > 1). From r_k = 1/e up it is taken as log1p((r_k - 1)
    sigmoid(-x_k)), so that a rival with cosine near 1 (both coefficients near 1) does not round to
    a tie; below, as a difference of logaddexps, so that r_k << 1 (every cosine negative)
    does not round to log(0)."""
    logits = scale_T * s
    n, k = s.shape
    log_r = np.stack([logsumexp(np.delete(logits, c, axis=1), axis=1) for c in range(k)], axis=1)
    with np.errstate(divide="ignore"):
        near_one = np.log1p(np.expm1(log_r) * expit(-logits))
    ratio = np.where(log_r > -1.0, near_one, np.logaddexp(logits, log_r) - np.logaddexp(logits, 0.0))
    rivals = np.ones_like(s, dtype=bool)
    rivals[np.arange(n), labels] = False
    return ratio[rivals].reshape(n, k - 1)


def prop8_summary(s: np.ndarray, labels: np.ndarray, scale_T: float) -> dict:
    """How often s_y > 0, how often c_OvR > c_SCE (over all rival pairs, and where s_y > 0), and
    the median of log10(c_OvR / c_SCE)."""
    log_ratio = log_rival_ratio(s, labels, scale_T)
    positive = s[np.arange(len(s)), labels] > 0
    larger = log_ratio > 0
    return {
        "samples": int(len(s)),
        "share_s_y_positive": float(positive.mean()),
        "share_ovr_larger": float(larger.mean()),
        "share_ovr_larger_where_s_y_positive": float(larger[positive].mean()) if positive.any() else float("nan"),
        "median_log10_ratio_ovr_to_sce": float(np.median(log_ratio) / np.log(10.0)),
    }


def run_check(store: str, scale_T: float | None = None, margin: float | None = None) -> dict:
    """Prop. 8 on a run store's known test and validation samples, at the run's own T and m
    (or the given ones; a run without them, e.g. SCE, needs T)."""
    ds = xr.open_zarr(store)
    factors = json.loads(ds.attrs["factors"])
    scale_T = scale_T if scale_T is not None else factors.get("scale_T")
    margin = margin if margin is not None else (factors.get("margin") or 0.0)
    if scale_T is None:
        raise ValueError(f"{store}: the run has no scale T (loss {factors['loss']!r}); pass --scale-T")
    known = ds.label.values >= 0
    s = cosines(ds.embedding.values[known], ds.prototypes.values)
    labels = ds.label.values[known]
    return {
        "run_id": ds.attrs["run_id"], "loss": factors["loss"], "scale_T": scale_T, "margin": margin,
        "without_margin": prop8_summary(s, labels, scale_T),
        "with_margin": prop8_summary(with_margin(s, margin), labels, scale_T),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stores", nargs="+", help="run stores (results/<study>/runs/<run>.zarr)")
    parser.add_argument("--scale-T", type=float, help="T for runs without one (default: the run's)")
    parser.add_argument("--margin", type=float, help="m (default: the run's, 0 without one)")
    args = parser.parse_args(argv)
    return print_reports(args.stores, lambda store: run_check(store, args.scale_T, args.margin))


if __name__ == "__main__":
    sys.exit(main())
