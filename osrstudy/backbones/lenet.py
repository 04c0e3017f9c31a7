"""A LeNet-style network for 28x28 inputs (MNIST, Fashion-MNIST): CPU-friendly."""
from torch import nn

from osrstudy.backbones.registry import BACKBONES


@BACKBONES.register("lenet")
class LeNet(nn.Sequential):
    """conv5x5(32) - pool - conv5x5(64) - pool - fc 256, ReLU throughout (28x28 -> 64x4x4)."""

    width = 256

    def __init__(self, in_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4),  # exact for 28x28; lets other sizes through
            nn.Flatten(), nn.Linear(64 * 16, self.width), nn.ReLU(),
        )
