"""Exact per-sample Frobenius norms of the Jacobian of an embedding w.r.t. the input."""
from __future__ import annotations

from typing import Callable

import torch
from torch.func import jacrev, vjp, vmap

from osrstudy.memory import jacobian_chunk


def exact_norms(embed: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """The batched function x -> ||d embed(x_i) / d x_i||_F (vmap over jacrev): a chunk of B
    samples pushes B x d backward passes through the network at once."""

    def one(xi: torch.Tensor) -> torch.Tensor:
        return embed(xi.unsqueeze(0)).squeeze(0)

    def norm(xi: torch.Tensor) -> torch.Tensor:
        return jacrev(one)(xi).pow(2).sum().sqrt()

    batched = vmap(norm)

    def run(chunk: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            return batched(chunk).detach()

    return run


def jacobian_norms(
    embed: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, chunk_size: int | None = None,
    budget_bytes: int | None = None,
) -> torch.Tensor:
    """||d embed(x_i) / d x_i||_F for every sample, batched with vmap(jacrev), in chunks whose
    memory is bounded: `chunk_size` samples at a time, or (None) as many as `budget_bytes` allow
    (default: half the device's free memory), measured on a two-sample probe
    (osrstudy.memory.jacobian_chunk). A chunk that runs out of GPU memory is halved and retried.

    `embed` maps a batch (B, ...) to (B, d) and must treat samples independently (eval mode).
    Reverse mode costs d vector-Jacobian products per sample, the cheaper side when d is smaller
    than the input dimension, as it is for every backbone here.
    """
    norms = exact_norms(embed)
    chunk = chunk_size or jacobian_chunk(norms, x, budget_bytes)
    return in_chunks(norms, x, chunk)


def in_chunks(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, chunk: int) -> torch.Tensor:
    """fn over x in chunks of `chunk` samples, halving the chunk whenever the GPU runs out of memory."""
    out, start = [], 0
    while start < len(x):
        try:
            out.append(fn(x[start:start + chunk]))
            start += chunk
        except torch.OutOfMemoryError:
            if chunk == 1:
                raise
            chunk //= 2
            torch.cuda.empty_cache()
    return torch.cat(out)


def jacobian_norms_estimate(
    embed: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    n_projections: int,
    seed: int = 0,
    chunk_size: int = 256,
) -> torch.Tensor:
    """Unbiased estimate of ||J||_F^2 per sample from random projections, then its square root.

    ||J||_F^2 = E ||J^T v||^2 for v ~ N(0, I_d): n_projections vector-Jacobian products of the
    whole batch (one vmap over projections) instead of d, so the cost no longer grows with the
    embedding dimension; the relative standard deviation of the squared norm is at most
    sqrt(2 / n_projections). Samples must be independent (eval mode).
    """
    generator = torch.Generator(device="cpu").manual_seed(seed)
    norms = []
    with torch.enable_grad():
        for chunk in x.split(chunk_size):
            out, pullback = vjp(embed, chunk)
            v = torch.randn((n_projections, *out.shape), generator=generator).to(out)
            (grads,) = vmap(pullback)(v)  # (n_projections, B, *input)
            squared = grads.detach().flatten(2).pow(2).sum(2).mean(0)
            norms.append(squared.sqrt())
    return torch.cat(norms)


def interpolation_norms(
    embed: Callable[[torch.Tensor], torch.Tensor], x0: torch.Tensor, x1: torch.Tensor, steps: int = 21,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """(pairs, steps) Jacobian norms at x_t = (1 - t) x0 + t x1, t = 0..1 (Jacobian-norm paper,
    Fig. 4: the norm peaks in the open space between two known classes)."""
    t = torch.linspace(0, 1, steps, device=x0.device, dtype=x0.dtype).view(1, steps, *[1] * (x0.dim() - 1))
    path = (1 - t) * x0.unsqueeze(1) + t * x1.unsqueeze(1)  # (pairs, steps, ...)
    return jacobian_norms(embed, path.flatten(0, 1), chunk_size).view(len(x0), steps)
