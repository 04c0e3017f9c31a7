"""What evaluation reads off a trained model: per-sample features, the logit head, ODIN's perturbed
confidences and the Jacobian norms along interpolation paths. Scorers read the result."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from osrstudy.jacobian import interpolation_norms, jacobian_norms, jacobian_norms_estimate
from osrstudy.model import Model
from osrstudy.perturbation import odin_scores
from osrstudy.run_inputs import Inputs
from osrstudy.run_spec import EvaluationConfig
from osrstudy.scorers import SCORERS
from osrstudy.stopwatch import Stopwatch

INTERPOLATION_STEPS = 21  # points along each of Fig. 4's paths (evaluation.interpolation_pairs of them)
OWN_HEAD, FITTED_HEAD, NO_HEAD = ("the loss's own", "frozen linear head fitted on train embeddings",
                                  "none (no requested scorer reads one)")


@dataclass
class Features:
    """Per-sample arrays of one set. Scorers read them by name (`arrays()`), and apply to a run
    iff it has what they require."""

    embedding: np.ndarray  # the loss's representation (unit-normalised for cosine losses)
    logits: np.ndarray  # the loss's own, or those of a fitted linear head
    sample_loss: np.ndarray  # the training loss at the predicted label
    native_score: np.ndarray  # the method's own inference score
    margin_loss: np.ndarray  # the training loss, its margin applied, at the predicted label
    labels: np.ndarray | None = None  # training sets only
    jacobian_norm: np.ndarray | None = None
    odin: np.ndarray | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}


@torch.no_grad()
def features(model: Model, x, batch: int = 1024) -> Features:
    model.eval()
    parts: dict[str, list] = {"embedding": [], "logits": [], "sample_loss": [], "native_score": [], "margin_loss": []}
    loss = model.loss
    for chunk in x.split(batch):
        z = model.backbone(chunk)
        parts["embedding"].append(loss.represent(z))
        parts["logits"].append(loss.logits(z))
        parts["sample_loss"].append(loss.sample_loss(z))
        parts["native_score"].append(loss.native_score(z).double())
        parts["margin_loss"].append(loss.margin_sample_loss(z).double())
    return Features(**{k: torch.cat(v).cpu().numpy() for k, v in parts.items()})


def jacobians(model: Model, x: torch.Tensor, chunk: int) -> np.ndarray:
    return jacobian_norms(model.embedding(), x, chunk).cpu().numpy()


def jacobians_of_subsample(model: Model, x: torch.Tensor, chunk: int, n: int | None) -> np.ndarray:
    """Exact norms of a fixed-seed subsample of n samples, NaN elsewhere (every sample for None)."""
    if n is None or n >= len(x):
        return jacobians(model, x, chunk)
    keep = np.sort(np.random.default_rng(0).choice(len(x), n, replace=False))
    norms = np.full(len(x), np.nan, dtype=np.float32)
    norms[keep] = jacobians(model, x[torch.as_tensor(keep, device=x.device)], chunk)
    return norms


def final_jacobians(model: Model, x: torch.Tensor, chunk: int, projections: int | None,
                    keep: np.ndarray) -> np.ndarray:
    """Norms of the samples `keep` marks (NaN elsewhere): exact, or (with `projections`) the
    random-projection estimate, whose cost does not grow with the embedding dimension; within a
    chunk of the exact pass's size (m <= d products per sample instead of d)."""
    x_kept = x if keep.all() else x[torch.as_tensor(np.flatnonzero(keep), device=x.device)]
    if projections is None:
        kept = jacobians(model, x_kept, chunk)
    else:
        kept = jacobian_norms_estimate(model.embedding(), x_kept, projections, seed=0, chunk_size=chunk).cpu().numpy()
    if keep.all():
        return kept
    norms = np.full(len(x), np.nan, dtype=kept.dtype)
    norms[keep] = kept
    return norms


def jacobian_method(projections: int | None) -> str:
    return "exact" if projections is None else f"estimated from {projections} random projections"


