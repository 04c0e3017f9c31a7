"""Feature extractors: image batch -> embedding of dimension embed_dim."""
from __future__ import annotations

import torch
from torch import nn

from osrstudy.registry import Registry

BACKBONES: Registry[type[nn.Module]] = Registry("backbone")


def conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()
    )


@BACKBONES.register("small_cnn")
class SmallCNN(nn.Module):
    """Three 3x3 conv blocks and global average pooling: for the embedded 8x8 digits."""

    def __init__(self, in_channels: int, embed_dim: int, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(in_channels, width),
            conv_bn(width, 2 * width),
            nn.MaxPool2d(2),
            conv_bn(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.project = nn.Linear(4 * width, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.features(x))


def build_backbone(name: str, in_channels: int, embed_dim: int) -> nn.Module:
    return BACKBONES[name](in_channels=in_channels, embed_dim=embed_dim)
