"""Open-set scorers: features of a set in, one score per sample out (higher = more unknown).

One interface for all: `fit(train, model)` sees the known-class training features and what the
run's loss exposes (`model`: "prototypes" (K, d) and, when its logits are linear in the
representation, "head_weight" (K, d) and "head_bias" (K,)); `score(features)` scores any set.
Features are numpy arrays keyed by name: "embedding" (the loss's representation), "logits",
"sample_loss", "jacobian_norm"; train also has "labels". A scorer declares what it needs and
applies to a run iff the run has it; the run records why a scorer did not apply.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy.special import logsumexp, softmax

from osrstudy.geometry import rival_ratio
from osrstudy.openmax import fit_weibull_tails, openmax_unknown_probability
from osrstudy.registry import Registry

SCORERS: Registry[type["Scorer"]] = Registry("scorer")
Arrays = dict[str, np.ndarray]


class Scorer:
    requires: ClassVar[tuple[str, ...]] = ()  # per-sample features
    requires_model: ClassVar[tuple[str, ...]] = ()  # from the loss: prototypes, head_weight, ...

    def fit(self, train: Arrays, model: Arrays) -> "Scorer":
        self.model = model
        return self

    def score(self, features: Arrays) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def missing(cls, features: Arrays, model: Arrays) -> list[str]:
        """What the scorer needs and the run lacks (empty: it applies)."""
        return [n for n in cls.requires if n not in features] + [n for n in cls.requires_model if n not in model]


# --- pure functions ---------------------------------------------------------------------------


def energy(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Free energy -T logsumexp(logits / T): higher = more unknown."""
    return -temperature * logsumexp(logits.astype(np.float64) / temperature, axis=1)


def prototype_distances(z: np.ndarray, prototypes: np.ndarray) -> np.ndarray:
    """(N, K) Euclidean distances, computed directly (no expansion: exact for near points)."""
    z, p = z.astype(np.float64), prototypes.astype(np.float64)
    return np.sqrt(((z[:, None, :] - p[None, :, :]) ** 2).sum(-1))


def ratio_score(z: np.ndarray, prototypes: np.ndarray, power: int = 1) -> np.ndarray:
    """R (power 1) or R2 (power 2): nearest prototype distance over the mean rival distance (the
    nearest is the smallest index among ties)."""
    d = prototype_distances(z, prototypes)
    dp = d**power
    return rival_ratio(dp, dp[np.arange(len(d)), d.argmin(1)])


def kth_neighbour_distance(query: np.ndarray, bank: np.ndarray, k: int, chunk: int = 2048) -> np.ndarray:
    """Distance from each L2-normalised query to its k-th nearest L2-normalised bank row."""
    def unit(a):
        a = a.astype(np.float64)
        return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)

    q, b = unit(query), unit(bank)
    k = min(k, len(b))
    out = np.empty(len(q))
    for start in range(0, len(q), chunk):
        sq = np.maximum(2 - 2 * q[start : start + chunk] @ b.T, 0)
        out[start : start + chunk] = np.sqrt(np.partition(sq, k - 1, axis=1)[:, k - 1])
    return out


# --- registered scorers -----------------------------------------------------------------------


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


@SCORERS.register("energy")
class Energy(Scorer):
    """Energy with temperature 1 (Liu et al. 2020)."""

    requires = ("logits",)

    def score(self, features):
        return energy(features["logits"])


@SCORERS.register("loss")
class SampleWiseLoss(Scorer):
    """The training loss at the predicted label (Jacobian-norm paper, section 5.3)."""

    requires = ("sample_loss",)

    def score(self, features):
        return features["sample_loss"].astype(np.float64)


@SCORERS.register("native")
class NativeScore(Scorer):
    """Each method's own inference score (Loss.native_score): the sample-wise loss for SCE, N-SCE,
    DOC, m-OvR and the prototype losses; nearest-prototype distance for GCPL; minus the largest
    reciprocal-point distance for RPL."""

    requires = ("native_score",)

    def score(self, features):
        return features["native_score"].astype(np.float64)


@SCORERS.register("jacobian")
class JacobianNorm(Scorer):
    """||df/dx||_F of the representation: larger off the known classes (Jacobian-norm paper, Thm 2)."""

    requires = ("jacobian_norm",)

    def score(self, features):
        return features["jacobian_norm"].astype(np.float64)


@SCORERS.register("min_distance")
class MinDistance(Scorer):
    requires = ("embedding",)
    requires_model = ("prototypes",)

    def score(self, features):
        return prototype_distances(features["embedding"], self.model["prototypes"]).min(1)


