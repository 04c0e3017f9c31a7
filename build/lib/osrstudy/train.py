"""The training loop: data resident on the device, SGD with a cosine schedule, checkpoints.

Everything that decides the numbers is a function of (seed, epoch, step), and the checkpoint holds
the rest (weights, momentum buffers, RNG state, history), so a run resumed from a checkpoint ends
bit-identical to an uninterrupted one on CPU.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from osrstudy import atomic
from osrstudy.augment import Augment, rotate
from osrstudy.model import Model
from osrstudy.run_spec import TrainingConfig

Probe = Callable[[], dict[str, float]]


@dataclass
class TrainingData:
    """Images (DeviceImages or a tensor) and labels on the device; what a step draws besides."""

    x: object
    y: torch.Tensor
    augment: Augment | None = None
    background: object | None = None  # images of a background set (losses with uses_background)


@dataclass
class Checkpoints:
    """Where and how often training saves its state; `on_saved(epoch)` runs after each save."""

    path: Path | None = None
    every: int = 5
    on_saved: Callable[[int], None] | None = None


@dataclass(frozen=True)
class Steps:
    """The step budget: `iterations` steps if set (the cosine spans them), else epochs x steps."""

    per_epoch: int
    total: int

    @classmethod
    def of(cls, n_samples: int, config: TrainingConfig, run_id: str) -> "Steps":
        per_epoch = n_samples // config.batch_size
        if per_epoch == 0:
            raise ValueError(f"[{run_id}] batch size {config.batch_size} exceeds the {n_samples} training samples")
        return cls(per_epoch, config.iterations if config.iterations else config.epochs * per_epoch)

    @property
    def epochs(self) -> int:
        return math.ceil(self.total / self.per_epoch)

    def in_epoch(self, epoch: int) -> int:
        return min(self.per_epoch, self.total - epoch * self.per_epoch)


def cosine_lr(step: int, total: int, lr: float, lr_min: float) -> float:
    return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * step / total))


def save_checkpoint(path: Path, state: dict) -> None:
    """Write then rename, so a job killed mid-write leaves the previous checkpoint intact."""
    atomic.write_file(path, lambda tmp: torch.save(state, tmp))


def step_generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def index_device(images) -> torch.device:
    """Where batch indices of these training images live: on the device with the images, or on
    the host for images kept in pinned host memory (DeviceImages gathers those on the host)."""
    return torch.device("cpu") if getattr(images, "storage", None) == "host" else images.device


def step_loss(model: Model, data: TrainingData, batch: torch.Tensor, gen: torch.Generator,
              self_supervision: float, autocast) -> torch.Tensor:
    """The loss of one training batch: one forward pass over the upright, rotated (with
    self-supervision) and background images together, so batch norm sees them together. Nothing
    here makes the host wait for the GPU (tests/test_training_components.py counts)."""
    x, rotation_head = data.x, model.rotation_head if self_supervision > 0 else None
    xb = x[batch] if data.augment is None else data.augment(x[batch], gen)
    parts = [xb]
    if rotation_head is not None:
        turns = torch.randint(0, 4, (len(xb),), generator=gen, device=x.device)
        parts.append(rotate(xb, turns))
    if data.background is not None:
        picks = torch.randint(0, len(data.background), (len(xb),), generator=gen, device=x.device)
        parts.append(data.background[picks.to(index_device(data.background))])
    with autocast:
        z = model.backbone(torch.cat(parts) if len(parts) > 1 else xb)
    # The loss runs in fp32, outside autocast: CUDA autocast has no fp32 rule for cross-entropy,
    # and in bf16 a cosine above 0.998 rounds to 1 (m-OvR's margin loses its gradient).
    z = z.float().split(len(xb))
    y = data.y[batch]
    value = model.loss(z[0], y, z[-1]) if data.background is not None else model.loss(z[0], y)
    if rotation_head is not None:
        value = value + self_supervision * F.cross_entropy(rotation_head(z[1]), turns)
    return value


def train(model: Model, data: TrainingData, config: TrainingConfig, *, run_id: str, seed: int,
          checkpoints: Checkpoints | None = None, probe: Probe | None = None,
          log: Callable[[str], None] = print) -> list[dict]:
    """Train the model on the data; returns the history rows (one per checkpoint, and one before
    training when there is a probe).

    With a rotation head and self_supervision > 0 the loss adds self_supervision * CE(rotation of
    a rotated copy): the class loss sees only upright images, so the rotation task cannot pull
    every class onto one "0 degree" prototype (the Jacobian-norm paper's caution, section 5.2).
    With precision bf16 the backbone runs under bf16 autocast and the loss in fp32."""
    checkpoints = checkpoints or Checkpoints()
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                          weight_decay=config.weight_decay, nesterov=True)
    steps = Steps.of(len(data.x), config, run_id)
    resumed = resume(checkpoints.path, model, opt, run_id, log, steps.epochs)
    history, start = resumed if resumed is not None else (initial_row(config, probe), 0)
    t0 = time.perf_counter()
    for epoch in range(start, steps.epochs):
        summed = train_epoch(model, data, opt, config, steps, epoch, seed, run_id)
        done = epoch + 1
        if done % checkpoints.every and done != steps.epochs:
            continue
        row = {"epoch": done, "train_loss": float(summed) / steps.in_epoch(epoch), "lr": opt.param_groups[0]["lr"]}
        history.append(row | (probe() if probe is not None else {}))
        shown = " ".join(f"{k} {v:.4g}" for k, v in history[-1].items() if k != "epoch")
        log(f"[{run_id}] epoch {done}/{steps.epochs} {shown} ({time.perf_counter() - t0:.1f}s)")
        if checkpoints.path is not None:
            save_checkpoint(checkpoints.path, checkpoint_state(run_id, done, model, opt, history))
        if checkpoints.on_saved is not None:
            checkpoints.on_saved(done)
    return history


def initial_row(config: TrainingConfig, probe: Probe | None) -> list[dict]:
    return [{"epoch": 0, "train_loss": float("nan"), "lr": config.lr, **probe()}] if probe is not None else []


def train_epoch(model: Model, data: TrainingData, opt: torch.optim.Optimizer, config: TrainingConfig,
                steps: Steps, epoch: int, seed: int, run_id: str) -> torch.Tensor:
    """One pass in a seeded order; returns the summed training loss (a device scalar: reading it
    would make the host wait for the GPU)."""
    model.train()
    order = torch.randperm(len(data.x), generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    order = order.to(index_device(data.x))  # once per epoch
    autocast = torch.autocast(data.x.device.type, torch.bfloat16, enabled=config.precision == "bf16")
    running = torch.zeros((), device=data.x.device)
    n_steps = steps.in_epoch(epoch)
    for i in range(n_steps):
        step = epoch * steps.per_epoch + i
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, steps.total, config.lr, config.lr_min)
        batch = order[i * config.batch_size : (i + 1) * config.batch_size]
        # drawn on the device: no host-device copy, so the host never waits for the GPU
        gen = step_generator(data.x.device, seed * 1_000_003 + step)
        value = step_loss(model, data, batch, gen, config.self_supervision, autocast)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        running += value.detach()
    if not torch.isfinite(running):  # one check per epoch: a per-step check would sync the GPU
        raise FloatingPointError(
            f"[{run_id}] training diverged in epoch {epoch + 1}: the loss is {float(running)}. "
            "Lower lr, or check the loss options (e.g. scale_T on unnormalised embeddings)"
        )
    return running


def checkpoint_state(run_id: str, epoch: int, model: Model, opt: torch.optim.Optimizer, history: list[dict]) -> dict:
    return {
        "run_id": run_id,
        "epoch": epoch,
        **model.state(),
        "optimizer": opt.state_dict(),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "history": history,
    }


def resume(path: Path | None, model: Model, opt: torch.optim.Optimizer, run_id: str,
           log: Callable[[str], None], epochs: int) -> tuple[list[dict], int] | None:
    """(history, epoch) from the run's checkpoint, its state loaded; None when there is none."""
    if path is None or not path.exists():
        return None
    state = torch.load(path, weights_only=False)
    if state["run_id"] != run_id:
        raise RuntimeError(f"checkpoint {path} belongs to run {state['run_id']}, not {run_id}")
    model.load_state(state)
    opt.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"])
    if state.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])  # Dropout2d on the GPU draws from it
    log(f"[{run_id}] resumed from {path} at epoch {state['epoch']}/{epochs}")
    return state["history"], state["epoch"]
