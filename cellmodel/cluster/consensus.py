"""A label-free choice between partitions of different families: the graph encoder's, a consensus
of k-means runs on the PCA, and Leiden at the resolution that gives k.

No family wins on every kind of data: the graph encoder smooths over the kNN graph, which pays on
large files with many cells per type and hurts small ones, where a rare type's neighbours are
mostly other types; k-means on the PCA has the opposite profile and a high variance between
restarts; Leiden suits graphs whose communities are sharp. So the pipeline builds one candidate of
each family and keeps the one that agrees best with the whole ensemble (the candidates and the
individual k-means runs), scored by the adjusted Rand index: the "best of the ensemble by average
agreement" rule of cluster-ensemble work (Strehl & Ghosh 2002, JMLR 3:583). Or, instead of
choosing, `encoder_kmeans_consensus` merges the graph encoder's partition with the k-means
consensus into one. Every step reads the expression alone; labels never enter.

The k-means consensus itself clusters the co-association of many single-start k-means runs through
its spectral embedding: the left singular vectors of the cells × clusters membership matrix (each
column scaled by 1/√size), row-normalised, then k-means (Strehl & Ghosh's CSPA by a sparse SVD,
so memory stays linear in cells).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

DEFAULT_KMEANS_RUNS = 20
CANDIDATES = ("graph-encoder", "kmeans-consensus", "leiden-k")


@dataclass
class Choice:
    """The kept partition, its family, and every candidate's mean agreement with the ensemble."""

    labels: np.ndarray
    chosen: str
    agreement: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "agreement": {k: round(v, 6) for k, v in self.agreement.items()},
            "rule": "mean ARI with the ensemble (candidates + k-means runs)",
        }


