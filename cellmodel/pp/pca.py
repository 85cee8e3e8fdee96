"""Principal components of scaled expression, and how many of them are above noise.

Two solvers give the same components up to rounding. Below `GRAM_PCA_FROM` rows, scikit-learn's
ARPACK (Lanczos iterations over the cells). From it on, the genes × genes covariance: one BLAS
product per block of rows and one symmetric eigendecomposition, which is what the out-of-core
path (`cellmodel.chunked.structure`) computes from its summed chunks. With far more cells than
genes the covariance is the cheaper route, and its cost no longer depends on the number of
components asked for.
"""

from __future__ import annotations

import numpy as np

from cellmodel._settings import DEFAULT_N_PCS
from cellmodel.arguments import is_whole
from genekb.errors import GenekbError, UsageError

# `parallel_analysis` reads at most this many cells (two dense copies of them, cells × HVGs).
PARALLEL_MAX_CELLS = 20_000
# From this many rows on, the covariance route (files of fewer cells keep ARPACK's results).
GRAM_PCA_FROM = PARALLEL_MAX_CELLS
# Rows per BLAS product on the covariance route: float32 products, summed in float64.
GRAM_BLOCK = 20_000
# "auto" keeps at most one component per this many cells: a component is an axis the clustering
# then measures distances along, and with fewer than about ten observations per dimension such
# axes are mostly noise of the sample (Jain & Chandrasekaran 1982, Handbook of Statistics 2:835).
# With DEFAULT_N_PCS at 50 it binds only below 500 cells.
CELLS_PER_PC = 10


def covariance_axes(
    n_rows: int, total: np.ndarray, gram: np.ndarray, n_pcs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top `n_pcs` principal axes from Σ z and Σ zᵀz over `n_rows` rows: (mean, axes as
    genes × n_pcs, variances with n - 1 in the denominator, as scikit-learn's)."""
    mean = total / n_rows
    cov = (gram - n_rows * np.outer(mean, mean)) / max(n_rows - 1, 1)
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1][:n_pcs]
    vectors = vectors[:, order]
    # eigh's signs depend on the LAPACK build: the largest loading of each axis is made positive
    # so that a file gives the same scores on every machine.
    signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(vectors.shape[1])])
    signs[signs == 0] = 1.0
    return mean, vectors * signs, np.maximum(values[order], 0.0)


def _gram_pca(X: np.ndarray, n_pcs: int) -> tuple[np.ndarray, np.ndarray]:
    total = np.zeros(X.shape[1])
    gram = np.zeros((X.shape[1], X.shape[1]))
    for start in range(0, X.shape[0], GRAM_BLOCK):
        block = X[start : start + GRAM_BLOCK]
        total += block.sum(axis=0, dtype=np.float64)
        gram += block.T @ block
    mean, axes, variances = covariance_axes(X.shape[0], total, gram, n_pcs)
    scores = (X - mean.astype(np.float32)) @ axes.astype(np.float32)
    return scores.astype(np.float32, copy=False), variances


def _n_pcs_for(X: np.ndarray, n_pcs: int) -> int:
    n_pcs = min(n_pcs, X.shape[0] - 1, X.shape[1])
    if n_pcs < 1:
        raise GenekbError("too few cells or genes for a PCA; the structure view needs ≥ 2 of each")
    return n_pcs


def fit_pca(X_scaled: np.ndarray, n_pcs: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(scores as cells × components float32, each component's variance); deterministic."""
    n_pcs = _n_pcs_for(X_scaled, n_pcs)
    if X_scaled.shape[0] >= GRAM_PCA_FROM:
        return _gram_pca(np.asarray(X_scaled, dtype=np.float32), n_pcs)
    from sklearn.decomposition import PCA

    solver = "arpack" if n_pcs < min(X_scaled.shape) else "full"
    model = PCA(n_components=n_pcs, svd_solver=solver, random_state=seed)
    scores = model.fit_transform(X_scaled).astype(np.float32)
    return scores, np.asarray(model.explained_variance_)


def pca(X_scaled: np.ndarray, n_pcs: int = DEFAULT_N_PCS, seed: int = 0) -> np.ndarray:
    """Top `n_pcs` principal components (cells × n_pcs, float32); deterministic for a given seed."""
    return fit_pca(X_scaled, n_pcs, seed)[0]


def parallel_analysis(
    X_scaled: np.ndarray,
    max_pcs: int = DEFAULT_N_PCS,
    seed: int = 0,
    variances: np.ndarray | None = None,
) -> int:
    """How many leading principal components to keep: those whose variance exceeds the variance
    of the same rank once each gene's values are permuted across cells (Horn 1965, Psychometrika
    30:179). Permuting keeps every gene's distribution and breaks the co-expression that cell
    types create, so a component above its permuted counterpart is structure and one below is what
    noise alone gives. Capped at `max_pcs`, at least 2. `variances`: the data's own PC variances
    when the caller has them. On more than `PARALLEL_MAX_CELLS` cells both spectra come from a
    seeded sample of that many (fewer cells can only find fewer components above noise)."""
    rng = np.random.default_rng(seed)
    X = np.asarray(X_scaled, dtype=np.float32)
    if X.shape[0] > PARALLEL_MAX_CELLS:
        X = X[np.sort(rng.choice(X.shape[0], PARALLEL_MAX_CELLS, replace=False))]
        variances = None
    if variances is None:
        variances = fit_pca(X, max_pcs, seed)[1]
    noise = fit_pca(rng.permuted(X, axis=0), max_pcs, seed)[1]
    above = np.asarray(variances)[: len(noise)] > noise[: len(variances)]
    count = len(above) if above.all() else int(np.argmin(above))
    return max(2, min(count, max_pcs))


def auto_n_pcs(n_cells: int, above_noise: int) -> int:
    """How many components "auto" keeps: `above_noise` (parallel analysis' count), at most one
    per `CELLS_PER_PC` cells, at least 2."""
    return max(2, min(above_noise, n_cells // CELLS_PER_PC))


def check_n_pcs(n_pcs: int | str) -> None:
    # Below 1, the PCA would blame "too few cells or genes", not the argument.
    if n_pcs != "auto" and (not is_whole(n_pcs) or n_pcs < 1):  # type: ignore[operator]
        raise UsageError(f"n_pcs must be a whole number, at least 1, or 'auto', not {n_pcs!r}")


def principal_components(X_scaled: np.ndarray, n_pcs: int | str, seed: int = 0) -> np.ndarray:
    """`pca` with `n_pcs` given, or with "auto": the first `DEFAULT_N_PCS` components cut to those
    `parallel_analysis` keeps, at most one per `CELLS_PER_PC` cells (`auto_n_pcs`)."""
    check_n_pcs(n_pcs)
    if n_pcs != "auto":
        return pca(X_scaled, int(n_pcs), seed)
    scores, variances = fit_pca(X_scaled, DEFAULT_N_PCS, seed)
    above_noise = parallel_analysis(X_scaled, DEFAULT_N_PCS, seed, variances)
    keep = auto_n_pcs(X_scaled.shape[0], above_noise)
    return np.ascontiguousarray(scores[:, :keep])
