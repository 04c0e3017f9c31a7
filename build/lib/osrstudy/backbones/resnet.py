"""ResNet-18 (He et al. 2016) with the CIFAR stem (3x3 conv, no max-pool), and a 64x64 variant."""
from torch import nn

from osrstudy.backbones.registry import BACKBONES


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.shortcut = (
            nn.Identity() if c_in == c_out and stride == 1
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        )
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.body(x) + self.shortcut(x))


def resnet18_trunk(in_channels: int, stem_stride: int) -> list[nn.Module]:
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, 64, 3, stem_stride, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
    ]
    c_in = 64
    for c_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)]
        c_in = c_out
    return layers + [nn.AdaptiveAvgPool2d(1), nn.Flatten()]


@BACKBONES.register("resnet18")
class ResNet18(nn.Sequential):
    """CIFAR stem: 3x3 conv, stride 1, no max-pool (32x32 inputs keep 32x32 in the first stage)."""

    width = 512

    def __init__(self, in_channels: int):
        super().__init__(*resnet18_trunk(in_channels, 1))


@BACKBONES.register("resnet18_64")
class ResNet18For64(nn.Sequential):
    """Tiny-ImageNet (64x64): the CIFAR stem with stride 2, so every stage sees the feature-map
    sizes of the CIFAR network (our choice; the papers do not state their 64x64 stem)."""

    width = 512

    def __init__(self, in_channels: int):
        super().__init__(*resnet18_trunk(in_channels, 2))
