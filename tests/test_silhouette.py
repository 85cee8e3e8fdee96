"""The silhouette from one distance matrix (`cellmodel.cluster.silhouette`) against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import silhouette_score

from cellmodel.cluster.silhouette import Silhouette


def _data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, n)
    return (rng.normal(size=(n, 6)) + labels[:, None]).astype(np.float32), labels


@pytest.mark.parametrize(("n", "sample"), [(300, 1000), (900, 250)])
def test_it_gives_scikit_learns_value_on_the_same_cells(n: int, sample: int) -> None:
    X, labels = _data(n)
    score = Silhouette(X, seed=3, sample=sample)
    sampled = sample if n > sample else None
    for partition in (labels, labels % 3, np.where(labels == 4, 1, labels)):
        expected = silhouette_score(X, partition, sample_size=sampled, random_state=3)
        assert score(partition) == pytest.approx(expected, abs=1e-6)


def test_a_single_cell_cluster_scores_zero_and_one_cluster_is_refused() -> None:
    X, labels = _data(200)
    labels[7] = 9  # a cluster of one cell, as scikit-learn counts it: silhouette 0
    assert Silhouette(X, 0, 1000)(labels) == pytest.approx(silhouette_score(X, labels), abs=1e-6)
    with pytest.raises(ValueError, match="clusters"):
        Silhouette(X, 0, 1000)(np.zeros(200, dtype=int))
