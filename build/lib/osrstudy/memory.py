"""Peak memory of a computation on its device, and the Jacobian chunk a memory budget allows.

An exact Jacobian chunk of B samples runs B x d backward passes at once: at the old fixed chunk of
256 and d = 128 that needed 134-305 GiB for the study's backbones. The chunk is therefore chosen
per run from a measured two-sample probe and the device's free memory.
"""
from __future__ import annotations

from typing import Callable

import torch

MAX_CHUNK = 256  # beyond this, larger chunks gain little throughput
BUDGET_SHARE = 0.5  # of the free memory: activations of the rest of the run live there too
PROBE = 2  # samples in the probe
CPU_MARGIN = 2.0  # see jacobian_chunk


def proc_status(field: str) -> int | None:
    """A memory field of /proc/self/status in bytes (Linux), or None."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_cpu_peak() -> bool:
    """Reset this process's resident high-water mark (VmHWM) to its current size (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def peak_bytes(fn: Callable[[], torch.Tensor], device: torch.device) -> tuple[torch.Tensor, int | None]:
    """fn's result and the memory it took at its peak beyond what was in use before (None where
    this platform cannot tell): CUDA's allocator statistics, or the CPU's resident high-water mark."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        out = fn()
        torch.cuda.synchronize(device)
        return out, torch.cuda.max_memory_allocated(device) - base
    base = proc_status("VmRSS")
    if base is None or not reset_cpu_peak():
        return fn(), None
    out = fn()
    return out, max(0, proc_status("VmHWM") - base)


def free_bytes(device: torch.device) -> int:
    """Memory this process could still take on the device."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    available = None
    try:
        with open("/proc/meminfo") as meminfo:
            available = next(int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        pass
    return available or 8 << 30


def jacobian_chunk(norms: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                   budget_bytes: int | None = None) -> int:
    """The largest power-of-two chunk (at most MAX_CHUNK) whose Jacobian pass fits `budget_bytes` (default:
    half the device's free memory), from the peak of a two-sample probe. Peak memory grows as
    a + b n with a >= 0, so n x peak(2) / 2 bounds peak(n) for n >= 2: the chunk is safe."""
    if len(x) <= 1:
        return 1
    budget = budget_bytes if budget_bytes is not None else int(BUDGET_SHARE * free_bytes(x.device))
    _, peak = peak_bytes(lambda: norms(x[:PROBE]), x.device)
    if peak is None:  # cannot measure here: a chunk small enough for any backbone of the study
        return 4
    # On the CPU the resident high-water mark under-counts what the allocator served from memory
    # it already held (measured: WRN-16-4 at 2 samples read 1.5 GiB, 4 samples then took 3.4 GiB)
    per_sample = max(peak, 1) / PROBE * (1 if x.device.type == "cuda" else CPU_MARGIN)
    fits = int(max(1, min(MAX_CHUNK, budget // per_sample)))
    # a power of two, so that small changes in free memory leave the chunk (and its numerics) alone
    return 1 << (fits.bit_length() - 1)
