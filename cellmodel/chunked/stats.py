"""Per-gene statistics over all cells, gathered chunk by chunk, and what they decide: the HVG
mask (Seurat's dispersion method, as scanpy's `flavor="seurat"` computes it) and the weights."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellmodel import semantic

SEURAT_BINS = 20  # scanpy's default n_bins


@dataclass
class GeneStats:
    """Sums over cells of the log-normalized values x (and of expm1(x), which the Seurat
    dispersion reads), summable across chunks."""

    n_cells: int
    total: np.ndarray  # Σ x
    squares: np.ndarray  # Σ x²
    expressing: np.ndarray  # cells with x > 0
    linear_total: np.ndarray  # Σ expm1(x)
    linear_squares: np.ndarray  # Σ expm1(x)²
    input_max: float = 0.0  # largest value before normalization
    input_min: float = 0.0
    finite: bool = True
    empty_cells: int = 0  # cells without any expression (noted by cluster, as in memory)
    notes: list[str] = field(default_factory=list)

    def __add__(self, other: GeneStats) -> GeneStats:
        return GeneStats(
            self.n_cells + other.n_cells,
            self.total + other.total,
            self.squares + other.squares,
            self.expressing + other.expressing,
            self.linear_total + other.linear_total,
            self.linear_squares + other.linear_squares,
            max(self.input_max, other.input_max),
            min(self.input_min, other.input_min),
            self.finite and other.finite,
            self.empty_cells + other.empty_cells,
        )

    def std(self) -> np.ndarray:
        """Per-gene standard deviation over cells (ddof 0, as `semantic.gene_std`)."""
        mean = self.total / self.n_cells
        return np.sqrt(np.maximum(self.squares / self.n_cells - mean**2, 0.0))


def chunk_stats(X_log: sp.csr_matrix | np.ndarray, raw: sp.csr_matrix | np.ndarray) -> GeneStats:
    """The sums of one chunk (`X_log` normalized, `raw` as read, for the range checks)."""
    n_cells = X_log.shape[0]
    raw_values = raw.data if sp.issparse(raw) else np.asarray(raw).ravel()
    total, squares = semantic.column_moments(X_log)
    linear = X_log.copy()
    if sp.issparse(linear):
        linear.data = np.expm1(linear.data)
    else:
        linear = np.expm1(linear)
    linear_total, linear_squares = semantic.column_moments(linear)
    expressing = np.asarray((X_log > 0).sum(axis=0)).ravel().astype(np.int64)
    return GeneStats(
        n_cells,
        total,
        squares,
        expressing,
        linear_total,
        linear_squares,
        float(raw_values.max()) if raw_values.size else 0.0,
        float(raw_values.min()) if raw_values.size else 0.0,
        bool(np.isfinite(raw_values).all()),
        int((np.asarray(abs(X_log).sum(axis=1)).ravel() == 0).sum()),
    )


def seurat_hvg(stats: GeneStats, n_top: int, candidates: np.ndarray) -> np.ndarray:
    """The `n_top` genes of highest normalized dispersion among `candidates`, from the sums alone.

    The same steps as scanpy's seurat flavour (what `cellmodel.pp.graph.highly_variable` runs in
    memory): mean and variance (ddof 1) of expm1(x); log dispersion; log1p mean cut into 20 bins;
    the dispersion z-scored in its bin (a bin of one gene: z = 1).
    """
    n_genes = len(candidates)
    # As in memory: genes no cell expresses (Σx² = 0) are no candidates (their zero means would
    # stretch the bins)
    cols = np.flatnonzero(np.asarray(candidates, dtype=bool) & (stats.squares > 0))
    mask = np.zeros(n_genes, dtype=bool)
    if len(cols) <= n_top:
        mask[cols] = True
        return mask
    n = stats.n_cells
    mean = stats.linear_total[cols] / n
    var = (stats.linear_squares[cols] / n - mean**2) * (n / max(n - 1, 1))
    mean[mean == 0] = 1e-12
    dispersion = var / mean
    dispersion[dispersion == 0] = np.nan
    frame = pd.DataFrame({"means": np.log1p(mean), "dispersions": np.log(dispersion)})
    frame["bin"] = pd.cut(frame["means"], bins=SEURAT_BINS)
    by_bin = frame.groupby("bin", observed=True)["dispersions"].agg(avg="mean", dev="std")
    single = by_bin["dev"].isnull()
    by_bin.loc[single, "dev"] = by_bin.loc[single, "avg"]
    by_bin.loc[single, "avg"] = 0
    per_gene = by_bin.loc[frame["bin"]].set_index(frame.index)
    norm = ((frame["dispersions"] - per_gene["avg"]) / per_gene["dev"]).to_numpy()
    ranked = np.sort(norm[~np.isnan(norm)])[::-1]
    if not ranked.size:  # no gene varies (one cell, or cells alike): none is highly variable
        return mask
    cut = ranked[min(n_top, ranked.size) - 1]
    mask[cols[np.nan_to_num(norm, nan=-np.inf) >= cut]] = True
    return mask


def weights_from_stats(
    stats: GeneStats, matched: np.ndarray, weighting: str, n_hvg: int
) -> semantic.GeneWeights:
    """`semantic.gene_weights` from chunk-gathered sums instead of the whole matrix."""
    hvg = std = None
    if weighting in ("hvg", "hvg-scaled"):
        hvg = seurat_hvg(stats, n_hvg, matched)
    if weighting in ("scaled", "hvg-scaled"):
        std = stats.std()
    return semantic.combine_weights(
        weighting, matched, stats.n_cells, expressing=stats.expressing, hvg=hvg, std=std
    )
