"""The genes a build is asked for: a list of names (a file, a pipe or stdin) or an AnnData's
genes (its file's, read without the matrix, or an object's own)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pandas as pd

from genekb.errors import GenekbError
from genekb.fileio import require_file
from genekb.genemap import GENE_COLUMNS, column_key, is_missing
from genekb.input_streams import read_input_text

LIST_LIMIT = 256 << 20  # bytes of a gene list read from a pipe


def read_gene_list(path: Path) -> list[str]:
    """Gene names from a text file, a pipe or `-` for stdin (one per line; a CSV/TSV's first
    column; '#' comments)."""
    lines = read_input_text(path, "genes file", limit=LIST_LIMIT).splitlines()
    try:  # csv drops the quotes R's write.csv puts round each name ("TP53" matched nothing)
        rows = [next(csv.reader([ln], delimiter="\t" if "\t" in ln else ","), [""]) for ln in lines]
    except csv.Error as exc:  # a field over 128 KiB (a file of no lines), a NUL byte
        raise GenekbError(f"genes file {path} is no list of gene names ({exc})") from None
    names = [row[0].strip() if row else "" for row in rows]
    names = [n for n in names if not is_missing(n) and not n.startswith("#")]
    if names and column_key(names[0]) in GENE_COLUMNS:  # a header, not a gene
        names = names[1:]
    if not names:
        raise GenekbError(f"genes file {path} lists no genes")
    return names


def genes_from_h5ad(path: Path, gene_key: str | None = None) -> list[str]:
    """All gene names of an AnnData file (its .raw genes too), read without loading the matrix."""
    import anndata as ad

    require_file(path, "--genes-from")
    try:
        adata = ad.read_h5ad(path, backed="r")
    except Exception as exc:  # h5py/anndata raise many types for a foreign file
        words = str(exc).splitlines()[0] if str(exc).strip() else ""
        why = exc.__class__.__name__ + (f": {words}" if words else "")
        raise GenekbError(
            f"{path} is not a readable .h5ad file ({why}); --genes-from takes an AnnData file:"
            " give another format's gene names one per line with --genes"
        ) from None
    try:
        return gene_names_of(adata, gene_key)
    finally:
        adata.file.close()


def gene_names_of(adata: Any, gene_key: str | None = None) -> list[str]:
    def names(var: Any, index: Any) -> list[str]:
        if gene_key:
            if gene_key not in var.columns:
                raise GenekbError(f"no column {gene_key!r} in var; choose from {list(var.columns)}")
            # A missing name is no name: str(NaN) is "nan", an NCBI alias of SCN11A.
            return [str(x) for x in var[gene_key] if not pd.isna(x) and str(x).strip()]
        return [str(x) for x in index]

    found = names(adata.var, adata.var_names)
    if adata.raw is not None:
        found += names(adata.raw.var, adata.raw.var_names)
    return list(dict.fromkeys(found))
