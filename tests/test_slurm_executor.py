"""The osrstudy executor without a cluster: snakemake finds it where the README's install puts it,
SLURM's answers are read right, and a run is judged from them as the executor promises. The
executor against a real SLURM is in test_slurm.py."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from osrstudy.slurm_queue import ENDED, parse_states, sacct_states, squeue_states
from osrstudy.slurm_run import ENDED_GRACE_S, Submission, TrackedRun


def test_snakemake_discovers_the_executor_from_any_folder(tmp_path):
    """snakemake's plugin registry scans top-level packages (pkgutil), which setuptools' default
    editable install hides; the install must make the package visible, not the working folder."""
    code = ("from snakemake_interface_executor_plugins.registry import ExecutorPluginRegistry as R;"
            "p = R().get_plugin('osrstudy'); print(p.executor.__module__, p.common_settings.non_local_exec)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["osrstudy.slurm_executor", "True"]


def test_states_are_parsed_from_squeue_and_sacct_lines():
    text = "101|RUNNING\n102|PENDING\n\n103|CANCELLED by 0\n104|PREEMPTED\n104|COMPLETED\nnoise\n"
    assert parse_states(text) == {"101": "RUNNING", "102": "PENDING", "103": "CANCELLED", "104": "COMPLETED"}
    assert "CANCELLED" in ENDED and "PENDING" not in ENDED and "RUNNING" not in ENDED


def test_a_query_that_cannot_run_answers_none_not_an_empty_queue(tmp_path, monkeypatch):
    """No squeue on the PATH (or a controller that does not answer) must not read as 'every job
    has left the queue': the executor would then fail runs that are fine."""
    monkeypatch.setenv("PATH", str(tmp_path))
    assert squeue_states(["1", "2"]) is None and sacct_states(["1"]) is None
    assert squeue_states([]) == {}  # nothing to ask: no call


def test_a_failing_tool_answers_none(tmp_path, monkeypatch):
    for tool in ("squeue", "sacct"):
        (tmp_path / tool).write_text("#!/bin/sh\necho 'slurm_load_jobs error: Socket timed out' >&2\nexit 1\n")
        (tmp_path / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert squeue_states(["7"]) is None and sacct_states(["7"]) is None


class FakeJob:  # the submitit job's id and paths: all a TrackedRun reads of it
    def __init__(self, job_id, folder: Path):
        self.job_id = job_id
        self.paths = type("Paths", (), {"result_pickle": folder / "r.pkl", "stdout": folder / "o",
                                        "stderr": folder / "e"})()


def tracked(tmp_path, job_id="42", candidate=False) -> TrackedRun:
    submission = Submission(spec={"run_id": "r"}, checkpoint_dir="c", jobs_dir="j", threads=1, timeout_min=10,
                            data_root=None, jacobian_chunk=0, slurm={}, pack=1, pack_wait_s=0)
    return TrackedRun(run_id="r", output=tmp_path / "r.zarr", log=tmp_path / "r.log", record=tmp_path / "r.json",
                      submission=submission, job=FakeJob(job_id, tmp_path), candidate=candidate)


def test_a_listed_job_is_alive_and_an_unlisted_one_is_judged_after_its_grace(tmp_path):
    run = tracked(tmp_path)
    assert not run.observe({"42": "PENDING"}, gone_after_s=0.2) and run.alive
    assert not run.observe({}, gone_after_s=0.2) and not run.alive  # out of sight: the grace starts
    assert not run.observe({"42": "RUNNING"}, gone_after_s=0.2)  # back (requeued): the grace is reset
    assert not run.observe({}, gone_after_s=0.2)
    time.sleep(0.25)
    assert run.observe({}, gone_after_s=0.2)
    outcome = run.ended_without_result(None)
    assert not outcome.ok and "is gone (not in squeue, no result, no accounting record)" in outcome.why
    outcome = run.ended_without_result("NODE_FAIL")
    assert outcome.state == "NODE_FAIL" and "ended (NODE_FAIL) without a result" in outcome.why
    outcome = run.ended_without_result("PENDING")  # cancelled while pending: accounting not yet told
    assert not outcome.ok and "ended (" not in outcome.why
    assert "left the queue without a result while accounting still lists it PENDING" in outcome.why


def test_an_ended_state_is_judged_after_the_result_files_grace_not_at_once(tmp_path):
    run = tracked(tmp_path)
    assert not run.observe({"42": "COMPLETED"}, gone_after_s=3600)  # its result may still be on its way
    run.unseen_since -= ENDED_GRACE_S
    assert run.observe({"42": "COMPLETED"}, gone_after_s=3600) and run.last_state == "COMPLETED"


def test_the_job_of_an_earlier_launch_is_given_up_at_once_when_slurm_does_not_know_it(tmp_path):
    assert tracked(tmp_path, candidate=True).observe({}, gone_after_s=3600)
    assert not tracked(tmp_path, candidate=True).observe({"42": "RUNNING"}, gone_after_s=3600)


def test_failure_message_names_the_job_its_state_and_log_tail(tmp_path):
    run = tracked(tmp_path)
    (tmp_path / "e").write_text("\n".join(f"line {i}" for i in range(100)))
    message = run.failure_message("it ended (CANCELLED) without a result", "CANCELLED")
    assert message.startswith("[r] job 42 (slurm, SLURM state CANCELLED) failed: it ended (CANCELLED)")
    assert f"--- tail of {tmp_path / 'e'} ---" in message and "line 99" in message and "line 10\n" not in message


@pytest.mark.parametrize("pack", [1, 4])
def test_runs_share_a_pack_only_when_their_jobs_ask_slurm_for_the_same(pack):
    base = Submission(spec={}, checkpoint_dir="c", jobs_dir="j", threads=1, timeout_min=10, data_root=None,
                      jacobian_chunk=0, slurm={"gpus": 1, "partition": "gpu"}, pack=pack, pack_wait_s=30)
    same = Submission(**{**base.__dict__, "spec": {"run_id": "other"}, "checkpoint_dir": "elsewhere"})
    other = Submission(**{**base.__dict__, "slurm": {"gpus": 2, "partition": "gpu"}})
    assert base.pack_key() == same.pack_key() != other.pack_key()
