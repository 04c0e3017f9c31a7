"""Representation losses. Each declares what evaluation needs from it.

A loss is an nn.Module holding its own head (linear weights, prototypes) and answering:
- forward(z, y): the training loss (margins etc. applied), a scalar;
- represent(z): the embedding it works on (unit-normalised for cosine losses); Jacobian norms and
  geometry are taken of this;
- logits(z): inference logits (no margin), for MSP / MaxLogit / prediction;
- sample_loss(z): the sample-wise loss at the predicted label (the Jacobian-norm paper's
  inference score, section 5.3; higher = more unknown);
- native_score(z): the method's own inference score (default: the sample-wise loss);
- margin_sample_loss(z): the sample-wise loss with the training margin applied (the literal
  reading of the Jacobian-norm paper's eq. 5-6 at inference; losses without a margin: sample_loss);
- prototypes(train_repr, train_labels): (K, d) class prototypes for geometry diagnostics;
- factors(): study coordinates it sets (normalize, margin, scale_T, ...).
"""
from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from osrstudy import codes
from osrstudy.geometry import mean_rival, rival_ratio
from osrstudy.registry import Registry, check_options

LOSS_FLOOR = 1e-12  # keeps the ratio term finite when a batch's rival distances vanish (float32)

LOSSES: Registry[type["Loss"]] = Registry("loss")


class Loss(nn.Module):
    defaults: ClassVar[dict] = {}
    uses_background: ClassVar[bool] = False  # forward(z, y, z_background) with a background set

    def __init__(self, n_classes: int, embed_dim: int):
        super().__init__()
        self.n_classes = n_classes
        self.embed_dim = embed_dim

    @staticmethod
    def validate(options: dict) -> None:
        """Raise ValueError for option combinations that make no sense."""

    @classmethod
    def check_dimensions(cls, n_classes: int, embed_dim: int, options: dict | None = None) -> None:
        """Raise ValueError when the loss (with these options) cannot exist for K classes in d
        dimensions."""

    def represent(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def prototypes(self, train_repr: torch.Tensor, train_labels: torch.Tensor) -> torch.Tensor:
        """Default: class means of the training representations."""
        onehot = F.one_hot(train_labels, self.n_classes).to(train_repr.dtype)
        return (onehot.T @ train_repr) / onehot.sum(0).clamp_min(1)[:, None]

    def native_score(self, z: torch.Tensor) -> torch.Tensor:
        """The method's own inference score (higher = more unknown); default: the sample-wise loss."""
        return self.sample_loss(z)

    def margin_sample_loss(self, z: torch.Tensor) -> torch.Tensor:
        """The training loss at the predicted label with the training margin applied; a loss
        without a margin has the sample-wise loss."""
        return self.sample_loss(z)

    def linear_head(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(W, b) with logits = represent(z) @ W.T + b, when the logits are that; else None."""
        return None

    def factors(self) -> dict:
        return {}


def cos_plus_margin(s: torch.Tensor, margin: float) -> torch.Tensor:
    """cos(angle + m) from cos(angle) = s (eq. 6), without arccos: exact at s = +-1, where arccos
    needs a clamp (float32 clamps shift the angle by ~5e-4 rad) and its gradient is infinite."""
    sin = (1 - s * s).clamp_min(1e-12).sqrt()
    return s * math.cos(margin) - sin * math.sin(margin)


def softmax_loss_at_prediction(logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy at the predicted label, -log max softmax, in float64 (SCE, N-SCE)."""
    logits = logits.double()
    return torch.logsumexp(logits, 1) - logits.max(1).values


def resolve_loss(name: str, options: dict, where: str = "") -> dict:
    """Full option set of a loss (declared defaults + user options), validated."""
    LOSSES.check(name, where)
    cls = LOSSES[name]
    resolved = check_options(f"loss {name!r}", options, cls.defaults, where)
    cls.validate(resolved)
    return resolved


def build_loss(name: str, n_classes: int, embed_dim: int, options: dict) -> Loss:
    return LOSSES[name](n_classes, embed_dim, **resolve_loss(name, options))


@LOSSES.register("sce")
class SoftmaxCrossEntropy(Loss):
    """Softmax cross-entropy on a linear head."""

    def __init__(self, n_classes: int, embed_dim: int):
        super().__init__(n_classes, embed_dim)
        self.head = nn.Linear(embed_dim, n_classes)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.head(z), y)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)

    def sample_loss(self, z: torch.Tensor) -> torch.Tensor:
        return softmax_loss_at_prediction(self.head(z))

    def linear_head(self):
        return self.head.weight.detach(), self.head.bias.detach()

    def factors(self) -> dict:
        return {"normalize": False}