@SCORERS.register("ratio")
class Ratio(Scorer):
    """R: nearest prototype distance / mean rival distance (balanced-geometry paper)."""

    requires = ("embedding",)
    requires_model = ("prototypes",)
    power: ClassVar[int] = 1

    def score(self, features):
        return ratio_score(features["embedding"], self.model["prototypes"], power=self.power)


@SCORERS.register("ratio_sq")
class RatioSquared(Ratio):
    """R2: squared nearest distance / mean squared rival distance (a distinct score, not R^2)."""

    power = 2


@SCORERS.register("knn")
class KNearestNeighbour(Scorer):
    """Distance to the 50th nearest known training embedding, on L2-normalised features (Sun et al. 2022)."""

    requires = ("embedding",)
    k: ClassVar[int] = 50

    def fit(self, train, model):
        self.bank = train["embedding"]
        return super().fit(train, model)

    def score(self, features):
        return kth_neighbour_distance(features["embedding"], self.bank, self.k)


@SCORERS.register("react")
class ReAct(Scorer):
    """Energy of the linear head on representations clipped at the 90th percentile of the training
    activations (Sun et al. 2021)."""

    requires = ("embedding",)
    requires_model = ("head_weight", "head_bias")
    percentile: ClassVar[float] = 90.0

    def fit(self, train, model):
        self.clip = np.percentile(train["embedding"], self.percentile)
        return super().fit(train, model)

    def score(self, features):
        clipped = np.minimum(features["embedding"].astype(np.float64), self.clip)
        return energy(clipped @ self.model["head_weight"].T + self.model["head_bias"])


@SCORERS.register("vim")
class VirtualLogitMatching(Scorer):
    """ViM (Wang et al. 2022): the residual of the representation outside the principal subspace of
    the training features (origin u = -W^+ b), scaled to the mean max logit, minus logsumexp."""

    requires = ("embedding", "logits")
    requires_model = ("head_weight", "head_bias")

    @staticmethod
    def principal_dim(d: int, k: int) -> int:
        # The ViM paper keeps most of a wide feature space; for the small d here keep half, at
        # least K, and always leave a residual.
        return min(d - 1, max(k, d // 2))

    def fit(self, train, model):
        w, b = model["head_weight"].astype(np.float64), model["head_bias"].astype(np.float64)
        self.origin = -np.linalg.pinv(w) @ b
        x = train["embedding"].astype(np.float64) - self.origin
        eigenvalues, eigenvectors = np.linalg.eigh(x.T @ x / len(x))
        order = np.argsort(eigenvalues)[::-1]
        self.null_space = eigenvectors[:, order[self.principal_dim(x.shape[1], w.shape[0]) :]]
        residual = np.linalg.norm(x @ self.null_space, axis=1)
        self.alpha = train["logits"].max(1).mean() / max(residual.mean(), 1e-12)
        return super().fit(train, model)

    def score(self, features):
        x = features["embedding"].astype(np.float64) - self.origin
        virtual_logit = self.alpha * np.linalg.norm(x @ self.null_space, axis=1)
        return virtual_logit - logsumexp(features["logits"].astype(np.float64), axis=1)


@SCORERS.register("odin")
class ODIN(Scorer):
    """ODIN, temperature 1000, input perturbation 0.0014: needs the network, so the run computes
    the perturbed confidences (osrstudy.perturbation) and this reads them."""

    requires = ("odin",)

    def score(self, features):
        return features["odin"].astype(np.float64)


@SCORERS.register("openmax")
class OpenMax(Scorer):
    """OpenMax with Weibull tails of 20 fitted by scipy and alpha = min(10, K) (osrstudy.openmax)."""

    requires = ("logits",)
    tail: ClassVar[int] = 20
    alpha: ClassVar[int] = 10

    def fit(self, train, model):
        self.tails = fit_weibull_tails(train["logits"], train["labels"], self.tail)
        return super().fit(train, model)

    def score(self, features):
        return openmax_unknown_probability(features["logits"], *self.tails, self.alpha)


@SCORERS.register("loss_margin")
class SampleWiseLossWithMargin(Scorer):
    """The training loss at the predicted label with the training margin applied (m-OvR: s_k =
    cos(angle_k + m) for every k, eq. 5-6 as written; N-SCE with a margin: the predicted class's
    angle widened). The `loss` scorer is the same loss without the margin; for losses without a
    margin the two are equal."""

    requires = ("margin_loss",)

    def score(self, features):
        return features["margin_loss"].astype(np.float64)
