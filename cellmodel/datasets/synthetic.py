"""Synthetic sparse counts with known groups, in chunks: the one generator behind
`synthetic_counts` (in memory) and `write_synthetic_h5ad` (straight to .h5ad, where no chunk
outlives its write: the CSR arrays grow on disk through h5py, so 10^6 cells or more never sit in
memory, dense or sparse). The gene symbols and the default sizes live here too; the benchmark
(`cellmodel.bench`) re-exports them and imports this module, never the other way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from genekb.errors import UsageError
from genekb.fileio import atomic_path
from genekb.sources.bundled import load_bundled

SYNTHETIC_LABEL_KEY = "group"
SYNTHETIC_GENES = 2000
SYNTHETIC_GROUPS = 10
GENERATE_CHUNK = 5000  # synthetic_counts' own chunk: the same chunks draw the same numbers


@dataclass(frozen=True)
class CountModel:
    """How groups differ and how noisy the counts are: each group's marker genes (2% of the genes)
    move by a log-fold drawn from Normal(fold, fold_sd), up, and, with `lower`, as many down;
    counts are NB with inverse dispersion `theta` (variance = mean + mean²/theta). With `depth`,
    each group's mean profile is scaled to sum to `depth` UMIs (before the cell's size factor);
    without it, the means are the baseline times the folds."""

    fold: float = 1.0
    fold_sd: float = 0.5
    lower: bool = True
    theta: float = 2.0
    depth: float | None = None


def synthetic_symbols(n_genes: int = SYNTHETIC_GENES) -> list[str]:
    """A fixed sample of real human protein-coding symbols (the same for every size, so one store
    build serves every scale step)."""
    table = load_bundled("human").table.select(["gene_id", "symbol", "gene_type"]).to_pandas()
    coding = table[table["gene_type"] == "protein-coding"].sort_values("gene_id")
    symbols = coding["symbol"].drop_duplicates().to_numpy()
    if n_genes > symbols.size:
        raise UsageError(f"only {symbols.size} protein-coding symbols for {n_genes} genes")
    pick = np.random.default_rng(0).choice(symbols.size, n_genes, replace=False)
    return [str(s) for s in symbols[np.sort(pick)]]


def synthetic_chunks(
    n_cells: int,
    *,
    n_genes: int = SYNTHETIC_GENES,
    n_groups: int = SYNTHETIC_GROUPS,
    seed: int = 0,
    model: CountModel = CountModel(),
) -> tuple[np.ndarray, Iterator[sp.csr_matrix]]:
    """The cells' groups and an iterator of CSR count chunks (`GENERATE_CHUNK` cells each).

    Gene means are log-normal (about 2,000 UMIs per cell over 2,000 genes); each group raises 2% of
    the genes by a log-normal fold (median e ≈ 2.7×) and lowers another 2% by the same kind of
    fold; group sizes follow a Dirichlet(2) draw; each cell has a log-normal size factor; counts
    are NB with dispersion 2 (variance = mean + mean²/2). The folds are chosen so the groups are
    findable but not trivial: with much larger folds every method separates them perfectly and
    the scale runs would time nothing but trivial data. `model` changes the folds, the dispersion
    and the depth (see `CountModel`).
    """
    rng = np.random.default_rng(seed)
    base = rng.lognormal(mean=-1.0, sigma=1.5, size=n_genes)
    log_fold = np.zeros((n_groups, n_genes))
    n_markers = max(1, int(0.02 * n_genes))
    for g in range(n_groups):
        if not model.lower:
            up = rng.choice(n_genes, n_markers, replace=False)
            log_fold[g, up] = rng.normal(model.fold, model.fold_sd, n_markers)
            continue
        up, down = np.split(rng.choice(n_genes, 2 * n_markers, replace=False), 2)
        log_fold[g, up] = rng.normal(model.fold, model.fold_sd, n_markers)
        log_fold[g, down] = -rng.normal(model.fold, model.fold_sd, n_markers)
    means = base[None, :] * np.exp(log_fold)
    if model.depth is not None:
        means *= model.depth / means.sum(axis=1, keepdims=True)
    shares = rng.dirichlet(np.full(n_groups, 2.0))
    groups = rng.choice(n_groups, n_cells, p=shares)
    size = rng.lognormal(0.0, 0.4, n_cells)
    theta = model.theta

    def chunks() -> Iterator[sp.csr_matrix]:
        for start in range(0, n_cells, GENERATE_CHUNK):
            mu = (
                size[start : start + GENERATE_CHUNK, None]
                * means[groups[start : start + GENERATE_CHUNK]]
            )
            counts = rng.negative_binomial(theta, theta / (theta + mu)).astype(np.float32)
            yield sp.csr_matrix(counts)

    return groups, chunks()


def synthetic_obs(groups: np.ndarray) -> pd.DataFrame:
    """obs of synthetic cells: the truth as `obs["group"]` (g0, g1, …), cells named s0, s1, …"""
    return pd.DataFrame(
        {SYNTHETIC_LABEL_KEY: pd.Categorical([f"g{g}" for g in groups])},
        index=[f"s{i}" for i in range(len(groups))],
    )


def synthetic_counts(
    n_cells: int,
    *,
    n_genes: int = SYNTHETIC_GENES,
    n_groups: int = SYNTHETIC_GROUPS,
    seed: int = 0,
    model: CountModel = CountModel(),
) -> ad.AnnData:
    """Negative-binomial counts with known groups in memory (sparse CSR): `obs["group"]` holds the
    truth. The model is `synthetic_chunks`'s."""
    groups, chunks = synthetic_chunks(
        n_cells, n_genes=n_genes, n_groups=n_groups, seed=seed, model=model
    )
    return ad.AnnData(
        X=sp.vstack(list(chunks)).tocsr(),
        obs=synthetic_obs(groups),
        var=pd.DataFrame(index=synthetic_symbols(n_genes)),
    )


