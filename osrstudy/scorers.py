"""Open-set scorers: features of a set in, one score per sample out (higher = more unknown).

One interface for all: `fit(train)` sees the known-class training features (and may ignore them),
`score(features)` scores any set. Features are numpy arrays keyed by name: "embedding", "logits",
"sample_loss". A scorer declares which it needs; it applies to a run iff the run has them.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy.special import softmax

from osrstudy.registry import Registry

SCORERS: Registry[type["Scorer"]] = Registry("scorer")


class Scorer:
    requires: ClassVar[tuple[str, ...]] = ()

    def fit(self, train: dict[str, np.ndarray]) -> "Scorer":
        return self

    def score(self, features: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def missing(cls, features: dict[str, np.ndarray]) -> list[str]:
        """What the scorer needs and the run lacks (empty: it applies)."""
        return [name for name in cls.requires if name not in features]


@SCORERS.register("msp")
class MaxSoftmaxProbability(Scorer):
    requires = ("logits",)

    def score(self, features):
        return -softmax(features["logits"].astype(np.float64), axis=1).max(1)


@SCORERS.register("maxlogit")
class MaxLogit(Scorer):
    requires = ("logits",)

    def score(self, features):
        return -features["logits"].max(1).astype(np.float64)


@SCORERS.register("loss")
class SampleWiseLoss(Scorer):
    """The training loss at the predicted label (Jacobian-norm paper, section 5.3)."""

    requires = ("sample_loss",)

    def score(self, features):
        return features["sample_loss"].astype(np.float64)
