"""Which matrix of an AnnData holds the expression (X, .raw or a layer) and whether it is usable:
not empty, not all zeros, finite, within float32, and not scaled (negative) where another matrix
holds counts or log values. `cellmodel.io.expression` reads the matrix these checks pass."""

from __future__ import annotations

from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellmodel.formats import FeaturesLeftOutWarning, gene_expression_features
from cellmodel.storage import check_storage, in_memory, refuse_beyond_float32, summed_entries
from genekb.errors import GenekbError, warn


def matrix_names(adata: ad.AnnData, layer: str | None) -> tuple[pd.DataFrame, str]:
    """The var frame and the source label ("X", "raw", "layers/<name>") of the matrix `layer`
    names, read from the names alone (a backed file's matrices stay on disk); refused as
    `_pick_matrix` refuses it."""
    if layer is None or layer == "X":
        if adata.X is None and (adata.layers or adata.raw is not None):
            have = ", ".join([*(["raw"] if adata.raw is not None else []), *adata.layers])
            raise GenekbError(
                f"the input has no X matrix; pass the layer that holds the expression with"
                f" layer= (layers present: {have})"
            )
        return adata.var, "X"
    if layer == "raw":
        if adata.raw is None:
            raise GenekbError("the input has no .raw; set layer= to another layer or leave it out")
        return adata.raw.var, "raw"
    if layer not in adata.layers:
        have = ", ".join(["X", *(["raw"] if adata.raw is not None else []), *adata.layers]) or "X"
        raise GenekbError(f"layer {layer!r} is not in the input; layers present: {have}")
    return adata.var, f"layers/{layer}"


def _pick_matrix(adata: ad.AnnData, layer: str | None) -> tuple[Any, pd.DataFrame, str, str]:
    """The matrix (a lazy dask one computed), its var frame, a label for where it came from,
    and the line that says which features were left out ("" for none): of a 10x multiome or
    CITE-seq AnnData (var["feature_types"]), the "Gene Expression" ones only, as the readers
    keep them; peaks and antibody tags had been normalised and clustered as genes."""
    var, source = matrix_names(adata, layer)
    X = adata.X if source == "X" else adata.raw.X if source == "raw" else adata.layers[layer]
    keep, left_out = gene_expression_columns(var, source)
    if keep is None:
        return in_memory(X), var, source, ""
    return in_memory(X)[:, keep], var.iloc[keep], source, left_out


def gene_expression_columns(var: pd.DataFrame, source: str) -> tuple[Any, str]:
    """The columns of the matrix `source` that hold gene expression (None: all) by
    var["feature_types"], and the line that names the rest ("" when none is left out)."""
    if "feature_types" not in var.columns:
        return None, ""
    kinds = var["feature_types"].astype(str).to_numpy()
    return gene_expression_features(kinds, f"the matrix ({source})")


def source_matrix(adata: ad.AnnData, source: str) -> Any:
    """The matrix an `Expression` was read from, by its `source` ("X", "raw", "layers/<name>"),
    its gene expression columns only, as `expression` reads them."""
    return _pick_matrix(adata, None if source == "X" else source.removeprefix("layers/"))[0]


def stored_values(X: Any) -> np.ndarray:
    """The stored values (non-zeros for sparse matrices), without copying where possible."""
    if sp.issparse(X):
        return np.asarray(X.data)
    return np.asarray(X).ravel()


def _has_negative(X: Any) -> bool:
    values = stored_values(X)
    return bool(values.size) and float(values.min()) < 0


