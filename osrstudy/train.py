"""The training loop: data resident on the device, SGD with a cosine schedule, checkpoints.

Everything that decides the numbers is a function of (seed, epoch, step), and the checkpoint holds
the rest (weights, momentum buffers, RNG state, history), so a run resumed from a checkpoint ends
bit-identical to an uninterrupted one on CPU.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from osrstudy.augment import Augment, rotate

Probe = Callable[[], dict[str, float]]


def cosine_lr(step: int, total: int, lr: float, lr_min: float) -> float:
    return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * step / total))


def save_checkpoint(path: Path, state: dict) -> None:
    """Write then rename, so a job killed mid-write leaves the previous checkpoint intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def step_generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def index_device(images) -> torch.device:
    """Where batch indices of these training images live: on the device with the images, or on
    the host for images kept in pinned host memory (DeviceImages gathers those on the host)."""
    return torch.device("cpu") if getattr(images, "storage", None) == "host" else images.device


def step_loss(backbone: nn.Module, loss: nn.Module, x, y: torch.Tensor, batch: torch.Tensor, gen: torch.Generator, *,
              augment: Augment | None, rotation_head: nn.Module | None, self_supervision: float,
              background, autocast) -> torch.Tensor:
    """The loss of one training batch: one forward pass over the upright, rotated (with a rotation
    head) and background images together, so batch norm sees them together. Nothing here makes
    the host wait for the GPU (tests/test_training_components.py counts)."""
    xb = x[batch] if augment is None else augment(x[batch], gen)
    parts = [xb]
    if rotation_head is not None:
        turns = torch.randint(0, 4, (len(xb),), generator=gen, device=x.device)
        parts.append(rotate(xb, turns))
    if background is not None:
        picks = torch.randint(0, len(background), (len(xb),), generator=gen, device=x.device)
        parts.append(background[picks.to(index_device(background))])
    with autocast:
        z = backbone(torch.cat(parts) if len(parts) > 1 else xb)
    # The loss runs in fp32, outside autocast: CUDA autocast has no fp32 rule for cross-entropy,
    # and in bf16 a cosine above 0.998 rounds to 1 (m-OvR's margin loses its gradient).
    z = z.float().split(len(xb))
    value = loss(z[0], y[batch], z[-1]) if background is not None else loss(z[0], y[batch])
    if rotation_head is not None:
        value = value + self_supervision * F.cross_entropy(rotation_head(z[1]), turns)
    return value


def train(
    backbone: nn.Module,
    loss: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    run_id: str,
    seed: int,
    epochs: int,
    iterations: int | None = None,
    batch_size: int,
    lr: float,
    lr_min: float,
    momentum: float,
    weight_decay: float,
    augment: Augment | None = None,
    rotation_head: nn.Module | None = None,
    self_supervision: float = 0.0,
    precision: str = "fp32",
    background: torch.Tensor | None = None,
    checkpoint: Path | None = None,
    checkpoint_every: int = 5,
    probe: Probe | None = None,
    on_checkpoint: Callable[[int], None] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Train backbone + loss head on (x, y); returns the history rows (one per checkpoint).

    With `iterations`, training stops after that many steps (the cosine schedule spans them) and
    `epochs` is how many passes that takes. With a rotation head and self_supervision > 0 the
    loss adds self_supervision * CE(rotation of a rotated copy): the class loss sees only upright
    images, so the rotation task cannot pull every class onto one "0 degree" prototype (the
    Jacobian-norm paper's caution, section 5.2). With `background` (images), each step also
    embeds a batch drawn from it and calls loss(z, y, z_background). With precision bf16 the
    backbone runs under bf16 autocast and the loss in fp32."""
    modules = [backbone, loss] + ([rotation_head] if rotation_head is not None else [])
    params = [p for m in modules for p in m.parameters()]
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=True)
    steps_per_epoch = len(x) // batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"[{run_id}] batch size {batch_size} exceeds the {len(x)} training samples")
    total = iterations if iterations else epochs * steps_per_epoch
    epochs = math.ceil(total / steps_per_epoch)
    autocast = torch.autocast(x.device.type, torch.bfloat16, enabled=precision == "bf16")
    head = rotation_head if rotation_head is not None and self_supervision > 0 else None
    history: list[dict] = []
    start = 0

    if checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        if state["run_id"] != run_id:
            raise RuntimeError(f"checkpoint {checkpoint} belongs to run {state['run_id']}, not {run_id}")
        backbone.load_state_dict(state["backbone"])
        loss.load_state_dict(state["loss"])
        if rotation_head is not None:
            rotation_head.load_state_dict(state["rotation_head"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])  # Dropout2d on the GPU draws from it
        history, start = state["history"], state["epoch"]
        log(f"[{run_id}] resumed from {checkpoint} at epoch {start}/{epochs}")
    elif probe is not None:
        history.append({"epoch": 0, "train_loss": float("nan"), "lr": lr, **probe()})

    t0 = time.perf_counter()
    for epoch in range(start, epochs):
        for m in modules:
            m.train()
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        order = order.to(index_device(x))  # once per epoch
        running = torch.zeros((), device=x.device)
        n_steps = min(steps_per_epoch, total - epoch * steps_per_epoch)
        for i in range(n_steps):
            step = epoch * steps_per_epoch + i
            for group in opt.param_groups:
                group["lr"] = cosine_lr(step, total, lr, lr_min)
            batch = order[i * batch_size : (i + 1) * batch_size]
            # drawn on the device: no host-device copy, so the host never waits for the GPU
            gen = step_generator(x.device, seed * 1_000_003 + step)
            value = step_loss(backbone, loss, x, y, batch, gen, augment=augment, rotation_head=head,
                              self_supervision=self_supervision, background=background, autocast=autocast)
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            running += value.detach()
        done = epoch + 1
        if not torch.isfinite(running):  # one check per epoch: a per-step check would sync the GPU
            raise FloatingPointError(
                f"[{run_id}] training diverged in epoch {done}: the loss is {float(running)}. "
                "Lower lr, or check the loss options (e.g. scale_T on unnormalised embeddings)"
            )
        if done % checkpoint_every == 0 or done == epochs:
            row = {"epoch": done, "train_loss": float(running) / n_steps, "lr": opt.param_groups[0]["lr"]}
            row.update(probe() if probe is not None else {})
            history.append(row)
            shown = " ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch")
            log(f"[{run_id}] epoch {done}/{epochs} {shown} ({time.perf_counter() - t0:.1f}s)")
            if checkpoint is not None:
                save_checkpoint(
                    checkpoint,
                    {
                        "run_id": run_id,
                        "epoch": done,
                        "backbone": backbone.state_dict(),
                        "loss": loss.state_dict(),
                        **({"rotation_head": rotation_head.state_dict()} if rotation_head is not None else {}),
                        "optimizer": opt.state_dict(),
                        "rng": torch.get_rng_state(),
                        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                        "history": history,
                    },
                )
            if on_checkpoint is not None:
                on_checkpoint(done)
    return history
