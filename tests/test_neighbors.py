"""The inverted-file neighbour search and the covariance-route PCA against their exact twins."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from cellmodel.pp import neighbors
from cellmodel.pp import pca as pca_module
from cellmodel.pp.graph import knn_graph
from cellmodel.pp.neighbors import nearest


def _clustered(n: int, dim: int, groups: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(groups, dim))
    # a decaying spectrum, as principal components have
    scales = 1.0 / np.sqrt(np.arange(1, dim + 1))
    points = centres[rng.integers(groups, size=n)] + rng.normal(size=(n, dim)) * scales
    return points.astype(np.float32)


def _recall(found: np.ndarray, exact: np.ndarray) -> float:
    hits = [len(set(a) & set(b)) for a, b in zip(found.tolist(), exact.tolist(), strict=True)]
    return float(np.mean(hits)) / exact.shape[1]


def test_inverted_file_finds_the_exact_neighbours_on_clustered_points() -> None:
    X = _clustered(6000, 20)
    found = nearest(X, X, 16, approximate=True, seed=0)
    exact = NearestNeighbors(n_neighbors=16).fit(X).kneighbors(X, return_distance=False)
    assert found.shape == (6000, 16)
    assert _recall(found, exact) >= 0.97
    assert np.array_equal(found[:, 0], np.arange(6000))  # each point finds itself first
    assert np.array_equal(found, nearest(X, X, 16, approximate=True, seed=0))  # seeded


def test_inverted_file_with_other_queries() -> None:
    X = _clustered(5000, 10, seed=1)
    data, queries = X[:3000], X[3000:]
    found = nearest(data, queries, 8, approximate=True, seed=3)
    exact = NearestNeighbors(n_neighbors=8).fit(data).kneighbors(queries, return_distance=False)
    assert found.min() >= 0 and found.max() < 3000
    assert _recall(found, exact) >= 0.95


def test_approximate_batch_balanced_graph_reaches_every_batch() -> None:
    X = _clustered(3000, 8, seed=2)
    batch = np.tile(["a", "b", "c"], 1000)
    graph = knn_graph(X, n_neighbors=6, batch=batch, approximate=True)
    A = graph.adjacency.tocsr()
    assert graph.method == "inverted-file-batch-balanced"
    assert (A != A.T).nnz == 0 and A.diagonal().sum() == 0
    for cell in range(0, 3000, 97):
        neighbours = A.indices[A.indptr[cell] : A.indptr[cell + 1]]
        assert set(batch[neighbours]) == {"a", "b", "c"}


def test_covariance_route_gives_arpacks_components(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    X = (_clustered(3000, 40, seed=4) @ rng.normal(size=(40, 60))).astype(np.float32)
    X -= X.mean(axis=0)
    arpack_scores, arpack_var = pca_module.fit_pca(X, 10)
    monkeypatch.setattr(pca_module, "GRAM_PCA_FROM", 100)
    gram_scores, gram_var = pca_module.fit_pca(X, 10)
    np.testing.assert_allclose(gram_var, arpack_var, rtol=1e-4)
    for j in range(10):
        corr = np.corrcoef(gram_scores[:, j], arpack_scores[:, j])[0, 1]
        assert abs(corr) > 0.9999
    # the sign rule: each axis's largest loading is positive, whatever LAPACK returns
    _, axes, _ = pca_module.covariance_axes(
        X.shape[0], X.sum(axis=0, dtype=np.float64), (X.T @ X).astype(np.float64), 10
    )
    assert np.all(axes[np.abs(axes).argmax(axis=0), np.arange(10)] > 0)
    # parallel analysis counts the same components on either route
    monkeypatch.setattr(pca_module, "GRAM_PCA_FROM", 10**9)
    arpack_keep = pca_module.parallel_analysis(X, 20, 0)
    monkeypatch.setattr(pca_module, "GRAM_PCA_FROM", 100)
    assert pca_module.parallel_analysis(X, 20, 0) == arpack_keep


def test_the_largest_files_go_to_nn_descent(monkeypatch: pytest.MonkeyPatch) -> None:
    X = _clustered(3000, 8, seed=6)
    monkeypatch.setattr(neighbors, "NNDESCENT_FROM", 2000)
    assert neighbors.approximate_method(3000) == "nndescent"
    calls: list[int] = []
    monkeypatch.setattr(
        neighbors,
        "_nn_descent",
        lambda data, queries, k, seed: (
            calls.append(k) or np.zeros((queries.shape[0], k), dtype=np.int64)
        ),
    )
    graph = knn_graph(X, n_neighbors=5, approximate=True)
    assert calls == [6] and graph.method == "nndescent"
    batch = np.repeat(["a", "b"], 1500)  # each batch under the threshold: the inverted file
    assert knn_graph(X, 4, batch=batch, approximate=True).method == "inverted-file-batch-balanced"


@pytest.mark.slow  # pynndescent's first call compiles with numba (about 40 s on two cores)
def test_nn_descent_on_the_largest_files(monkeypatch: pytest.MonkeyPatch) -> None:
    X = _clustered(2000, 8, seed=7)
    monkeypatch.setattr(neighbors, "NNDESCENT_FROM", 1000)
    found = nearest(X, X, 10, approximate=True, seed=0)
    exact = NearestNeighbors(n_neighbors=10).fit(X).kneighbors(X, return_distance=False)
    assert _recall(found, exact) >= 0.95
    other = nearest(X[:1500], X[1500:], 5, approximate=True, seed=0)
    assert other.shape == (500, 5) and other.max() < 1500
