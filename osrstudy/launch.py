"""Hand one run to submitit and wait for it: the process behind each snakemake `train` job.

    python -m osrstudy.launch --spec JSON --output runs/<id>.zarr --launcher local|debug|slurm ...

Launchers: `local` (a subprocess, the default), `debug` (in this process, for tests) and `slurm`
(one SLURM job per run; partition, account, qos, constraint, GPUs, CPUs, memory and time come
from snakemake resources). This module imports neither torch nor osrstudy.run: the job imports
them, so the process snakemake keeps per in-flight job stays small.

Faults. The job writes its store to a staging path of its own beside the launch record (outside
the rule's outputs, which snakemake deletes when it is killed) and the launcher moves it into
place. One writer per run: a launcher holds the run's lock (`.launch/<run_id>.lock`) from start
to finish and a job the run's checkpoint lock, both released by the kernel when their holder dies
(SIGKILL included); a second launcher of the run waits for the first and takes its verified store,
and a store already in place is never removed (a damaged one is moved aside). So:
- a restarted snakemake re-attaches to a SLURM job of the same run that is still queued or
  running, and takes the store of one that finished meanwhile, instead of submitting again;
- a job preempted or timed out is requeued by submitit (the job is Checkpointable) and resumes
  from the run's training checkpoint;
- a failed job is reported with its SLURM job id, state and the tail of its log; no partial
  store is ever moved into place;
- a job that vanishes from SLURM without a result (killed outright on a cluster without
  accounting, where sacct cannot say so) is noticed through squeue and reported.
With --pack N, N runs share one cluster job (osrstudy.packing).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable

import submitit.core.utils
import submitit.helpers

from osrstudy import manifest, packing
from osrstudy.job import TrainJob
from osrstudy.locks import exclusive
from osrstudy.slurm_queue import ENDED

LAUNCHERS = ("local", "debug", "slurm")
TAIL_LINES = 40
POLL_S = 5  # how often the launcher looks for the job's result file (a file check, not a query)
VANISHED_AFTER_S = 60  # no result, not in squeue, no state from sacct for this long: gone


def slurm_parameters(options: dict, threads: int | None) -> dict:
    """submitit's slurm parameters from the rule's resources; empty values are left to SLURM."""
    names = {"partition": "slurm_partition", "account": "slurm_account", "qos": "slurm_qos",
             "constraint": "slurm_constraint"}
    params = {names[k]: v for k, v in options.items() if k in names and v}
    if options.get("gpus"):
        params["gpus_per_node"] = int(options["gpus"])
    if options.get("mem_mb"):
        params["mem_gb"] = max(1, int(options["mem_mb"]) // 1024)
    params["cpus_per_task"] = threads or 1
    return params


def make_executor(launcher: str, folder: Path, timeout_min: int, threads: int | None, slurm: dict | None = None):
    import submitit

    if launcher not in LAUNCHERS:
        raise SystemExit(f"unknown launcher {launcher!r}; choose one of: {', '.join(LAUNCHERS)}")
    # Always name the cluster: AutoExecutor() alone picks slurm whenever srun is on the PATH.
    executor = submitit.AutoExecutor(folder=folder, cluster=launcher)
    executor.update_parameters(timeout_min=timeout_min, cpus_per_task=threads or 1)
    if launcher == "slurm":
        executor.update_parameters(**slurm_parameters(slurm or {}, threads))
    return executor


def say_now(line: str) -> None:
    print(line, flush=True)


def tail_of_text(text: str, n: int = TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-n:])


def tail(path: str | Path, n: int = TAIL_LINES) -> str:
    try:
        return tail_of_text(Path(path).read_text(errors="replace"), n)
    except OSError:
        return "(no log)"


GONE = ENDED | {None}  # squeue answers after which a job without a result will not make one (None: unlisted)


def squeue_state(job_id: str) -> str | None:
    """The job's state as squeue shows it, or None when squeue does not list it."""
    done = subprocess.run(["squeue", "-h", "-j", str(job_id), "-o", "%T"], capture_output=True, text=True)
    state = done.stdout.strip().splitlines()
    return state[0] if done.returncode == 0 and state else None


def reattach_to(launcher: str, jobs_dir: str, job_id: str):
    import submitit

    cls = submitit.SlurmJob if launcher == "slurm" else submitit.LocalJob
    return cls(folder=jobs_dir, job_id=job_id)


def recorded_job(record: Path):
    """(job, staging path, whether packed) of the SLURM job an earlier launch recorded for this
    run, or None. Says nothing of whether the job still exists."""
    if not record.exists():
        return None
    previous = json.loads(record.read_text())
    if previous.get("launcher") != "slurm":
        return None
    job = reattach_to("slurm", previous["jobs_dir"], previous["job_id"])
    # records written before each submission had its own staging path staged beside the record
    staging = Path(previous.get("staging") or record.with_suffix(".zarr"))
    return job, staging, "pack" in previous


