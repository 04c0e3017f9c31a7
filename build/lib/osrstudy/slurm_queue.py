"""SLURM's view of many jobs in one call each: the status queries of the osrstudy executor.

A study has hundreds of jobs in flight; asking SLURM once per job per check is what loads a shared
controller. These ask once for all of them: `squeue` for the jobs that are queued, running or
recently ended (SLURM keeps an ended job listed for MinJobAge seconds), and `sacct` only for the
few that squeue no longer lists and that left no result. Both answer None when the tool itself
fails (controller busy or down, accounting disabled), so a failed query is never mistaken for a
job that ended.
"""
from __future__ import annotations

import getpass
import subprocess
from typing import Iterable

# States after which a job without a result will not produce one.
ENDED = frozenset({"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY",
                   "PREEMPTED", "TIMEOUT"})
QUERY_TIMEOUT_S = 60


def parse_states(text: str) -> dict[str, str]:
    """'ID|STATE' lines -> {id: state}; sacct's 'CANCELLED by 0' -> 'CANCELLED'; for a job listed
    twice (sacct keeps one line per requeue) the last line wins."""
    states = {}
    for line in text.splitlines():
        job_id, _, state = line.strip().partition("|")
        if job_id and state:
            states[job_id] = state.split()[0]
    return states


def ask(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=QUERY_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def squeue_states(job_ids: Iterable[str]) -> dict[str, str] | None:
    """{id: state} of the given jobs that squeue lists (one call), or None when squeue failed."""
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    # All of the user's jobs, not -j: squeue fails outright when one listed id has been purged.
    # --states=all: also the jobs ended within MinJobAge, with the state they ended in.
    out = ask(["squeue", "-h", "--states=all", "-u", getpass.getuser(), "-o", "%i|%T"])
    wanted = set(ids)
    return None if out is None else {i: s for i, s in parse_states(out).items() if i in wanted}


def sacct_states(job_ids: Iterable[str]) -> dict[str, str] | None:
    """{id: state} from SLURM's accounting (one call), or None when sacct failed (e.g. a cluster
    without accounting)."""
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    out = ask(["sacct", "-n", "-X", "-P", "-j", ",".join(ids), "-o", "JobID,State"])
    return None if out is None else parse_states(out)
