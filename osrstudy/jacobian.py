"""Exact per-sample Frobenius norms of the Jacobian of an embedding w.r.t. the input."""
from __future__ import annotations

from typing import Callable

import torch
from torch.func import jacrev, vmap


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