def reattachable(record: Path, launcher: str):
    """(job, staging path, whether packed) of a SLURM job of this run from an earlier launcher
    (snakemake was killed) that is still queued or running or finished with a result; else Nones."""
    recorded = recorded_job(record) if launcher == "slurm" else None
    if recorded is not None:
        job = recorded[0]
        if job.paths.result_pickle.exists() or squeue_state(job.job_id) not in GONE:
            return recorded
    return None, None, False


def write_record(record_path: Path, info: dict, job_id: str) -> None:
    """What was submitted for the run (read back by recorded_job after a restart)."""
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record_path.write_text(json.dumps({
        **info, "job_id": str(job_id),
        "submitted": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }, indent=1))


def wait(job, launcher: str) -> None:
    """Until the job has a result or is known to have ended without one. SLURM state comes from
    submitit's watcher (batched sacct calls, at most every few minutes once a job is old); where
    sacct says nothing, squeue tells whether the job still exists."""
    if launcher == "debug":
        return
    missing_since = None
    while not job.done():
        time.sleep(POLL_S)
        if launcher != "slurm" or job.paths.result_pickle.exists():
            continue
        if job.watcher.get_state(job.job_id, mode="cache") == "UNKNOWN" and squeue_state(job.job_id) in GONE:
            missing_since = missing_since or time.monotonic()
            if time.monotonic() - missing_since > VANISHED_AFTER_S:
                raise RuntimeError(
                    f"SLURM job {job.job_id} is gone (not in squeue, no result, no accounting record): "
                    "killed outright or lost with its node"
                )
        else:
            missing_since = None


def submit_packed(member: dict, packs: Path, jobs_root: Path, launcher: str, size: int, wait_s: float,
                  timeout_min: int, threads: int | None, slurm: dict | None):
    """Join a pack (osrstudy.packing); its leader submits one job for all members. Returns the
    pack's job, the pack id and the job's folder."""
    pack_id, leader = packing.join(packs, member, size, wait_s)
    if leader:
        members = packing.members_when_closed(packs, pack_id, wait_s)
        pack_dir = jobs_root / f"pack-{pack_id}"
        executor = make_executor(launcher, pack_dir, timeout_min * len(members), threads, slurm)
        executor.update_parameters(name=f"pack-{pack_id}")
        submitted = executor.submit(packing.PackJob(), members)
        packing.write_json(packs / f"{pack_id}.job.json",
                           {"job_id": str(submitted.job_id), "jobs_dir": str(pack_dir.resolve())})
    where = packing.job_of(packs, pack_id, wait_s)
    return reattach_to(launcher, where["jobs_dir"], where["job_id"]), pack_id, where["jobs_dir"]


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
    jacobian_chunk: int = 0,
    slurm: dict | None = None,
    pack: int = 1,
    pack_wait_s: float = 30.0,
) -> dict | None:
    """Submit the run (alone, or packed with others when pack > 1), wait, move its store in place.
    One launcher per run at a time: a second one (a rerun snakemake beside an orphaned launcher,
    two snakemakes) waits for the first and takes its store instead of training the run again."""
    run_id = spec["run_id"]
    record_path = Path(record) if record else Path(jobs_dir) / "launch.json"

    def tell_waiting(holder: str) -> None:
        print(f"[{run_id}] another launcher ({holder}) is running this run; waiting for it "
              "instead of training it twice", flush=True)

    with exclusive(record_path.with_suffix(".lock"), tell_waiting):
        if finished(output):
            print(f"[{run_id}] {output} is already in place and verified (another launcher finished it)", flush=True)
            return None
        job, staging, packed = reattachable(record_path, launcher)
        if job is not None:
            print(f"[{run_id}] re-attached to SLURM job {job.job_id} from an earlier launch", flush=True)
        else:
            job, staging, packed = submit(spec, record_path, checkpoint_dir, launcher, jobs_dir, threads, timeout_min,
                                          data_root, jacobian_chunk, slurm, pack, pack_wait_s)
        summary = result_of(job, run_id, launcher, packed)
        place(staging, Path(output), run_id)
    return summary


def finished(output: str | Path) -> bool:
    """Whether a verified store is at `output` (written by another launcher while this one waited)."""
    return Path(output, ".zmetadata").exists() and not manifest.damage(output, full=True)


def staging_for(record_path: Path) -> Path:
    """A staging path of this submission's own beside the run's launch record."""
    return record_path.with_name(f"{record_path.stem}.{uuid.uuid4().hex[:8]}.zarr")


def pack_member(spec: dict, staging: Path, checkpoint_dir: str, threads: int | None, data_root: str | None,
                jacobian_chunk: int) -> dict:
    """One run as osrstudy.packing.PackJob takes it."""
    return {"run_id": spec["run_id"], "spec": spec, "output": str(staging), "checkpoint_dir": checkpoint_dir,
            "threads": threads, "data_root": data_root or None, "jacobian_chunk": jacobian_chunk}


