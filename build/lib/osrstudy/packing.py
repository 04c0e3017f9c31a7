"""Packing small runs into shared cluster jobs: one SLURM job trains several runs in turn.

Snakemake's job groups do nothing when snakemake itself runs locally (as it does here: each
`train` job is a launcher process), so the launchers pack among themselves: each joins the open
pack of its study (a JSON file under a lock); the first member leads, waits until the pack is full
or `wait_s` has passed, and submits one job for all members; every member then waits on that job
and takes its own run's result and store. Packs are a resource (`pack`, default 1 = no packing),
so changing the size never reruns finished runs. A packed job is Checkpointable: after a requeue
it skips the members whose stores are done and resumes the one in progress from its checkpoint.
"""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import submitit.helpers

from osrstudy import atomic
from osrstudy.job import TrainJob
from osrstudy.locks import exclusive

ABANDONED_AFTER = 3  # an open pack older than this many wait_s lost its leader: start a new one


def locked(folder: Path):
    return exclusive(folder / ".lock")


def write_json(path: Path, value) -> None:
    atomic.write_json(path, value, indent=1)


def join(folder: Path, member: dict, size: int, wait_s: float) -> tuple[str, bool]:
    """Add a member to the open pack (opening one if there is none, it is full or abandoned).
    Returns (pack id, whether this member leads it)."""
    open_file = folder / "open.json"
    with locked(folder):
        pack = json.loads(open_file.read_text()) if open_file.exists() else None
        if pack is None or time.time() - pack["created"] > ABANDONED_AFTER * wait_s:
            pack = {"id": uuid.uuid4().hex[:10], "created": time.time(), "members": []}
        pack["members"].append(member)
        write_json(open_file, pack)
        if len(pack["members"]) >= size:
            seal(folder, pack)
        return pack["id"], len(pack["members"]) == 1


def seal(folder: Path, pack: dict) -> None:
    """Close the pack to new members (call under the lock)."""
    write_json(folder / f"{pack['id']}.members.json", pack["members"])
    (folder / "open.json").unlink(missing_ok=True)


def members_when_closed(folder: Path, pack_id: str, wait_s: float) -> list[dict]:
    """The leader: wait until the pack is full or wait_s has passed, then close it."""
    sealed = folder / f"{pack_id}.members.json"
    deadline = time.monotonic() + wait_s
    while not sealed.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    with locked(folder):
        if not sealed.exists():
            seal(folder, json.loads((folder / "open.json").read_text()))
    return json.loads(sealed.read_text())


def job_of(folder: Path, pack_id: str, wait_s: float) -> dict:
    """A member: the pack's submitted job ({job_id, jobs_dir}), once the leader has submitted it."""
    path = folder / f"{pack_id}.job.json"
    deadline = time.monotonic() + ABANDONED_AFTER * wait_s + 60
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"pack {pack_id} was never submitted (its leader is gone); rerun to repack")
        time.sleep(0.5)
    return json.loads(path.read_text())


class PackJob(submitit.helpers.Checkpointable):
    """Inside the cluster job: train each member in turn. Returns run id -> summary, or
    {"error": ...} for a member that failed (the others still run)."""

    def __call__(self, members: list[dict]) -> dict:
        results = {}
        for m in members:
            if Path(m["output"]).exists():  # finished before a requeue
                results[m["run_id"]] = {"note": "finished before the job was requeued"}
                continue
            print(f"=== pack member {m['run_id']} ===", flush=True)
            try:
                results[m["run_id"]] = TrainJob()(m["spec"], m["output"], m["checkpoint_dir"], m["threads"],
                                                  m["data_root"], m["jacobian_chunk"])
            except Exception as err:  # one bad run must not take its pack-mates down
                print(f"[{m['run_id']}] failed: {type(err).__name__}: {err}", flush=True)
                results[m["run_id"]] = {"error": f"{type(err).__name__}: {err}"}
        return results
