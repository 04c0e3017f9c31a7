"""Batched augmentation on the device: the whole batch in a few tensor operations, no DataLoader.

Randomness comes from a generator on the images' device that the caller seeds per step, so a
resumed run draws exactly the crops and flips of an uninterrupted one, and no draw makes the host
wait for the GPU. Images are already normalised: padding uses each
channel's normalised zero (black), as per-image transforms that pad before normalising do.
"""
from __future__ import annotations

from typing import Callable

import torch

from osrstudy.images import channel_stats

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
KINDS = ("none", "crop_flip", "randaugment")


def random_crop(x: torch.Tensor, pad: int, fill: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Pad by `pad` pixels with the per-channel `fill`, then take an HxW window at a random offset
    per sample (one gather for the whole batch)."""
    n, c, h, w = x.shape
    padded = fill.view(1, c, 1, 1).expand(n, c, h + 2 * pad, w + 2 * pad).clone()
    padded[:, :, pad : pad + h, pad : pad + w] = x
    offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=gen, device=x.device)
    rows = (offsets[0, :, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (offsets[1, :, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


def random_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    flip = torch.rand(len(x), generator=gen, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def rotate(x: torch.Tensor, quarter_turns: torch.Tensor) -> torch.Tensor:
    """Rotate each square image by its own multiple of 90 degrees (selected with torch.where:
    boolean-mask indexing would make the host wait for the GPU)."""
    turns = quarter_turns.to(x.device).view(-1, 1, 1, 1)
    out = x
    for k in range(1, 4):
        out = torch.where(turns == k, x.rot90(k, dims=(2, 3)), out)
    return out


def build_augment(kind: str, image_size: int, flip: bool, mean, std, group: int = 8) -> Augment | None:
    """None for 'none'. 'crop_flip': random crop with padding image_size / 8 (4 at 32x32) and,
    where the dataset allows, a horizontal flip. 'randaugment' adds torchvision's RandAugment,
    drawn per group of `group` samples (it draws one operation per call)."""
    if kind not in KINDS:
        raise ValueError(f"unknown augmentation {kind!r}; choose one of {', '.join(KINDS)}")
    if kind == "none":
        return None
    pad = max(1, image_size // 8)
    stats: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}  # per device, copied there once
    randaugment = None
    if kind == "randaugment":
        from torchvision.transforms import v2

        randaugment = v2.RandAugment()

    def transform(x: torch.Tensor, m: torch.Tensor, s: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        x = random_crop(x, pad, (-m / s).flatten(), gen)
        if flip:
            x = random_flip(x, gen)
        if randaugment is not None:
            # RandAugment works on [0, 1] images and draws from torch's global generator, whose
            # state the checkpoint keeps.
            pixels = (x * s + m).clamp(0, 1)
            pixels = torch.cat([randaugment(chunk) for chunk in pixels.split(group)])
            x = (pixels - m) / s
        return x

    def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """`gen` lives on x's device: no random draw crosses between host and device. The batch
        keeps its memory layout (channels_last stays channels_last)."""
        if x.device not in stats:
            stats[x.device] = channel_stats(mean, std, x.device)
        m, s = stats[x.device]
        layout = torch.channels_last if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(
            memory_format=torch.channels_last) else torch.contiguous_format
        return transform(x, m, s, gen).contiguous(memory_format=layout)

    return augment
