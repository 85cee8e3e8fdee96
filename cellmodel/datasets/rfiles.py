"""Readers for labelled single-cell data that R packages ship (.rda / .RData / .rds), without R.

Parsed with the `rdata` package (a pure-Python reader of R's serialization format):
- "rda": an expression matrix (genes × cells, with dimnames) in one .rda beside a phenotype
  data frame (one row per cell) in a second; the label is the data frame's column `label_key`.
  HSMMSingleCell and monocle's Treutlein lung example ship their data this way.
- "seurat-rds": a Seurat object saved with saveRDS; X is the RNA assay's `data` slot (its
  `counts` when `data` is empty) and the label each cell's identity (`active.ident`).
  decoupleR ships its PBMC example this way. Seurat's classes are not needed: the object is
  walked as R stored it.
Both give sparse float32 values, cells × genes, the labels as strings in `obs[label_key]`.
A Seurat .rds given by path (`read_r_file`) reads the same way, its identities in obs["ident"].
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from genekb.errors import GenekbError

# A Seurat object's active identities, named as anndata2ri and zellkonverter name them.
SEURAT_IDENT = "ident"
R_DATA_SUFFIXES = (".rda", ".rdata")  # save()'s files: any R objects, several at once
R_FILE_SUFFIXES = (".rds", *R_DATA_SUFFIXES)


def _only_object(path: Path) -> Any:
    import rdata

    found = rdata.read_rda(str(path))
    if len(found) != 1:
        raise GenekbError(f"{path}: expected one object in the R file, found {sorted(found)}")
    return next(iter(found.values()))


def _labelled(X: sp.csr_matrix, cells: list[str], genes: list[str], labels: list[str],
              label_key: str) -> ad.AnnData:  # fmt: skip
    obs = pd.DataFrame({label_key: pd.Categorical(labels)}, index=cells)
    adata = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=genes))
    adata.obs_names_make_unique()
    adata.var_names_make_unique()
    return adata


def read_rda_pair(matrix_path: Path, pheno_path: Path, label_key: str) -> ad.AnnData:
    """A genes × cells matrix in one .rda and a per-cell data frame in another, matched by the
    cell names; the labels are the data frame's column `label_key`."""
    pheno = _only_object(pheno_path)
    if not isinstance(pheno, pd.DataFrame) or label_key not in pheno:
        raise GenekbError(f"{pheno_path}: no data frame with a column {label_key!r}")
    matrix = _only_object(matrix_path)
    if getattr(matrix, "ndim", 0) != 2 or len(getattr(matrix, "dims", ())) != 2:
        raise GenekbError(f"{matrix_path}: not a matrix with row and column names")
    genes = [str(g) for g in matrix.coords[matrix.dims[0]].values]
    cells = [str(c) for c in matrix.coords[matrix.dims[1]].values]
    missing = set(cells) - set(map(str, pheno.index))
    if missing:
        raise GenekbError(f"{pheno_path}: {len(missing)} cells of the matrix have no row")
    labels = pheno.loc[cells, label_key].astype(str).tolist()
    X = sp.csr_matrix(np.asarray(matrix.values, dtype=np.float32).T)
    return _labelled(X, cells, genes, labels, label_key)


# ------------------------------------------------------------------ a Seurat object, walked raw


def _slots(obj: Any) -> dict[str, Any]:
    """An R object's attributes (an S4 object's slots) by name, from the parsed pairlist."""
    from rdata.parser import RObjectType

    out: dict[str, Any] = {}
    node = obj.attributes
    while node is not None and node.info.type == RObjectType.LIST:
        tag = node.tag
        while tag is not None and tag.info.type == RObjectType.REF:
            tag = tag.referenced_object
        if tag is not None:
            out[tag.value.value.decode()] = node.value[0]
        node = node.value[1]
    return out


def _strings(obj: Any) -> list[str]:
    return ["" if c.value is None else c.value.decode() for c in obj.value]


def _sparse(matrix: Any) -> tuple[sp.csc_matrix, list[str], list[str]]:
    """A dgCMatrix (genes × cells) as scipy CSC with its row and column names."""
    slots = _slots(matrix)
    n_rows, n_cols = (int(v) for v in slots["Dim"].value)
    X = sp.csc_matrix(
        (np.asarray(slots["x"].value), np.asarray(slots["i"].value),
         np.asarray(slots["p"].value)),
        shape=(n_rows, n_cols),
    )  # fmt: skip
    rows, cols = (_strings(names) for names in slots["Dimnames"].value)
    return X, rows, cols


def read_seurat_rds(path: Path, label_key: str) -> ad.AnnData:
    """A Seurat object's RNA assay (its `data` slot, else `counts`) and its cell identities."""
    import rdata

    root = rdata.parser.parse_file(str(path)).object
    top = _slots(root)
    if "assays" not in top or "active.ident" not in top:
        raise GenekbError(f"{path}: {_r_kind(top)}, not a Seurat object")
    assay_names = _strings(_slots(top["assays"])["names"])
    if "RNA" not in assay_names:
        raise GenekbError(f"{path}: the Seurat object has no RNA assay ({assay_names})")
    rna = _slots(top["assays"].value[assay_names.index("RNA")])
    X, genes, cells = _sparse(rna["data"])
    if X.nnz == 0 or X.shape[1] == 0:
        X, genes, cells = _sparse(rna["counts"])
    ident = top["active.ident"]
    levels = _strings(_slots(ident)["levels"])
    codes = np.asarray(ident.value, dtype=int)
    labels = [levels[c - 1] for c in codes]  # R factors count from 1
    if len(labels) != len(cells):
        raise GenekbError(f"{path}: {len(labels)} identities for {len(cells)} cells")
    return _labelled(X.T.tocsr().astype(np.float32), cells, genes, labels, label_key)


def _r_kind(slots: dict[str, Any]) -> str:
    """What an R object is, by its class attribute (or its dim, a plain matrix), for a refusal."""
    if "class" in slots:
        return f"an R object of class {'/'.join(_strings(slots['class']))}"
    return "an R matrix" if "dim" in slots else "an R object without a class"


# How to bring other R objects over, one line: the packages that write .h5ad from R.
CONVERT_IN_R = (
    "convert it to .h5ad in R and read that: zellkonverter::writeH5AD(sce, 'cells.h5ad') for a"
    " SingleCellExperiment, anndata::write_h5ad(anndata::AnnData(X = t(counts)), 'cells.h5ad')"
    " for a genes × cells matrix"
)


def read_r_file(path: Path) -> ad.AnnData:
    """A Seurat object saved with saveRDS, given by path (its identities in obs["ident"]); an
    .rda / .RData, or an .rds of another R object, refused in one line that says how to read it."""
    how = CONVERT_IN_R
    if path.suffix.lower() in R_DATA_SUFFIXES:
        raise GenekbError(
            f"{path}: an R data file can hold any R objects; save a Seurat object in it with"
            f" saveRDS(obj, 'cells.rds') and read that, or {how}"
        )
    try:
        return read_seurat_rds(path, SEURAT_IDENT)
    except GenekbError as exc:
        raise GenekbError(f"{exc}; only Seurat objects are read from .rds: {how}") from None
    except Exception as exc:  # rdata's parser raises many kinds on what is no R serialization
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GenekbError(f"cannot read {path} as a Seurat object ({first}); {how}") from None
