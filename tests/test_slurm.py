"""`snakemake --profile` against a real single-node SLURM cluster with accounting, started by
workflow/scripts/local-slurm.sh (installed on first use), and the faults a cluster brings:
requeue mid-training, scancel, a killed snakemake that re-attaches. Skipped, with the reason,
only where SLURM cannot be installed (not root, or no package manager); a cluster that will not
start fails them."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from conftest import TINY

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "workflow" / "scripts" / "local-slurm.sh"


@pytest.fixture(scope="session")
def slurm_cluster(slurm_packages):
    """A running cluster, started once (one worker runs this file: pytest's --dist loadfile, as
    the cluster listens on fixed ports). Its environment (SLURM_CONF) reaches only the tests
    that ask for `slurm`."""
    # MariaDB runs as the mysql user, which cannot enter pytest's private (0700) temp folders
    state = Path(tempfile.mkdtemp(prefix="osrstudy-slurm-"))
    state.chmod(0o755)
    started = subprocess.run([str(SCRIPT), "start", str(state)], capture_output=True, text=True, timeout=600)
    if started.returncode != 0:
        # the packages are there (slurm_packages), so a cluster that will not start is a failure,
        # e.g. of local-slurm.sh, or another cluster left running, which the script names
        if "already running" not in started.stderr:
            subprocess.run([str(SCRIPT), "stop", str(state)], capture_output=True)
        pytest.fail(f"could not start SLURM: {(started.stdout + started.stderr)[-1500:]}")
    yield {**os.environ, "SLURM_CONF": str(state / "slurm.conf")}
    subprocess.run([str(SCRIPT), "stop", str(state)], capture_output=True)
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def slurm(slurm_cluster, monkeypatch):
    """The cluster's environment, also set in this process for the in-process submitit tests."""
    monkeypatch.setenv("SLURM_CONF", slurm_cluster["SLURM_CONF"])
    return slurm_cluster


def sacct(env, name):
    out = subprocess.run(["sacct", "-n", "-X", "--name", name, "-o", "JobID,State", "--parsable2"],
                         capture_output=True, text=True, env=env).stdout
    return [line.split("|") for line in out.split()]


def write_profile(workdir: Path, study: dict, **resources) -> Path:
    """A test profile: the production one's settings, minus the GPU this cluster lacks."""
    production = yaml.safe_load((REPO / "workflow/profiles/slurm/config.yaml").read_text())
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "study.yaml").write_text(yaml.safe_dump(study))
    profile = {**production, "jobs": 4, "retries": 0,
               "set-resources": {"train": {**production["set-resources"]["train"], "gpus": 0, "cpus": 1,
                                           "mem_mb": 1000, "runtime": 30, **resources}}}
    folder = workdir / "profile"
    folder.mkdir(exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return folder


def snakemake(workdir, profile, env, *args, **kw):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--profile", str(profile), *args]
    return subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **kw)


@pytest.mark.slurm
def test_production_profile_asks_slurm_for_a_gpu(tmp_path, slurm_packages):
    """Its resources reach the sbatch script submitit writes (this cluster has no GPU to run it)."""
    from osrstudy.launch import make_executor

    production = yaml.safe_load((REPO / "workflow/profiles/slurm/config.yaml").read_text())
    assert production["config"] == ["study=config/study.yaml", "launcher=slurm"]
    assert production["scheduler"] == "greedy" and production["executor"] == "osrstudy"
    train = {**production["set-resources"]["train"], "slurm_partition": "gpu", "slurm_constraint": "a100"}
    options = {k.removeprefix("slurm_"): v for k, v in train.items()}
    executor = make_executor("slurm", tmp_path, train["runtime"], train["cpus"], options)
    script = executor._executor._make_submission_file_text("python -c pass", "uid")
    for line in ("#SBATCH --gpus-per-node=1", "#SBATCH --cpus-per-task=8", "#SBATCH --partition=gpu",
                 "#SBATCH --constraint=a100", "#SBATCH --time=720", "#SBATCH --mem=31GB"):
        assert line in script, line