def submit(spec: dict, record_path: Path, checkpoint_dir: str, launcher: str, jobs_dir: str, threads: int | None,
           timeout_min: int, data_root: str | None, jacobian_chunk: int, slurm: dict | None, pack: int,
           pack_wait_s: float, say: Callable[[str], None] | None = None):
    """Submit the run's job and record it; (job, staging path, whether packed). Each submission
    stages its store under a path of its own, so no two jobs ever write one store."""
    run_id, say = spec["run_id"], say or say_now
    staging = staging_for(record_path)
    info = {"run_id": run_id, "launcher": launcher, "staging": str(staging)}
    packed = pack > 1 and launcher != "debug"
    if packed:
        member = pack_member(spec, staging, checkpoint_dir, threads, data_root, jacobian_chunk)
        job, pack_id, pack_dir = submit_packed(member, record_path.parent / "packs", Path(jobs_dir).parent,
                                               launcher, pack, pack_wait_s, timeout_min, threads, slurm)
        info.update(pack=pack_id, jobs_dir=pack_dir)
        say(f"[{run_id}] packed into {pack_id}: {launcher} job {job.job_id}; job logs in {pack_dir}")
    else:
        executor = make_executor(launcher, Path(jobs_dir), timeout_min, threads, slurm)
        executor.update_parameters(name=run_id)
        job = executor.submit(TrainJob(), spec, str(staging), checkpoint_dir, threads, data_root or None,
                              jacobian_chunk)
        info["jobs_dir"] = str(Path(jobs_dir).resolve())
        say(f"[{run_id}] submitted to {launcher} as job {job.job_id}; job logs in {jobs_dir}")
    write_record(record_path, info, job.job_id)
    return job, staging, packed


def result_of(job, run_id: str, launcher: str, packed: bool) -> dict:
    """Wait for the job and return the run's summary; a failure exits with the job id, its state
    and the tail of its log."""
    try:
        wait(job, launcher)
        summary = job.result()
        if packed:
            summary = summary[run_id]
            if "error" in summary:
                raise RuntimeError(f"in its pack: {summary['error']}")
        return summary
    except Exception as err:
        state = f", SLURM state {job.state}" if launcher == "slurm" else ""
        if isinstance(err, submitit.core.utils.UncompletedJobError) and "has not produced any output" in str(err):
            # submitit says "state: FINISHED" for a local job whose process was SIGKILLed
            err = ("it ended without a result and without an error of its own: it was killed from outside "
                   "(the kernel's out-of-memory killer, a time limit, or by hand); rerun it to resume from "
                   "its checkpoint")
        print(f"[{run_id}] job {job.job_id} ({launcher}{state}) failed: {err}", file=sys.stderr)
        if launcher != "debug":
            print(f"--- tail of {job.paths.stderr} ---\n{tail(job.paths.stderr)}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        if launcher != "debug":
            print(f"--- job {job.job_id} stdout ({job.paths.stdout}) ---\n{tail(job.paths.stdout, 400)}", flush=True)


def place(staging: Path, output: Path, run_id: str, say: Callable[[str], None] | None = None) -> None:
    """Move the job's store into place (same filesystem). A verified store already there stays
    (never removed by the launcher); a damaged one is moved aside, not deleted."""
    say = say or say_now
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.exists():
        damage = manifest.damage(output, full=True)
        if not damage:
            say(f"[{run_id}] a verified store is already at {output}; kept it, discarded this job's copy")
            shutil.rmtree(staging)
            return
        aside = output.with_name(f"{output.name}.damaged-{dt.datetime.now():%Y%m%d-%H%M%S}")
        output.rename(aside)
        say(f"[{run_id}] the store at {output} was damaged ({damage[0]}); moved it to {aside}")
    staging.replace(output)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m osrstudy.launch", description=__doc__.split("\n")[0])
    p.add_argument("--spec", required=True, help="the run's job spec as JSON (osrstudy.study.job_spec)")
    p.add_argument("--output", required=True, help="the run's Zarr store")
    p.add_argument("--checkpoint-dir", required=True)
    p.add_argument("--launcher", default="local", help=f"one of {', '.join(LAUNCHERS)}")
    p.add_argument("--jobs-dir", required=True, help="submitit's folder (job pickles and logs)")
    p.add_argument("--record", help="JSON file recording the submitted job id (its .zarr sibling stages the store)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--timeout-min", type=int, default=60)
    p.add_argument("--data-root", default="", help="where downloaded datasets live ('' = the dataset's default)")
    p.add_argument("--jacobian-chunk", type=int, default=0,
                   help="samples per batched Jacobian; 0 (default): chosen from free memory and a two-sample probe")
    p.add_argument("--slurm", default="{}", help="JSON: partition, account, qos, constraint, gpus, mem_mb")
    p.add_argument("--pack", type=int, default=1, help="runs per cluster job (1: one job per run)")
    p.add_argument("--pack-wait-s", type=float, default=30.0, help="how long a pack waits to fill up")
    a = p.parse_args(argv)
    launch(
        json.loads(a.spec), a.output, a.checkpoint_dir, a.launcher, a.jobs_dir, a.record, a.threads,
        a.timeout_min, a.data_root, a.jacobian_chunk, json.loads(a.slurm), a.pack, a.pack_wait_s,
    )


if __name__ == "__main__":
    main()