def _check_matrix(X: Any, where: str, adata: ad.AnnData) -> Any:
    """`X` once checked, with entries stored more than once summed (`summed_entries`)."""
    # an X left empty beside the data in .raw or a layer: the refusal names where the data are
    if X is None or X.shape[0] == 0 or X.shape[1] == 0:
        shape = "none" if X is None else f"{X.shape[0]} × {X.shape[1]}"
        raise GenekbError(
            f"the expression matrix ({where}) is empty ({shape}); give a file with cells and"
            f" genes, or choose another layer with layer={_other_layers(adata, where)}"
        )
    check_storage(X, f"the expression matrix ({where})")  # before summing reads the indices
    X = summed_entries(X)
    values = stored_values(X)
    if values.size == 0 or not np.any(values):
        raise GenekbError(
            f"the expression matrix ({where}) holds only zeros; check that it holds the"
            f" expression, or choose another layer with layer={_other_layers(adata, where)}"
        )
    if not np.isfinite(values).all():
        raise GenekbError(
            f"the expression matrix ({where}) contains NaN or infinite values; fix or drop those"
            " entries first"
        )
    largest = max(float(values.max()), -float(values.min()))  # no copy, unlike np.abs
    refuse_beyond_float32(largest, f"the expression matrix ({where})")
    return X


def checked_matrix(
    adata: ad.AnnData, layer: str | None, kind: str
) -> tuple[Any, pd.DataFrame, str, list[str]]:
    """The matrix `expression` reads, its genes, where it came from and notes, once checked."""
    notes: list[str] = []
    X, var, source, left_out = _pick_matrix(adata, layer)
    X = _check_matrix(X, source, adata)
    negative = _has_negative(X)
    if negative or scaled_by_scanpy(X, var):
        if layer is None and adata.raw is not None and not _has_negative(adata.raw.X):
            X, var, source, left_out = _pick_matrix(adata, "raw")
            X = _check_matrix(X, source, adata)
            held = "negative (scaled) values" if negative else "scaled values (sc.pp.scale)"
            notes.append(f"X holds {held}; used .raw instead")
        else:
            if negative:
                _refuse_few_negative(X, source)
            _refuse_scaled(adata, source, kind, negative)
    if left_out:
        warn(left_out, FeaturesLeftOutWarning)
        notes.append(left_out)
    return X, var, source, notes


def _refuse_scaled(adata: ad.AnnData, source: str, kind: str, negative: bool) -> None:
    """Refuse scaled values (negative, or sc.pp.scale's), naming the matrices to read instead."""
    has, why = ("has negative values", " (scaled or centred data)") if negative else _SCALED
    if kind == "counts":
        raise GenekbError(
            f"the matrix ({source}) {has} where counts are expected; pass the"
            " layer that holds raw counts with layer="
        )
    if not _other_layers(adata, source):  # layer= would name nothing: say so
        raise GenekbError(
            f"the matrix ({source}) {has}{why} and the file holds no other"
            f" ({_scaled_raw(adata, source)}); read the counts or log-normalized values from"
            " the file they came from"
        )
    raise GenekbError(
        f"the matrix ({source}) {has}{why}; pass a layer"
        f" with counts or log-normalized values with layer={_other_layers(adata, source)}"
    )


_SCALED = ("holds scaled values", " (sc.pp.scale: every gene at unit variance)")
# Scaled or centred values are negative about half the time; fewer than this share are not.
FEW_NEGATIVE = 0.01


def _refuse_few_negative(X: Any, source: str) -> None:
    """Refuse a matrix with a few negative values as damaged: they were said to be scaled data,
    which sent the user looking for a layer of counts that the matrix itself was."""
    count = int((stored_values(X) < 0).sum())
    if count < FEW_NEGATIVE * X.shape[0] * X.shape[1]:
        raise GenekbError(
            f"the matrix ({source}) has negative values in {count} of its"
            f" {X.shape[0] * X.shape[1]:,} entries, too few for scaled data (damaged entries,"
            " or a code for missing values?); fix or drop those entries first"
        )


def scaled_by_scanpy(X: Any, var: pd.DataFrame) -> bool:
    """Whether X is sc.pp.scale's output without centring: no negative value then, and it read as
    log-normalized. scanpy's record of the scale (var 'mean' and 'std') and the genes' standard
    deviations, mostly 1 (clipping at max_value lowers a few), tell it; log values' spread."""
    if not {"mean", "std"} <= set(map(str, var.columns)) or X.shape[0] < 3:
        return False
    n = X.shape[0]
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        mean = np.asarray(X.mean(axis=0, dtype=np.float64)).ravel()
        square = np.asarray(X.multiply(X).mean(axis=0, dtype=np.float64)).ravel()
    else:
        X = np.asarray(X)
        mean = X.mean(axis=0, dtype=np.float64)
        square = np.square(X, dtype=np.float64).mean(axis=0)
    std = np.sqrt(np.clip((square - mean**2) * n / (n - 1), 0, None))
    std = std[std > 0]
    return bool(std.size) and abs(float(np.median(std)) - 1.0) < 0.02


