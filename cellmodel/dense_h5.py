"""Matilda's HDF5 layout: a "matrix" group holding a dense genes × cells "data" beside its
"features" and "barcodes" (no sparse indptr, unlike Cell Ranger's); the registry's Matilda
datasets read it with their labels file (`datasets.layouts.read_h5_csv`), a path reads it alone."""

from __future__ import annotations

from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellmodel.storage import as_float32, text_values
from genekb.errors import GenekbError

GENES_PER_BLOCK = 1024  # rows of the dense matrix read at a time: a small dense copy, sparse after
PARTS = ("data", "features", "barcodes")


def is_dense_matrix(f: Any) -> bool:
    """Whether an open HDF5 file holds Matilda's layout."""
    import h5py

    group = f.get("matrix")
    if not isinstance(group, h5py.Group):
        return False
    return all(k in group for k in PARTS) and "indptr" not in group


def read_dense_matrix(f: Any) -> ad.AnnData:
    """The "matrix" group of an open HDF5 file as cells × genes sparse float32, cells named by
    the barcodes and genes by the features (each made unique)."""
    group = f["matrix"]
    genes, barcodes = text_values(group["features"]), text_values(group["barcodes"])
    data = group["data"]
    if data.shape != (len(genes), len(barcodes)):
        raise GenekbError(
            f"{f.filename}: matrix/data is {' × '.join(map(str, data.shape))}, not genes × cells"
            f" ({len(genes)} × {len(barcodes)})"
        )
    what = f"matrix/data of {f.filename}"
    blocks = [
        sp.csr_matrix(as_float32(data[i : i + GENES_PER_BLOCK], what))
        for i in range(0, len(genes), GENES_PER_BLOCK)
    ]
    X = sp.vstack(blocks).T.tocsr() if blocks else sp.csr_matrix((len(barcodes), 0), np.float32)
    adata = ad.AnnData(X=X, obs=pd.DataFrame(index=barcodes), var=pd.DataFrame(index=genes))
    adata.obs_names_make_unique()
    adata.var_names_make_unique()
    return adata
