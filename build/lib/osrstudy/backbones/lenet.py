"""A LeNet-style network for 28x28 inputs (MNIST, Fashion-MNIST): CPU-friendly."""
import torch
import torch.nn.functional as F
from torch import nn

from osrstudy.backbones.registry import BACKBONES


@BACKBONES.register("lenet")
class LeNet(nn.Sequential):
    """conv5x5(32) - BN - pool - conv5x5(64) - BN - pool - fc 256 - BN, ReLU throughout
    (28x28 -> 64x4x4). Batch norm is not in the 1998 LeNet: without it the unit-normalised losses
    (N-SCE, m-OvR) diverged on Fashion-MNIST at lr 0.05 (embedding norms near 1e8, accuracy at
    chance), because their gradient scales with 1 / ||f(x)||."""

    width = 256

    def __init__(self, in_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, 32, 5, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            PoolTo(4),
            nn.Flatten(), nn.Linear(64 * 16, self.width, bias=False), nn.BatchNorm1d(self.width), nn.ReLU(),
        )


class PoolTo(nn.Module):
    """Average-pool to side x side. At 28x28 the map is 4x4 already, and the identity is taken:
    CUDA has no deterministic backward for adaptive average pooling (it warned every step)."""

    def __init__(self, side: int):
        super().__init__()
        self.side = side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if x.shape[-2:] == (self.side, self.side) else F.adaptive_avg_pool2d(x, self.side)
