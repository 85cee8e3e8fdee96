"""The record a cellmodel run keeps in `adata.uns["cellmodel"]`: read back checked (a file
edited or made by another tool is refused, not misread), and made storable in an .h5ad's uns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anndata as ad
import numpy as np

from cellmodel._settings import ANNOTATION_KEY, UNS_KEY
from genekb.errors import GenekbError

ANNOTATE_ENTRY = "annotate"  # uns["cellmodel"]["annotate"]: the report under the default key
# The columns annotate writes beside obs[key_added]: confidence, and with per_cell each cell's call.
ANNOTATION_SUFFIXES = ("_confidence", "_cell", "_cell_score")
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
    return plain_values(value, keep_none=False)


def plain_values(value: Any, *, keep_none: bool = True) -> Any:
    """A copy of plain Python values (numpy scalars as numbers, tuples as lists); `keep_none`
    keeps a None as it is (a JSON record's keys stay put), else drops it (`h5ad_safe`)."""
    if isinstance(value, dict):
        return {
            str(k): plain_values(v, keep_none=keep_none)
            for k, v in value.items()
            if keep_none or v is not None
        }
    if isinstance(value, (list, tuple)):
        return [plain_values(v, keep_none=keep_none) for v in value if keep_none or v is not None]
    if isinstance(value, np.generic):
        return value.item()
    return value


def annotation_columns(key_added: str) -> list[str]:
    """The obs columns an annotation under `key_added` writes (names first)."""
    return [key_added, *(key_added + suffix for suffix in ANNOTATION_SUFFIXES)]


def index_clash(columns: list[str], index_name: object) -> str | None:
    """The first of `columns` an .h5ad cannot hold beside obs's index (the cell names), which
    it keeps under the index's name ('_index' unnamed): writing the file failed after the run."""
    taken = {"_index", str(index_name)} if index_name is not None else {"_index"}
    return next((c for c in columns if c in taken), None)


def annotation_record(adata: ad.AnnData, key_added: str = ANNOTATION_KEY) -> Any:
    """The record annotate stored for `key_added` (None when there is none): the default key's in
    uns["cellmodel"]["annotate"], as before `key_added` existed; any other in uns[key_added], as
    scanpy keeps a tool's record beside its obs column."""
    if key_added == ANNOTATION_KEY:
        return run_record(adata).get(ANNOTATE_ENTRY)
    return adata.uns.get(key_added)


def store_annotation(adata: ad.AnnData, key_added: str, record: dict[str, Any]) -> None:
    """Put annotate's record where `annotation_record` reads it."""
    if key_added != ANNOTATION_KEY:
        adata.uns[key_added] = record
        return
    existing = adata.uns.get(UNS_KEY)
    kept = existing if isinstance(existing, Mapping) else {}
    adata.uns[UNS_KEY] = {**kept, ANNOTATE_ENTRY: record}


def forget_scanpy_results(adata: ad.AnnData, columns: list[str]) -> list[str]:
    """Remove scanpy's results on obs `columns` that a step is replacing (rank_genes_groups under
    any key_added, the dendrogram, PAGA): they describe the old groups, and scanpy's plots drew
    them under the new groups' names. Returns the uns keys removed."""
    keys = scanpy_results_on(adata.uns, columns)
    for key in keys:
        del adata.uns[key]
    return keys


def scanpy_results_on(uns: Mapping[str, Any], columns: list[str]) -> list[str]:
    """The keys of `uns` that hold scanpy's results on obs `columns` (`forget_scanpy_results`);
    an out-of-core run reads uns from the file as far as this needs (`h5_out.ObsmWriter`)."""
    keys = []
    for key, value in uns.items():
        if not isinstance(value, Mapping) or is_annotation(value):
            continue
        params = value.get("params")
        by = params.get("groupby") if isinstance(params, Mapping) else None
        by = value.get("groups") if key == "paga" else by  # PAGA names its grouping so
        if isinstance(by, str) and by in columns:
            keys.append(key)
    return keys + [k for c in columns for k in (f"dendrogram_{c}", f"{c}_sizes") if k in uns]


def is_annotation(value: Any) -> bool:
    """Whether an uns entry is a record annotate wrote (its report travels as JSON)."""
    return isinstance(value, Mapping) and "report_json" in value
