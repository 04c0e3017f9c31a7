"""Which device a run uses, and the facts about it that its numbers depend on.

A job that was given a GPU and cannot use CUDA fails at once: falling back to the CPU would burn
the job's whole time limit (and its requeues) on a few threads without a word. Settings that
change numbers are set deliberately and recorded in every store: deterministic algorithms
(warn-only where no deterministic kernel exists), and TF32 off, so "fp32" means IEEE fp32 on
every GPU (precision bf16 is the fast path).
"""
from __future__ import annotations

import os
import shutil
import subprocess

import torch

# NVIDIA's CUDA compatibility table: the oldest driver each CUDA major release runs on
MIN_DRIVER = {"13": "580", "12": "525"}


class GpuUnavailableError(RuntimeError):
    pass


def gpu_expected() -> str | None:
    """Why this process expects a GPU (its SLURM allocation, or OSRSTUDY_DEVICE=cuda), or None."""
    if os.environ.get("OSRSTUDY_DEVICE", "").lower() == "cuda":
        return "OSRSTUDY_DEVICE=cuda"
    count = os.environ.get("SLURM_GPUS_ON_NODE", "")
    if count.isdigit() and int(count) > 0:
        return f"SLURM_GPUS_ON_NODE={count}"
    if gpus := os.environ.get("SLURM_JOB_GPUS", ""):
        return f"SLURM_JOB_GPUS={gpus}"
    return None


def driver_version() -> str:
    """The NVIDIA driver's version, as nvidia-smi reports it, or why there is none."""
    if shutil.which("nvidia-smi") is None:
        return "none found (no nvidia-smi on the PATH)"
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as err:
        return f"unknown (nvidia-smi: {err})"
    lines = done.stdout.split()
    return lines[0] if done.returncode == 0 and lines else f"unknown (nvidia-smi: {done.stderr.strip()[:200]})"


def cuda_failure() -> str:
    """Why torch cannot use CUDA here."""
    if torch.version.cuda is None:
        return "this torch is a CPU-only build"
    try:
        torch.cuda.init()
    except Exception as err:  # torch raises several types, each with the driver's own words
        return f"{type(err).__name__}: {err}"
    return "torch.cuda.is_available() is False"


def unusable_gpu_message(why: str) -> str:
    cuda = torch.version.cuda
    need = MIN_DRIVER.get((cuda or "").split(".")[0])
    return (
        f"this job was given a GPU ({why}) but cannot use it: {cuda_failure()}. torch {torch.__version__} is built "
        f"for CUDA {cuda or '(none)'}" + (f", which needs an NVIDIA driver >= {need}" if need else "")
        + f"; this node's driver: {driver_version()}. Run it on nodes with a newer driver (e.g. set "
        "slurm_constraint in the profile), or install a torch build for this node's CUDA, or ask for no GPU "
        "(gpus: 0) to train on the CPU on purpose. Refusing to fall back to the CPU silently."
    )


def select_device(threads: int | None) -> torch.device:
    """The run's device, with its numerics settings; raises GpuUnavailableError (see module doc)."""
    if threads:
        torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    # nothing here reads memory it did not write, so filling new tensors (10-15 % of a GPU step) buys nothing
    torch.utils.deterministic.fill_uninitialized_memory = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if torch.cuda.is_available():
        # runs packed into one job share the process: each starts with its own memory statistics
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        return torch.device("cuda")
    if why := gpu_expected():
        raise GpuUnavailableError(unusable_gpu_message(why))
    return torch.device("cpu")


def device_facts(device: torch.device) -> dict:
    """What a run's store records about where its numbers came from."""
    facts = {
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "torch_cuda": torch.version.cuda or "",
        "cudnn_version": (torch.backends.cudnn.version() or 0) if device.type == "cuda" else 0,
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        "deterministic_algorithms": bool(torch.are_deterministic_algorithms_enabled()),
    }
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        facts.update(driver=driver_version(), compute_capability=f"{major}.{minor}")
    return facts
