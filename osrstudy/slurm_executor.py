"""The osrstudy executor for snakemake (`executor: osrstudy` in the slurm profile).

Snakemake's own process submits every `train` job to SLURM through submitit and watches all of
them together: a result file check per run (no query), then at most one `squeue` for every run in
flight per `query_every_s`, and one `sacct` for the few runs squeue no longer lists. Nothing else
runs beside snakemake, so what it costs on the login node does not grow with the runs in flight
(the per-run launcher processes of `--config launcher=slurm` cost 24.7 MB and a watcher each).

The jobs are still submitit jobs (osrstudy.job.TrainJob, osrstudy.packing.PackJob: Checkpointable,
requeued on preemption or timeout and resumed from their checkpoint), and every guarantee of
osrstudy.launch holds: one writer per run (the run's launch lock, held by this process), a
restarted snakemake re-attaches to the SLURM job its launch record names when that job is still
queued or running or finished with a result, a store is staged and moved into place only when its
job returned it, a failed job is reported with its SLURM id, state and log tail, a job gone
without accounting is noticed. Small runs are packed `pack` to a job. Other rules run locally.
"""
import resource
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from snakemake_interface_common.exceptions import WorkflowError
from snakemake_interface_executor_plugins.executors.base import SubmittedJobInfo
from snakemake_interface_executor_plugins.executors.remote import RemoteExecutor
from snakemake_interface_executor_plugins.settings import CommonSettings, ExecutorSettingsBase

from osrstudy import launch, slurm_queue
from osrstudy.packing import PackJob
from osrstudy.slurm_run import Outcome, TrackedRun

common_settings = CommonSettings(
    non_local_exec=True,
    implies_no_shared_fs=False,
    job_deploy_sources=False,
    pass_default_storage_provider_args=False,
    pass_default_resources_args=False,
    pass_envvar_declarations_to_cmd=False,
    auto_deploy_default_storage_provider=False,
    init_seconds_before_status_checks=2,
)


# No `from __future__ import annotations` here: snakemake turns these fields into CLI options and
# needs their types as classes, not strings.
@dataclass
class ExecutorSettings(ExecutorSettingsBase):
    query_every_s: int = field(default=20, metadata={
        "help": "at most one squeue for all runs in flight per this many seconds (result files are checked "
                "at every status check, without a query)"})
    gone_after_s: int = field(default=60, metadata={
        "help": "a job neither listed by squeue nor with a result for this long has ended without one"})


@dataclass
class OpenPack:
    runs: list = field(default_factory=list)
    opened: float = field(default_factory=time.monotonic)


