"""One run, end to end: load split -> build backbone + loss -> train -> evaluate -> Zarr store."""
from __future__ import annotations

import dataclasses
import json
import platform
import resource
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import xarray as xr
from torch import nn

from osrstudy.augment import build_augment
from osrstudy.backbones import build_backbone
from osrstudy.data import DATASETS, load_split
from osrstudy.data.base import UNKNOWN, Partition, subsample
from osrstudy.data.ood import load_ood
from osrstudy.device import device_facts, select_device
from osrstudy.geometry import diagnostics, separation
from osrstudy.images import DeviceImages, to_device
from osrstudy.jacobian import exact_norms, interpolation_norms, jacobian_norms
from osrstudy.losses import build_loss
from osrstudy.memory import jacobian_chunk as choose_jacobian_chunk
from osrstudy.metrics import METRICS, Scored, auroc
from osrstudy.perturbation import odin_scores
from osrstudy.scorers import SCORERS
from osrstudy.store import provenance, write_run
from osrstudy.train import train

EVAL_SET = "held_out"  # the dataset's own unknown classes; out-of-distribution sets add more
PROBE_SAMPLES = 300  # cap on validation samples examined at each checkpoint
INTERPOLATION_PAIRS, INTERPOLATION_STEPS = 16, 21  # Fig. 4 paths between test samples of two classes
JACOBIAN_OF = "loss.represent(backbone(x)): the embedding the loss works on (unit-normalised for cosine losses)"


@torch.no_grad()
def features(backbone, loss, x: torch.Tensor, batch: int = 1024) -> dict[str, np.ndarray]:
    backbone.eval(), loss.eval()
    parts = {"embedding": [], "logits": [], "sample_loss": [], "native_score": []}
    for chunk in x.split(batch):
        z = backbone(chunk)
        parts["embedding"].append(loss.represent(z))
        parts["logits"].append(loss.logits(z))
        parts["sample_loss"].append(loss.sample_loss(z))
        parts["native_score"].append(loss.native_score(z).double())
    return {k: torch.cat(v).cpu().numpy() for k, v in parts.items()}


def embedding_of(backbone, loss) -> Callable[[torch.Tensor], torch.Tensor]:
    """The embedding whose Jacobian is taken (JACOBIAN_OF), in eval mode."""
    backbone.eval(), loss.eval()
    return lambda b: loss.represent(backbone(b))


def jacobians(backbone, loss, x: torch.Tensor, chunk: int) -> np.ndarray:
    return jacobian_norms(embedding_of(backbone, loss), x, chunk).cpu().numpy()