def _scaled_raw(adata: ad.AnnData, source: str) -> str:
    """Why .raw is no other matrix: absent, or scaled as well. `adata.raw = adata` keeps X's own
    dense array, so scanpy's in-place sc.pp.scale scales .raw too; the user is told so, since
    the file does hold a .raw."""
    if adata.raw is None or source == "raw":
        return "no layers, no .raw"
    if not sp.issparse(adata.X) and np.shares_memory(np.asarray(adata.raw.X), adata.X):
        return (
            "no layers; .raw shares X's array, so the scaling reached it too: set"
            " adata.raw = adata.copy() before sc.pp.scale"
        )
    return "no layers; .raw holds negative values too"


def _other_layers(adata: ad.AnnData, source: str) -> str:
    """ " (layers present: …)" naming the matrices besides `source` (a Seurat object converted to
    .h5ad keeps its counts in layers["counts"]), or "" where there is none."""
    usable_raw = adata.raw is not None and not _has_negative(adata.raw.X)
    have = [*(["raw"] if usable_raw else []), *adata.layers]
    have = [name for name in have if name != source.removeprefix("layers/")]
    return f" (layers present: {', '.join(have)})" if have else ""


# Counts with fractions (ambient-corrected: SoupX, DecontX) told from log values, on this many
# cells spread over the matrix.
KIND_ROWS = 500
WHOLE_SHARE = 0.7  # values within 0.1 of a whole number past which they are counts
SPREAD_CV = 1.5  # cells' sums of e^x - 1 varying past this: x is on a count scale


def counts_with_fractions(rows: Any) -> bool:
    """Whether non-integer values no larger than a log scale's are counts with fractions rather
    than log values, read label-free on some cells (`rows`, cells × genes). Log values: in each
    cell, e^x - 1 (or 2^x - 1) are whole multiples of its smallest (one count, after
    log1p(normalize_total) or log2(x / size factor + 1)): log, whatever else. Otherwise counts when
    most values lie near whole numbers, or when the cells' sums of e^x - 1 are far from a
    constant: on a count scale e^x grows with the counts, while log values sum to about a
    library size per cell."""
    X = sp.csr_matrix(rows, dtype=np.float64)
    cells = [X.data[a:b] for a, b in zip(X.indptr[:-1], X.indptr[1:], strict=True) if b - a >= 5]
    if not cells:
        return False
    spreads = []
    for linear in (np.expm1, lambda v: np.exp2(v) - 1):
        values = [linear(c) for c in cells]
        if np.median([_whole_multiples(v) for v in values]) >= 0.9:
            return False
        sums = np.array([v.sum() for v in values])
        spreads.append(float(sums.std() / sums.mean()))
    stored = np.concatenate(cells)
    near_whole = float(np.mean(np.abs(stored - np.round(stored)) < 0.1))
    return near_whole >= WHOLE_SHARE or min(spreads) > SPREAD_CV


def _whole_multiples(values: np.ndarray) -> float:
    """The share of `values` within 0.05 of a whole multiple of the smallest (up to 1000 of it)."""
    ratio = values / values.min()
    ratio = ratio[ratio < 1000]
    return float(np.mean(np.abs(ratio - np.round(ratio)) < 0.05)) if ratio.size else 0.0


def kind_rows(X: Any) -> Any:
    """Up to KIND_ROWS cells of `X`, evenly spaced, for `counts_with_fractions`."""
    n = X.shape[0]
    return X[np.unique(np.linspace(0, max(n - 1, 0), min(n, KIND_ROWS)).astype(np.int64))]
