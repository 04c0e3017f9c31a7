import json
import os
import subprocess
import sys

import pytest

from osrstudy.launch import launch
from osrstudy.store import open_run


def test_debug_launcher_runs_the_job_and_records_it(tmp_path, tiny_specs):
    spec = tiny_specs["sce"]
    out, record = tmp_path / "run.zarr", tmp_path / ".launch" / "run.json"
    summary = launch(spec, str(out), str(tmp_path / "ckpt"), "debug", str(tmp_path / "jobs"), str(record))
    samples, results = open_run(out)
    assert samples.attrs["run_id"] == spec["run_id"]
    assert summary["msp"]["auroc"] == results.results.sel(scorer="msp", metric="auroc").item()
    assert json.loads(record.read_text())["launcher"] == "debug"


@pytest.mark.slow  # real local submitit jobs
def test_failed_local_job_is_reported_with_job_id_and_log_tail(tmp_path, tiny_specs, capsys):
    spec = json.loads(json.dumps(tiny_specs["sce"]))
    spec["train"]["split"] = 9  # the job itself fails: digits has splits 0..4
    with pytest.raises(SystemExit) as exit_:
        launch(spec, str(tmp_path / "run.zarr"), str(tmp_path / "ckpt"), "local", str(tmp_path / "jobs"), threads=1)
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    record_id = next((tmp_path / "jobs").glob("*_submitted.pkl")).name.split("_")[0]
    assert f"job {record_id} (local) failed" in err
    assert "splits 0..4; got split 9" in err  # from the tail of the job's own log
    assert not (tmp_path / "run.zarr").exists()


def test_unknown_launcher_is_refused(tmp_path, tiny_specs):
    with pytest.raises(SystemExit, match="unknown launcher 'slrum'"):
        launch(tiny_specs["sce"], str(tmp_path / "r.zarr"), str(tmp_path), "slrum", str(tmp_path / "jobs"))


def test_launcher_process_stays_free_of_torch():
    code = "import sys, osrstudy.launch, submitit; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.slow  # real local submitit jobs
def test_packed_runs_share_one_job_and_a_failing_member_spares_the_others(tmp_path, tiny_specs):
    """Two launchers (threads here, processes under snakemake) pack into one local job; the
    member whose run fails is reported, its pack-mate finishes."""
    import threading

    good = tiny_specs["sce"]
    bad = json.loads(json.dumps(tiny_specs["movr"]))
    bad["train"]["split"] = 9  # digits has splits 0..4: this run fails inside the job
    outcomes = {}

    def run(name, spec):
        try:
            outcomes[name] = launch(spec, str(tmp_path / f"{name}.zarr"), str(tmp_path / "ckpt"), "local",
                                    str(tmp_path / "jobs" / name), str(tmp_path / ".launch" / f"{name}.json"),
                                    threads=1, pack=2, pack_wait_s=20)
        except SystemExit as exit_:
            outcomes[name] = exit_

    threads = [threading.Thread(target=run, args=item) for item in (("good", good), ("bad", bad))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    records = {n: json.loads((tmp_path / ".launch" / f"{n}.json").read_text()) for n in ("good", "bad")}
    assert records["good"]["job_id"] == records["bad"]["job_id"] and records["good"]["pack"] == records["bad"]["pack"]
    assert isinstance(outcomes["good"], dict) and (tmp_path / "good.zarr").exists()
    assert isinstance(outcomes["bad"], SystemExit) and not (tmp_path / "bad.zarr").exists()


@pytest.mark.slow  # a real local job, killed
def test_a_job_killed_from_outside_is_reported_as_killed(tmp_path, tiny_study, capsys):
    """Before: a SIGKILLed local job was reported as 'state: FINISHED'."""
    import signal
    import threading
    import time

    from osrstudy.study import expand_study, job_spec

    tiny_study["training"] = {"epochs": 400, "batch_size": 16, "checkpoint_every": 100}
    spec = job_spec(expand_study(tiny_study)[0])
    outcome = {}

    def run():
        try:
            launch(spec, str(tmp_path / "run.zarr"), str(tmp_path / "ckpt"), "local", str(tmp_path / "jobs"), threads=1)
        except SystemExit as exit_:
            outcome["code"] = exit_.code

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 120
    while not list((tmp_path / "jobs").glob("*_0_log.out")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)
    pids = subprocess.run(["pgrep", "-f", f"submitit.core._submit {tmp_path / 'jobs'}"], capture_output=True, text=True)
    for pid in pids.stdout.split():
        os.kill(int(pid), signal.SIGKILL)
    thread.join(120)
    assert outcome == {"code": 1}
    err = capsys.readouterr().err
    assert "failed: it ended without a result and without an error of its own: it was killed from outside" in err
    assert "state: FINISHED" not in err
