"""Exclusive file locks that die with their holder: one writer per run, whatever the user does.

`flock` is released by the kernel when the holding process ends, even by SIGKILL, so a lock never
outlives a killed launcher or job (unlike a lock *file*, which would need a stale-lock rule).
"""
from __future__ import annotations

import fcntl
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


@contextmanager
def exclusive(path: str | Path, on_wait: Callable[[str], None] | None = None) -> Iterator[bool]:
    """Hold an exclusive lock on `path` for the block; yields whether it had to wait. When another
    process holds it, `on_wait` is told who ("host pid N") once, then this blocks until it is free."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        waited = False
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            if on_wait is not None:
                on_wait(handle.read().strip() or "another process")
            fcntl.flock(handle, fcntl.LOCK_EX)
            waited = True
        handle.seek(0)
        handle.truncate()
        handle.write(f"{socket.gethostname()} pid {os.getpid()}")
        handle.flush()
        try:
            yield waited
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def try_hold(path: str | Path):
    """The open, exclusively locked file at `path`, or None when another process holds it. The lock
    lasts until let_go() or this process ends (for a holder that outlives a `with` block)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{socket.gethostname()} pid {os.getpid()}")
    handle.flush()
    return handle


def holder(path: str | Path) -> str:
    """Who holds the lock at `path`, as its holder wrote it ("host pid N")."""
    try:
        return Path(path).read_text().strip() or "another process"
    except OSError:
        return "another process"


def let_go(handle) -> None:
    if handle is not None:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
