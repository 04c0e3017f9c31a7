"""classifier32: the VGG-style 9-conv network of the OSR literature (Neal et al. 2018; ARPL)."""
from torch import nn

from osrstudy.backbones.registry import BACKBONES, conv_bn


@BACKBONES.register("classifier32")
class Classifier32(nn.Sequential):
    """Nine 3x3 conv + BN + LeakyReLU(0.2) layers (64, 64, 128 / 128 x 3 / 128 x 3, the last of
    each group with stride 2), Dropout2d(0.2) before each group, global average pooling: 128-d."""

    width = 128

    def __init__(self, in_channels: int):
        widths = [(in_channels, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 128, 1),
                  (128, 128, 2), (128, 128, 1), (128, 128, 1), (128, 128, 2)]
        layers: list[nn.Module] = []
        for i, (c_in, c_out, stride) in enumerate(widths):
            if i % 3 == 0:
                layers.append(nn.Dropout2d(0.2))
            layers.append(conv_bn(c_in, c_out, stride, nn.LeakyReLU(0.2)))
        super().__init__(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
