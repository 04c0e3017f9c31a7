"""One run, end to end, as named stages: load inputs -> build model -> train -> evaluate the model
-> score and measure -> write the store. Each stage is a function of typed inputs and outputs."""
from __future__ import annotations

import json
import resource
import time
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from osrstudy import atomic
from osrstudy.device import select_device
from osrstudy.features import evaluate_model, features, jacobians, jacobians_of_subsample
from osrstudy.geometry import separation
from osrstudy.jacobian import exact_norms
from osrstudy.measure import Measurements, measure
from osrstudy.memory import jacobian_chunk as choose_jacobian_chunk
from osrstudy.metrics import auroc
from osrstudy.model import Model, build_model
from osrstudy.run_inputs import Inputs, load_inputs, training_data
from osrstudy.run_record import RunFacts, samples_dataset, summary_dataset
from osrstudy.run_spec import EvaluationConfig, RunSpec
from osrstudy.stopwatch import Stopwatch
from osrstudy.store import write_run
from osrstudy.train import Checkpoints, Probe, Steps, train


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
    clock = Stopwatch(device)
    run = RunSpec.from_dict(spec)
    with clock.stage("load_inputs"):
        inputs = load_inputs(run, data_root, device)
    log(f"[{run.run_id}] {run.cell.dataset} split {run.cell.split} known {list(inputs.split.known)}: train "
        f"{len(inputs.x_train)}, val {len(inputs.split.val)}, test {len(inputs.x_test)} on {device}")
    with clock.stage("build_model"):
        model = build_model(run.cell, run.config, inputs.x_train.shape[1], inputs.split.n_known, device)
        data = training_data(run, inputs, data_root, device)
        chunk = jacobian_chunk or choose_jacobian_chunk(exact_norms(model.embedding()), inputs.x_eval)
    log(f"[{run.run_id}] Jacobians in chunks of {chunk} samples")
    with clock.stage("jacobians_before"):
        init_norms = norms_before_training(
            Path(checkpoint_dir) / f"{run.run_id}.before.npz" if checkpoint_dir else None, run.evaluation,
            lambda: jacobians_of_subsample(model, inputs.x_eval, chunk, run.evaluation.jacobian_before),
            lambda line: log(f"[{run.run_id}] {line}"))

    t_train = time.perf_counter()
    epochs = Steps.of(len(data.x), run.config, run.run_id).epochs
    checkpoints = Checkpoints(Path(checkpoint_dir) / f"{run.run_id}.pt" if checkpoint_dir else None,
                              run.schedule.cadence(epochs), on_checkpoint)
    with clock.stage("train"):  # the probes included; they are also timed alone ("probe")
        history = train(model, data, run.config, run_id=run.run_id, seed=run.cell.seed, checkpoints=checkpoints,
                        probe=validation_probe(model, inputs, chunk, clock, run.evaluation), log=log)
    train_seconds = time.perf_counter() - t_train

    evaluated = evaluate_model(model, inputs, run.evaluation, chunk, clock)
    measured = measure(evaluated, inputs.samples, run.evaluation, clock)
    facts = RunFacts(spec, run_factors(run, model, inputs), chunk, device, train_seconds,
                     time.perf_counter() - t_start, peak_memory(device), clock.seconds)
    write_run(samples_dataset(evaluated, measured, inputs, init_norms, run.evaluation, facts),
              summary_dataset(measured, history, run.evaluation), output)
    summary = summary_results(measured, run)
    log(f"[{run.run_id}] done in {time.perf_counter() - t_start:.1f}s: {json.dumps(summary)}")
    return summary


def norms_before_training(path: Path | None, evaluation: EvaluationConfig, compute: Callable[[], np.ndarray],
                          log: Callable[[str], None]) -> np.ndarray:
    """The Jacobian norms of the untrained model, computed once per run and kept beside its
    checkpoint: a resumed run (a preempted job) reads them instead of paying again (exact at d =
    256 they took 14-16 min of a 40-50 min CPU run). Kept norms count only for the same evaluated
    samples and budget (evaluation settings change no run id); otherwise they are computed anew."""
    if path is None:
        return compute()
    key = json.dumps({"max_samples": evaluation.max_samples, "eval_sets": list(evaluation.eval_sets),
                      "jacobian_before": evaluation.jacobian_before}, sort_keys=True)
    try:
        with np.load(path) as kept:
            if str(kept["key"]) == key:
                log(f"Jacobian norms before training read from {path}")
                return kept["norms"]
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile):
        pass  # none kept yet, kept for other settings, or unreadable: computed anew and replaced
    norms = compute()
    atomic.write_file(path, lambda tmp: np.savez(tmp, norms=norms, key=key), suffix=".npz")
    return norms


def validation_probe(model: Model, inputs: Inputs, chunk: int, clock: Stopwatch, evaluation: EvaluationConfig) -> Probe:
    """What each checkpoint records of a fixed subsample of the validation set: accuracy,
    separation of the known embeddings, AUROC of the sample-wise loss (forward passes), and the
    Jacobian-norm gap on the first `probe_jacobians` of them (the probe's costly part)."""
    order = torch.randperm(len(inputs.split.val), generator=torch.Generator().manual_seed(0))
    probe_idx = order[:evaluation.probe_samples]
    x_probe, y_probe = inputs.x_val[probe_idx.to(inputs.x_val.device)], inputs.split.val.labels[probe_idx.numpy()]
    known = y_probe >= 0
    n_jac = min(evaluation.probe_jacobians or len(probe_idx), len(probe_idx))

    def probe() -> dict[str, float]:
        with clock.stage("probe"):
            f = features(model, x_probe)
            j = jacobians(model, x_probe[:n_jac], chunk)
        return {
            "val_accuracy": float((f.logits.argmax(1)[known] == y_probe[known]).mean()),
            **separation(f.embedding[known], y_probe[known]),
            "val_auroc": auroc(f.sample_loss, y_probe),
            "jacobian_gap": float(j[~known[:n_jac]].mean() - j[known[:n_jac]].mean()),
            "jacobian_known": float(j[known[:n_jac]].mean()),
        }

    return probe


def run_factors(run: RunSpec, model: Model, inputs: Inputs) -> dict:
    return factors_of(run.training.as_dict(), model.loss.factors(), inputs.split.n_known)


def factors_of(train: dict, loss_factors: dict, n_known: int) -> dict:
    """A run's coordinates in the merged study: its training keys, its loss's options and the
    factors the loss reports, and the number of known classes (osrstudy.planned_study computes
    them from the config alone)."""
    return {
        **{key: value for key, value in train.items() if key != "loss_options"},
        **train["loss_options"],
        **loss_factors,
        "n_known": n_known,
    }


def peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated())
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def summary_results(measured: Measurements, run: RunSpec) -> dict:
    """{scorer: {metric: value}} on the held-out classes."""
    return {s: dict(zip(run.evaluation.metrics, r)) for s, r in zip(run.evaluation.scorers, measured.results[0])}

