"""Wide ResNet (Zagoruyko & Komodakis 2016), pre-activation blocks; WRN-16-4 of the OSR papers."""
from torch import nn

from osrstudy.backbones.registry import BACKBONES


class PreActBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.pre = nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU())
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False),
        )
        self.shortcut = None if c_in == c_out and stride == 1 else nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x):
        pre = self.pre(x)
        # the projection shortcut reads the pre-activated input, as in the reference implementation
        return self.body(pre) + (x if self.shortcut is None else self.shortcut(pre))


def wide_resnet(in_channels: int, depth: int, widen: int) -> nn.Sequential:
    n = (depth - 4) // 6
    widths = [16, 16 * widen, 32 * widen, 64 * widen]
    layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)]
    for group, stride in zip(range(1, 4), (1, 2, 2)):
        for i in range(n):
            first = i == 0  # the group's first block changes the width and the stride
            layers.append(PreActBlock(widths[group - (1 if first else 0)], widths[group], stride if first else 1))
    layers += [nn.BatchNorm2d(widths[3]), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


@BACKBONES.register("wrn16_4")
class WRN16x4(nn.Sequential):
    width = 256

    def __init__(self, in_channels: int):
        super().__init__(*wide_resnet(in_channels, 16, 4))
