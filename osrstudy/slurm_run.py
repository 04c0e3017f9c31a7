"""One run in flight under the osrstudy executor (osrstudy.slurm_executor): what its job needs from
the rule, where its job stands, and what it came to. Everything here reads files; nothing queries
SLURM (the executor asks squeue and sacct once for all runs and hands each its answer)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import submitit.core.utils

from osrstudy import launch, locks
from osrstudy.slurm_queue import ENDED

ENDED_GRACE_S = 30  # listed as ended without a result: the result file may still be on its way


@dataclass(frozen=True)
class Submission:
    """The `train` rule's params and resources, as submitit takes them."""
    spec: dict
    checkpoint_dir: str
    jobs_dir: str
    threads: int
    timeout_min: int
    data_root: str | None
    jacobian_chunk: int
    slurm: dict
    pack: int
    pack_wait_s: float

    @classmethod
    def of(cls, job) -> "Submission":
        r, p = job.resources, job.params
        slurm = {"partition": r.get("slurm_partition", ""), "account": r.get("slurm_account", ""),
                 "qos": r.get("slurm_qos", ""), "constraint": r.get("slurm_constraint", ""),
                 "gpus": int(r.get("gpus", 0)), "mem_mb": int(r.get("mem_mb", 0))}
        return cls(spec=json.loads(p.spec), checkpoint_dir=p.checkpoints, jobs_dir=p.jobs,
                   threads=int(r.get("cpus", 1)), timeout_min=int(r.get("runtime", 60)),
                   data_root=r.get("data_root") or None, jacobian_chunk=int(r.get("jacobian_chunk", 0)),
                   slurm=slurm, pack=int(r.get("pack", 1)), pack_wait_s=float(r.get("pack_wait_s", 30)))

    def pack_key(self) -> str:
        """Runs share a pack only when their jobs would ask SLURM for the same."""
        return json.dumps([self.slurm, self.threads, self.timeout_min, self.pack], sort_keys=True)


@dataclass
class Outcome:
    ok: bool
    why: str = ""
    state: str | None = None


@dataclass
class TrackedRun:
    run_id: str
    output: Path
    log: Path
    record: Path
    submission: Submission
    info: object = None  # snakemake's SubmittedJobInfo
    job: object = None  # submitit's SlurmJob, once submitted (or recorded by an earlier launch)
    staging: Path | None = None
    packed: bool = False
    candidate: bool = False  # the job of an earlier launch, until squeue or a result confirms it
    lock_handle: object = None
    told_waiting: bool = False
    placed: bool = False
    concluded: bool = False
    alive: bool = False
    unseen_since: float | None = None
    last_state: str | None = None

    @classmethod
    def of(cls, job) -> "TrackedRun":
        submission = Submission.of(job)
        return cls(run_id=submission.spec["run_id"], output=Path(job.output[0]), log=Path(job.log[0]),
                   record=Path(job.params.record), submission=submission)

    @property
    def job_id(self) -> str | None:
        return None if self.job is None else str(self.job.job_id)

    @property
    def lock_held(self) -> bool:
        return self.lock_handle is not None

    def say(self, line: str) -> None:
        """Into the rule's log, as the launcher would have printed it."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "a") as log:
            print(line, file=log)

    def hold_lock(self) -> bool:
        path = self.record.with_suffix(".lock")
        self.lock_handle = locks.try_hold(path)
        if self.lock_handle is None and not self.told_waiting:
            self.say(f"[{self.run_id}] another launcher ({locks.holder(path)}) is running this run; waiting "
                     "for it instead of training it twice")
            self.told_waiting = True
        return self.lock_held

    def release(self) -> None:
        locks.let_go(self.lock_handle)
        self.lock_handle = None

    def already_placed(self) -> bool:
        if launch.finished(self.output):
            self.say(f"[{self.run_id}] {self.output} is already in place and verified (another launcher finished it)")
            self.placed = True
        return self.placed

    def confirm_reattached(self) -> None:
        """The earlier launch's job is alive or has a result: this run is that job's."""
        self.candidate = False
        self.say(f"[{self.run_id}] re-attached to SLURM job {self.job_id} from an earlier launch")

    def observe(self, states: dict[str, str], gone_after_s: float) -> bool:
        """Take squeue's answer; whether the job has been out of sight (or ended) without a result
        for longer than its grace: the job of an earlier launch has none, it was only a guess."""
        state = states.get(self.job_id)
        self.alive = state is not None and state not in ENDED
        if self.alive:
            self.unseen_since, self.last_state = None, state
            return False
        # out of sight: an ended state seen before still tells how it ended; a live one does not
        self.last_state = state or (self.last_state if self.last_state in ENDED else None)
        now = time.monotonic()
        self.unseen_since = self.unseen_since or now
        grace = 0 if self.candidate else min(ENDED_GRACE_S, gone_after_s) if state in ENDED else gone_after_s
        return now - self.unseen_since >= grace

    def take_result(self) -> Outcome:
        """What the job's result file says of this run."""
        outcome, value = submitit.core.utils.pickle_load(self.job.paths.result_pickle)
        if outcome != "success":
            return Outcome(False, f"the job raised:\n{launch.tail_of_text(str(value))}", self.last_state)
        summary = value[self.run_id] if self.packed else value
        if self.packed and "error" in summary:
            return Outcome(False, f"in its pack: {summary['error']}", self.last_state)
        return Outcome(True)

    def ended_without_result(self, accounted: str | None) -> Outcome:
        if accounted is not None and accounted not in ENDED:
            # out of squeue, yet accounting lists it live: its record is behind (a job cancelled
            # while pending keeps PENDING there for a while)
            return Outcome(False, f"SLURM job {self.job_id} left the queue without a result while accounting "
                                  f"still lists it {accounted} (cancelled before it started, or accounting is "
                                  "behind); rerun to resume from its checkpoint", self.last_state)
        state = accounted or self.last_state
        if state is None:
            return Outcome(False, f"SLURM job {self.job_id} is gone (not in squeue, no result, no accounting "
                                  "record): killed outright or lost with its node")
        return Outcome(False, f"it ended ({state}) without a result; rerun to resume from its checkpoint", state)

    def finish(self) -> None:
        """Move the store into place (unless another launcher did) and log the job's output."""
        if not self.placed:
            launch.place(self.staging, self.output, self.run_id, say=self.say)
        if self.job is not None:
            self.say(f"--- job {self.job_id} stdout ({self.job.paths.stdout}) ---\n"
                     f"{launch.tail(self.job.paths.stdout, 400)}")
        self.release()
        self.concluded = True

    def failure_message(self, why: str, state: str | None) -> str:
        message = f"[{self.run_id}] job {self.job_id} (slurm, SLURM state {state or 'unknown'}) failed: {why}"
        if self.job is not None:
            message += f"\n--- tail of {self.job.paths.stderr} ---\n{launch.tail(self.job.paths.stderr)}"
        return message
