"""The structure view's input: a PCA of the expression and a sparse symmetric kNN graph over it.

Memory stays linear in cells: the graph is a CSR matrix with about `n_neighbors` × cells entries
(never a dense N × N matrix). Small data uses exact neighbours (scikit-learn); from
`APPROXIMATE_FROM` cells on, an approximate search (`cellmodel.pp.neighbors`: an inverted file,
NN-descent on the largest files) keeps the build about linear.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from cellmodel._settings import DEFAULT_N_HVG, DEFAULT_N_PCS
from cellmodel.pp.neighbors import approximate_method, nearest
from cellmodel.pp.pca import (  # noqa: F401  (graph.pca & co. are this module's public names)
    PARALLEL_MAX_CELLS,
    auto_n_pcs,
    check_n_pcs,
    parallel_analysis,
    pca,
    principal_components,
)
from genekb.errors import GenekbError, UsageError

DEFAULT_N_NEIGHBORS = 15  # scanpy's default; the Leiden baselines' graph and `knn_graph`'s default
# The graph encoder's graph. Its two mean-aggregation layers average each cell over its two-hop
# neighbourhood, about n_neighbors² cells: ~100-200 at 15, more than a whole rare type on small
# files; at 8, ~40-60 (figures: docs/cluster_experiments.md, "Robustness across datasets").
FIT_N_NEIGHBORS = 8
APPROXIMATE_FROM = 50_000
# Scaled values are clipped like scanpy's `pp.scale(max_value=10)`: a few extreme cells must not
# dominate the principal components.
SCALE_CLIP = 10.0


@dataclass
class KnnGraph:
    """A symmetric, unweighted kNN graph without self loops, in two equivalent forms."""

    adjacency: sp.csr_matrix  # cells × cells, 1.0 where either cell is among the other's k nearest
    n_neighbors: int
    method: str  # "exact" (scikit-learn), "inverted-file" or "nndescent" (`neighbors.nearest`)

    @property
    def n_cells(self) -> int:
        return int(self.adjacency.shape[0])

    @property
    def n_edges(self) -> int:
        """Directed edges (each undirected edge counts twice, as in `edge_index`)."""
        return int(self.adjacency.nnz)

    @property
    def edge_index(self) -> torch.Tensor:
        """torch_geometric's 2 × E `edge_index` (both directions of every edge)."""
        coo = self.adjacency.tocoo()
        return torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))


def log_normalize(X: Any, kind: str = "auto") -> sp.csr_matrix | np.ndarray:
    """Counts → normalize_total + log1p; log-normalized values pass through (see
    `cellmodel.value_kinds`)."""
    # Here, not at the top: the value checks load anndata (and dask through it), which graph
    # otherwise lacks.
    from cellmodel.value_kinds import detect_kind, normalize

    return normalize(X, detect_kind(X) if kind == "auto" else kind)


def highly_variable(
    X_log: Any, n_top: int = DEFAULT_N_HVG, *, candidates: np.ndarray | None = None
) -> np.ndarray:
    """Boolean mask of the `n_top` genes with the highest normalized dispersion (Seurat's method,
    scanpy's `flavor="seurat"`), chosen among `candidates` (a boolean mask; default: every gene).

    Genes are binned by mean expression and each gene's dispersion is z-scored within its bin, so
    the choice is not just "the most expressed genes". Fewer candidates than `n_top`: all of them.
    Genes no cell expresses are never candidates: they cannot be variable, and their zero means
    would stretch the bins, so the same data with or without them would choose other genes.
    """
    n_genes = X_log.shape[1]
    expressed = expressed_genes(X_log)
    cols = np.flatnonzero(expressed if candidates is None else expressed & candidates)
    mask = np.zeros(n_genes, dtype=bool)
    if len(cols) <= n_top:
        mask[cols] = True
        return mask
    import anndata as ad
    import scanpy as sc

    if len(cols) < n_genes:
        X_log = sp.csr_matrix(X_log)[:, cols] if sp.issparse(X_log) else np.asarray(X_log)[:, cols]
    stats = sc.pp.highly_variable_genes(
        ad.AnnData(X=X_log), n_top_genes=n_top, flavor="seurat", inplace=False
    )
    mask[cols[np.asarray(stats["highly_variable"], dtype=bool)]] = True
    return mask


def hvg_columns(hvg: np.ndarray, genes: Sequence[str] | None = None) -> np.ndarray:
    """The column indices of the `hvg` mask, in the order of the genes' names when given: the
    PCA's sums and the fit's weights meet the genes by position, so the same file with its
    genes in another order gave another PCA (and clusters) without it."""
    cols = np.flatnonzero(hvg)
    if genes is None:
        return cols
    names = np.asarray([str(genes[c]) for c in cols], dtype=object)
    return cols[np.argsort(names, kind="stable")]


def expressed_genes(X: Any) -> np.ndarray:
    """Boolean mask of the genes with a non-zero value in some cell."""
    if sp.issparse(X):
        X = sp.csr_matrix(X)  # its indices are the columns
        return np.bincount(X.indices[X.data != 0], minlength=X.shape[1]) > 0
    return np.asarray(np.any(np.asarray(X) != 0, axis=0)).ravel()