def test_install_profile_links_and_refuses_a_different_profile(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": ""}
    script = REPO / "workflow/scripts/install-profile.sh"
    done = subprocess.run([str(script)], capture_output=True, text=True, env=env)
    target = tmp_path / ".config/snakemake/slurm"
    assert done.returncode == 0 and target.resolve() == (REPO / "workflow/profiles/slurm").resolve()
    assert "already linked" in subprocess.run([str(script)], capture_output=True, text=True, env=env).stdout
    target.unlink()
    target.mkdir()
    refused = subprocess.run([str(script)], capture_output=True, text=True, env=env)
    assert refused.returncode == 1 and "not this repository's profile" in refused.stderr


def launcher_processes(study: str) -> list[str]:
    """Launcher processes of this study (their command lines name its results folder)."""
    out = subprocess.run(["pgrep", "-af", "osrstudy.launch"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if f"results/{study}/" in line and "pgrep" not in line]


@pytest.mark.slurm
def test_a_second_cluster_is_refused_naming_the_running_one(slurm, tmp_path):
    """The daemons listen on fixed ports: a second start must say so at once, not time out."""
    second = tmp_path / "second"
    refused = subprocess.run([str(SCRIPT), "start", str(second)], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert "already running" in refused.stderr
    assert slurm["SLURM_CONF"] in refused.stderr
    assert f"stop {Path(slurm['SLURM_CONF']).parent}" in refused.stderr
    assert not second.exists()  # refused before touching anything
    still_up = subprocess.run(["sinfo", "-h", "-o", "%t"], env=slurm, capture_output=True, text=True)
    assert still_up.returncode == 0 and still_up.stdout.split(), still_up.stderr


@pytest.mark.slurm
def test_tiny_study_runs_through_the_profile_on_real_slurm(slurm, tmp_path):
    """The shipped profile: snakemake's own process submits and watches the jobs (the osrstudy
    executor), with no launcher process per run beside it."""
    study = {**TINY, "name": "slurmtiny", "training": {"epochs": 2, "batch_size": 32, "checkpoint_every": 1}}
    profile = write_profile(tmp_path, study)
    proc = snakemake(tmp_path, profile, slurm)
    records = tmp_path / "results/slurmtiny/.launch"
    try:
        assert wait_until(lambda: len(list(records.glob("*.json"))) == 2 or proc.poll() is not None, timeout=300)
        assert launcher_processes("slurmtiny") == []
        out, _ = proc.communicate(timeout=600)
    finally:
        proc.kill()
    assert proc.returncode == 0, out[-4000:]
    runs = sorted((tmp_path / "results/slurmtiny/runs").glob("*.zarr"))
    assert len(runs) == 2 and (tmp_path / "results/slurmtiny/study.zarr").exists()
    for record in records.glob("*.json"):
        info = json.loads(record.read_text())
        assert info["launcher"] == "slurm"
        states = dict(sacct(slurm, info["run_id"]))
        assert states == {info["job_id"]: "COMPLETED"}  # one SLURM job per run, finished
        # the train log holds the job's own output
        log = (tmp_path / "results/slurmtiny/logs/train" / f"{info['run_id']}.log").read_text()
        assert f"submitted to slurm as job {info['job_id']}" in log and "done in" in log


@pytest.mark.slurm
def test_the_launcher_route_still_runs_a_study_on_slurm(slurm, tmp_path):
    """`--executor local --config launcher=slurm`: a launcher process per run, as before the
    executor (the baseline of workflow/scripts/measure-footprint.sh)."""
    study = {**TINY, "name": "launchers", "training": {"epochs": 3, "batch_size": 32, "checkpoint_every": 1}}
    study["blocks"] = {"t": {**TINY["blocks"]["t"], "losses": ["sce"]}}
    profile = write_profile(tmp_path, study)
    proc = snakemake(tmp_path, profile, slurm, "--executor", "local", "--cores", "2", "-p")
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-4000:]
    (record,) = (tmp_path / "results/launchers/.launch").glob("*.json")
    info = json.loads(record.read_text())
    assert dict(sacct(slurm, info["run_id"])) == {info["job_id"]: "COMPLETED"}
    assert "python -m osrstudy.launch" in out  # the rule's shell command ran


def wait_until(predicate, timeout=120, step=0.5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return False


def one_long_run(tmp_path, tiny_study, name, epochs, **resources):
    """A study of one long m-OvR run, its job spec and its store, and a test profile for it."""
    from osrstudy.study import expand_study, job_spec

    study = {**tiny_study, "name": name, "training": {"epochs": epochs, "batch_size": 16, "checkpoint_every": 1}}
    study["blocks"]["t"]["losses"] = ["movr"]
    spec = job_spec(expand_study(study)[0])
    profile = write_profile(tmp_path, study, **resources)
    return spec, tmp_path / f"results/{name}/runs/{spec['run_id']}.zarr", profile


FAST_CHECKS = ("--seconds-between-status-checks", "1", "--osrstudy-query-every-s", "2", "--osrstudy-gone-after-s", "8")


@pytest.mark.slurm
def test_requeue_under_the_executor_resumes_from_the_checkpoint_and_matches(slurm, tmp_path, tiny_study):
    from test_run import assert_same_numbers

    from osrstudy.run import execute

    spec, store, profile = one_long_run(tmp_path, tiny_study, "requeue", epochs=120)
    proc = snakemake(tmp_path, profile, slurm, str(store.relative_to(tmp_path)), *FAST_CHECKS)
    results = tmp_path / "results/requeue"
    checkpoint = results / "checkpoints" / f"{spec['run_id']}.pt"
    assert wait_until(checkpoint.exists, timeout=300), "training never wrote a checkpoint"
    job_id = json.loads((results / ".launch" / f"{spec['run_id']}.json").read_text())["job_id"]
    subprocess.run(["scontrol", "requeue", job_id], check=True, env=slurm)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-4000:]
    log = (results / "logs/train" / f"{spec['run_id']}.log").read_text()
    assert "resumed from" in log  # the requeued job picked up the checkpoint
    assert [j for j, _ in sacct(slurm, spec["run_id"])] == [job_id]  # requeued, never submitted twice
    execute(spec, tmp_path / "straight.zarr", tmp_path / "ckpt-straight", threads=1, log=lambda _: None)
    assert_same_numbers(tmp_path / "straight.zarr", store)


@pytest.mark.slurm
def test_scancel_under_the_executor_is_reported_with_job_id_state_and_log_tail(slurm, tmp_path, tiny_study):
    spec, store, profile = one_long_run(tmp_path, tiny_study, "cancel", epochs=200)
    proc = snakemake(tmp_path, profile, slurm, str(store.relative_to(tmp_path)), *FAST_CHECKS)
    results = tmp_path / "results/cancel"
    assert wait_until(lambda: (results / "checkpoints" / f"{spec['run_id']}.pt").exists(), timeout=300)
    job_id = json.loads((results / ".launch" / f"{spec['run_id']}.json").read_text())["job_id"]
    subprocess.run(["scancel", job_id], check=True, env=slurm)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0
    log = (results / "logs/train" / f"{spec['run_id']}.log").read_text()
    for text in (out, log):
        assert f"job {job_id} (slurm, SLURM state CANCELLED) failed" in text and "tail of" in text
    assert not store.exists()  # no partial store taken for a result


@pytest.mark.slurm
def test_job_killed_outright_is_noticed_by_the_executor_without_accounting(slurm, tmp_path, tiny_study):
    """A cluster without accounting: sacct fails (as Debian's does: 'accounting storage is
    disabled'). The job is killed outright; squeue's view alone tells the executor it ended."""
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "sacct").write_text("#!/bin/sh\necho 'sacct: error: Slurm accounting storage is disabled' >&2\nexit 1\n")
    (shim / "sacct").chmod(0o755)
    env = {**slurm, "PATH": f"{shim}{os.pathsep}{slurm['PATH']}"}
    spec, store, profile = one_long_run(tmp_path, tiny_study, "killed", epochs=200)
    proc = snakemake(tmp_path, profile, env, str(store.relative_to(tmp_path)), *FAST_CHECKS)
    results = tmp_path / "results/killed"
    assert wait_until(lambda: (results / "checkpoints" / f"{spec['run_id']}.pt").exists(), timeout=300)
    job_id = json.loads((results / ".launch" / f"{spec['run_id']}.json").read_text())["job_id"]
    subprocess.run(["scancel", "--signal=KILL", "--full", job_id], check=True, env=slurm)
    start = time.monotonic()
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0 and f"job {job_id} (slurm, SLURM state" in out and "without a result" in out
    assert time.monotonic() - start < 120
    assert not store.exists()


@pytest.mark.slurm
@pytest.mark.parametrize("pack", [1, 2])
def test_a_job_slurm_refuses_is_reported_with_sbatchs_reason(slurm, tmp_path, pack):
    """A typo in a SLURM setting (here the partition) fails the run with sbatch's own words,
    alone or packed, and nothing is left waiting."""
    study = {**TINY, "name": f"refused{pack}", "training": {"epochs": 2, "batch_size": 32, "checkpoint_every": 1}}
    profile = write_profile(tmp_path, study, slurm_partition="no-such-partition", pack=pack, pack_wait_s=2)
    proc = snakemake(tmp_path, profile, slurm)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0
    assert "could not submit" in out and "invalid partition" in out.lower(), out[-3000:]
    assert not list((tmp_path / f"results/refused{pack}/runs").glob("*.zarr"))


@pytest.mark.slurm
def test_killed_snakemake_reattaches_instead_of_submitting_again(slurm, tmp_path):
    study = {**TINY, "name": "reattach", "training": {"epochs": 15, "batch_size": 16, "checkpoint_every": 1}}
    study["blocks"] = {"t": {**TINY["blocks"]["t"], "losses": ["movr"]}}
    profile = write_profile(tmp_path, study)
    first = snakemake(tmp_path, profile, slurm, start_new_session=True)
    records = tmp_path / "results/reattach/.launch"
    assert wait_until(lambda: any(records.glob("*.json")) or first.poll() is not None, timeout=300)
    assert any(records.glob("*.json")), f"snakemake ended ({first.returncode}) before submitting: " + (
        first.communicate()[0][-4000:] if first.poll() is not None else "still running after 300 s")
    record = next(records.glob("*.json"))
    job_id = json.loads(record.read_text())["job_id"]
    os.killpg(first.pid, signal.SIGKILL)  # snakemake and its launcher die; the SLURM job does not
    first.wait()
    state = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True, env=slurm).stdout
    assert state.strip() in ("PENDING", "RUNNING", "COMPLETING")
    # a killed snakemake leaves its lock: the user unlocks (snakemake says so), then reruns
    assert snakemake(tmp_path, profile, slurm, "--unlock").wait(timeout=120) == 0
    second = snakemake(tmp_path, profile, slurm)
    out, _ = second.communicate(timeout=600)
    assert second.returncode == 0, out[-4000:]
    log = (tmp_path / "results/reattach/logs/train" / f"{record.stem}.log").read_text()
    assert f"re-attached to SLURM job {job_id}" in log
    assert [j for j, _ in sacct(slurm, record.stem)] == [job_id]  # submitted once
    assert (tmp_path / "results/reattach/runs" / f"{record.stem}.zarr").exists()


