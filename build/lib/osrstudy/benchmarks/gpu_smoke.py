"""The first thing to run wherever a GPU is available (under 5 minutes on one GPU):

    python -m osrstudy.benchmarks.gpu_smoke            # every backbone, 50 steps at batch 128
    python -m osrstudy.benchmarks.gpu_smoke --device cpu --backbones small_cnn --steps 2   # a dry run

Prints the driver, torch's CUDA, the GPUs and the architectures torch was built for; then per
backbone at d = 128: the peak memory (max_memory_allocated) of an exact Jacobian pass at two chunk
sizes and the chunk a run would choose, and 50 training steps (crop_flip + rotation, the study's
heaviest switches) in fp32 and in bf16 + channels_last with torch.cuda.set_sync_debug_mode("warn"):
images/s and how many host-device syncs the steps made (should be 0).
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from osrstudy.augment import build_augment
from osrstudy.backbones import BACKBONES, build_backbone
from osrstudy.device import device_facts, driver_version, select_device
from osrstudy.images import DeviceImages
from osrstudy.jacobian import exact_norms, in_chunks
from osrstudy.losses import build_loss
from osrstudy.memory import jacobian_chunk, peak_bytes
from osrstudy.model import Model
from osrstudy.train import TrainingData, step_generator, step_loss

# the input each backbone sees in the study (channels, side)
INPUT_SHAPES = {"small_cnn": (1, 8), "lenet": (1, 28), "classifier32": (3, 32), "wrn16_4": (3, 32),
                "resnet18": (3, 32), "resnet18_64": (3, 64)}
EMBED_DIM = 128


def header(device: torch.device) -> list[str]:
    lines = [f"torch {torch.__version__}, built for CUDA {torch.version.cuda}, driver {driver_version()}"]
    if device.type == "cuda":
        lines.append(f"architectures built: {' '.join(torch.cuda.get_arch_list())}")
        for i in range(torch.cuda.device_count()):
            major, minor = torch.cuda.get_device_capability(i)
            lines.append(f"GPU {i}: {torch.cuda.get_device_name(i)}, compute capability {major}.{minor}")
    lines.append(f"facts a store records: {device_facts(device)}")
    return lines


def jacobian_memory(name: str, device: torch.device, chunks: tuple[int, int]) -> str:
    channels, side = INPUT_SHAPES[name]
    backbone = build_backbone(name, channels, EMBED_DIM).to(device).eval()
    norms = exact_norms(backbone)
    x = torch.randn(max(chunks), channels, side, side, device=device)
    cells = []
    for chunk in chunks:
        _, peak = peak_bytes(lambda: in_chunks(norms, x[:chunk], chunk), device)
        cells.append(f"chunk {chunk}: {peak / 2**30:.2f} GiB" if peak is not None else f"chunk {chunk}: ?")
    cells.append(f"chosen chunk: {jacobian_chunk(norms, x)}")
    return f"{name} Jacobian (d = {EMBED_DIM}): " + ", ".join(cells)


def measure_training(name: str, device: torch.device, steps: int, batch: int, bf16: bool,
                     shape: tuple[int, int] | None = None, rotation: bool = True) -> tuple[float, int]:
    """(images/s, host-device syncs) of `steps` training steps with crop_flip (and, with
    `rotation`, the self-supervised rotation head) at the backbone's study input shape."""
    channels, side = shape or INPUT_SHAPES[name]
    pixels = np.random.default_rng(0).integers(0, 256, (4 * batch, channels, side, side), dtype=np.uint8)
    stats = ((0.5,) * channels, (0.25,) * channels)
    x = DeviceImages(pixels, *stats, device, channels_last=bf16 and device.type == "cuda")
    y = torch.arange(len(x), device=device) % 10
    backbone = build_backbone(name, channels, EMBED_DIM).to(device)
    if bf16 and device.type == "cuda":
        backbone = backbone.to(memory_format=torch.channels_last)
    model = Model(backbone, build_loss("movr", 10, EMBED_DIM, {}).to(device), torch.nn.Linear(EMBED_DIM, 4).to(device))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    data = TrainingData(x, y, build_augment("crop_flip", side, True, *stats))
    autocast = torch.autocast(device.type, torch.bfloat16, enabled=bf16)
    order = torch.randperm(len(x), device=device)

    def step(i: int) -> None:
        batch_index = order[(i % 4) * batch:(i % 4 + 1) * batch]
        value = step_loss(model, data, batch_index, step_generator(device, i), 0.1 if rotation else 0.0, autocast)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()

    step(0)  # warm-up: kernels chosen, normalisation constants copied
    synchronize(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if device.type == "cuda":
            torch.cuda.set_sync_debug_mode("warn")
        start = time.perf_counter()
        for i in range(1, steps + 1):
            step(i)
        if device.type == "cuda":
            torch.cuda.set_sync_debug_mode(0)
        synchronize(device)
        seconds = time.perf_counter() - start
    return steps * batch / seconds, sum("synchroniz" in str(w.message) for w in caught)


def training_speed(name: str, device: torch.device, steps: int, batch: int, bf16: bool) -> str:
    images_per_s, syncs = measure_training(name, device, steps, batch, bf16)
    mode = "bf16 + channels_last" if bf16 else "fp32"
    return f"{name} training ({mode}): {images_per_s:.0f} images/s, {syncs} host-device syncs in {steps} steps"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m osrstudy.benchmarks.gpu_smoke", description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--backbones", nargs="*", default=BACKBONES.names())
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--chunks", type=int, nargs=2, default=(2, 8))
    a = p.parse_args(argv)
    device = torch.device(a.device)
    if device.type == "cuda":
        device = select_device(None)  # a run's settings (TF32 off, deterministic); fails clearly without CUDA
    for line in header(device):
        print(line, flush=True)
    for name in a.backbones:
        print(jacobian_memory(name, device, tuple(a.chunks)), flush=True)
        for bf16 in (False, True):
            print(training_speed(name, device, a.steps, a.batch, bf16), flush=True)


if __name__ == "__main__":
    main()
