"""The trained model of a run: backbone, loss head and (with self-supervision) a rotation head."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from osrstudy.backbones import build_backbone
from osrstudy.losses import Loss, build_loss
from osrstudy.run_spec import Cell, TrainingConfig

ROTATIONS = 4  # the self-supervised task: which of 0, 90, 180, 270 degrees an image was turned


@dataclass
class Model:
    backbone: nn.Module
    loss: Loss
    rotation_head: nn.Module | None = None

    def modules(self) -> list[nn.Module]:
        return [self.backbone, self.loss] + ([self.rotation_head] if self.rotation_head is not None else [])

    def parameters(self) -> list[nn.Parameter]:
        return [p for m in self.modules() for p in m.parameters()]

    def embedding(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """x -> the representation the loss works on (unit-normalised for cosine losses), in eval
        mode: what Jacobian norms, features and geometry are taken of."""
        self.eval()
        return lambda x: self.loss.represent(self.backbone(x))

    def train(self) -> None:
        for m in self.modules():
            m.train()

    def eval(self) -> None:
        for m in self.modules():
            m.eval()

    def state(self) -> dict:
        return {"backbone": self.backbone.state_dict(), "loss": self.loss.state_dict(),
                **({"rotation_head": self.rotation_head.state_dict()} if self.rotation_head is not None else {})}

    def load_state(self, state: dict) -> None:
        self.backbone.load_state_dict(state["backbone"])
        self.loss.load_state_dict(state["loss"])
        if self.rotation_head is not None:
            self.rotation_head.load_state_dict(state["rotation_head"])


def build_model(cell: Cell, config: TrainingConfig, channels: int, n_known: int, device: torch.device) -> Model:
    """The run's model, initialised from its seed (backbone, then loss, then rotation head: the
    order fixes which random numbers each draws)."""
    torch.manual_seed(cell.seed)
    backbone = build_backbone(cell.backbone, channels, cell.embed_dim).to(device)
    loss = build_loss(cell.loss, n_known, cell.embed_dim, cell.loss_options).to(device)
    rotation_head = nn.Linear(cell.embed_dim, ROTATIONS).to(device) if config.self_supervision > 0 else None
    if config.channels_last and device.type == "cuda":
        backbone = backbone.to(memory_format=torch.channels_last)
    return Model(backbone, loss, rotation_head)
