"""Fit clusters: graph contrastive pretraining, k-means initialisation, OT-guided refinement.

`fit_clusters` takes a PCA of the expression, a kNN graph over it and (optionally) a semantic
matrix, and returns labels with the latent spaces and a record of the run. The procedure:

1. Pretraining. Each step draws a batch of cells and, for each of two augmented views, a sampled
   two-hop neighbourhood (edge dropping + a fan-out cap) with masked, noised features. The loss is
   reconstruction of the PCA features (optionally also of the raw counts, `count_weight`),
   optionally link reconstruction (each cell near a sampled graph neighbour, away from random
   cells), symmetric InfoNCE between the two views' projections, and, with a semantic view,
   symmetric InfoNCE between the structure and semantic projections (the cross-modal alignment).
   It stops when the smoothed loss has stopped improving.
2. Initialisation. k-means on the fused latent of all cells, several restarts, the restart with the
   lowest inertia wins (on a large file the restarts run on a sample, then Lloyd on all cells).
3. Refinement. The centres become parameters; Student-t soft assignments Q of both views are pulled
   toward a target P (Q sharpened, then Sinkhorn-balanced to the current cluster masses) by KL, with
   the pretraining losses kept as regularisers. P is recomputed from all cells every
   `target_every` steps; the run stops when fewer than `tol` of the cells changed cluster between
   two refreshes.

Labels are never used; every choice (stopping, restarts, k) is made from the data alone. Memory is
linear in cells: training touches one sampled batch at a time and inference is a sparse
matrix product over the kNN graph.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from cellmodel.cluster.options import ClusterOptions, ClusterResult, check_inputs, parse_options
from cellmodel.cluster.sampling import NeighbourSampler
from cellmodel.cluster.training import Fitter
from cellmodel.module.losses import split_for_empty, student_t
from cellmodel.module.model import deterministic
from cellmodel.pp.graph import (
    KnnGraph,
    estimate_k,
    from_edge_index,
    knn_graph,
)
from genekb.errors import UsageError

__all__ = [
    "ClusterOptions",
    "ClusterResult",
    "NeighbourSampler",
    "estimate_k",
    "fit_clusters",
    "relabel_by_size",
]

GraphInput = KnnGraph | sp.spmatrix | torch.Tensor | np.ndarray | None
# k-means' restarts run on at most this many cells (a seeded sample); see `_kmeans`.
KMEANS_RESTART_CELLS = 20_000


# --------------------------------------------------------------------------------------- helpers


def _as_graph(graph: GraphInput, X_pca: np.ndarray, n_neighbors: int, seed: int) -> KnnGraph:
    n = X_pca.shape[0]
    if graph is None:
        return knn_graph(X_pca, n_neighbors, seed=seed)
    if isinstance(graph, KnnGraph):
        result = graph
    elif sp.issparse(graph):
        result = from_edge_index(np.vstack(sp.coo_matrix(graph).nonzero()), graph.shape[0])
    else:
        result = from_edge_index(graph, n)
    if result.n_cells != n:
        raise UsageError(f"the graph has {result.n_cells} cells but X_pca has {n}; they must match")
    return result


def _kmeans(z: np.ndarray, k: int, restarts: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres and labels of the k-means restart with the lowest inertia.

    Above `KMEANS_RESTART_CELLS` cells the restarts run on a seeded sample of that many, and
    Lloyd's iterations on every cell start from the best sample's centres: where each restart
    would pay for all cells, the sample already places k centres, and the last pass fits them to
    the whole latent.
    """
    from sklearn.cluster import KMeans

    n = z.shape[0]
    if n <= KMEANS_RESTART_CELLS:
        model = KMeans(n_clusters=k, n_init=restarts, random_state=seed).fit(z)
    else:
        rows = np.sort(np.random.default_rng(seed).choice(n, KMEANS_RESTART_CELLS, replace=False))
        start = KMeans(n_clusters=k, n_init=restarts, random_state=seed).fit(z[rows])
        model = KMeans(k, init=start.cluster_centers_, n_init=1, random_state=seed).fit(z)
    return model.cluster_centers_.astype(np.float32), model.labels_.astype(np.int64)


