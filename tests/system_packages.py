"""System packages that some tests need, installed on first use (as root, from Debian's
registry), so the README's test command passes on a fresh machine with nothing installed by hand.

Each need is one session-scoped fixture in conftest.py built on `ensure`; where installing is
impossible (not root, no apt-get, no registry) `ensure` returns the reason, and every test that
needs the package skips with that same reason."""
import fcntl
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
LOCAL_SLURM = REPO / "workflow" / "scripts" / "local-slurm.sh"


def fashion_mnist_present() -> bool:
    return FASHION_MNIST_DIR.is_dir() and any(FASHION_MNIST_DIR.glob("*idx*"))


def slurm_present() -> bool:
    return all(shutil.which(tool) for tool in ("slurmctld", "slurmd", "slurmdbd", "srun", "sacct", "mariadbd"))


def needs_root_and_apt() -> str | None:
    if os.geteuid() != 0:
        return "installing it needs root"
    if shutil.which("apt-get") is None:
        return "this machine has no apt-get"
    return None


def run_all(*commands: list[str]) -> str | None:
    """Run commands in turn; the first failure, with its output's tail, or None."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            return f"`{' '.join(map(str, command))}` failed: {(done.stdout + done.stderr)[-600:].strip()}"
    return None


@contextmanager
def one_installer():
    """Test workers (pytest -n) install one at a time: apt-get holds dpkg's lock, and a second
    one at the same moment fails instead of waiting."""
    with open(Path(tempfile.gettempdir()) / "osrstudy-test-installs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure(what: str, present: Callable[[], bool], *install: list[str]) -> str | None:
    """Make `what` present by running the `install` commands if `present()` says it is not;
    the reason a test must skip, or None."""
    if present():
        return None
    with one_installer():
        failure = None if present() else (needs_root_and_apt() or run_all(*install))
    if failure is None and present():
        return None
    return f"{what} is not installed, and {failure or 'its installation left it incomplete'}"


def ensure_fashion_mnist() -> str | None:
    return ensure("Fashion-MNIST (Debian package dataset-fashion-mnist)", fashion_mnist_present,
                  ["apt-get", "update", "-qq"],
                  ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "dataset-fashion-mnist"])


def ensure_slurm() -> str | None:
    """A single-node SLURM with accounting (the package list lives in local-slurm.sh)."""
    return ensure("SLURM (slurmctld, slurmd, slurmdbd, munge, MariaDB)", slurm_present, [str(LOCAL_SLURM), "install"])
