"""Preprocessing, no torch and no store: highly variable genes, PCA (with its parallel-analysis
rule), batch correction and the kNN graph the structure view is built on (`graph`).

For a Python session (`cm.pp`): `read` (any file the command line reads, or a registry dataset by
name) and `normalize` (to the log scale every run works on, as the pipeline does it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["normalize", "read"]

PP_UNS_KEY = "cellmodel_pp"


def read(
    source: str | Path,
    *,
    root: str | Path | None = None,
    orientation: str = "auto",
    sep: str | None = None,
) -> Any:
    """Read an `.h5ad`, a 10x folder (or its `.mtx`), a Cell Ranger or Matilda `.h5`, a `.loom`,
    a Seurat object's `.rds` (its identities in `obs["ident"]`), a CSV/TSV table, or a registry
    dataset by name (fetched by pinned hash into `root`'s cache), as `cellmodel CMD SOURCE` reads
    it. A registry dataset carries its entry in `uns["dataset"]`
    (its label column: `uns["dataset"]["label_key"]`, for scoring only).

    Examples
    --------
    >>> import cellmodel as cm
    >>> adata = cm.pp.read("pbmc68k-reduced")
    >>> adata.n_obs, adata.uns["dataset"]["label_key"]
    (700, 'bulk_labels')
    """
    from cellmodel.pp.inputs import read_input

    return read_input(source, root, orientation, sep)[0]


def normalize(
    adata: Any,
    *,
    layer: str | None = None,
    gene_key: str | None = None,
    copy: bool = False,
) -> Any:
    """Put the expression on the log scale every cellmodel step works on, as the pipeline does:
    counts → total 10,000 per cell then log1p; log-normalized values as they are; other linear
    values → log1p (`cellmodel.io.expression`). `layer`: None (X; scaled values in X fall back
    to `.raw`), "raw", or a layer's name. Writes X (float32; counts kept in `layers["counts"]`,
    X's own too when the values come from elsewhere, refused where that layer holds other
    values), `uns["cellmodel_pp"]` (what the values
    were and what was done) and, where it took the log, scanpy's `uns["log1p"]`. In place, or
    a new AnnData with `copy=True` (needed when the values come from `.raw` with other genes;
    the cells' obsm, obsp and uns come along as copies).

    Examples
    --------
    >>> import cellmodel as cm
    >>> adata = cm.pp.normalize(cm.pp.read("pbmc68k-reduced"), copy=True)
    >>> adata.uns["cellmodel_pp"]["kind"]
    'log'
    """
    from copy import deepcopy

    from cellmodel.arguments import check_flags
    from cellmodel.io import expression, require_anndata
    from cellmodel.matrix_checks import gene_expression_columns, source_matrix
    from cellmodel.uns_record import h5ad_safe
    from genekb.errors import UsageError

    require_anndata(adata)
    check_flags(copy=copy)
    expr = expression(adata, layer=layer, gene_key=gene_key)
    # X's genes in X's order: with gene_key, .raw's genes in another order had passed as X's
    read = adata.raw.var if expr.source == "raw" else adata.var
    keep, _ = gene_expression_columns(read, expr.source)  # a multiome's genes, without its peaks
    read = read.index if keep is None else read.index[keep]
    same_genes = list(map(str, read)) == list(map(str, adata.var_names))
    if not same_genes and not copy:
        whose = "the 'Gene Expression' features of " if keep is not None else ""
        raise UsageError(
            f"the values come from {whose}{expr.source}, whose genes are not X's; call"
            " normalize(adata, copy=True) for a new AnnData of them"
        )
    if same_genes:
        out = adata.copy() if copy else adata
    else:  # .raw's genes, with copies of all the cells carry (scanpy's graph in obsp too)
        out = adata.raw.to_adata() if expr.source == "raw" else adata.copy()
        out.uns = deepcopy(dict(adata.uns))  # to_adata's copy of uns is shallow
        if keep is not None:
            out = out[:, keep].copy()
    if expr.kind == "counts":
        counts = source_matrix(adata, expr.source)
        _refuse_other_counts(out, counts, expr.source)
        out.layers["counts"] = counts.copy()
    elif same_genes and expr.source != "X" and _holds_counts(adata.X):
        # X's counts, about to be replaced by another matrix's values, would be lost
        _refuse_other_counts(out, adata.X, "X")
        out.layers["counts"] = adata.X.copy()
    out.X = expr.X
    if expr.kind != "log":  # scanpy's mark of a log1p'd X: its log1p warns, its hvg reads it
        out.uns["log1p"] = {"base": None}
    record = {**expr.to_dict(), "params": {"layer": layer, "gene_key": gene_key}}
    kept = adata.uns.get(PP_UNS_KEY)
    digest = _digest(out.X)
    if expr.source != "X" or expr.kind != "log" or not _describes(kept, digest):
        # A call again on the X it wrote changes nothing: its record, which says how X was
        # made from the counts, stays (it was replaced by "none (already log-normalized)").
        out.uns[PP_UNS_KEY] = h5ad_safe({**record, "x_digest": digest})
    return out if copy else None


def _digest(X: Any) -> str | None:
    """A hash of X's values and layout (None for a lazy matrix): which X a record describes."""
    import hashlib

    import numpy as np
    import scipy.sparse as sp

    parts = (X.data, X.indices, X.indptr) if sp.issparse(X) else (X,)
    if not all(isinstance(part, np.ndarray) for part in parts):
        return None
    digest = hashlib.blake2b(f"{type(X).__name__}{X.shape}{X.dtype}".encode(), digest_size=16)
    for part in parts:
        digest.update(np.ascontiguousarray(part).data)
    return digest.hexdigest()


def _describes(record: Any, digest: str | None) -> bool:
    """Whether `record` (uns["cellmodel_pp"]) was written for the X whose digest is `digest`."""
    from collections.abc import Mapping

    return digest is not None and isinstance(record, Mapping) and record.get("x_digest") == digest


def _holds_counts(X: Any) -> bool:
    """Whether `X` holds counts: finite, non-negative whole numbers, not all zero."""
    import numpy as np

    from cellmodel.matrix_checks import stored_values
    from cellmodel.value_kinds import detect_kind

    if X is None:
        return False
    values = stored_values(X)
    usable = values.size and np.isfinite(values).all() and values.min() >= 0 and values.any()
    return bool(usable) and detect_kind(X) == "counts"


def _refuse_other_counts(out: Any, counts: Any, source: str) -> None:
    """Refuse to replace a `layers["counts"]` that holds other values than the counts being
    normalised: one of the two would be lost."""
    import numpy as np
    import scipy.sparse as sp

    from genekb.errors import UsageError

    kept = out.layers.get("counts")
    if kept is None or kept is counts:
        return
    same = kept.shape == counts.shape and (
        (sp.csr_matrix(kept) != sp.csr_matrix(counts)).nnz == 0
        if sp.issparse(kept) or sp.issparse(counts)
        else np.array_equal(np.asarray(kept), np.asarray(counts))
    )
    if not same:
        raise UsageError(
            f"layers['counts'] holds other values than the counts in {source}, and normalize"
            " keeps the counts there: pass layer='counts' to normalise that layer, or rename"
            " it first (adata.layers['counts_before'] = adata.layers.pop('counts'))"
        )


def __dir__() -> list[str]:  # tab completion offers the public functions, not submodules
    return sorted(__all__)
