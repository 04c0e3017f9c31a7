"""Hand one run to submitit and wait for it: the process behind each snakemake `train` job.

    python -m osrstudy.launch --spec JSON --output runs/<id>.zarr --launcher local ...

Launchers: `local` (a subprocess, the default), `debug` (in this process, for tests); the slurm
profile adds `slurm`. This module imports neither torch nor osrstudy.run: the job imports them,
so the process snakemake keeps per in-flight job stays small.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

LAUNCHERS = ("local", "debug")
TAIL_LINES = 40


def run_job(spec: dict, output: str, checkpoint_dir: str, threads: int | None, data_root: str | None,
            jacobian_chunk: int = 256) -> dict:
    """Entry point inside the job (pickled by reference, so it must stay importable and light)."""
    from osrstudy.run import execute

    return execute(
        spec, output, checkpoint_dir, threads=threads, data_root=data_root, jacobian_chunk=jacobian_chunk,
        log=lambda line: print(line, flush=True),
    )


def make_executor(launcher: str, folder: Path, timeout_min: int, threads: int | None):
    import submitit

    if launcher not in LAUNCHERS:
        raise SystemExit(f"unknown launcher {launcher!r}; choose one of: {', '.join(LAUNCHERS)}")
    # Always name the cluster: AutoExecutor() alone picks slurm whenever srun is on the PATH.
    executor = submitit.AutoExecutor(folder=folder, cluster=launcher)
    executor.update_parameters(timeout_min=timeout_min, cpus_per_task=threads or 1)
    return executor


def tail(path: str | Path, n: int = TAIL_LINES) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def launch(
    spec: dict,
    output: str,
    checkpoint_dir: str,
    launcher: str = "local",
    jobs_dir: str = "submitit",
    record: str | None = None,
    threads: int | None = 1,
    timeout_min: int = 60,
    data_root: str | None = None,
    jacobian_chunk: int = 256,
) -> dict:
    run_id = spec["run_id"]
    executor = make_executor(launcher, Path(jobs_dir), timeout_min, threads)
    executor.update_parameters(name=run_id)
    job = executor.submit(run_job, spec, output, checkpoint_dir, threads, data_root or None, jacobian_chunk)
    print(f"[{run_id}] submitted to {launcher} as job {job.job_id}; job logs in {jobs_dir}", flush=True)
    if record:
        # Kept outside the rule's outputs: snakemake deletes those when a job is killed.
        Path(record).parent.mkdir(parents=True, exist_ok=True)
        Path(record).write_text(json.dumps({
            "run_id": run_id, "launcher": launcher, "job_id": str(job.job_id),
            "jobs_dir": str(jobs_dir), "output": output,
            "submitted": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }, indent=1))
    try:
        return job.result()
    except Exception as err:
        print(f"[{run_id}] job {job.job_id} ({launcher}) failed: {err}", file=sys.stderr)
        if launcher != "debug":
            print(f"--- tail of {job.paths.stderr} ---\n{tail(job.paths.stderr)}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        if launcher != "debug":
            print(f"--- job {job.job_id} stdout ({job.paths.stdout}) ---\n{tail(job.paths.stdout, 400)}", flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m osrstudy.launch", description=__doc__.split("\n")[0])
    p.add_argument("--spec", required=True, help="the run's job spec as JSON (osrstudy.study.job_spec)")
    p.add_argument("--output", required=True, help="the run's Zarr store")
    p.add_argument("--checkpoint-dir", required=True)
    p.add_argument("--launcher", default="local", help=f"one of {', '.join(LAUNCHERS)}")
    p.add_argument("--jobs-dir", required=True, help="submitit's folder (job pickles and logs)")
    p.add_argument("--record", help="JSON file recording the submitted job id")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--timeout-min", type=int, default=60)
    p.add_argument("--data-root", default="", help="where downloaded datasets live ('' = the dataset's default)")
    p.add_argument("--jacobian-chunk", type=int, default=256, help="samples per batched Jacobian (memory bound)")
    a = p.parse_args(argv)
    launch(
        json.loads(a.spec), a.output, a.checkpoint_dir, a.launcher, a.jobs_dir, a.record, a.threads,
        a.timeout_min, a.data_root, a.jacobian_chunk,
    )


if __name__ == "__main__":
    main()
