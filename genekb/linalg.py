"""Small numeric helpers shared by genekb and cellmodel."""

from __future__ import annotations

import numpy as np

# The floor under a row's norm: a zero row stays zero instead of becoming NaN.
MIN_NORM = 1e-12


def l2_normalize(x: np.ndarray, *, eps: float = MIN_NORM) -> np.ndarray:
    """Each row divided by its L2 norm (at least `eps`), as float32."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, eps)).astype(np.float32)