def fit_linear_head(z: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(W (K, d), b (K,)) of a multinomial logistic regression on known training embeddings."""
    from sklearn.linear_model import LogisticRegression

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


def ood_partition(name: str, data_root: str | None, channels: int, size: int) -> Partition:
    """An out-of-distribution set as a partition of unknowns (index: position in the set)."""
    images = load_ood(name, data_root, channels, size)
    unknown = np.full(len(images), UNKNOWN)
    return Partition(images, unknown, unknown, np.arange(len(images)))


def execute(
    spec: dict,
    output: str | Path,
    checkpoint_dir: str | Path | None = None,
    threads: int | None = None,
    data_root: str | None = None,
    jacobian_chunk: int | None = None,
    on_checkpoint: Callable[[int], None] | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Train and evaluate one run; write its store to `output`. Returns the summary results.
    `jacobian_chunk`: samples per batched Jacobian; None or 0 chooses it from the device's free
    memory and a two-sample probe (osrstudy.memory)."""
    t_start = time.perf_counter()
    device = select_device(threads)
    tr, ev, run_id = spec["train"], spec["evaluation"], spec["run_id"]
    split = load_split(tr["dataset"], tr["split"], data_root, tr.get("n_known"))
    budget = ev.get("max_samples", {})
    split = dataclasses.replace(split, val=subsample(split.val, budget.get("val")),
                                test=subsample(split.test, budget.get("test")))
    dataset = DATASETS[tr["dataset"]]
    ood = {name: subsample(ood_partition(name, data_root, dataset.channels, dataset.image_size), budget.get("test"))
           for name in ev.get("eval_sets", [])}
    k = split.n_known
    norm = (split.mean, split.std, device)
    # Training images stay uint8 (on the device when they fit); val and test, evaluated in full
    # passes, are normalised once.
    x_train = DeviceImages(split.train.images, split.mean, split.std, device,
                           channels_last=tr["channels_last"] and device.type == "cuda")
    x_val, x_test = (to_device(p.images, *norm) for p in (split.val, split.test))
    x_ood = [to_device(p.images, *norm) for p in ood.values()]
    y_train = torch.as_tensor(split.train.labels, device=device)
    log(f"[{run_id}] {tr['dataset']} split {tr['split']} known {list(split.known)}: "
        f"train {len(x_train)}, val {len(x_val)}, test {len(x_test)} on {device}")

    torch.manual_seed(tr["seed"])
    backbone = build_backbone(tr["backbone"], x_train.shape[1], tr["embed_dim"]).to(device)
    loss = build_loss(tr["loss"], k, tr["embed_dim"], tr["loss_options"]).to(device)
    rotation_head = nn.Linear(tr["embed_dim"], 4).to(device) if tr["self_supervision"] > 0 else None
    if tr["channels_last"] and device.type == "cuda":
        backbone = backbone.to(memory_format=torch.channels_last)
    x_background = None
    if tr["background"] is not None:  # the train share of another dataset, all of its classes
        samples = DATASETS[tr["background"]["dataset"]]().load(data_root)
        x_background = DeviceImages(samples.images[samples.partition == "train"], split.mean, split.std, device)
    augment = build_augment(tr["augment"], dataset.image_size, dataset.flip_ok, split.mean, split.std)

    x_eval = torch.cat([x_val, x_test, *x_ood])  # out-of-distribution samples last
    jacobian_chunk = jacobian_chunk or choose_jacobian_chunk(exact_norms(embedding_of(backbone, loss)), x_eval)
    log(f"[{run_id}] Jacobians in chunks of {jacobian_chunk} samples")
    j_init = jacobians(backbone, loss, x_eval, jacobian_chunk)

    probe_idx = torch.randperm(len(x_val), generator=torch.Generator().manual_seed(0))[:PROBE_SAMPLES]
    x_probe, y_probe = x_val[probe_idx.to(device)], split.val.labels[probe_idx.numpy()]

    def probe() -> dict[str, float]:
        f = features(backbone, loss, x_probe)
        known = y_probe >= 0
        j = jacobians(backbone, loss, x_probe, jacobian_chunk)
        return {
            "val_accuracy": float((f["logits"].argmax(1)[known] == y_probe[known]).mean()),
            **separation(f["embedding"][known], y_probe[known]),
            "val_auroc": auroc(f["sample_loss"], y_probe),
            "jacobian_gap": float(j[~known].mean() - j[known].mean()),
            "jacobian_known": float(j[known].mean()),
        }

    checkpoint = Path(checkpoint_dir) / f"{run_id}.pt" if checkpoint_dir else None
    t_train = time.perf_counter()
    history = train(
        backbone, loss, x_train, y_train, run_id=run_id, seed=tr["seed"], epochs=tr["epochs"],
        iterations=tr["iterations"], batch_size=tr["batch_size"], lr=tr["lr"], lr_min=tr["lr_min"],
        momentum=tr["momentum"], weight_decay=tr["weight_decay"], augment=augment,
        rotation_head=rotation_head, self_supervision=tr["self_supervision"], precision=tr["precision"],
        background=x_background,
        checkpoint=checkpoint,
        checkpoint_every=spec["schedule"]["checkpoint_every"], probe=probe,
        on_checkpoint=on_checkpoint, log=log,
    )
    train_seconds = time.perf_counter() - t_train

    f_train, f_eval = features(backbone, loss, x_train), features(backbone, loss, x_eval)
    predictions, loss_logits = f_eval["logits"].argmax(1), f_eval["logits"]
    j_final = jacobians(backbone, loss, x_eval, jacobian_chunk)
    f_train["labels"], f_eval["jacobian_norm"] = split.train.labels, j_final

    # Logit-based scorers read a linear head: the loss's own, or (balanced-geometry paper 9.1) a
    # frozen one fitted on the known-class training embeddings only.
    # Only what the requested scorers read is computed (the head fit and ODIN's extra passes cost).
    needs = {n for name in ev["scorers"] for n in (*SCORERS[name].requires, *SCORERS[name].requires_model)}
    head = loss.linear_head()
    head_fitted = head is None and bool(needs & {"logits", "odin", "head_weight", "head_bias"})
    if head_fitted:
        w, b = fit_linear_head(f_train["embedding"], split.train.labels, k)
        for f in (f_train, f_eval):
            f["logits"] = f["embedding"] @ w.T + b
        head = (torch.as_tensor(w, device=device), torch.as_tensor(b, device=device))

    if "odin" in needs and head is not None:
        weight, bias = head
        f_eval["odin"] = odin_scores(lambda b: loss.represent(backbone(b)) @ weight.T + bias, x_eval, split.std).cpu().numpy()
    pairs = interpolation_pairs(split.test.labels, INTERPOLATION_PAIRS)
    path_norms = interpolation_norms(
        embedding_of(backbone, loss), x_test[pairs[:, 0]], x_test[pairs[:, 1]], INTERPOLATION_STEPS, jacobian_chunk
    ).cpu().numpy()
    with torch.no_grad():
        model = {"prototypes": loss.prototypes(torch.as_tensor(f_train["embedding"]), y_train.cpu())}
        if head is not None:
            model["head_weight"], model["head_bias"] = head
    model = {name: value.cpu().numpy() for name, value in model.items()}
    parts = [split.val, split.test, *ood.values()]
    labels = np.concatenate([p.labels for p in parts])
    partition = np.array(["val"] * len(x_val) + ["test"] * len(x_test)
                         + [name for name, p in ood.items() for _ in range(len(p))])
    test, val = partition == "test", partition == "val"
    # The held-out unknown classes, then each out-of-distribution set against the known test samples.
    eval_masks = {EVAL_SET: test, **{name: (test & (labels >= 0)) | (partition == name) for name in ood}}

    scores = np.full((len(ev["scorers"]), len(labels)), np.nan)
    not_applicable = {}
    for i, name in enumerate(ev["scorers"]):
        cls = SCORERS[name]
        if missing := cls.missing(f_eval, model):
            not_applicable[name] = f"needs {', '.join(missing)}"
            continue
        scores[i] = cls().fit(f_train, model).score(f_eval)

    def scored(s: np.ndarray, part: np.ndarray) -> Scored:
        return Scored(s[part], labels[part], predictions[part])

    results = np.array([
        [[METRICS[m](scored(s, mask), scored(s, val)) for m in ev["metrics"]] for s in scores]
        for mask in eval_masks.values()
    ])

    protos = model["prototypes"]
    geometry = diagnostics(protos)
    # Separation of the final known test embeddings (the Jacobian-norm paper's DBI, Figs. 8, 10).
    known_test = test & (labels >= 0)
    geometry.update(separation(f_eval["embedding"][known_test], labels[known_test]))
    quantities = [q for q in history[-1] if q != "epoch"]

    factors = {
        **{key: value for key, value in tr.items() if key != "loss_options"},
        **tr["loss_options"],
        **loss.factors(),
        "n_known": k,
    }
    peak = (torch.cuda.max_memory_allocated() if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    samples = xr.Dataset(
        {
            "embedding": (("sample", "feature"), f_eval["embedding"]),
            "logits": (("sample", "class"), loss_logits),
            **({"head_logits": (("sample", "class"), f_eval["logits"])} if head_fitted else {}),
            "prediction": ("sample", predictions),
            "jacobian_norm": ("sample", j_final),
            "jacobian_norm_init": ("sample", j_init),
            "prototypes": (("class", "feature"), protos),
            **{f"score_{name}": ("sample", s) for name, s in zip(ev["scorers"], scores)},
            "interpolation_jacobian_norm": (("pair", "path_t"), path_norms),
            "pair_index": (("pair", "end"), split.test.index[pairs]),
        },
        coords={
            "partition": ("sample", partition),
            "label": ("sample", labels),
            "class_label": ("sample", np.concatenate([p.classes for p in parts])),
            "index": ("sample", np.concatenate([p.index for p in parts])),
            "class": np.array(split.known),
            "path_t": np.linspace(0, 1, INTERPOLATION_STEPS),
        },
        attrs={
            "run_id": run_id,
            "spec": json.dumps(spec, sort_keys=True),
            "factors": json.dumps(factors, sort_keys=True),
            "known_classes": list(split.known),
            "jacobian_of": JACOBIAN_OF,
            "jacobian_chunk": jacobian_chunk,
            "logit_head": ("frozen linear head fitted on train embeddings" if head_fitted
                           else "the loss's own" if head is not None else "none (no requested scorer reads one)"),
            "not_applicable": json.dumps(not_applicable),
            **device_facts(device),
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "threads": torch.get_num_threads(),
            "train_seconds": train_seconds,
            "wall_seconds": time.perf_counter() - t_start,
            "peak_memory_bytes": int(peak),
            **provenance(),
        },
    )
    summary = xr.Dataset(
        {
            "results": (("eval_set", "scorer", "metric"), results),
            "history": (("step", "quantity"), np.array([[row[q] for q in quantities] for row in history])),
            "geometry": ("diagnostic", np.array(list(geometry.values()))),
        },
        coords={
            "scorer": list(ev["scorers"]),
            "metric": list(ev["metrics"]),
            "eval_set": list(eval_masks),
            "step": [row["epoch"] for row in history],
            "quantity": quantities,
            "diagnostic": list(geometry),
        },
    )
    write_run(samples, summary, output)
    summary = {s: dict(zip(ev["metrics"], r)) for s, r in zip(ev["scorers"], results[0])}
    log(f"[{run_id}] done in {time.perf_counter() - t_start:.1f}s: {json.dumps(summary)}")
    return summary
