"""The entry point of a run's cluster job: what submitit pickles and runs on the compute node.

It imports torch and osrstudy.run only when called, so the launcher that pickles it stays small.
"""
from __future__ import annotations

from pathlib import Path

import submitit.helpers

from osrstudy.locks import exclusive


class TrainJob(submitit.helpers.Checkpointable):
    """The job's entry point. Checkpointable: on preemption or timeout submitit requeues it with
    the same arguments and training resumes from the run's checkpoint file."""

    def __call__(self, spec: dict, output: str, checkpoint_dir: str, threads: int | None,
                 data_root: str | None, jacobian_chunk: int = 0) -> dict:
        from osrstudy.run import execute

        def log(line: str) -> None:
            print(line, flush=True)

        # One job trains a run at a time (its checkpoint is shared): an orphaned job of the same
        # run finishes first, and this one then resumes from its last checkpoint.
        lock = Path(checkpoint_dir) / f"{spec['run_id']}.lock"
        with exclusive(lock, lambda holder: log(f"another job ({holder}) is training this run; waiting for it")):
            return execute(spec, output, checkpoint_dir, threads=threads, data_root=data_root,
                           jacobian_chunk=jacobian_chunk, log=log)
