"""The structure view's input out of core: highly variable genes, scaling and PCA of an .h5ad read
in row chunks, the same steps as `cellmodel.pp.graph.structure_features` in memory.

Three passes over the cells, each a Dask map over row chunks:

1. statistics: every chunk normalized as in memory and summed per gene (`chunked.stats`); the
   Seurat-dispersion HVGs and each HVG's mean and standard deviation follow from the sums;
2. the Gram matrix: each chunk's HVG columns scaled and clipped as `graph.scale` does, and their
   Σ z and Σ zᵀz (HVGs × HVGs, 2,000² at the default) summed over chunks; the covariance, and its
   eigenvectors, are then exact. Neither incremental nor randomized PCA is needed: the gene side
   is small, so one summed Gram matrix gives the same components as the in-memory PCA (up to
   sign and float rounding) in one pass, and sums merge across workers in any order;
3. the scores: each chunk's scaled HVGs, centred, times the top eigenvectors (cells × n_pcs, the
   only per-cell result kept in memory: 200 MB at 10⁶ cells and 50 components).

`n_pcs="auto"` runs `graph.parallel_analysis` on the same seeded sample of
`graph.PARALLEL_MAX_CELLS` cells that the in-memory path draws, collected during pass 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from cellmodel._settings import DEFAULT_N_PCS
from cellmodel.chunked import h5
from cellmodel.chunked.engine import DaskEngine
from cellmodel.chunked.stats import GeneStats, seurat_hvg
from cellmodel.pp import graph
from cellmodel.pp.pca import check_n_pcs, covariance_axes
from cellmodel.semantic import StageProgress
from cellmodel.value_kinds import normalize as normalize_rows
from genekb.errors import GenekbError


@dataclass(frozen=True)
class Scaling:
    """What turns a chunk into its scaled HVG block: the HVG columns, their means and stds."""

    columns: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def from_stats(
        cls, stats: GeneStats, n_hvg: int, genes: Sequence[str] | None = None
    ) -> Scaling:
        """The HVG columns in the order of the genes' names when given, as in memory
        (`graph.hvg_columns`), so that a file's gene order does not move its PCA."""
        hvg = seurat_hvg(stats, n_hvg, np.ones(stats.total.shape[0], dtype=bool))
        columns = graph.hvg_columns(hvg, genes)
        mean = stats.total[columns] / stats.n_cells
        std = stats.std()[columns]
        # std from summed squares: a constant gene may come out a rounding error above 0
        if not np.any(std > 1e-6 * np.maximum(np.abs(mean), 1.0)):
            raise GenekbError(graph.NO_GENE_VARIES)
        std[std == 0] = 1.0  # constant genes stay 0, as in `graph.scale`
        return cls(columns, mean.astype(np.float32), std.astype(np.float32))


@dataclass
class GramPart:
    """Σ z, Σ zᵀz over some chunks' scaled rows, and the parallel-analysis sample rows in them."""

    n_cells: int
    total: np.ndarray
    gram: np.ndarray
    sample: np.ndarray

    def __add__(self, other: GramPart) -> GramPart:
        return GramPart(
            self.n_cells + other.n_cells,
            self.total + other.total,
            self.gram + other.gram,
            np.concatenate([self.sample, other.sample]),
        )


@dataclass(frozen=True)
class Components:
    """The PCA: the scaled rows' mean, the top eigenvectors (HVGs × n_pcs), their variances."""

    mean: np.ndarray
    vectors: np.ndarray
    variances: np.ndarray


def scaled_rows(
    ref: h5.MatrixRef, start: int, stop: int, kind: str, scaling: Scaling
) -> np.ndarray:
    """Rows start..stop-1: normalized, HVG columns, centred, scaled, clipped (dense float32)."""
    with h5.ChunkReader(ref) as reader:
        X = normalize_rows(reader.rows(start, stop), kind)[:, scaling.columns]
    Z = X.toarray() if sp.issparse(X) else np.array(X)
    Z = Z.astype(np.float32, copy=False)
    Z -= scaling.mean
    Z /= scaling.std
    np.clip(Z, -graph.SCALE_CLIP, graph.SCALE_CLIP, out=Z)
    return Z


