"""Wall time per named stage of a run, for the cost tables: where a run's time goes (training,
each evaluation part). On a GPU each stage ends with a synchronisation, so a stage is charged for
the kernels it queued, not for the ones before it (a few synchronisations per run, none per step)."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

import torch


class Stopwatch:
    def __init__(self, device: torch.device):
        self.device = device
        self.seconds: dict[str, float] = {}

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Add the wall time of the block to `name` (stages may repeat: the probe runs at every
        checkpoint)."""
        self._sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