@LOSSES.register("movr")
class MarginalOneVsRest(Loss):
    """m-OvR (Jacobian-norm paper eq. 5-6): one sigmoid per class on s_k = cos(angle_k + m), scale T.

    The margin is applied to every class in training: the positive must beat it, and a negative
    prototype is pushed to angle pi - m (not pi), so negatives do not collapse onto -w_y (Prop. 6).
    """

    defaults: ClassVar[dict] = {"scale_T": 32.0, "margin": 0.5, "normalize": True}

    @staticmethod
    def validate(options: dict) -> None:
        if options["margin"] > 0 and not options["normalize"]:
            raise ValueError(
                "loss 'movr': an angular margin needs unit-normalised embeddings and prototypes; "
                "set normalize: true or margin: 0"
            )
        if not 0 <= options["margin"] < math.pi:
            raise ValueError(f"loss 'movr': margin must lie in [0, pi); got {options['margin']}")

    def __init__(self, n_classes: int, embed_dim: int, scale_T: float, margin: float, normalize: bool):
        super().__init__(n_classes, embed_dim)
        self.validate({"margin": margin, "normalize": normalize})
        self.scale_T, self.margin, self.normalize = float(scale_T), float(margin), bool(normalize)
        self.weight = nn.Parameter(torch.randn(n_classes, embed_dim) / math.sqrt(embed_dim))

    def represent(self, z: torch.Tensor) -> torch.Tensor:
        return F.normalize(z, dim=1) if self.normalize else z

    def _prototypes(self) -> torch.Tensor:
        return F.normalize(self.weight, dim=1) if self.normalize else self.weight

    def similarity(self, z: torch.Tensor) -> torch.Tensor:
        return self.represent(z) @ self._prototypes().T

    @staticmethod
    def _ovr_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-sample sum over classes of binary cross-entropy (logsigmoid form, stable)."""
        onehot = F.one_hot(target, logits.shape[1]).to(logits.dtype)
        return F.binary_cross_entropy_with_logits(logits, onehot, reduction="none").sum(1)

    def with_margin(self, s: torch.Tensor) -> torch.Tensor:
        """s_k = cos(angle_k + m) for every class (eq. 5), from the cosines s."""
        return s if self.margin <= 0 else cos_plus_margin(s, self.margin)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self._ovr_loss(self.scale_T * self.with_margin(self.similarity(z)), y).mean()

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.scale_T * self.similarity(z)

    def sample_loss(self, z: torch.Tensor) -> torch.Tensor:
        # float64: a confident loss sums terms near exp(-T s), which float32 rounds away.
        logits = self.logits(z).double()
        return self._ovr_loss(logits, logits.argmax(1))

    def margin_sample_loss(self, z: torch.Tensor) -> torch.Tensor:
        """Eq. 6 at the predicted label with s_k = cos(angle_k + m) for every k, as in training."""
        if self.margin <= 0:
            return self.sample_loss(z)
        s = self.similarity(z).double()
        return self._ovr_loss(self.scale_T * self.with_margin(s), s.argmax(1))

    def prototypes(self, train_repr: torch.Tensor, train_labels: torch.Tensor) -> torch.Tensor:
        return self._prototypes().detach()

    def linear_head(self):
        weight = self.scale_T * self._prototypes().detach()
        return weight, torch.zeros(len(weight), device=weight.device)

    def factors(self) -> dict:
        return {"normalize": self.normalize, "margin": self.margin, "scale_T": self.scale_T}


@LOSSES.register("nsce")
class NormalisedSoftmaxCrossEntropy(Loss):
    """N-SCE: softmax cross-entropy on T cos(f(x), w_k), embedding and prototypes unit-normalised.
    With margin m > 0 the true class's angle is widened by m in training (additive angular margin,
    as ArcFace, with its guard past pi - m): the "SCE substitutes for m-OvR" rows of the
    Jacobian-norm paper's Table 3 that keep N and m."""

    defaults: ClassVar[dict] = {"scale_T": 32.0, "margin": 0.0}

    @staticmethod
    def validate(options: dict) -> None:
        if not 0 <= options["margin"] < math.pi:
            raise ValueError(f"loss 'nsce': margin must lie in [0, pi); got {options['margin']}")

    def __init__(self, n_classes: int, embed_dim: int, scale_T: float, margin: float):
        super().__init__(n_classes, embed_dim)
        self.scale_T, self.margin = float(scale_T), float(margin)
        self.weight = nn.Parameter(torch.randn(n_classes, embed_dim) / math.sqrt(embed_dim))

    def represent(self, z):
        return F.normalize(z, dim=1)

    def cosines(self, z):
        return self.represent(z) @ F.normalize(self.weight, dim=1).T

    def logits(self, z):
        return self.scale_T * self.cosines(z)

    def widened(self, s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The cosines with the angle of class y widened by the margin."""
        if self.margin <= 0:
            return s
        own = s.gather(1, y[:, None])
        widened = cos_plus_margin(own, self.margin)
        # Past theta = pi - m, cos(theta + m) rises again: anti-aligning every sample with
        # collinear prototypes then beats the rivals (it did: 3 % accuracy on digits). As in
        # ArcFace, continue linearly there so the target logit keeps falling with the angle.
        beyond = own < math.cos(math.pi - self.margin)
        widened = torch.where(beyond, own - math.sin(math.pi - self.margin) * self.margin, widened)
        return s.scatter(1, y[:, None], widened)

    def forward(self, z, y):
        return F.cross_entropy(self.scale_T * self.widened(self.cosines(z), y), y)

    def margin_sample_loss(self, z):
        if self.margin <= 0:
            return self.sample_loss(z)
        s = self.cosines(z).double()
        prediction = s.argmax(1)
        return F.cross_entropy(self.scale_T * self.widened(s, prediction), prediction, reduction="none")

    def sample_loss(self, z):
        return softmax_loss_at_prediction(self.logits(z))

    def prototypes(self, train_repr, train_labels):
        return F.normalize(self.weight, dim=1).detach()

    def linear_head(self):
        weight = self.scale_T * F.normalize(self.weight, dim=1).detach()
        return weight, torch.zeros(len(weight), device=weight.device)

    def factors(self):
        return {"normalize": True, "scale_T": self.scale_T, "margin": self.margin}


@LOSSES.register("doc")
class DeepOpenClassification(Loss):
    """DOC (Shu et al. 2017): one sigmoid per class on a linear head, no normalisation, no margin."""

    def __init__(self, n_classes: int, embed_dim: int):
        super().__init__(n_classes, embed_dim)
        self.head = nn.Linear(embed_dim, n_classes)

    def logits(self, z):
        return self.head(z)

    def forward(self, z, y):
        return MarginalOneVsRest._ovr_loss(self.head(z), y).mean()

    def sample_loss(self, z):
        logits = self.head(z).double()
        return MarginalOneVsRest._ovr_loss(logits, logits.argmax(1))

    def linear_head(self):
        return self.head.weight.detach(), self.head.bias.detach()

    def factors(self):
        return {"normalize": False}


class PrototypeLoss(Loss):
    """Balanced-geometry paper, section 9.1: cross-entropy on negative squared prototype distances
    + compactness * ||z - p_y||^2 + ratio * R2 at the true label. Prototypes have radius `radius`
    (the expand factor). The paper does not state its coefficients: these defaults are ours.
    Logit-based scorers use a frozen linear head fitted on train embeddings (no linear_head)."""

    code: ClassVar[str]
    learnable: ClassVar[bool] = False
    defaults: ClassVar[dict] = {"radius": 1.0, "compactness": 0.01, "ratio": 0.1}

    @classmethod
    def check_dimensions(cls, n_classes: int, embed_dim: int, options: dict | None = None) -> None:
        getattr(codes, f"{cls.code}_code")(n_classes, embed_dim)  # raises with the fix in its message

    def __init__(self, n_classes: int, embed_dim: int, radius: float, compactness: float, ratio: float):
        super().__init__(n_classes, embed_dim)
        code = torch.tensor(getattr(codes, f"{self.code}_code")(n_classes, embed_dim, radius), dtype=torch.float32)
        self.radius, self.compactness, self.ratio = float(radius), float(compactness), float(ratio)
        if self.learnable:
            self.centres = nn.Parameter(code)
        else:
            self.register_buffer("centres", code)

    def squared_distances(self, z):
        return (z.unsqueeze(1) - self.centres.unsqueeze(0)).pow(2).sum(-1)

    def logits(self, z):
        return -self.squared_distances(z)

    def _loss(self, d2, y):
        own = d2.gather(1, y[:, None]).squeeze(1)
        rivals = mean_rival(d2, own)  # before the cross-entropy: autograd sums gradients in creation order
        ce = F.cross_entropy(-d2, y, reduction="none")
        return ce + self.compactness * own + self.ratio * own / rivals.clamp_min(LOSS_FLOOR)

    def forward(self, z, y):
        return self._loss(self.squared_distances(z), y).mean()

    def sample_loss(self, z):
        d2 = self.squared_distances(z).double()
        return self._loss(d2, d2.argmin(1))

    def prototypes(self, train_repr, train_labels):
        return self.centres.detach()

    def factors(self):
        return {"normalize": False, "radius": self.radius, "prototype_code": self.code}


@LOSSES.register("simplex")
class SimplexPrototypes(PrototypeLoss):
    code = "simplex"


@LOSSES.register("harmonic")
class HarmonicPrototypes(PrototypeLoss):
    code = "harmonic"


@LOSSES.register("learned")
class LearnedPrototypes(PrototypeLoss):
    """Prototypes as parameters, initialised from the harmonic code."""

    code = "harmonic"
    learnable = True


@LOSSES.register("ucdsc")
class UCDSC(PrototypeLoss):
    """The balanced-geometry paper's section 7 objective (A4), which needs a background set:
    mean ||z - p_y||^2 + ratio * mean R2 at the true label + hinge * mean over (training i,
    background b) pairs of max(0, margin + ||z_i - p_y_i||^2 - ||z_b - p_y_i||^2). At zero hinge
    every background sample lies at squared distance >= margin from every prototype (Prop. 15).
    Squared norms in the loss, unsquared R in the reject rule (the paper's norm convention), so
    the native score is R. The paper states no weights: these defaults are ours."""

    uses_background = True
    defaults: ClassVar[dict] = {"code": "simplex", "radius": 1.0, "ratio": 1.0, "hinge": 1.0, "margin": 1.0}

    @staticmethod
    def validate(options: dict) -> None:
        if options["code"] not in ("simplex", "harmonic", "learned"):
            raise ValueError(f"loss 'ucdsc': code must be simplex, harmonic or learned; got {options['code']!r}")

    @classmethod
    def check_dimensions(cls, n_classes: int, embed_dim: int, options: dict | None = None) -> None:
        code = (options or cls.defaults)["code"]
        getattr(codes, f"{'harmonic' if code == 'learned' else code}_code")(n_classes, embed_dim)

    def __init__(self, n_classes, embed_dim, code, radius, ratio, hinge, margin):
        self.code, self.learnable = ("harmonic", True) if code == "learned" else (code, False)
        super().__init__(n_classes, embed_dim, radius=radius, compactness=1.0, ratio=ratio)
        self.hinge, self.margin, self.code_name = float(hinge), float(margin), code

    def _intra_ratio(self, d2, y):
        own = d2.gather(1, y[:, None]).squeeze(1)
        rivals = mean_rival(d2, own)
        return own + self.ratio * own / rivals.clamp_min(LOSS_FLOOR), own

    def forward(self, z, y, z_background=None):
        value, own = self._intra_ratio(self.squared_distances(z), y)
        value = value.mean()
        if z_background is not None and self.hinge > 0:
            to_own = self.squared_distances(z_background)[:, y]  # (background, training)
            value = value + self.hinge * F.relu(self.margin + own[None, :] - to_own).mean()
        return value

    def sample_loss(self, z):
        d2 = self.squared_distances(z).double()
        return self._intra_ratio(d2, d2.argmin(1))[0]

    def native_score(self, z):
        d = self.squared_distances(z).double().clamp_min(0).sqrt()
        return rival_ratio(d, d.min(1).values)

    def factors(self):
        return {**super().factors(), "prototype_code": self.code_name, "margin": self.margin}


@LOSSES.register("gcpl")
class ConvolutionalPrototypeLearning(Loss):
    """GCPL / CPN (Yang et al. 2018, 2022): learned prototypes, distance-based cross-entropy on
    -||z - m_k||^2 plus `pl_weight` * ||z - m_y||^2 (the prototype loss). Own score: the distance
    to the nearest prototype."""

    defaults: ClassVar[dict] = {"pl_weight": 0.1}

    def __init__(self, n_classes: int, embed_dim: int, pl_weight: float):
        super().__init__(n_classes, embed_dim)
        self.pl_weight = float(pl_weight)
        self.centres = nn.Parameter(torch.randn(n_classes, embed_dim))

    def logits(self, z):
        return -(z.unsqueeze(1) - self.centres.unsqueeze(0)).pow(2).sum(-1)

    def forward(self, z, y):
        logits = self.logits(z)
        return F.cross_entropy(logits, y) - self.pl_weight * logits.gather(1, y[:, None]).mean()

    def sample_loss(self, z):
        logits = self.logits(z).double()
        y = logits.argmax(1)
        return F.cross_entropy(logits, y, reduction="none") - self.pl_weight * logits.gather(1, y[:, None]).squeeze(1)

    def native_score(self, z):
        return -self.logits(z).max(1).values

    def prototypes(self, train_repr, train_labels):
        return self.centres.detach()


@LOSSES.register("rpl")
class ReciprocalPoints(Loss):
    """RPL (Chen et al. 2020): one reciprocal point P_k per class, the "otherness" of class k.
    Logit_k = mean over dimensions of (z - P_k)^2 (far from P_k = more like class k); loss =
    cross-entropy + `radius_weight` * (mean_dims (z - P_y)^2 - R)^2 with a learned radius R, which
    bounds the open space. Own score: minus the largest logit."""

    defaults: ClassVar[dict] = {"radius_weight": 0.1}

    def __init__(self, n_classes: int, embed_dim: int, radius_weight: float):
        super().__init__(n_classes, embed_dim)
        self.radius_weight = float(radius_weight)
        self.points = nn.Parameter(0.1 * torch.randn(n_classes, embed_dim))
        self.radius = nn.Parameter(torch.zeros(()))

    def logits(self, z):
        return (z.unsqueeze(1) - self.points.unsqueeze(0)).pow(2).mean(-1)

    def _loss(self, logits, y):
        own = logits.gather(1, y[:, None]).squeeze(1)
        return F.cross_entropy(logits, y, reduction="none") + self.radius_weight * (own - self.radius).pow(2)

    def forward(self, z, y):
        return self._loss(self.logits(z), y).mean()

    def sample_loss(self, z):
        logits = self.logits(z).double()
        return self._loss(logits, logits.argmax(1))

    def native_score(self, z):
        return -self.logits(z).max(1).values

    # prototypes(): the default class means. Reciprocal points mark where a class is *not*, so
    # distance scorers must not treat them as class centres.

    def factors(self):
        return {"normalize": False}
