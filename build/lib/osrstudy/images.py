"""Training images stored once, batches drawn without a DataLoader.

The images live as uint8 (a quarter of float32's memory) on the compute device when they fit in
`budget` of its free memory; otherwise (MedMNIST at 224 px on a small GPU) in pinned host memory,
from which each batch is gathered (on the host, from host indices) into one of two pinned buffers
and copied on a stream of its own, so the copy of batch i + 1 overlaps the compute of batch i.
(The CUDA path has not run on a GPU yet: none was lent.) Batches come out normalised float32 on
the device.
"""
from __future__ import annotations

import numpy as np
import torch


def channel_stats(mean, std, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std as (1, C, 1, 1) float32 tensors on the device."""
    return tuple(torch.tensor(v, dtype=torch.float32, device=device).view(1, -1, 1, 1) for v in (mean, std))


def normalise(raw: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (scaled by 1/255) or float images in [0, 1] -> (x - mean) / std in float32."""
    x = raw.float() / 255 if raw.dtype == torch.uint8 else raw.float()
    return (x - mean) / std


def to_device(images: np.ndarray, mean, std, device) -> torch.Tensor:
    """A whole set, normalised once on the device (for sets evaluated in full passes)."""
    return normalise(torch.as_tensor(images, device=device), *channel_stats(mean, std, device))


class DeviceImages:
    def __init__(self, images: np.ndarray, mean, std, device: torch.device | str,
                 budget: float = 0.5, storage: str | None = None, channels_last: bool = False):
        self.device = torch.device(device)
        data = torch.as_tensor(images)
        if storage is None:
            fits = self.device.type != "cuda" or data.nbytes <= budget * torch.cuda.mem_get_info(self.device)[0]
            storage = "device" if fits else "host"
        self.storage = storage
        self.mean, self.std = channel_stats(mean, std, self.device)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        pin = storage == "host" and self.device.type == "cuda"
        self.data = data.to(self.device) if storage == "device" else (data.pin_memory() if pin else data)
        self._buffers: list[torch.Tensor] = []
        self._events: list = []
        self._turn = 0
        self._copy_stream = None  # created on first use (CUDA, host storage)

    def __len__(self) -> int:
        return len(self.data)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    def _normalise(self, raw: torch.Tensor) -> torch.Tensor:
        x = normalise(raw.to(self.device), self.mean, self.std)
        return x.contiguous(memory_format=self.memory_format)

    def __getitem__(self, index: torch.Tensor) -> torch.Tensor:
        if self.storage == "device":
            return self._normalise(self.data[index.to(self.device)])
        index = index.cpu()  # train() keeps indices of host images on the host: no copy here
        if len(self._buffers) < 2 or len(self._buffers[0]) < len(index):
            pin = self.device.type == "cuda"
            self._buffers = [torch.empty((len(index), *self.shape[1:]), dtype=self.data.dtype, pin_memory=pin)
                             for _ in range(2)]
            self._events = [None, None]
        turn, self._turn = self._turn, 1 - self._turn
        if self._events[turn] is not None:
            self._events[turn].synchronize()  # the copy that last read this buffer (two batches ago) is done
        buffer = self._buffers[turn][: len(index)]
        torch.index_select(self.data, 0, index, out=buffer)
        if self.device.type != "cuda":
            return self._normalise(buffer)
        return self._normalise(self._copy_beside_compute(buffer, turn))

    def _copy_beside_compute(self, buffer: torch.Tensor, turn: int) -> torch.Tensor:
        """Copy a pinned batch to the GPU on a stream of its own, so it overlaps the compute of the
        batch before (the host runs ahead of the GPU: nothing in a step waits for it); the
        compute stream waits for the copy on the GPU, not on the host."""
        compute = torch.cuda.current_stream(self.device)
        if self._copy_stream is None:
            self._copy_stream = torch.cuda.Stream(self.device)
        with torch.cuda.stream(self._copy_stream):
            raw = buffer.to(self.device, non_blocking=True)
            self._events[turn] = torch.cuda.Event()
            self._events[turn].record(self._copy_stream)
        compute.wait_event(self._events[turn])
        raw.record_stream(compute)  # the allocator must not reuse it before the compute is done
        return raw

    def split(self, size: int):
        """Consecutive normalised chunks (for evaluation passes)."""
        for start in range(0, len(self), size):
            yield self[torch.arange(start, min(start + size, len(self)))]