def write_synthetic_h5ad(
    path: str | Path,
    n_cells: int,
    *,
    n_genes: int = SYNTHETIC_GENES,
    n_groups: int = SYNTHETIC_GROUPS,
    seed: int = 0,
) -> Path:
    """Write `n_cells` synthetic cells (CSR counts, obs["group"], real gene symbols) to `path`."""
    import h5py  # optional (the dask extra); only the on-disk writer needs it

    path = Path(path)
    groups, chunks = synthetic_chunks(n_cells, n_genes=n_genes, n_groups=n_groups, seed=seed)
    obs = synthetic_obs(groups)
    var = pd.DataFrame(index=synthetic_symbols(n_genes))
    with atomic_path(path, suffix=".tmp.h5ad") as tmp:
        ad.AnnData(obs=obs, var=var).write_h5ad(tmp)
        with h5py.File(tmp, "r+") as f:
            if "X" in f:
                del f["X"]
            group = f.create_group("X")
            group.attrs["encoding-type"] = "csr_matrix"
            group.attrs["encoding-version"] = "0.1.0"
            group.attrs["shape"] = np.array([n_cells, n_genes], dtype=np.int64)
            grow = {"maxshape": (None,), "chunks": (1 << 18,)}
            data = group.create_dataset("data", shape=(0,), dtype="float32", **grow)
            indices = group.create_dataset("indices", shape=(0,), dtype="int32", **grow)
            indptr = group.create_dataset("indptr", shape=(n_cells + 1,), dtype="int64")
            nnz, row = 0, 0
            indptr[0] = 0
            for block in chunks:
                k = block.nnz
                data.resize((nnz + k,))
                indices.resize((nnz + k,))
                data[nnz:] = block.data
                indices[nnz:] = block.indices
                indptr[row + 1 : row + block.shape[0] + 1] = block.indptr[1:] + nnz
                nnz += k
                row += block.shape[0]
    return path