class Executor(RemoteExecutor):
    def __post_init__(self):
        settings = self.workflow.executor_settings or ExecutorSettings()
        self.query_every_s, self.gone_after_s = settings.query_every_s, settings.gone_after_s
        self.last_query = 0.0
        self.packs: dict[str, OpenPack] = {}
        self.packs_lock = threading.Lock()
        raise_open_files_limit()

    def run_job(self, job):
        if job.is_group() or job.rule.name != "train":
            raise WorkflowError(f"the osrstudy executor submits only `train` jobs to SLURM; rule "
                                f"{job.rule.name!r} must be a localrule (osrstudy's Snakefile lists them)")
        run = TrackedRun.of(job)
        info = SubmittedJobInfo(job, aux={"run": run})
        run.info = info
        try:
            self.start(run)
        except Exception as err:  # sbatch refused it (a partition that does not exist, ...)
            run.release()
            self.report_job_error(info, msg=f"[{run.run_id}] could not submit to SLURM: {err}\n")
            return
        if run.concluded:  # its pack could not be submitted: already reported
            return
        info.external_jobid = run.job_id
        self.report_job_submission(info)

    def start(self, run: TrackedRun) -> None:
        """Take the run's lock, then re-attach to its recorded job or submit it."""
        if not run.hold_lock():
            return  # another launcher holds it: check_active_jobs retries
        if run.already_placed():
            return
        recorded = launch.recorded_job(run.record)
        if recorded is not None:
            run.job, run.staging, run.packed = recorded
            run.candidate = True  # alive or not: the next squeue says
            return
        self.submit(run)

    def submit(self, run: TrackedRun) -> None:
        if run.submission.pack > 1:
            self.add_to_pack(run)
            return
        s = run.submission
        run.job, run.staging, run.packed = launch.submit(
            s.spec, run.record, s.checkpoint_dir, "slurm", s.jobs_dir, s.threads, s.timeout_min, s.data_root,
            s.jacobian_chunk, s.slurm, 1, 0, say=run.say)

    def add_to_pack(self, run: TrackedRun) -> None:
        with self.packs_lock:
            pack = self.packs.setdefault(run.submission.pack_key(), OpenPack())
            pack.runs.append(run)
            if len(pack.runs) >= run.submission.pack:
                self.submit_pack(self.packs.pop(run.submission.pack_key()).runs)

    def submit_due_packs(self) -> None:
        with self.packs_lock:
            for key, pack in list(self.packs.items()):
                if time.monotonic() - pack.opened >= pack.runs[0].submission.pack_wait_s:
                    self.submit_pack(self.packs.pop(key).runs)

    def submit_pack(self, runs: list[TrackedRun]) -> None:
        """One SLURM job trains the runs in turn (osrstudy.packing.PackJob)."""
        first, pack_id = runs[0].submission, uuid.uuid4().hex[:10]
        pack_dir = Path(first.jobs_dir).parent / f"pack-{pack_id}"
        for run in runs:
            run.staging, run.packed = launch.staging_for(run.record), True
        members = [launch.pack_member(r.submission.spec, r.staging, r.submission.checkpoint_dir, r.submission.threads,
                                      r.submission.data_root, r.submission.jacobian_chunk) for r in runs]
        try:
            executor = launch.make_executor("slurm", pack_dir, first.timeout_min * len(runs), first.threads,
                                            first.slurm)
            executor.update_parameters(name=f"pack-{pack_id}")
            job = executor.submit(PackJob(), members)
        except Exception as err:
            for run in runs:
                self.fail(run, f"could not submit its pack to SLURM: {err}", None)
            return
        for run in runs:
            run.job, run.info.external_jobid = job, str(job.job_id)
            info = {"run_id": run.run_id, "launcher": "slurm", "staging": str(run.staging), "pack": pack_id,
                    "jobs_dir": str(pack_dir.resolve())}
            launch.write_record(run.record, info, job.job_id)
            run.say(f"[{run.run_id}] packed into {pack_id}: slurm job {job.job_id}; job logs in {pack_dir}")

    async def check_active_jobs(self, active_jobs):
        self.submit_due_packs()
        waiting = []
        for info in active_jobs:
            run = info.aux["run"]
            if run.concluded:  # failed while its pack was submitted: already reported
                continue
            outcome = self.settled(run)
            if outcome is None:
                waiting.append(info)
            else:
                self.conclude(run, outcome)
        for info in self.judged_by_slurm(waiting):
            yield info

    def settled(self, run: TrackedRun) -> Outcome | None:
        """What the run came to, from files alone (no query); None while it is still out."""
        if not run.lock_held:
            if not run.hold_lock():
                return None
            if not run.already_placed():
                self.start_after_wait(run)
                return None
        if run.placed:
            return Outcome(ok=True)
        if run.job is None or not run.job.paths.result_pickle.exists():
            return None
        outcome = run.take_result()
        if run.candidate and not outcome.ok:  # a failed job of an earlier launch: this is the retry
            self.resubmit_candidate(run, f"it failed: {outcome.why.splitlines()[-1]}")
            return None
        if run.candidate:
            run.confirm_reattached()
        return outcome

    def start_after_wait(self, run: TrackedRun) -> None:
        try:
            self.start(run)
        except Exception as err:
            self.fail(run, f"could not submit to SLURM: {err}", None)
        run.info.external_jobid = run.job_id

    def judged_by_slurm(self, waiting: list) -> list:
        """The runs still out after one squeue (at most one per query_every_s) and, for those it no
        longer lists that are past their grace, one sacct. Returns the SubmittedJobInfos to keep."""
        queued = [info for info in waiting if info.aux["run"].job is not None]
        if not queued or time.monotonic() - self.last_query < self.query_every_s:
            return waiting
        self.last_query = time.monotonic()
        states = slurm_queue.squeue_states(info.aux["run"].job_id for info in queued)
        if states is None:  # squeue itself failed: judge nothing this round
            return waiting
        overdue = [info.aux["run"] for info in queued if info.aux["run"].observe(states, self.gone_after_s)]
        for run in [r for r in overdue if r.candidate]:
            self.resubmit_candidate(run, f"it ended without a result ({run.last_state or 'no longer known to SLURM'})")
        ended = [r for r in overdue if not r.candidate]
        accounted = (slurm_queue.sacct_states(r.job_id for r in ended) or {}) if ended else {}
        for run in ended:
            if not run.job.paths.result_pickle.exists():  # (one that arrived meanwhile: next round)
                self.conclude(run, run.ended_without_result(accounted.get(run.job_id)))
        for info in queued:
            run = info.aux["run"]
            if run.candidate and run.alive:
                run.confirm_reattached()
        return [info for info in waiting if not info.aux["run"].concluded]

    def resubmit_candidate(self, run: TrackedRun, how: str) -> None:
        run.say(f"[{run.run_id}] the SLURM job {run.job_id} of an earlier launch brought no store ({how}); "
                "submitting the run again")
        run.candidate, run.job, run.unseen_since = False, None, None
        try:
            self.submit(run)
        except Exception as err:
            self.fail(run, f"could not submit to SLURM: {err}", None)
            return
        run.info.external_jobid = run.job_id

    def conclude(self, run: TrackedRun, outcome: Outcome) -> None:
        if not outcome.ok:
            self.fail(run, outcome.why, outcome.state)
            return
        try:
            run.finish()
        except OSError as err:
            self.fail(run, f"its store could not be moved into place: {err}", None)
            return
        self.report_job_success(run.info)

    def fail(self, run: TrackedRun, why: str, state: str | None) -> None:
        message = run.failure_message(why, state)
        run.say(message)
        run.release()
        run.concluded = True
        self.report_job_error(run.info, msg=message + "\n")

    def cancel_jobs(self, active_jobs):
        """Snakemake stops (Ctrl-C): the SLURM jobs keep running, so the paid-for training is not
        lost; a rerun re-attaches to them. Runs waiting for a pack were never submitted."""
        for info in active_jobs:
            run = info.aux["run"]
            if run.job is not None:
                run.say(f"[{run.run_id}] snakemake stopped; SLURM job {run.job_id} keeps running and a rerun "
                        f"re-attaches to it (stop it with: scancel {run.job_id})")
            run.release()


def raise_open_files_limit() -> None:
    """Each run in flight holds its launch lock open: allow as many files as the hard limit does."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))

