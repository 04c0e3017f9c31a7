"""Feature extractors: image batch -> embedding of dimension embed_dim.

A backbone is a trunk registered under a name with its output width; `build_backbone` adds a
linear projection to the embedding dimension d when d differs from that width. Importing this
package registers every trunk (one module each).
"""
from __future__ import annotations

import torch
from torch import nn

from osrstudy.backbones import classifier32, lenet, resnet, small_cnn, wrn  # noqa: F401  (register)
from osrstudy.backbones.registry import BACKBONES

__all__ = ["BACKBONES", "Embedder", "build_backbone"]


class Embedder(nn.Module):
    """trunk (N, C, H, W) -> (N, width), then a projection to d when d != width."""

    def __init__(self, trunk: nn.Module, width: int, embed_dim: int):
        super().__init__()
        self.trunk = trunk
        self.project = nn.Linear(width, embed_dim) if embed_dim != width else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.trunk(x))


def build_backbone(name: str, in_channels: int, embed_dim: int) -> Embedder:
    cls = BACKBONES[name]
    return Embedder(cls(in_channels), cls.width, embed_dim)
