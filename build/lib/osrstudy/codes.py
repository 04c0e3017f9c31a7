"""Fixed prototype codes (balanced-geometry paper, sections 3 and 5.2): (K, d) arrays of radius rho."""
from __future__ import annotations

import numpy as np


def simplex_code(k: int, d: int, rho: float = 1.0) -> np.ndarray:
    """Regular simplex (ETF): ||p_k|| = rho, p_j . p_k = -rho^2 / (K - 1). Needs d >= K - 1."""
    if d < k - 1:
        raise ValueError(
            f"a simplex of {k} prototypes needs embedding dimension d >= {k - 1}; got d = {d} "
            "(use the harmonic code, defined for every d)"
        )
    centred = np.eye(k) - 1.0 / k
    basis, _ = np.linalg.qr(centred.T)  # the first K-1 columns span the centred subspace
    coords = centred @ basis[:, : k - 1]
    code = np.zeros((k, d))
    code[:, : k - 1] = rho * coords / np.linalg.norm(coords, axis=1, keepdims=True)
    return code


def harmonic_code(k: int, d: int, rho: float = 1.0) -> np.ndarray:
    """(cos 2 pi f k / K, sin 2 pi f k / K) for the first floor(d/2) frequencies f = 1, 2, ... that
    are not multiples of K, a zero coordinate when d is odd, rows scaled to radius rho. Zero
    barycentre and equal norms for every d >= 2 and K >= 2."""
    if d < 2:
        raise ValueError(f"the harmonic code needs d >= 2; got d = {d}")
    freqs = [f for f in range(1, d * k + 1) if f % k][: d // 2]
    angles = 2 * np.pi * np.outer(np.arange(k), freqs) / k
    code = np.zeros((k, d))
    code[:, 0 : 2 * len(freqs) : 2], code[:, 1 : 2 * len(freqs) : 2] = np.cos(angles), np.sin(angles)
    return rho * code / np.linalg.norm(code, axis=1, keepdims=True)
