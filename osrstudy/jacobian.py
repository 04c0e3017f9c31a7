"""Exact per-sample Frobenius norms of the Jacobian of an embedding w.r.t. the input."""
from __future__ import annotations

from typing import Callable

import torch
from torch.func import jacrev, vjp, vmap


def jacobian_norms(
    embed: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, chunk_size: int = 256
) -> torch.Tensor:
    """||d embed(x_i) / d x_i||_F for every sample, batched with vmap(jacrev), in bounded chunks.

    `embed` maps a batch (B, ...) to (B, d) and must treat samples independently (eval mode).
    Reverse mode costs d vector-Jacobian products per sample, the cheaper side when d is smaller
    than the input dimension, as it is for every backbone here.
    """

    def one(xi: torch.Tensor) -> torch.Tensor:
        return embed(xi.unsqueeze(0)).squeeze(0)

    def norm(xi: torch.Tensor) -> torch.Tensor:
        return jacrev(one)(xi).pow(2).sum().sqrt()

    batched = vmap(norm)
    with torch.enable_grad():
        return torch.cat([batched(chunk).detach() for chunk in x.split(chunk_size)])


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
    embed: Callable[[torch.Tensor], torch.Tensor], x0: torch.Tensor, x1: torch.Tensor, steps: int = 21
) -> torch.Tensor:
    """(pairs, steps) Jacobian norms at x_t = (1 - t) x0 + t x1, t = 0..1 (Jacobian-norm paper,
    Fig. 4: the norm peaks in the open space between two known classes)."""
    t = torch.linspace(0, 1, steps, device=x0.device, dtype=x0.dtype).view(1, steps, *[1] * (x0.dim() - 1))
    path = (1 - t) * x0.unsqueeze(1) + t * x1.unsqueeze(1)  # (pairs, steps, ...)
    return jacobian_norms(embed, path.flatten(0, 1)).view(len(x0), steps)
