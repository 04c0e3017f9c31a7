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
from torch import nn

Probe = Callable[[], dict[str, float]]


def cosine_lr(step: int, total: int, lr: float, lr_min: float) -> float:
    return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * step / total))


def save_checkpoint(path: Path, state: dict) -> None:
    """Write then rename, so a job killed mid-write leaves the previous checkpoint intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train(
    backbone: nn.Module,
    loss: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    run_id: str,
    seed: int,
    epochs: int,
    batch_size: int,
    lr: float,
    lr_min: float,
    momentum: float,
    weight_decay: float,
    checkpoint: Path | None = None,
    checkpoint_every: int = 5,
    probe: Probe | None = None,
    on_checkpoint: Callable[[int], None] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Train backbone + loss head on (x, y); returns the history rows (one per checkpoint)."""
    params = [*backbone.parameters(), *loss.parameters()]
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=True)
    steps_per_epoch = len(x) // batch_size
    total = epochs * steps_per_epoch
    history: list[dict] = []
    start = 0

    if checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        if state["run_id"] != run_id:
            raise RuntimeError(f"checkpoint {checkpoint} belongs to run {state['run_id']}, not {run_id}")
        backbone.load_state_dict(state["backbone"])
        loss.load_state_dict(state["loss"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        history, start = state["history"], state["epoch"]
        log(f"[{run_id}] resumed from {checkpoint} at epoch {start}/{epochs}")
    elif probe is not None:
        history.append({"epoch": 0, "train_loss": float("nan"), "lr": lr, **probe()})

    t0 = time.perf_counter()
    for epoch in range(start, epochs):
        backbone.train(), loss.train()
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        order = order.to(x.device)
        running = torch.zeros((), device=x.device)
        for i in range(steps_per_epoch):
            step = epoch * steps_per_epoch + i
            for group in opt.param_groups:
                group["lr"] = cosine_lr(step, total, lr, lr_min)
            batch = order[i * batch_size : (i + 1) * batch_size]
            value = loss(backbone(x[batch]), y[batch])
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            running += value.detach()
        done = epoch + 1
        if done % checkpoint_every == 0 or done == epochs:
            row = {"epoch": done, "train_loss": float(running) / steps_per_epoch, "lr": opt.param_groups[0]["lr"]}
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
                        "optimizer": opt.state_dict(),
                        "rng": torch.get_rng_state(),
                        "history": history,
                    },
                )
            if on_checkpoint is not None:
                on_checkpoint(done)
    return history
