"""Each query's k nearest rows of a data matrix (Euclidean): exact, or an inverted-file search.

The inverted file (Sivic & Zisserman 2003; Jégou, Douze & Schmid 2011, IEEE TPAMI 33:117):
coarse k-means centroids cut the data into lists of about `IVF_LIST_SIZE` rows; each query
probes the lists of its `IVF_PROBES` nearest centroids, and queries that share their nearest
centroids are searched together, exactly, over the union of their lists. The work per query is
then about a fixed number of distances, so the search is about linear in the cells, and it needs
no compilation step. Seeded and single-pass: the same input gives the same neighbours. From
`NNDESCENT_FROM` rows on, pynndescent's NN-descent takes over (see there).
"""

from __future__ import annotations

import numpy as np
import torch

# Rows per list (the coarse k-means has n / IVF_LIST_SIZE centroids) and lists each query probes.
IVF_LIST_SIZE = 256
IVF_PROBES = 10
# Coarse centroids are fitted on a seeded sample of this many rows per centroid.
IVF_SAMPLE_PER_LIST = 32
# From this many data rows on, pynndescent's NN-descent (Dong, Charikar & Li 2011, WWW): its
# numba kernels compile for about 40 s in every new process, which a search this large pays back
# (on 13-dimensional clustered points the two took about as long at 400,000 rows; the inverted
# file's coarse assignment grows faster than the rows).
NNDESCENT_FROM = 400_000
# Queries searched together over the union of their probes.
PROBE_BLOCK = 64
# Rows per block when rows are assigned to centroids (block × centroids distances at once).
CENTROID_BLOCK = 8192


def nearest(
    data: np.ndarray, queries: np.ndarray, k: int, *, approximate: bool, seed: int = 0
) -> np.ndarray:
    """Indices (queries × k) of each query's k nearest rows of `data`, nearest first."""
    k = min(k, data.shape[0])
    if not approximate:
        from sklearn.neighbors import NearestNeighbors

        return NearestNeighbors(n_neighbors=k).fit(data).kneighbors(queries, return_distance=False)
    if approximate_method(data.shape[0]) == "nndescent":
        return _nn_descent(data, queries, k, seed)
    data = np.ascontiguousarray(data, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    return _inverted_file(data, queries, k, seed)


def approximate_method(n_rows: int) -> str:
    """The approximate search used for `n_rows` data rows."""
    return "nndescent" if n_rows >= NNDESCENT_FROM else "inverted-file"


def _nn_descent(data: np.ndarray, queries: np.ndarray, k: int, seed: int) -> np.ndarray:
    from pynndescent import NNDescent

    index = NNDescent(data, n_neighbors=k, random_state=seed, n_jobs=1, low_memory=True)
    if queries is data:
        return index.neighbor_graph[0]
    return index.query(queries, k=k)[0]


def _coarse_centroids(data: np.ndarray, n_lists: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    size = min(data.shape[0], n_lists * IVF_SAMPLE_PER_LIST)
    sample = data[np.sort(rng.choice(data.shape[0], size, replace=False))]
    fit = KMeans(n_lists, n_init=1, max_iter=20, random_state=seed).fit(sample)
    return np.asarray(fit.cluster_centers_, dtype=np.float32)


def _nearest_centroids(rows: torch.Tensor, centroids: torch.Tensor, count: int) -> np.ndarray:
    """Each row's `count` nearest centroids (rows × count), nearest first."""
    count = min(count, centroids.shape[0])
    parts = [
        torch.topk(
            torch.cdist(rows[s : s + CENTROID_BLOCK], centroids), count, largest=False
        ).indices
        for s in range(0, rows.shape[0], CENTROID_BLOCK)
    ]
    return torch.cat(parts).numpy()


def _members(homes: np.ndarray, n_lists: int) -> list[np.ndarray]:
    order = np.argsort(homes, kind="stable")
    bounds = np.searchsorted(homes[order], np.arange(n_lists + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(n_lists)]


def _inverted_file(data: np.ndarray, queries: np.ndarray, k: int, seed: int) -> np.ndarray:
    n_lists = max(1, data.shape[0] // IVF_LIST_SIZE)
    centroids = torch.from_numpy(_coarse_centroids(data, n_lists, seed))
    data_t, query_t = torch.from_numpy(data), torch.from_numpy(queries)
    data_lists = _members(_nearest_centroids(data_t, centroids, 1)[:, 0], n_lists)
    probes = _nearest_centroids(query_t, centroids, IVF_PROBES)
    data_sq = (data_t * data_t).sum(dim=1)
    found = np.full((queries.shape[0], k), -1, dtype=np.int64)
    # Queries that share a nearest centroid are searched together, over every list any of them
    # probes (a superset of each one's own probes).
    for asking in _members(probes[:, 0], n_lists):
        # ordered by their second-nearest centroid, so that a block's probes overlap most
        asking = asking[np.argsort(probes[asking, min(1, probes.shape[1] - 1)], kind="stable")]
        for s in range(0, asking.size, PROBE_BLOCK):
            block = asking[s : s + PROBE_BLOCK]
            lists = np.unique(probes[block])
            candidates = np.concatenate([data_lists[p] for p in lists])
            take = min(k, candidates.size)
            if take == 0:
                continue
            cand_t = torch.from_numpy(candidates)
            rows = data_t[cand_t]
            q = query_t[torch.from_numpy(block)]
            dist = (q * q).sum(dim=1, keepdim=True) - 2.0 * (q @ rows.T) + data_sq[cand_t][None, :]
            best = torch.topk(dist, take, dim=1, largest=False).indices.numpy()
            found[block, :take] = candidates[best]
    return found
