"""The figure and table registries. Each entry declares the study blocks it reads, by exact name or
an explicit fnmatch pattern ("table3_*"), and is handed a Selection: the merged study, through
which it can select runs of those blocks only. Entries that read no block (reads=(): the
synthetic experiments of the theory) are called with no study at all.

A block name is matched whole: "table3_b" never selects table3_baseline (prefix matching once put
baseline runs into Table 3's row b).
"""
from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Callable

import numpy as np
import xarray as xr

from osrstudy.registry import Registry
from osrstudy.study_frames import StudyView, plain

FIGURES: Registry[Callable] = Registry("figure")
TABLES: Registry[Callable] = Registry("table")


def matches(block: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(block, p) for p in patterns)


@dataclass(frozen=True)
class Selection:
    """The merged study as a figure or table sees it: `root`, `run(id)`, and `runs(...)` over the
    blocks it declared."""

    study: StudyView
    reads: tuple[str, ...]

    @property
    def root(self) -> xr.Dataset:
        return self.study.root

    def run(self, run_id: str) -> xr.Dataset:
        return self.study.run(run_id)

    def runs(self, *patterns: str) -> np.ndarray:
        """Boolean mask over runs: members of the blocks the patterns match (default: every block
        declared). A pattern must be declared, or an exact name a declared pattern matches."""
        patterns = patterns or self.reads
        undeclared = [p for p in patterns if p not in self.reads and not matches(p, self.reads)]
        if undeclared:
            raise ValueError(f"selects blocks {undeclared} it does not declare in reads={self.reads}")
        blocks = plain(self.root.block.values)
        wanted = [i for i, b in enumerate(blocks) if matches(str(b), patterns)]
        if not wanted:
            return np.zeros(self.root.sizes["run"], dtype=bool)
        return self.root.membership.values[:, wanted].any(axis=1)


def reader(registry: Registry, name: str, reads: tuple[str, ...], **attributes):
    """Register a figure or table function with the blocks it reads (and e.g. its `display`)."""
    def add(fn):
        fn.reads = tuple(reads)
        for key, value in attributes.items():
            setattr(fn, key, value)
        return registry.register(name)(fn)
    return add


def figure(name: str, reads: tuple[str, ...] = ()):
    return reader(FIGURES, name, reads, averages=True)


def table(name: str, reads: tuple[str, ...] = (), display: Callable | None = None, averages: bool = True):
    """`display`: the table's cells for Markdown and LaTeX (None: osrstudy.tables.readable).
    `averages=False`: a table of every setting apart, which never averages settings and so never
    refuses runs (osrstudy.planned_study need not run it)."""
    return reader(TABLES, name, reads, display=display, averages=averages)


def applies(fn: Callable, blocks: list[str]) -> bool:
    """Whether a study with these blocks gets this figure or table: it reads one of them, or it
    reads no study at all."""
    return not fn.reads or any(matches(b, fn.reads) for b in blocks)


def produce(fn: Callable, store) -> object:
    """Call a registered function: with the merged study at `store` when it reads blocks."""
    if not fn.reads:
        return fn()
    return fn(Selection(StudyView.open(store), fn.reads))