def scale(X: Any) -> np.ndarray:
    """Zero mean, unit variance per gene (constant genes stay 0), clipped to ±SCALE_CLIP."""
    X = X.toarray() if sp.issparse(X) else np.array(X)
    # C order, whatever the input's: float32 sums over the cells round by layout, and a dense
    # matrix's column subset comes in Fortran order, so dense and sparse input scaled apart.
    X = np.ascontiguousarray(X, dtype=np.float32)
    X -= X.mean(axis=0, keepdims=True)
    std = X.std(axis=0, keepdims=True)
    std[std == 0] = 1.0
    X /= std
    np.clip(X, -SCALE_CLIP, SCALE_CLIP, out=X)
    return X


def structure_features(
    X: Any,
    *,
    kind: str = "auto",
    n_hvg: int = DEFAULT_N_HVG,
    n_pcs: int | str = DEFAULT_N_PCS,
    batch: np.ndarray | None = None,
    seed: int = 0,
    genes: Sequence[str] | None = None,
) -> np.ndarray:
    """Expression (counts or log-normalized, cells × genes) → log-normalize, HVG, scale, PCA.

    `n_pcs`: a number, or "auto" for as many as `parallel_analysis` finds above noise (at most
    `DEFAULT_N_PCS`). `batch` (one value per cell, e.g. donor; never the cell-type labels):
    ComBat (scanpy) removes per-batch location and scale from the HVG matrix before scaling.
    `genes`: the genes' names, which order the HVG columns (`hvg_columns`).
    """
    check_n_pcs(n_pcs)  # a wrong argument is said before anything is computed
    if X.shape[0] < 3:
        raise GenekbError(f"only {X.shape[0]} cell(s); clustering needs at least 3 cells")
    X_log = log_normalize(X, kind)
    X_hvg = X_log[:, hvg_columns(highly_variable(X_log, n_hvg), genes)]
    _check_some_gene_varies(X_hvg)
    if batch is not None:
        X_hvg = combat(X_hvg, batch)
    return principal_components(scale(X_hvg), n_pcs, seed)


NO_GENE_VARIES = (
    "no gene varies across the cells after normalisation (every cell has the same profile);"
    " nothing separates the cells: check that X holds per-cell values"
)


def _check_some_gene_varies(X: Any) -> None:
    # A matrix whose every gene is constant over the cells has no principal component: say so
    # instead of letting the eigensolver fail on a zero starting vector.
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        spread = X.max(axis=0).toarray().ravel() - X.min(axis=0).toarray().ravel()
    else:
        spread = np.ptp(np.asarray(X), axis=0)
    if not np.any(spread > 0):
        raise GenekbError(NO_GENE_VARIES)


def combat(X_log: Any, batch: np.ndarray) -> np.ndarray:
    """ComBat batch correction of a log-scale matrix (dense float32 out)."""
    import anndata as ad
    import pandas as pd
    import scanpy as sc

    batch = np.asarray(batch).astype(str)
    if batch.shape[0] != X_log.shape[0]:
        raise UsageError(f"batch has {batch.shape[0]} values for {X_log.shape[0]} cells")
    if np.unique(batch).size < 2:
        return X_log.toarray() if sp.issparse(X_log) else np.asarray(X_log)
    if np.bincount(np.unique(batch, return_inverse=True)[1]).min() < 2:
        raise GenekbError("a batch holds a single cell; ComBat needs at least 2 cells per batch")
    holder = ad.AnnData(X=X_log.toarray() if sp.issparse(X_log) else np.array(X_log))
    # Neutral level names in the sorted order of the values (the same design matrix): ComBat's
    # model formula reads a batch named "nan" (a missing value written as text) as missing and
    # then fails on a singular matrix.
    values, codes = np.unique(batch, return_inverse=True)
    holder.obs["batch"] = pd.Categorical.from_codes(
        codes.ravel(), [f"batch{i}" for i in range(values.size)]
    )
    # scanpy's first convergence check divides by each batch's starting variance, which is
    # exactly 0 for a gene the batch never expresses; the loop goes on with finite values and
    # the result is unaffected, so the RuntimeWarning would only alarm users. It also prints
    # "Found N genes with zero variance." to stdout (genes it leaves uncorrected, as meant),
    # which broke `--json`'s one document on stdout.
    with np.errstate(divide="ignore", invalid="ignore"), contextlib.redirect_stdout(io.StringIO()):
        sc.pp.combat(holder, key="batch")
    return np.asarray(holder.X, dtype=np.float32)