def leiden_labels(
    adjacency: Any, resolution: float, seed: int, n_iterations: int = -1
) -> np.ndarray:
    """scanpy's Leiden (its default flavour, leidenalg) on a given adjacency matrix;
    `n_iterations=-1` runs it to convergence, a positive count stops earlier (cheaper)."""
    import scanpy as sc

    n = adjacency.shape[0]
    holder = ad.AnnData(obs=pd.DataFrame(index=[str(i) for i in range(n)]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scanpy announces a future change of default flavour
        sc.tl.leiden(
            holder, resolution=resolution, adjacency=adjacency, random_state=seed,
            n_iterations=n_iterations,
        )  # fmt: skip
    return holder.obs["leiden"].astype(int).to_numpy()


def leiden_to_k(
    adjacency: Any, k: int, seed: int, *, max_steps: int = 30, max_resolution: float = 64.0,
    n_iterations: int = -1,
) -> tuple[np.ndarray, float, int]:  # fmt: skip
    """Leiden with the resolution bisected until it gives `k` communities (labels, resolution,
    Leiden calls). The community count grows with resolution; when no resolution gives exactly
    k, the closest count wins (the lower resolution on ties). `n_iterations` as in
    `leiden_labels`."""
    tried: dict[float, np.ndarray] = {}

    def count(resolution: float) -> int:
        if resolution not in tried:
            tried[resolution] = leiden_labels(adjacency, resolution, seed, n_iterations)
        return len(np.unique(tried[resolution]))

    lo, hi = 0.0, 1.0
    while count(hi) < k and hi < max_resolution:
        lo, hi = hi, hi * 2
    for _ in range(max_steps):
        if count(hi) == k:
            break
        mid = (lo + hi) / 2
        if count(mid) == k:
            hi = mid
            break
        lo, hi = (mid, hi) if count(mid) < k else (lo, mid)
    best = min(tried, key=lambda r: (abs(len(np.unique(tried[r])) - k), r))
    return tried[best], best, len(tried)


def kmeans_runs(X: np.ndarray, k: int, seed: int, n_runs: int = DEFAULT_KMEANS_RUNS) -> list:
    """`n_runs` single-start k-means (k-means++ seeding) partitions of X, seeded from `seed`."""
    from sklearn.cluster import KMeans

    X = np.asarray(X, dtype=np.float32)
    return [
        KMeans(n_clusters=k, n_init=1, random_state=seed * 1000 + i).fit_predict(X)
        for i in range(n_runs)
    ]


def _membership(partitions: list[np.ndarray]) -> sp.csr_matrix:
    blocks = []
    for labels in partitions:
        codes = np.unique(labels, return_inverse=True)[1].ravel()
        sizes = np.bincount(codes).astype(np.float64)
        data = 1.0 / np.sqrt(sizes[codes])
        blocks.append(sp.csr_matrix((data, (np.arange(codes.size), codes))))
    return sp.hstack(blocks).tocsr()


def _left_singular(H: sp.csr_matrix, rank: int) -> np.ndarray:
    """The top `rank` left singular vectors of H, from the dense eigenproblem of HᵀH: H has one
    column per cluster of every partition (hundreds at most), so that is small and exact, where
    ARPACK's iteration can stop without converging (error 3 on three 301-cell partitions)."""
    values, vectors = np.linalg.eigh((H.T @ H).toarray())
    top = np.argsort(-values)[:rank]
    singular = np.sqrt(np.maximum(values[top], 0.0))
    return np.asarray(H @ vectors[:, top]) / np.maximum(singular, 1e-12)


def spectral_consensus(partitions: list[np.ndarray], k: int, seed: int) -> np.ndarray:
    """One partition into k from many: k-means on the co-association's spectral embedding."""
    from sklearn.cluster import KMeans

    H = _membership(partitions)
    rank = min(k, min(H.shape) - 1)
    if rank < 1:
        return np.asarray(partitions[0], dtype=np.int64)
    u = _left_singular(H, rank)
    u /= np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-12)
    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(u.astype(np.float32))
    return labels.astype(np.int64)


def choose(candidates: dict[str, np.ndarray], runs: list[np.ndarray]) -> Choice:
    """The candidate with the highest mean ARI with the other candidates and the k-means runs."""
    from sklearn.metrics import adjusted_rand_score

    agreement: dict[str, float] = {}
    for name, labels in candidates.items():
        others = [p for other, p in candidates.items() if other != name] + list(runs)
        agreement[name] = float(np.mean([adjusted_rand_score(labels, p) for p in others]))
    # Ties go to the earlier candidate (the graph encoder first).
    chosen = max(candidates, key=lambda name: (agreement[name], -list(candidates).index(name)))
    return Choice(np.asarray(candidates[chosen], dtype=np.int64), chosen, agreement)


def ensemble_choice(
    X_pca: np.ndarray,
    adjacency: Any,
    encoder_labels: np.ndarray,
    k: int,
    seed: int,
    *,
    n_runs: int = DEFAULT_KMEANS_RUNS,
) -> Choice:
    """Build the k-means consensus and Leiden-at-k candidates beside the graph encoder's labels
    and keep the one that agrees best with the ensemble (see the module doc)."""
    runs = kmeans_runs(X_pca, k, seed, n_runs)
    candidates = {
        "graph-encoder": np.asarray(encoder_labels, dtype=np.int64),
        "kmeans-consensus": spectral_consensus(runs, k, seed),
        "leiden-k": leiden_to_k(adjacency, k, seed)[0].astype(np.int64),
    }
    return choose(candidates, runs)


def encoder_kmeans_consensus(
    X_pca: np.ndarray,
    encoder_labels: np.ndarray,
    k: int,
    seed: int,
    *,
    n_runs: int = DEFAULT_KMEANS_RUNS,
) -> np.ndarray:
    """One partition into k from two families with equal weight: the graph encoder's partition
    and the spectral consensus of `n_runs` single-start k-means runs on the PCA.

    The encoder smooths each cell over its graph neighbourhood, which merges types whose cells
    are interleaved in a sparse, noisy kNN graph; k-means on the PCA does not smooth but splits
    large, spread types. A cell pair kept together by both stays together, a pair split by both
    stays apart, and the pairs they disagree on are settled by the rest of the co-association.
    """
    runs = kmeans_runs(X_pca, k, seed, n_runs)
    kmeans = spectral_consensus(runs, k, seed)
    return spectral_consensus([np.asarray(encoder_labels, dtype=np.int64), kmeans], k, seed)
