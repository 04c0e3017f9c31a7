"""What a run store holds: per-sample arrays and the run's facts (`samples`), and the per-run
summaries the merge stacks across runs (`summary`). The layout is the results contract of
docs/design.md."""
from __future__ import annotations

import json
import platform
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from osrstudy.device import device_facts
from osrstudy.features import INTERPOLATION_STEPS, Evaluated, jacobian_method
from osrstudy.measure import Measurements
from osrstudy.run_inputs import Inputs
from osrstudy.run_spec import EvaluationConfig
from osrstudy.store import provenance

JACOBIAN_OF = "loss.represent(backbone(x)): the embedding the loss works on (unit-normalised for cosine losses)"


@dataclass
class RunFacts:
    """How the run went: what the store's attrs record beside the spec."""

    spec: dict
    factors: dict
    jacobian_chunk: int
    device: torch.device
    train_seconds: float
    wall_seconds: float
    peak_memory_bytes: int
    stage_seconds: dict[str, float]  # wall time per stage (osrstudy.stopwatch)


def samples_dataset(evaluated: Evaluated, measured: Measurements, inputs: Inputs, init_norms: np.ndarray,
                    evaluation: EvaluationConfig, facts: RunFacts) -> xr.Dataset:
    samples = inputs.samples
    return xr.Dataset(
        {
            "embedding": (("sample", "feature"), evaluated.eval.embedding),
            "logits": (("sample", "class"), evaluated.loss_logits),
            **({"head_logits": (("sample", "class"), evaluated.eval.logits)} if evaluated.head_fitted else {}),
            "prediction": ("sample", evaluated.predictions),
            "jacobian_norm": ("sample", evaluated.eval.jacobian_norm),
            "jacobian_norm_init": ("sample", init_norms),
            "prototypes": (("class", "feature"), evaluated.model_arrays["prototypes"]),
            **{f"score_{name}": ("sample", s) for name, s in zip(evaluation.scorers, measured.scores)},
            "interpolation_jacobian_norm": (("pair", "path_t"), evaluated.path_norms),
            "pair_index": (("pair", "end"), inputs.split.test.index[evaluated.pairs]),
        },
        coords={
            "partition": ("sample", samples.partition),
            "label": ("sample", samples.labels),
            "class_label": ("sample", samples.classes),
            "index": ("sample", samples.index),
            "class": np.array(inputs.split.known),
            "path_t": np.linspace(0, 1, INTERPOLATION_STEPS),
        },
        attrs=run_attrs(evaluated, measured, inputs, evaluation, facts),
    )


def run_attrs(evaluated: Evaluated, measured: Measurements, inputs: Inputs, evaluation: EvaluationConfig,
              facts: RunFacts) -> dict:
    return {
        "run_id": facts.spec["run_id"],
        "spec": json.dumps(facts.spec, sort_keys=True),
        "factors": json.dumps(facts.factors, sort_keys=True),
        "known_classes": list(inputs.split.known),
        "jacobian_of": JACOBIAN_OF,
        "jacobian_chunk": facts.jacobian_chunk,
        "jacobian_method": jacobian_method(evaluation.jacobian_projections),
        "jacobian_before_samples": min(evaluation.jacobian_before or len(inputs.samples.labels),
                                       len(inputs.samples.labels)),
        "probe_samples": evaluation.probe_samples,
        "probe_jacobian_samples": min(evaluation.probe_jacobians or evaluation.probe_samples, evaluation.probe_samples),
        "jacobian_after_samples": int(np.isfinite(evaluated.eval.jacobian_norm).sum()),
        "logit_head": evaluated.logit_head,
        "not_applicable": json.dumps(measured.not_applicable),
        **device_facts(facts.device),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "threads": torch.get_num_threads(),
        "train_seconds": facts.train_seconds,
        "wall_seconds": facts.wall_seconds,
        "peak_memory_bytes": facts.peak_memory_bytes,
        "stage_seconds": json.dumps(facts.stage_seconds),
        "evaluated_samples": len(inputs.samples.labels),
        "train_feature_samples": len(evaluated.train.labels),
        **provenance(),
    }


def summary_dataset(measured: Measurements, history: list[dict], evaluation: EvaluationConfig) -> xr.Dataset:
    quantities = [q for q in history[-1] if q != "epoch"]
    return xr.Dataset(
        {
            "results": (("eval_set", "scorer", "metric"), measured.results),
            "history": (("step", "quantity"), np.array([[row[q] for q in quantities] for row in history])),
            "geometry": ("diagnostic", np.array(list(measured.geometry.values()))),
        },
        coords={
            "scorer": list(evaluation.scorers),
            "metric": list(evaluation.metrics),
            "eval_set": measured.eval_sets,
            "step": [row["epoch"] for row in history],
            "quantity": quantities,
            "diagnostic": list(measured.geometry),
        },
    )
