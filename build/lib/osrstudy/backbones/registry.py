"""The backbone registry: name -> trunk class with a `width` (its output dimension)."""
from __future__ import annotations

from torch import nn

from osrstudy.registry import Registry

BACKBONES: Registry[type[nn.Module]] = Registry("backbone")


def conv_bn(c_in: int, c_out: int, stride: int = 1, act: nn.Module | None = None) -> nn.Sequential:
    """3x3 convolution (no bias: BN follows), batch norm, activation (ReLU unless given)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        act if act is not None else nn.ReLU(),
    )