def gram_task(
    ref: h5.MatrixRef, start: int, stop: int, kind: str, scaling: Scaling, picks: np.ndarray
) -> GramPart:
    Z = scaled_rows(ref, start, stop, kind, scaling)
    # float32 product (the BLAS fast path), summed over chunks in float64.
    return GramPart(
        Z.shape[0], Z.sum(axis=0, dtype=np.float64), (Z.T @ Z).astype(np.float64), Z[picks]
    )


def score_task(
    ref: h5.MatrixRef, start: int, stop: int, kind: str, scaling: Scaling, pca: Components
) -> np.ndarray:
    Z = scaled_rows(ref, start, stop, kind, scaling)
    Z -= pca.mean
    return Z @ pca.vectors


def sample_rows(n_cells: int, seed: int) -> np.ndarray:
    """The cells `graph.parallel_analysis` reads: all of them, or its seeded sample."""
    if n_cells <= graph.PARALLEL_MAX_CELLS:
        return np.arange(n_cells)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_cells, graph.PARALLEL_MAX_CELLS, replace=False))


def components(part: GramPart, n_pcs: int) -> Components:
    """The top `n_pcs` principal axes of the scaled rows from their summed Gram matrix."""
    mean, vectors, variances = covariance_axes(part.n_cells, part.total, part.gram, n_pcs)
    return Components(
        mean.astype(np.float32), np.ascontiguousarray(vectors, dtype=np.float32), variances
    )


def _n_components(n_pcs: int | str, n_cells: int, n_hvg: int) -> int:
    check_n_pcs(n_pcs)
    wanted = DEFAULT_N_PCS if n_pcs == "auto" else int(n_pcs)
    count = min(wanted, n_cells - 1, n_hvg)
    if count < 1:
        raise GenekbError("too few cells or genes for a PCA; the structure view needs ≥ 2 of each")
    return count


def structure_scores(
    engine: DaskEngine,
    ref: h5.MatrixRef,
    kind: str,
    ranges: list[tuple[int, int]],
    stats: GeneStats,
    *,
    n_hvg: int,
    n_pcs: int | str,
    seed: int,
    progress: StageProgress | None = None,
    genes: Sequence[str] | None = None,
) -> tuple[np.ndarray, dict[str, object]]:
    """PCA scores of every cell (cells × components, float32) and a record of the choices;
    `genes`: the file's gene names, which order the HVG columns (`Scaling.from_stats`)."""
    scaling = Scaling.from_stats(stats, n_hvg, genes)
    count = _n_components(n_pcs, stats.n_cells, scaling.columns.size)
    picks = sample_rows(stats.n_cells, seed)
    tasks = []
    for a, b in ranges:
        local = picks[(picks >= a) & (picks < b)] - a
        tasks.append((ref, a, b, kind, scaling, local))
    total: GramPart | None = None
    for i, part in enumerate(engine.map(gram_task, tasks)):
        total = part if total is None else total + part
        if progress:
            progress("PCA", i + 1, len(ranges))
    assert total is not None
    pca = components(total, count)
    keep = count
    if n_pcs == "auto":
        whole = stats.n_cells <= graph.PARALLEL_MAX_CELLS
        variances = pca.variances if whole else None
        above_noise = graph.parallel_analysis(total.sample, DEFAULT_N_PCS, seed, variances)
        keep = graph.auto_n_pcs(stats.n_cells, above_noise)
        keep = min(keep, count)
        pca = Components(pca.mean, np.ascontiguousarray(pca.vectors[:, :keep]), pca.variances)
    blocks = []
    for i, block in enumerate(
        engine.map(score_task, [(ref, a, b, kind, scaling, pca) for a, b in ranges])
    ):
        blocks.append(block)
        if progress:
            progress("scores", i + 1, len(ranges))
    record = {"n_hvg": int(scaling.columns.size), "n_pcs": int(keep), "pca": "exact (Gram matrix)"}
    return np.ascontiguousarray(np.concatenate(blocks), dtype=np.float32), record
