"""Training-loop throughput: device-resident uint8 images with batched on-device augmentation
(osrstudy.images + osrstudy.augment) vs a torch DataLoader with per-image torchvision
transforms, same model, batch, optimiser and augmentation (random crop with padding 4 and
horizontal flip), on CIFAR-shaped data.

    python -m osrstudy.benchmarks.data_pipeline [--steps 20] [--workers 2] [--backbones none classifier32 resnet18]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from osrstudy.augment import build_augment
from osrstudy.backbones import build_backbone
from osrstudy.images import DeviceImages

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_fn(model, head, opt):
    def step(x, y):
        loss = F.cross_entropy(head(model(x)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def timed(batches, step, steps: int, warmup: int, device) -> float:
    """Images per second over `steps` steps after `warmup` steps."""
    it = iter(batches)
    for _ in range(warmup):
        step(*next(it))
    sync(device)
    start, n = time.perf_counter(), 0
    for _ in range(steps):
        x, y = next(it)
        step(x, y)
        n += len(x)
    sync(device)
    return n / (time.perf_counter() - start)


def ours(images, labels, device, batch: int):
    store = DeviceImages(images, MEAN, STD, device)
    y_all = torch.as_tensor(labels, device=device)
    augment = build_augment("crop_flip", 32, True, MEAN, STD)
    step = 0
    while True:
        order = torch.randperm(len(store), generator=torch.Generator().manual_seed(step)).to(device)
        for i in range(len(store) // batch):
            idx = order[i * batch : (i + 1) * batch]
            yield augment(store[idx], torch.Generator().manual_seed(step)), y_all[idx]
            step += 1


def dataloader(images, labels, device, batch: int, workers: int):
    from PIL import Image
    from torchvision import transforms

    transform = transforms.Compose([
        transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
        transforms.ToTensor(), transforms.Normalize(MEAN, STD),
    ])
    hwc = images.transpose(0, 2, 3, 1)

    class Pictures(torch.utils.data.Dataset):
        def __len__(self):
            return len(hwc)

        def __getitem__(self, i):
            return transform(Image.fromarray(hwc[i])), int(labels[i])

    loader = torch.utils.data.DataLoader(Pictures(), batch_size=batch, shuffle=True, drop_last=True,
                                         num_workers=workers, pin_memory=device.type == "cuda",
                                         persistent_workers=workers > 0)
    while True:
        for x, y in loader:
            yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", nargs="+", default=["none", "classifier32", "resnet18"],
                        help="'none' times the input pipeline alone")
    parser.add_argument("--n", type=int, default=10_000, help="images (CIFAR-shaped, random)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.n, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, args.n)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; batch {args.batch}; {args.steps} timed steps after {args.warmup}; "
          f"DataLoader workers {args.workers}")
    print("| backbone | device-resident + batched aug (img/s) | DataLoader + per-image transforms (img/s) | ratio |")
    print("|---|---|---|---|")
    for backbone in args.backbones:
        rates = []
        for source in (ours(images, labels, device, args.batch),
                       dataloader(images, labels, device, args.batch, args.workers)):
            if backbone == "none":  # the input pipeline alone: what a fast GPU would wait for
                step = lambda x, y: None  # noqa: E731
            else:
                torch.manual_seed(0)
                model = build_backbone(backbone, 3, 128).to(device)
                head = torch.nn.Linear(128, 10).to(device)
                opt = torch.optim.SGD([*model.parameters(), *head.parameters()], lr=0.01, momentum=0.9)
                step = step_fn(model, head, opt)
            rates.append(timed(source, step, args.steps, args.warmup, device))
        print(f"| {backbone} | {rates[0]:.0f} | {rates[1]:.0f} | {rates[0] / rates[1]:.2f} |")


if __name__ == "__main__":
    main()
