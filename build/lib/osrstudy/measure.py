"""From a trained model's features to its numbers: every scorer's scores, every metric on every
eval set, and the geometry of its prototypes and final embeddings."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from osrstudy.features import Evaluated
from osrstudy.geometry import diagnostics, separation
from osrstudy.metrics import METRICS, Scored
from osrstudy.run_inputs import EvalSamples
from osrstudy.run_spec import EvaluationConfig
from osrstudy.scorers import SCORERS
from osrstudy.stopwatch import Stopwatch


@dataclass
class Measurements:
    scores: np.ndarray  # (scorer, sample); NaN where a scorer does not apply
    not_applicable: dict[str, str]  # scorer -> what the run lacks for it
    results: np.ndarray  # (eval_set, scorer, metric)
    eval_sets: list[str]
    geometry: dict[str, float]


def scores_of(evaluated: Evaluated, scorers: tuple[str, ...]) -> tuple[np.ndarray, dict[str, str]]:
    """Each scorer fitted on the training features and applied to the eval samples."""
    train, features = evaluated.train.arrays(), evaluated.eval.arrays()
    scores = np.full((len(scorers), len(evaluated.eval.embedding)), np.nan)
    not_applicable = {}
    for i, name in enumerate(scorers):
        scorer = SCORERS[name]
        if missing := scorer.missing(features, evaluated.model_arrays):
            not_applicable[name] = f"needs {', '.join(missing)}"
            continue
        scores[i] = scorer().fit(train, evaluated.model_arrays).score(features)
    return scores, not_applicable


def metric_table(scores: np.ndarray, samples: EvalSamples, predictions: np.ndarray, metrics: tuple[str, ...],
                 scored_samples: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(eval_set, scorer, metric) results; thresholds are calibrated on the validation samples.
    `scored_samples` (scorer, sample): which samples each scorer is measured on (all, except for
    scores of a budgeted subsample, evaluation.jacobian_after)."""
    masks, val = samples.masks(), samples.partition == "val"

    def scored(s: np.ndarray, part: np.ndarray) -> Scored:
        return Scored(s[part], samples.labels[part], predictions[part])

    results = np.array([
        [[METRICS[m](scored(s, mask & on), scored(s, val & on)) for m in metrics]
         for s, on in zip(scores, scored_samples)]
        for mask in masks.values()
    ])
    return results, list(masks)


def scored_samples(evaluated: Evaluated, evaluation: EvaluationConfig) -> np.ndarray:
    """(scorer, sample) mask: with evaluation.jacobian_after, a scorer that reads the Jacobian
    norms is measured on the budgeted subsample; otherwise every scorer on every sample (a NaN
    score then shows as a NaN result, never as a silently smaller sample)."""
    every = np.ones(len(evaluated.eval.jacobian_norm), dtype=bool)
    budgeted = every if evaluation.jacobian_after is None else np.isfinite(evaluated.eval.jacobian_norm)
    return np.array([budgeted if "jacobian_norm" in SCORERS[name].requires else every for name in evaluation.scorers])


def final_geometry(evaluated: Evaluated, samples: EvalSamples) -> dict[str, float]:
    """Prototype diagnostics, and the separation of the known test embeddings (the Jacobian-norm
    paper's DBI, Figs. 8, 10)."""
    geometry = diagnostics(evaluated.model_arrays["prototypes"])
    known_test = (samples.partition == "test") & (samples.labels >= 0)
    geometry.update(separation(evaluated.eval.embedding[known_test], samples.labels[known_test]))
    return geometry


def measure(evaluated: Evaluated, samples: EvalSamples, evaluation: EvaluationConfig, clock: Stopwatch) -> Measurements:
    with clock.stage("scorers"):
        scores, not_applicable = scores_of(evaluated, evaluation.scorers)
    with clock.stage("metrics"):
        on = scored_samples(evaluated, evaluation)
        results, eval_sets = metric_table(scores, samples, evaluated.predictions, evaluation.metrics, on)
    with clock.stage("geometry"):
        geometry = final_geometry(evaluated, samples)
    return Measurements(scores, not_applicable, results, eval_sets, geometry)