@pytest.mark.slurm
def test_job_killed_outright_is_noticed_without_accounting(slurm, tmp_path, tiny_study, monkeypatch):
    """Without accounting, sacct never reports a job killed outright (its state stays UNKNOWN);
    the launcher then asks squeue and gives up once the job is gone. The watcher is made to
    answer UNKNOWN, as it does on such a cluster; the job and its killing are real."""
    import submitit

    import osrstudy.launch as launch_module

    monkeypatch.setattr(launch_module, "POLL_S", 0.5)
    monkeypatch.setattr(launch_module, "VANISHED_AFTER_S", 3)
    executor = launch_module.make_executor("slurm", tmp_path / "jobs", 10, 1, {"mem_mb": 1000})
    job = executor.submit(time.sleep, 600)
    monkeypatch.setattr(job.watcher, "get_state", lambda job_id, mode="standard": "UNKNOWN")
    assert wait_until(lambda: launch_module.squeue_state(job.job_id) == "RUNNING", timeout=60)
    subprocess.run(["scancel", "--signal=KILL", "--full", job.job_id], check=True, env=slurm)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=f"SLURM job {job.job_id} is gone"):
        launch_module.wait(job, "slurm")
    assert time.monotonic() - start < 30
    assert isinstance(job, submitit.SlurmJob)


