"""Scores that need the network itself, not just its features (computed in the run, then scored)."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F


def odin_scores(
    logits_fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    pixel_std: Sequence[float],
    temperature: float = 1000.0,
    epsilon: float = 0.0014,
    chunk_size: int = 512,
) -> torch.Tensor:
    """ODIN (Liang et al. 2018): -max softmax(logits(x~) / T) with x~ = x - eps sign(grad_x L),
    L = -log softmax(logits(x) / T) at the predicted label; higher = more unknown.

    `x` is normalised, so the step is eps / std per channel: eps in [0, 1] pixel units, as in the
    original. Samples must be independent (eval mode).
    """
    step = epsilon / torch.tensor(pixel_std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    out = []
    for chunk in x.split(chunk_size):
        chunk = chunk.detach().requires_grad_(True)
        with torch.enable_grad():
            log_probs = F.log_softmax(logits_fn(chunk) / temperature, dim=1)
            loss = -log_probs.max(1).values.sum()
            (grad,) = torch.autograd.grad(loss, chunk)
        with torch.no_grad():
            perturbed = chunk - step * grad.sign()
            out.append(-F.softmax(logits_fn(perturbed).double() / temperature, dim=1).max(1).values)
    return torch.cat(out)