def fit_linear_head(z: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(W (K, d), b (K,)) of a multinomial logistic regression on known training embeddings."""
    from sklearn.linear_model import LogisticRegression  # slow to import; only prototype losses need it

    clf = LogisticRegression(max_iter=2000).fit(z.astype(np.float64), labels)
    weight, bias = clf.coef_, clf.intercept_
    if k == 2:  # scikit-learn keeps one row for two classes: split it symmetrically
        weight, bias = np.concatenate([-weight, weight]) / 2, np.r_[-bias, bias] / 2
    return weight.astype(np.float32), bias.astype(np.float32)


def interpolation_pairs(labels: np.ndarray, n_pairs: int, seed: int = 0) -> np.ndarray:
    """(n, 2) fixed pairs of known samples from different classes (positions into `labels`)."""
    known = np.flatnonzero(labels >= 0)
    rng = np.random.default_rng(seed)
    a, b = rng.choice(known, 4 * n_pairs), rng.choice(known, 4 * n_pairs)
    different = labels[a] != labels[b]
    return np.stack([a[different], b[different]], 1)[:n_pairs]


@dataclass
class Evaluated:
    """A trained model's view of the run's data, everything scorers and the store read."""

    train: Features  # known training samples, with labels
    eval: Features  # validation, test, out-of-distribution samples, with Jacobian norms
    loss_logits: np.ndarray  # the loss's own logits of the eval samples (before any fitted head)
    model_arrays: dict[str, np.ndarray]  # prototypes, and head_weight / head_bias when there is a head
    logit_head: str  # where the logits scorers read come from
    pairs: np.ndarray  # (pair, end): positions into the test samples
    path_norms: np.ndarray  # (pair, path_t): Jacobian norms along each interpolation path

    @property
    def predictions(self) -> np.ndarray:
        return self.loss_logits.argmax(1)

    @property
    def head_fitted(self) -> bool:
        return self.logit_head == FITTED_HEAD


def evaluate_model(model: Model, inputs: Inputs, evaluation: EvaluationConfig, chunk: int,
                   clock: Stopwatch) -> Evaluated:
    """Features of the training and eval samples, and what the requested scorers read besides.
    Only what they read is computed: the head fit and ODIN's extra passes cost."""
    with clock.stage("features"):
        f_train = train_features(model, inputs, evaluation.max_samples.get("train"))
        f_eval = features(model, inputs.x_eval)
    loss_logits = f_eval.logits
    with clock.stage("jacobians_after"):
        keep = inputs.samples.per_partition(evaluation.jacobian_after)
        f_eval.jacobian_norm = final_jacobians(model, inputs.x_eval, chunk, evaluation.jacobian_projections, keep)
    needs = {n for name in evaluation.scorers for n in (*SCORERS[name].requires, *SCORERS[name].requires_model)}
    with clock.stage("logit_head"):
        head, logit_head = linear_head(model, f_train, f_eval, needs, inputs.split.n_known, inputs.x_eval.device)
    if "odin" in needs and head is not None:
        weight, bias = head
        embed = model.embedding()
        with clock.stage("odin"):
            f_eval.odin = odin_scores(lambda b: embed(b) @ weight.T + bias, inputs.x_eval,
                                      inputs.split.std).cpu().numpy()
    pairs = interpolation_pairs(inputs.split.test.labels, evaluation.interpolation_pairs)
    with clock.stage("interpolation"):
        path_norms = interpolation_norms(model.embedding(), inputs.x_test[pairs[:, 0]], inputs.x_test[pairs[:, 1]],
                                         INTERPOLATION_STEPS, chunk).cpu().numpy()
    with torch.no_grad():
        arrays = {"prototypes": model.loss.prototypes(torch.as_tensor(f_train.embedding),
                                                      torch.as_tensor(f_train.labels))}
        if head is not None:
            arrays["head_weight"], arrays["head_bias"] = head
    arrays = {name: value.cpu().numpy() for name, value in arrays.items()}
    return Evaluated(f_train, f_eval, loss_logits, arrays, logit_head, pairs, path_norms)


def train_features(model: Model, inputs: Inputs, n: int | None) -> Features:
    """Features of the training samples the scorers fit to (KNN, ViM, ReAct, OpenMax, the fitted
    head, class-mean prototypes): every one, or a fixed-seed subsample of n (`max_samples.train`)."""
    labels = inputs.split.train.labels
    if n is None or n >= len(labels):
        return dataclasses.replace(features(model, inputs.x_train), labels=labels)
    keep = np.sort(np.random.default_rng(0).choice(len(labels), n, replace=False))
    x = inputs.x_train[torch.as_tensor(keep)]  # normalised, on the device
    return dataclasses.replace(features(model, x), labels=labels[keep])


def linear_head(model: Model, f_train: Features, f_eval: Features, needs: set[str], k: int,
                device: torch.device) -> tuple[tuple[torch.Tensor, torch.Tensor] | None, str]:
    """The (W, b) logit-based scorers read, and where it comes from: the loss's own, or (the
    balanced-geometry paper, section 9.1) a frozen one fitted on the known training embeddings,
    whose logits then replace the features' own."""
    head = model.loss.linear_head()
    if head is not None:
        return head, OWN_HEAD
    if not needs & {"logits", "odin", "head_weight", "head_bias"}:
        return None, NO_HEAD
    w, b = fit_linear_head(f_train.embedding, f_train.labels, k)
    for f in (f_train, f_eval):
        f.logits = f.embedding @ w.T + b
    return (torch.as_tensor(w, device=device), torch.as_tensor(b, device=device)), FITTED_HEAD
