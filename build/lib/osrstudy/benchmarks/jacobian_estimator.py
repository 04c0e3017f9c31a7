"""Does the random-projection Jacobian estimator change the Jacobian score's AUROC? One run of a
study is trained once; its final checkpoint is then evaluated with exact norms and with the
estimator at each number of projections (the same model every time), and the held-out AUROC of
the `jacobian` scorer and the evaluation's time are printed side by side.

    python -m osrstudy.benchmarks.jacobian_estimator --study config/demo.yaml --run 0 \\
        --embed-dim 128 --projections 4 16 64
"""
from __future__ import annotations

import argparse
import copy
import json
import tempfile
from pathlib import Path

from osrstudy.run import execute
from osrstudy.store import open_run
from osrstudy.study import expand_study, job_spec, load_study, run_id


def reference_spec(study_path: str, index: int, embed_dim: int | None) -> dict:
    spec = job_spec(expand_study(load_study(study_path))[index])
    if embed_dim is not None:  # the study's own cell at another width: a new run id
        spec["train"]["embed_dim"] = embed_dim
        spec["run_id"] = run_id(spec["train"])
    spec["evaluation"]["scorers"] = ["jacobian", "loss"]
    spec["evaluation"]["metrics"] = ["auroc"]
    return spec


def evaluate(spec: dict, projections: int | None, folder: Path) -> tuple[float, float, dict]:
    """(AUROC %, evaluation seconds of the final Jacobians, stage seconds) from the trained checkpoint."""
    spec = copy.deepcopy(spec)
    if projections is not None:
        spec["evaluation"]["jacobian_projections"] = projections
    out = folder / f"eval-{projections or 'exact'}.zarr"
    execute(spec, out, checkpoint_dir=folder / "checkpoints", threads=1, log=lambda _: None)
    samples, summary = open_run(out)
    stages = json.loads(samples.attrs["stage_seconds"])
    auroc = float(summary.results.sel(eval_set="held_out", scorer="jacobian", metric="auroc")) * 100
    return auroc, stages["jacobians_after"], stages


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m osrstudy.benchmarks.jacobian_estimator",
                                description=__doc__.split("\n")[0])
    p.add_argument("--study", default="config/demo.yaml")
    p.add_argument("--run", type=int, default=0, help="index of the run in the study's expansion")
    p.add_argument("--embed-dim", type=int, help="train the run at this embedding dimension instead")
    p.add_argument("--projections", type=int, nargs="+", default=[4, 16, 64])
    a = p.parse_args(argv)
    spec = reference_spec(a.study, a.run, a.embed_dim)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        exact, exact_seconds, _ = evaluate(spec, None, folder)  # trains, then evaluates exactly
        exact, exact_seconds, _ = evaluate(spec, None, folder)  # from the checkpoint: timed like the rest
        print(f"{spec['run_id']} (d = {spec['train']['embed_dim']}): Jacobian-score AUROC, held-out classes")
        print("| method | AUROC % | difference | final Jacobians s | speed-up |")
        print("|---|---|---|---|---|")
        print(f"| exact | {exact:.2f} | 0 | {exact_seconds:.2f} | 1.0 |")
        for m in a.projections:
            auroc, seconds, _ = evaluate(spec, m, folder)
            speed_up = exact_seconds / seconds
            print(f"| {m} projections | {auroc:.2f} | {auroc - exact:+.2f} | {seconds:.2f} | {speed_up:.1f} |")


if __name__ == "__main__":
    main()
