"""Read expression inputs (.h5ad, 10x .mtx folders, Cell Ranger .h5, .loom, CSV/TSV; the readers
live in `cellmodel.formats`) and normalize them for cellmodel.

Two steps, kept apart so a caller can hold an AnnData of its own:
- `read(path)` turns a file or folder into an AnnData, raising `GenekbError` for unreadable input;
- `expression(adata, layer=..., gene_key=...)` picks the matrix and the gene names, detects whether
  the values are raw counts, log-normalized, or something else (TPM-like), and returns log-scale
  values (counts: normalize_total to 1e4 then log1p; log: as is; other: log1p).
Sparse input stays sparse (CSR) throughout. The record a run leaves in `uns["cellmodel"]` is read
back and made storable by `cellmodel.uns_record`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from cellmodel.formats import (
    HDF5_SUFFIXES,
    read_h5ad,
    read_hdf5,
    refuse_repeated,
    repeated_key_fix,
)
from cellmodel.matrix_checks import checked_matrix
from cellmodel.mtx_layouts import read_matrix_folder
from cellmodel.tables import TABLE_SUFFIXES, Orientation, read_table
from cellmodel.value_kinds import KINDS, NORMALIZATION, Matrix, detect_kind, normalize
from genekb.errors import GenekbError, UsageError, listed
from genekb.sniff import gzipped

LOW_COUNT = 100  # counts under which a barcode is most likely an empty droplet
WHOLE_TRANSCRIPTOME = 5_000  # genes from which a counts matrix is judged for empty droplets

# Advice a Python session can follow where gene names repeat; the command line words it its way.
MAKE_UNIQUE = "make them unique (adata.var_names_make_unique())"
# .raw keeps the names of when it was set: adata.var_names_make_unique() leaves them repeated.
MAKE_RAW_UNIQUE = (
    "make them unique (raw = adata.raw.to_adata(); raw.var_names_make_unique(); adata.raw = raw)"
)


@dataclass
class Expression:
    """A cells × genes matrix on a log scale, the gene names to map, and how it was obtained."""

    X: Matrix
    genes: list[str]
    kind: str  # what the input values were: "counts", "log" or "other"
    source: str  # "X", "raw" or "layers/<name>"
    gene_key: str | None  # var column the names came from; None means var_names
    normalization: str  # what was done to reach the log scale
    notes: list[str] = field(default_factory=list)  # things the user should be told
    var: pd.DataFrame | None = field(default=None, repr=False)  # the genes' var rows

    @property
    def n_cells(self) -> int:
        return int(self.X.shape[0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source,
            "gene_key": self.gene_key,
            "normalization": self.normalization,
            "n_cells": self.n_cells,
            "n_genes": len(self.genes),
            "notes": list(self.notes),
        }


# ----------------------------------------------------------------------------------------- reading


def read(
    path: str | Path, *, orientation: Orientation = "auto", sep: str | None = None
) -> ad.AnnData:
    """Read an `.h5ad` file, a matrix folder (10x, STARsolo, kallisto|bustools, alevin-fry; or
    its matrix file: `cellmodel.mtx_layouts`) or AnnData zarr store, a Cell Ranger `.h5`, a
    `.loom` file (`cellmodel.formats`), or a CSV/TSV table (`orientation`, `sep`: see
    `cellmodel.tables.read_table`); each cell named once."""
    adata = _read(Path(path), orientation, sep)
    refuse_repeated_cells(adata.obs_names, path)
    refuse_duplicate_columns(adata, path)
    return adata


def require_anndata(adata: Any, name: str = "adata", *, cells_named_once: bool = False) -> None:
    """What every API function takes: an AnnData held in memory (a backed one reads its matrix
    lazily, as an HDF5 dataset the checks and fits cannot use); `name`: the parameter's.
    `cells_named_once`: each cell named once as well (`require_cells_named_once`)."""
    if not isinstance(adata, ad.AnnData):
        raise UsageError(
            f"{name} must be an AnnData, not {type(adata).__name__}; read a file with"
            " cellmodel.io.read"
        )
    if adata.isbacked:
        raise UsageError(f"{name} is backed (read with backed=); load it first: {name}.to_memory()")
    if cells_named_once:
        require_cells_named_once(adata, name)


def refuse_duplicate_columns(adata: ad.AnnData, path: str | Path) -> None:
    """obs and var name each column once: a column read by name would be two columns."""
    for where, frame in (("obs", adata.obs), ("var", adata.var)):
        twice = frame.columns[frame.columns.duplicated()]
        if len(twice):
            raise GenekbError(
                f"{path}: {where} has the column {str(twice[0])!r} more than once; rename one"
                f" (adata.{where}.columns) and write the file again"
            )


# What a Python session does for cells named twice (sc.concat without index_unique=): "sum or
# drop the repeats", said of a file, would merge or lose the cells of another sample.
MAKE_CELLS_UNIQUE = "make them unique first (adata.obs_names_make_unique())"


def require_cells_named_once(adata: ad.AnnData, name: str = "adata") -> None:
    """What each command that writes per-cell results into `adata` (cluster, embed, classify,
    annotate, refine) refuses alike: cells named twice (sc.concat without index_unique=). Their
    results leave the AnnData keyed by name (obs joins, labels files, a concat), and the same
    cells read from a file are refused by every command."""
    refuse_repeated_cells(adata.obs_names, name, MAKE_CELLS_UNIQUE)


def refuse_repeated_cells(
    names: pd.Index,
    path: str | Path,
    fix: str = "name each once (rename, sum or drop the repeats) first",
) -> None:
    """Each cell named once: the outputs (clusters, labels, scores) are keyed by cell name."""
    refuse_repeated(names, path, "cell names", fix)


def refuse_table_options(path: Path, orientation: str, sep: str | None) -> None:
    """`orientation` and `sep` read a CSV/TSV table: given beside a folder, an .h5ad, a matrix
    market or an HDF5 file they would be read for nothing (the user meant another file)."""
    name = path.name.lower().removesuffix(".gz")
    not_a_table = path.is_dir() or name.endswith((".h5ad", ".mtx", *HDF5_SUFFIXES))
    table_option = "orientation=" if orientation != "auto" else "sep=" if sep is not None else None
    if table_option and not_a_table:
        raise UsageError(f"{table_option} reads CSV/TSV tables; {path} is not one: leave it out")


def _read(path: Path, orientation: Orientation, sep: str | None) -> ad.AnnData:
    if path.is_char_device() or path.is_block_device():
        raise GenekbError(f"input {path} is a device, not a file or a pipe; give a file")
    if str(path) == "-" or (path.exists() and not path.is_file() and not path.is_dir()):
        return read_table(path, orientation=orientation, sep=sep)  # stdin or a pipe: a table
    if not path.exists():
        raise GenekbError(f"input {path} does not exist")
    name = path.name.lower().removesuffix(".gz")
    refuse_table_options(path, orientation, sep)
    if path.is_dir():
        return read_matrix_folder(path)
    if path.stat().st_size == 0:  # each reader would name a parse error instead
        raise GenekbError(f"{path} is empty (0 bytes); copy or write it again")
    if name.endswith((".h5ad", *HDF5_SUFFIXES)):
        refuse_gzipped_hdf5(path)
    if name.endswith(".h5ad"):
        return read_h5ad(path)
    if name.endswith(".mtx") or name == "quants_mat":  # the last: alevin's binary, refused there
        return read_matrix_folder(path)
    suffix = Path(name).suffix
    if suffix in HDF5_SUFFIXES:
        return read_hdf5(path)
    if suffix in TABLE_SUFFIXES or sep is not None:
        return read_table(path, orientation=orientation, sep=sep)
    raise GenekbError(
        f"cannot read {path}: expected an .h5ad file, a 10x folder (matrix.mtx, features.tsv,"
        " barcodes.tsv) or a kallisto|bustools, alevin-fry or zarr one, a Cell Ranger .h5, a"
        " .loom file or a .csv/.tsv table"
    )


def refuse_gzipped_hdf5(path: Path) -> None:
    # HDF5 needs random access: a gzipped .h5ad/.h5/.loom would only fail as "not HDF5".
    if gzipped(path):
        raise GenekbError(
            f"{path} is gzip-compressed; HDF5 files (.h5ad, .h5, .loom) are read uncompressed:"
            " gunzip it first"
        )


def gene_names(var: pd.DataFrame, gene_key: str | None, source: str) -> list[str]:
    """The names to map: var_names, or the var column `gene_key`; checked to be unique."""
    if gene_key is None:
        genes = [str(g) for g in var.index]
    elif gene_key in var.columns:
        # A missing name is no name: str(NaN) would be "nan", which NCBI lists as an alias.
        genes = ["" if pd.isna(g) else str(g) for g in var[gene_key].to_numpy()]
    else:
        have = ", ".join(map(str, var.columns)) or "none"
        # .raw keeps the var of when it was set (and is read for a scaled X): its own names
        raw = f"; .raw names its genes {listed(var.index, 3)}: leave gene_key out to read those"
        raise GenekbError(
            f"gene key {gene_key!r} is not a var column of {source}; columns: {have}"
            + (raw if source == "raw" and len(var.index) else "")
        )
    blank = sum(1 for g in genes if not g.strip())
    if blank:
        raise GenekbError(
            f"{blank} of {len(genes)} gene names are empty or missing (NaN); name the genes"
            " (var_names) or choose another gene_key="
        )
    # The command line says "name each gene once in the file" for the Python call (cli/flags.py).
    unique = MAKE_RAW_UNIQUE if source == "raw" else MAKE_UNIQUE
    fix = f"{unique} or choose a gene_key= column of unique names{_unique_columns(var)}"
    if gene_key is not None:  # var_names_make_unique leaves the column as it is
        fix = repeated_key_fix(var.index)
    refuse_repeated(genes, source, "gene names", fix)
    return genes


def _unique_columns(var: pd.DataFrame) -> str:
    """ " (here: gene_ids, …)": the var columns of text that name each gene once, or ""."""
    names = [
        str(c)
        for c in var.columns
        if (pd.api.types.is_string_dtype(var[c]) or isinstance(var[c].dtype, pd.CategoricalDtype))
        and var[c].notna().all()
        and var[c].is_unique
    ]
    return f" (here: {listed(names, 3)})" if names else ""


def expression(
    adata: ad.AnnData,
    *,
    layer: str | None = None,
    gene_key: str | None = None,
    kind: str = "auto",
) -> Expression:
    """Pick the matrix and the gene names of `adata`, check them, and normalize to a log scale.

    `layer`: None (X), "raw" (adata.raw) or a name in `adata.layers`. When `layer` is None and X
    holds negative values (scaled data) but `.raw` holds usable values, `.raw` is used and a note
    says so.
    `gene_key`: a var column holding the names to map (CELLxGENE: "feature_name"); None: var_names.
    `kind`: "auto" detects counts / log / other; a given kind is checked and used.
    """
    if kind not in KINDS:
        raise UsageError(f"unknown value kind {kind!r}; choose one of {', '.join(KINDS)}")
    X, var, source, notes = checked_matrix(adata, layer, kind)
    genes = gene_names(_gene_key_of(adata, var, gene_key, layer), gene_key, source)
    detected = detect_kind(X)
    if kind != "auto":
        if kind == "counts" and detected != "counts":
            notes.append("values are not all integers although counts were requested")
        detected = kind  # type: ignore[assignment]
    if detected == "counts":
        notes += _low_count_note(X)
    how = NORMALIZATION[detected]
    return Expression(
        X=normalize(X, detected),
        genes=genes,
        kind=detected,
        source=source,
        gene_key=gene_key,
        normalization=how,
        notes=notes,
        var=var,
    )


def check_expression(
    adata: ad.AnnData, *, layer: str | None = None, gene_key: str | None = None
) -> None:
    """What `expression` refuses (an empty, non-finite or negative matrix, unnamed or repeated
    genes), checked without normalizing: bench checks a dataset once, before its runs."""
    _, var, source, _ = checked_matrix(adata, layer, "auto")
    gene_names(_gene_key_of(adata, var, gene_key, layer), gene_key, source)


def _gene_key_of(adata: ad.AnnData, var: Any, gene_key: str | None, layer: str | None) -> Any:
    """`var` (the genes of the matrix read), unless it is .raw's and lacks `gene_key`, which X's
    var holds: then a GenekbError saying so, where "not a var column of raw" left the user, who
    never asked for .raw (X was scaled), looking at a var that holds it."""
    if gene_key is None or gene_key in var.columns or var is adata.var:
        return var
    if gene_key not in adata.var.columns:
        return var  # `gene_names` lists the columns there are
    why = "layer='raw' is read" if layer == "raw" else "X holds scaled values, so .raw is read"
    have = ", ".join(map(str, var.columns)) or "none"
    raise GenekbError(
        f"gene key {gene_key!r} is a column of var, not of raw.var (columns: {have}), and {why};"
        " leave out gene_key= to map raw's var names, or add the column to raw.var"
    )


def _low_count_note(X: Any) -> list[str]:
    # Most droplets of an unfiltered 10x matrix are empty: clustering them would bury the cells.
    # Only a whole-transcriptome matrix is judged; a gene panel or subset has few counts per cell.
    if X.shape[1] < WHOLE_TRANSCRIPTOME:
        return []
    low = float(np.mean(np.asarray(X.sum(axis=1)).ravel() < LOW_COUNT))
    if low <= 0.5:
        return []
    return [
        f"{low:.0%} of the cells hold under {LOW_COUNT} counts: an unfiltered droplet matrix?"
        " keep the called cells first (Cell Ranger's filtered_feature_bc_matrix)"
    ]
