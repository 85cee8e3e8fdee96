"""The mean silhouette (Rousseeuw 1987) of many partitions of the same cells, from one distance
matrix.

The merge-split check scores every candidate move by its silhouette. scikit-learn's
`silhouette_score` recomputes every pairwise distance on each call; here they are computed once,
and each partition costs one product of that matrix with the partition's indicator. Above
`sample` cells the score is estimated on a seeded sample, the same cells `silhouette_score` draws
with `sample_size=sample, random_state=seed`, so the two give the same value up to rounding.
"""

from __future__ import annotations

import numpy as np


class Silhouette:
    """`Silhouette(X, seed, sample)(labels)`: the mean silhouette of `labels` in `X`
    (Euclidean), on at most `sample` cells drawn with `seed`."""

    def __init__(self, X: np.ndarray, seed: int, sample: int) -> None:
        from sklearn.utils import check_random_state

        n = len(X)
        self.X = X
        self.cells = (
            check_random_state(seed).permutation(n)[:sample] if n > sample else np.arange(n)
        )
        self._distances: np.ndarray | None = None  # computed at the first score

    @property
    def distances(self) -> np.ndarray:
        if self._distances is None:
            from sklearn.metrics import pairwise_distances

            self._distances = pairwise_distances(self.X[self.cells]).astype(np.float64)
        return self._distances

    def __call__(self, labels: np.ndarray) -> float:
        codes = np.unique(np.asarray(labels)[self.cells], return_inverse=True)[1].ravel()
        k = int(codes.max()) + 1
        if not 2 <= k <= len(codes) - 1:
            raise ValueError(f"the silhouette needs 2 to {len(codes) - 1} clusters (got {k})")
        sizes = np.bincount(codes, minlength=k).astype(np.float64)
        indicator = np.zeros((len(codes), k))
        indicator[np.arange(len(codes)), codes] = 1.0
        sums = self.distances @ indicator  # each cell's summed distance to each cluster
        rows = np.arange(len(codes))
        own = sizes[codes]
        with np.errstate(divide="ignore", invalid="ignore"):
            inside = sums[rows, codes] / (own - 1)
            sums /= sizes
            sums[rows, codes] = np.inf
            nearest = sums.min(axis=1)
            values = (nearest - inside) / np.maximum(inside, nearest)
        values[own == 1] = 0.0
        return float(np.mean(np.nan_to_num(values)))
