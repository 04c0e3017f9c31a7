"""Benchmark: exact per-sample Jacobian norms vs the random-projection estimator.

    python -m osrstudy.benchmarks.jacobian [--device cuda] [--samples 64]

Prints a Markdown table: throughput (samples/s, best of --repeats after a warm-up), mean relative
error of the estimated norm, and peak GPU memory on CUDA. Input shapes: the embedded digits and a
CIFAR-sized image; the backbone is the small CNN with the given embedding dimension.
"""
from __future__ import annotations

import argparse
import time

import torch

from osrstudy.backbones import build_backbone
from osrstudy.jacobian import jacobian_norms, jacobian_norms_estimate

CASES = [("digits 1x8x8", (1, 8, 8), 16), ("cifar 3x32x32", (3, 32, 32), 128)]


def timed(fn, device, repeats):
    fn()  # warm-up (allocations, kernels)
    best, peak = float("inf"), 0
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
            peak = max(peak, torch.cuda.max_memory_allocated())
        best = min(best, time.perf_counter() - start)
    return out, best, peak


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--chunk", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--projections", type=int, nargs="+", default=[4, 16, 64])
    a = p.parse_args(argv)
    device = torch.device(a.device)
    torch.manual_seed(0)
    print(f"device: {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}, "
          f"threads: {torch.get_num_threads()}, samples: {a.samples}, chunk: {a.chunk}\n")
    print("| input | d | method | samples/s | mean rel. error of norm | peak GPU MB |")
    print("|---|---|---|---|---|---|")
    for name, shape, d in CASES:
        model = build_backbone("small_cnn", shape[0], d).to(device).eval()
        x = torch.randn(a.samples, *shape, device=device)
        exact, seconds, peak = timed(lambda: jacobian_norms(model, x, a.chunk), device, a.repeats)
        mb = f"{peak / 2**20:.0f}" if device.type == "cuda" else "n/a"
        print(f"| {name} | {d} | exact (vmap jacrev) | {a.samples / seconds:.0f} | 0 | {mb} |")
        for m in a.projections:
            est, seconds, peak = timed(lambda: jacobian_norms_estimate(model, x, m, 0, a.chunk), device, a.repeats)
            err = ((est - exact).abs() / exact).mean().item()
            mb = f"{peak / 2**20:.0f}" if device.type == "cuda" else "n/a"
            print(f"| {name} | {d} | estimate, {m} projections | {a.samples / seconds:.0f} | {err:.3f} | {mb} |")


if __name__ == "__main__":
    main()
