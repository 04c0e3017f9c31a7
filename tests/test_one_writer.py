"""Exactly one writer per run, whatever the user does: two launchers of one run, a snakemake
killed and rerun beside its orphaned launcher, an orphaned job; a verified store in place is never
removed. Real processes, real stores on disk."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from test_workflow import REPO, write_study

from osrstudy import manifest
from osrstudy.launch import place
from osrstudy.locks import exclusive
from osrstudy.store import open_run
from osrstudy.study import expand_study, job_spec


def long_spec(tiny_study, epochs):
    study = {**tiny_study, "training": {"epochs": epochs, "batch_size": 16, "checkpoint_every": 1}}
    study["blocks"]["t"]["losses"] = ["movr"]
    return job_spec(expand_study(study)[0])


def launcher(spec, tmp_path):
    """A bare launcher process of the run, as snakemake's train rule starts it."""
    cmd = [sys.executable, "-m", "osrstudy.launch", "--spec", json.dumps(spec), "--output", str(tmp_path / "run.zarr"),
           "--checkpoint-dir", str(tmp_path / "ckpt"), "--jobs-dir", str(tmp_path / "jobs"),
           "--record", str(tmp_path / ".launch" / "run.json"), "--launcher", "local", "--threads", "1"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(predicate, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_second_launcher_of_a_run_waits_and_takes_the_first_ones_store(tmp_path, tiny_study):
    """Before: both staged to one path; the second rmtree'd the store the first had just moved
    into place and failed with FileNotFoundError."""
    spec = long_spec(tiny_study, epochs=15)
    first = launcher(spec, tmp_path)
    assert wait_for(lambda: (tmp_path / ".launch" / "run.json").exists())
    second = launcher(spec, tmp_path)
    out_first, _ = first.communicate(timeout=300)
    out_second, _ = second.communicate(timeout=300)
    assert first.returncode == 0, out_first[-3000:]
    assert second.returncode == 0, out_second[-3000:]
    assert "another launcher" in out_second and "waiting for it instead of training it twice" in out_second
    assert "already in place and verified" in out_second
    assert len(list((tmp_path / "jobs").glob("*_result.pkl"))) == 1  # trained once
    assert not manifest.problems(tmp_path / "run.zarr", full=True)
    assert not list((tmp_path / ".launch").glob("*.zarr"))  # no staging left behind


@pytest.mark.slow
def test_snakemake_killed_and_rerun_beside_its_orphaned_launcher_loses_nothing(tmp_path):
    """The README's recovery path: snakemake is SIGKILLed (its launcher lives on), --unlock, rerun."""
    from conftest import TINY

    study = {**TINY, "name": "orphan", "training": {"epochs": 150, "batch_size": 16, "checkpoint_every": 5}}
    study["blocks"] = {"t": {**TINY["blocks"]["t"], "losses": ["movr"]}}
    config = write_study(tmp_path, study)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--cores", "1",
           "--config", f"study={config}"]
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = tmp_path / "results/orphan/checkpoints"
    assert wait_for(lambda: any(checkpoints.glob("*.pt")), timeout=180), "training never started"
    os.kill(first.pid, signal.SIGKILL)  # snakemake alone: its launcher and job keep going
    first.wait()
    assert subprocess.run([*cmd, "--unlock"], capture_output=True).returncode == 0
    second = subprocess.run([*cmd, "--rerun-incomplete"], capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-4000:]
    run_id = next(checkpoints.glob("*.pt")).stem
    log = (tmp_path / "results/orphan/logs/train" / f"{run_id}.log").read_text()
    assert "waiting for it instead of training it twice" in log
    store = tmp_path / "results/orphan/runs" / f"{run_id}.zarr"
    open_run(store)  # present and verified
    assert (tmp_path / "results/orphan/study.zarr").exists()


def test_a_verified_store_in_place_is_kept_and_a_damaged_one_moved_aside(tmp_path, tiny_specs):
    from osrstudy.run import execute

    for name in ("a", "b"):
        execute(tiny_specs["sce"], tmp_path / f"{name}.zarr", tmp_path / f"ckpt-{name}", threads=1, log=lambda _: None)
    output = tmp_path / "a.zarr"
    inode = (output / manifest.MANIFEST).stat().st_ino
    place(tmp_path / "b.zarr", output, "r")
    assert (output / manifest.MANIFEST).stat().st_ino == inode and not (tmp_path / "b.zarr").exists()
    execute(tiny_specs["sce"], tmp_path / "c.zarr", tmp_path / "ckpt-c", threads=1, log=lambda _: None)
    chunk = next(p for p in sorted((output / "embedding").iterdir()) if not p.name.startswith("."))
    chunk.write_bytes(chunk.read_bytes()[:-5])  # truncated
    place(tmp_path / "c.zarr", output, "r")
    assert not manifest.problems(output, full=True)
    aside = list(tmp_path.glob("a.zarr.damaged-*"))
    assert len(aside) == 1 and manifest.problems(aside[0])  # kept for inspection, not deleted


def test_an_orphaned_job_of_the_run_finishes_before_another_trains_it(tmp_path, tiny_specs):
    """The job's checkpoint lock: a second job of the run waits for the first (here: the lock held
    by this test), then trains; it never writes beside it."""
    spec = tiny_specs["sce"]
    code = ("import json, sys; from osrstudy.job import TrainJob; "
            "TrainJob()(json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], 1, None)")
    lock = tmp_path / "ckpt" / f"{spec['run_id']}.lock"
    released = threading.Event()
    held = threading.Event()

    def hold():
        with exclusive(lock):
            held.set()
            released.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    args = [json.dumps(spec), str(tmp_path / "run.zarr"), str(tmp_path / "ckpt")]
    job = subprocess.Popen([sys.executable, "-c", code, *args],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    waiting = f"another job ({socket.gethostname()} pid {os.getpid()}) is training this run; waiting for it"
    lines, said = [], threading.Event()

    def read():  # until the job says it waits (its start-up takes seconds on a loaded machine)
        for line in job.stdout:
            lines.append(line)
            if waiting in line:
                said.set()

    reader = threading.Thread(target=read)
    reader.start()
    assert said.wait(120), "".join(lines)[-3000:]
    time.sleep(1)
    assert job.poll() is None and not (tmp_path / "run.zarr").exists()  # waiting, writing nothing
    released.set()
    holder.join()
    job.wait(timeout=120)
    reader.join()
    assert job.returncode == 0, "".join(lines)[-3000:]
    open_run(tmp_path / "run.zarr")


def test_a_store_without_a_manifest_in_place_is_not_taken_for_finished(tmp_path):
    """(It raised DamagedStoreError in the launcher before.) It is moved aside like damage."""
    from osrstudy.launch import finished

    output, staging = tmp_path / "run.zarr", tmp_path / "staging.zarr"
    for store in (output, staging):
        store.mkdir()
        (store / ".zmetadata").write_text("{}")
    manifest.write(staging)
    assert not finished(output)
    place(staging, output, "r")
    assert (output / manifest.MANIFEST).exists() and len(list(tmp_path.glob("run.zarr.damaged-*"))) == 1
