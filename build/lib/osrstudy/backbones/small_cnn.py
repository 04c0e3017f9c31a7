"""The small CNN of the embedded digits (8x8 inputs, CPU seconds)."""
from torch import nn

from osrstudy.backbones.registry import BACKBONES, conv_bn


@BACKBONES.register("small_cnn")
class SmallCNN(nn.Sequential):
    """Three 3x3 conv blocks and global average pooling."""

    width = 64

    def __init__(self, in_channels: int):
        super().__init__(
            conv_bn(in_channels, 16), conv_bn(16, 32), nn.MaxPool2d(2), conv_bn(32, 64),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