@pytest.mark.slurm
def test_small_runs_pack_into_one_slurm_job(slurm, tmp_path):
    study = {**TINY, "name": "packed", "training": {"epochs": 2, "batch_size": 32, "checkpoint_every": 1}}
    study["blocks"] = {"t": {**TINY["blocks"]["t"], "splits": [0, 1]}}  # 4 runs
    profile = write_profile(tmp_path, study, pack=2, pack_wait_s=20)
    proc = snakemake(tmp_path, profile, slurm)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-4000:]
    records = [json.loads(p.read_text()) for p in (tmp_path / "results/packed/.launch").glob("*.json")]
    assert len(records) == 4 and all("pack" in r for r in records)
    jobs = {r["job_id"] for r in records}
    assert len(jobs) == 2  # four runs, two SLURM jobs
    for job_id in jobs:
        states = subprocess.run(["sacct", "-n", "-X", "-j", job_id, "-o", "State", "--parsable2"],
                                capture_output=True, text=True, env=slurm).stdout.split()
        assert states == ["COMPLETED"]
    assert len(list((tmp_path / "results/packed/runs").glob("*.zarr"))) == 4
    assert (tmp_path / "results/packed/study.zarr").exists()


@pytest.mark.slow  # snakemake expands the full study
def test_production_profile_dry_runs_the_study_from_the_repository_root(tmp_path):
    """After install-profile.sh, a bare `--profile slurm` finds the profile and config/study.yaml."""
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": ""}
    subprocess.run([str(REPO / "workflow/scripts/install-profile.sh")], check=True, capture_output=True, env=env)
    done = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--profile", "slurm"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    counts = dict(line.split()[:2] for line in done.stdout.splitlines() if line.startswith(("train ", "merge ")))
    from osrstudy.study import expand_study, load_study

    n_runs = len(expand_study(load_study(REPO / "config/study.yaml")))
    assert int(counts["train"]) == n_runs > 1000 and counts["merge"] == "1"
    # the job count per block, and what a block left out with why
    assert f"study study: {n_runs} training jobs" in done.stderr
    assert "  protocol_a: 200 runs" in done.stderr
    assert "  table3_ours: 25 runs (25 shared with blocks above)" in done.stderr
    assert "geometry: 95 runs; 5 left out: a simplex of K = 80 prototypes needs d >= K - 1 = 79" in done.stderr