def fit_clusters(
    X_pca: np.ndarray,
    graph: GraphInput = None,
    semantic: np.ndarray | None = None,
    n_clusters: int | None = None,
    *,
    seed: int = 0,
    device: str = "cpu",
    counts: Any = None,
    count_batch: np.ndarray | None = None,
    **opts: Any,
) -> ClusterResult:
    """Cluster cells from their PCA, kNN graph and optional semantic matrix; see the module doc.

    `graph`: a `KnnGraph`, a scipy adjacency, a 2 × E `edge_index`, or None to build the kNN graph
    here. `n_clusters=None` estimates k with Leiden on the graph (`estimate_k`). `counts`: raw
    counts (cells × genes, e.g. the HVGs) for the count reconstruction (`count_weight`), and
    `count_batch` each cell's batch (any values; its decoder reads them one-hot). `opts`
    override `ClusterOptions` fields (e.g. `conv="sage"`, `alignment_weight=0`, `use_ot=False`).
    The same seed gives the same labels on the same machine (CPU).
    """
    X_pca = np.asarray(X_pca, dtype=np.float32)
    semantic = None if semantic is None else np.asarray(semantic, dtype=np.float32)
    check_inputs(X_pca, semantic, n_clusters, device)
    options = parse_options(opts)
    timings: dict[str, float] = {}
    notes: list[str] = []
    started = time.perf_counter()
    with deterministic(seed):
        knn, k = _graph_and_k(X_pca, graph, n_clusters, options, seed, timings, notes)
        fitter = Fitter(X_pca, knn, semantic, options, seed, device, counts, count_batch)
        tick = time.perf_counter()
        pretrain_stop = fitter.pretrain()
        timings["pretrain"] = time.perf_counter() - tick

        tick = time.perf_counter()
        h, z = fitter.embed()
        centres, labels = _kmeans(z.cpu().numpy(), k, options.kmeans_restarts, seed)
        timings["kmeans"] = time.perf_counter() - tick

        refine_stop, refine_steps = "skipped (use_ot=False)", 0
        soft: torch.Tensor | None = None
        tick = time.perf_counter()
        if options.use_ot and k > 1:
            h, z, soft, labels, refine_stop, refine_steps = _refine(fitter, centres, k, options)
        timings["refine"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - started
    labels = relabel_by_size(labels)
    if len(np.unique(labels)) < k:
        notes.append(f"{k - len(np.unique(labels))} of {k} clusters ended empty")
    params = {
        **options.to_dict(),
        "seed": seed,
        "device": device,
        "n_cells": int(X_pca.shape[0]),
        "n_pcs": int(X_pca.shape[1]),
        "semantic_dim": None if semantic is None else int(semantic.shape[1]),
        "count_genes": None if fitter.counts is None else int(fitter.counts.shape[1]),
        "graph_method": knn.method,
        "graph_edges": knn.n_edges,
        "pretrain_stop": pretrain_stop,
        "refine_stop": refine_stop,
        "refine_steps": refine_steps,
        "reseeded_clusters": fitter.reseeded,
        "k_method": "given" if n_clusters is not None else "leiden",
    }
    return ClusterResult(
        labels=labels,
        latent=z.cpu().numpy(),
        structure=h.cpu().numpy(),
        n_clusters=k,
        k_estimated=n_clusters is None,
        timings=timings,
        history=fitter.history,
        params=params,
        soft=None if soft is None else soft.cpu().numpy(),
        notes=notes,
        net=fitter.net,
    )


def _graph_and_k(
    X_pca: np.ndarray,
    graph: GraphInput,
    n_clusters: int | None,
    options: ClusterOptions,
    seed: int,
    timings: dict[str, float],
    notes: list[str],
) -> tuple[KnnGraph, int]:
    """The kNN graph (noting isolated cells) and k: given, or estimated by Leiden on the graph."""
    tick = time.perf_counter()
    knn = _as_graph(graph, X_pca, options.n_neighbors, seed)
    timings["graph"] = time.perf_counter() - tick
    isolated = int((np.diff(knn.adjacency.indptr) == 0).sum())
    if isolated:
        notes.append(f"{isolated} cell(s) have no graph neighbours; their own features decide")
    tick = time.perf_counter()
    k = (
        estimate_k(knn, resolution=options.k_resolution, min_size=options.k_min_size, seed=seed)
        if n_clusters is None
        else int(n_clusters)
    )
    timings["estimate_k"] = time.perf_counter() - tick
    return knn, k


def _refine(
    fitter: Fitter, centres: np.ndarray, k: int, options: ClusterOptions
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray, str, int]:
    """OT refinement from the k-means centres: the new embeddings, soft assignments, hard labels
    (an emptied cluster reseeded by a split) and how the refinement stopped."""
    fitter.net.set_centres(torch.from_numpy(centres).to(fitter.device))
    stop, steps = fitter.refine(k)
    h, z = fitter.embed()
    assert fitter.net.centres is not None
    soft = student_t(z, fitter.net.centres.detach(), options.student_alpha)
    _, hard, count = split_for_empty(z, fitter.net.centres.detach(), soft.argmax(1))
    fitter.reseeded += count
    return h, z, soft, hard.cpu().numpy().astype(np.int64), stop, steps


def relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Number clusters 0..m-1 by decreasing size (ties by first appearance) for stable output."""
    values, first, counts = np.unique(labels, return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))
    mapping = np.empty(values.max() + 1, dtype=np.int64)
    mapping[values[order]] = np.arange(values.size)
    return mapping[labels]