def knn_graph(
    X_pca: np.ndarray,
    n_neighbors: int = DEFAULT_N_NEIGHBORS,
    *,
    batch: np.ndarray | None = None,
    seed: int = 0,
    approximate: bool | None = None,
) -> KnnGraph:
    """Symmetric kNN graph (union of each cell's `n_neighbors` nearest, Euclidean), no self loops.

    `batch` (one value per cell, e.g. donor): batch-balanced neighbours (BBKNN's idea): each cell
    takes ceil(n_neighbors / n_batches) nearest cells from every batch, so message passing over the
    graph mixes batches and the encoder sees past batch effects. `approximate=None` picks
    the approximate search (`neighbors.nearest`) from `APPROXIMATE_FROM` cells on, exact below.
    """
    n_cells = X_pca.shape[0]
    if n_neighbors < 1:
        raise UsageError(f"n_neighbors must be at least 1 (got {n_neighbors})")
    if n_cells < 2:
        raise GenekbError(f"only {n_cells} cell(s); a neighbour graph needs at least 2 cells")
    k = min(n_neighbors, n_cells - 1)
    if approximate is None:
        approximate = n_cells >= APPROXIMATE_FROM
    X = np.ascontiguousarray(X_pca, dtype=np.float32)
    method = approximate_method(n_cells) if approximate else "exact"
    if batch is None:
        # k + 1 because each cell finds itself first.
        neighbors = nearest(X, X, k + 1, approximate=approximate, seed=seed)
        rows = np.repeat(np.arange(n_cells), neighbors.shape[1])
        cols = neighbors.ravel()
    else:
        batch = np.asarray(batch)
        if batch.shape[0] != n_cells:
            raise UsageError(f"batch has {batch.shape[0]} values for {n_cells} cells")
        groups = [np.flatnonzero(batch == b) for b in np.unique(batch)]
        per_batch = -(-k // len(groups))
        row_parts, col_parts = [], []
        for members in groups:
            local = nearest(X[members], X, per_batch + 1, approximate=approximate, seed=seed)
            found = np.where(local >= 0, members[local], -1)
            # One extra was asked for in case a cell finds itself; others drop their farthest.
            is_self = found == np.arange(n_cells)[:, None]
            is_self[~is_self.any(axis=1), -1] = True
            keep_mask = ~is_self
            row_parts.append(np.nonzero(keep_mask)[0])
            col_parts.append(found[keep_mask])
        rows, cols = np.concatenate(row_parts), np.concatenate(col_parts)
        largest = max(len(members) for members in groups)
        method = (approximate_method(largest) if approximate else "exact") + "-batch-balanced"
    keep = (rows != cols) & (cols >= 0)  # drop self matches (and the search's -1 fillers)
    directed = sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], cols[keep])),
        shape=(n_cells, n_cells),
    )
    directed.data[:] = 1.0
    symmetric = directed.maximum(directed.T).tocsr()
    symmetric.setdiag(0)
    symmetric.eliminate_zeros()
    symmetric.sort_indices()
    return KnnGraph(adjacency=symmetric, n_neighbors=k, method=method)


def from_edge_index(edge_index: torch.Tensor | np.ndarray, n_cells: int) -> KnnGraph:
    """Wrap a caller's edge list (2 × E) as a symmetric graph without self loops."""
    edges = np.asarray(edge_index.cpu() if isinstance(edge_index, torch.Tensor) else edge_index)
    if edges.ndim != 2 or edges.shape[0] != 2:
        raise UsageError(f"edge_index must have shape 2 × E (got {edges.shape})")
    if edges.size and (edges.min() < 0 or edges.max() >= n_cells):
        raise UsageError(f"edge_index refers to cells outside 0..{n_cells - 1}")
    values = np.ones(edges.shape[1], dtype=np.float32)
    directed = sp.csr_matrix((values, (edges[0], edges[1])), shape=(n_cells, n_cells))
    directed.data[:] = 1.0  # duplicates summed by the constructor count once
    symmetric = directed.maximum(directed.T).tocsr()
    symmetric.setdiag(0)
    symmetric.eliminate_zeros()
    symmetric.sort_indices()
    degree = np.diff(symmetric.indptr)
    return KnnGraph(adjacency=symmetric, n_neighbors=int(degree.max(initial=0)), method="given")


def to_igraph(graph: KnnGraph) -> Any:
    """The kNN graph as an undirected, unweighted igraph Graph (one edge per linked pair)."""
    import igraph as ig

    coo = sp.triu(graph.adjacency, k=1).tocoo()
    return ig.Graph(
        n=graph.n_cells, edges=list(zip(coo.row.tolist(), coo.col.tolist(), strict=True))
    )


def estimate_k(
    graph: KnnGraph, *, resolution: float = 1.0, min_size: int = 3, seed: int = 0
) -> int:
    """Number of Leiden communities (modularity, `resolution`) of at least `min_size` cells.

    Label-free: it reads only the kNN graph. At least 1 is returned.
    """
    import leidenalg

    partition = leidenalg.find_partition(
        to_igraph(graph),
        leidenalg.RBConfigurationVertexPartition,
        resolution_parameter=resolution,
        n_iterations=-1,
        seed=seed,
    )
    sizes = np.bincount(np.asarray(partition.membership))
    return max(1, int((sizes >= min_size).sum()))
