"""The record a cellmodel run keeps in `adata.uns["cellmodel"]`: read back checked (a file
edited or made by another tool is refused, not misread), and made storable in an .h5ad's uns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anndata as ad
import numpy as np

from genekb.errors import GenekbError

RECORD_PARTS = ("input", "params", "gene_match", "vectors")  # read as records where present


def run_record(adata: ad.AnnData) -> dict[str, Any]:
    """`adata.uns["cellmodel"]`, the record a cellmodel run writes ({} when there is none);
    GenekbError when the key holds something else (a file edited or made by another tool)."""
    record = adata.uns.get("cellmodel", {})
    where, held = "uns['cellmodel']", record
    if isinstance(record, Mapping):  # the parts readers open as records, edited into another kind
        bad = [k for k in RECORD_PARTS if k in record and not isinstance(record[k], Mapping)]
        if bad:
            where, held = f"uns['cellmodel'][{bad[0]!r}]", record[bad[0]]
    if not isinstance(held, Mapping):
        raise GenekbError(
            f"{where} holds a {type(held).__name__}, not the record cellmodel writes; delete"
            " uns['cellmodel'] (del adata.uns['cellmodel']) and run `cellmodel cluster` again"
        )
    return dict(record)


def h5ad_safe(value: Any) -> Any:
    """A copy that h5ad `uns` can store: no None anywhere, numpy scalars as Python numbers,
    tuples as lists."""
    if isinstance(value, dict):
        return {str(k): h5ad_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [h5ad_safe(v) for v in value if v is not None]
    if isinstance(value, np.generic):
        return value.item()
    return value
