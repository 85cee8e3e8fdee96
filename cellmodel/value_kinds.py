"""The kind of an expression matrix's values (raw counts, log-normalized, or linear values
such as TPM) and how each is brought to a log scale: one rule for a matrix in memory and for a
file read chunk by chunk (`cellmodel.chunked`), so both read the same kind and normalize alike.
`cellmodel.io.expression` picks and checks the matrix these read."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from cellmodel.matrix_checks import counts_with_fractions, kind_rows, stored_values

ValueKind = Literal["counts", "log", "other"]
KINDS: tuple[str, ...] = ("auto", "counts", "log", "other")

COUNTS_TARGET_SUM = 1e4
# log1p(CP10k) stays below ~12 and log2(x+1) of any realistic scale below ~25; larger non-integer
# values are on a linear scale (TPM, CPM, FPKM).
LOG_SCALE_MAX = 30.0
# Integer detection reads every non-zero value, this many at a time: a sample of evenly spaced
# values found a few fractional ones or missed them by where the matrix stored them (CSR or CSC,
# the cells' order), and the same file was normalized as counts or as linear values.
KIND_CHUNK = 1_000_000

Matrix = sp.csr_matrix | np.ndarray
# What `normalize` does to each kind of values, as recorded in a run's uns.
NORMALIZATION: dict[str, str] = {
    "counts": f"normalize_total(target_sum={COUNTS_TARGET_SUM:g}) then log1p",
    "log": "none (already log-normalized)",
    "other": "log1p (linear-scale values such as TPM)",
}


def detect_kind(X: Any, rows: Any = None) -> ValueKind:
    """Raw counts (non-negative integers, or counts with fractions), log-normalized
    (non-integer, small), or other.

    Assumes finite, non-negative values (checked by `expression` first). Small non-integer
    values are told apart from ambient-corrected counts on some cells (`counts_with_fractions`):
    `rows` (some cells × genes), else X's own where X is a matrix (a flat sample of values has
    no cells).
    """

    def cells() -> Any:
        if rows is None and getattr(X, "ndim", 1) == 2:
            return kind_rows(X)
        return rows

    return kind_of_values([stored_values(X)], cells)


def kind_of_values(chunks: Iterable[np.ndarray], cells: Callable[[], Any]) -> ValueKind:
    """`detect_kind`'s rule on every stored value, given in `chunks` (a matrix in memory is one,
    a file read out of core is its row chunks, so both paths read the same kind): counts when
    every non-zero value is whole, other past a log scale, else log unless `cells()` (some cells
    × genes, read only then) hold counts with fractions. Stops once the kind is settled."""
    whole, largest = True, 0.0
    for chunk in chunks:
        values = chunk[chunk != 0]
        if values.size == 0:
            continue
        largest = max(largest, float(values.max()))
        whole = whole and _all_integers(values)
        if not whole and largest > LOG_SCALE_MAX:
            return "other"
    if whole:
        return "counts"
    rows = cells()
    return "counts" if rows is not None and counts_with_fractions(rows) else "log"


def _all_integers(values: np.ndarray) -> bool:
    """Whether every value is a whole number, read `KIND_CHUNK` values at a time (a log or TPM
    matrix stops at its first chunk)."""
    for start in range(0, values.size, KIND_CHUNK):
        chunk = values[start : start + KIND_CHUNK].astype(np.float64)
        if not np.array_equal(chunk, np.round(chunk)):
            return False
    return True


def normalize(X: Any, kind: str) -> Matrix:
    """To a log scale: counts → normalize_total(1e4) + log1p; log → as is; other → log1p."""
    X = sp.csr_matrix(X, dtype=np.float32) if sp.issparse(X) else np.asarray(X, dtype=np.float32)
    if kind == "log":
        return X.copy()
    if kind == "counts":
        totals = np.asarray(X.sum(axis=1)).ravel()
        scale = np.divide(COUNTS_TARGET_SUM, totals, out=np.zeros_like(totals), where=totals > 0)
        if sp.issparse(X):
            X = sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ X)
        else:
            X = X * scale[:, None].astype(np.float32)
    else:
        X = X.copy()
    if sp.issparse(X):
        X.data = np.log1p(X.data)
        return X
    return np.log1p(X)
