"""What a stored expression matrix must be before anything reads it as numbers: real values, a
sound sparse structure, and values float32 can hold. Every reader (each file format in memory,
and each chunk out of core) refuses the same things with the same words; and the names stored
beside it (HDF5 strings) read as text."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from genekb.errors import GenekbError

FLOAT32_MAX = float(np.finfo(np.float32).max)  # larger values turn to inf, then NaN, in float32


def in_memory(X: Any) -> Any:
    """`X`, with a dask array (anndata's lazy reading) computed once: the checks and the
    normalization each read every value, and numpy cannot read a dask array of sparse chunks."""
    if type(X).__module__.startswith("dask."):
        return X.compute()
    return X


def refuse_non_numeric(dtype: Any, what: str) -> None:
    """Text, object or complex values are no expression (in memory and chunk by chunk alike)."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise GenekbError(
            f"{what} holds {dtype} values, not real numbers; store counts or log values as"
            " integers or floats"
        )


def check_sparse_structure(X: sp.spmatrix, what: str) -> None:
    """scipy's full check of a CSR/CSC matrix: an index past the last gene, a negative one or a
    decreasing row pointer would read memory the matrix does not own, silently or with a crash."""
    try:
        X.check_format(full_check=True)
    except ValueError as error:
        raise GenekbError(
            f"{what} is a damaged sparse matrix ({error}); write it again from its source"
        ) from None


def repeats_entries(X: Any) -> bool:
    """Whether a CSR/CSC matrix stores some cell and gene more than once. scipy reads such a
    matrix as the sums, but what reads the stored values (the value kind, log1p, per-gene
    moments) would read the parts: counts split in halves read as log values."""
    if X.has_canonical_format:  # sorted and once each: the usual case, checked in one pass
        return False
    return not (X if X.has_sorted_indices else X.sorted_indices()).has_canonical_format


def summed_entries(X: Any) -> Any:
    """`X`, or a copy with each entry it stores more than once stored once, as the sum of its
    parts (what scipy reads it as); the caller's matrix is left as it was."""
    if not (sp.issparse(X) and X.format in ("csr", "csc")) or not repeats_entries(X):
        return X
    X = X.copy()
    X.sum_duplicates()
    return X


def check_storage(X: Any, what: str) -> None:
    """Refuse values that are not real numbers and damaged sparse matrices."""
    refuse_non_numeric(X.dtype, what)
    if sp.issparse(X) and X.format in ("csr", "csc"):
        check_sparse_structure(X, what)


def refuse_beyond_float32(largest: float, what: str) -> None:
    """`largest`: the largest absolute finite value; above float32's range it would become inf."""
    if largest > FLOAT32_MAX:
        raise GenekbError(
            f"{what} holds values up to {largest:.3g}, beyond the {FLOAT32_MAX:.3g} that float32"
            " holds; rescale it (counts, or a log scale) first"
        )


def as_float32(values: Any, what: str) -> np.ndarray:
    """Stored values as float32, refused when they are not real numbers or too large for it (a
    cast would turn them into inf, reported as if the file held infinities)."""
    values = np.asarray(values)
    refuse_non_numeric(values.dtype, what)
    if values.dtype.kind == "f" and values.dtype.itemsize > 4 and values.size:
        finite = np.isfinite(values)  # infinities and NaN are the expression checks' to name
        top = float(values.max(where=finite, initial=0.0))
        refuse_beyond_float32(max(top, -float(values.min(where=finite, initial=0.0))), what)
    return values.astype(np.float32, copy=False)


def text_values(values: Any) -> list[str]:
    """HDF5 strings (bytes or str) as Python strings, flattened."""
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(values).ravel()]
