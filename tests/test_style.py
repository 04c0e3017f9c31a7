"""The style checks CI runs through the test command: ruff (its config in pyproject.toml) over the
Python code, snakefmt over the Snakefile and the rule files."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE_FILES = ["Snakefile", *sorted(str(p.relative_to(REPO)) for p in (REPO / "workflow/rules").glob("*.smk"))]


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *command], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing():
    done = run("ruff", "check", "--no-cache", ".")
    assert done.returncode == 0, f"`ruff check .` (fix with `ruff check --fix .` where it can):\n{done.stdout}"


def test_snakefmt_would_change_nothing():
    done = run("snakefmt", "--check", *SNAKEMAKE_FILES)
    assert len(SNAKEMAKE_FILES) > 5 and done.returncode == 0, (
        f"`snakefmt --check` (fix with `snakefmt {' '.join(SNAKEMAKE_FILES)}`):\n{done.stdout}{done.stderr}"
    )
