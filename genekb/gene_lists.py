"""The genes a build is asked for: a list of names (a file, a pipe or stdin) or an AnnData's
genes (its file's, read without the matrix, or an object's own)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pandas as pd

from genekb.ensembl import foreign_prefixes, parse_ensembl
from genekb.errors import GenekbError, warn
from genekb.fileio import require_file
from genekb.genemap import (
    GENE_COLUMNS,
    GeneIndex,
    column_key,
    is_missing,
    named_column,
    other_style_examples,
    shared_name_note,
    spreadsheet_date_note,
    spreadsheet_dates,
)
from genekb.input_streams import read_input_text
from genekb.store.foreign import OtherSpeciesNamesWarning

LIST_LIMIT = 256 << 20  # bytes of a gene list read from a pipe


def read_gene_list(path: Path) -> list[str]:
    """Gene names from a text file, a pipe or `-` for stdin (one per line; a CSV/TSV's first
    column, or the one its header names as the genes' (gene, symbol, gene_id, ...), row numbers
    that pandas or R wrote before it set aside; '#' comments)."""
    rows = _list_rows(read_input_text(path, "genes file", limit=LIST_LIMIT), path)
    # `df.to_csv(path)`, R's `write.csv(x, path)`: row numbers first, under a header for sure
    header, rows = _without_row_numbers(rows)
    first = next((row for row in rows if any(cell.strip() for cell in row)), [])
    column = _gene_column(first if header is None else header, path)
    names = [row[column].strip() if len(row) > column else "" for row in rows]
    names = [n for n in names if not is_missing(n)]
    if header is None and names and column_key(names[0]) in GENE_COLUMNS:  # a header
        names = names[1:]
    if not names:
        raise GenekbError(f"genes file {path} lists no genes")
    return names


def _list_rows(text: str, path: Path) -> list[list[str]]:
    """The rows of a gene list, its '#' comment lines left out. The file is read as one CSV,
    TSV or ';'-separated table (as its first line is separated), not line by line: a quoted
    field holding a tab or a line break split one row into names such as 'CD3E,"a' and 'b"'."""
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    first = next((ln for ln in lines if ln.strip()), "")
    # ';' is the field separator of a spreadsheet's CSV in some locales ("CD3E;1,5")
    sep = next((s for s in ("\t", ";", ",") if s in first), None)
    if sep is None:  # a first line of one name: a tab in a later line makes it a TSV
        sep = "\t" if any("\t" in ln for ln in lines) else ","
    joined = "\n".join(lines)
    try:  # csv drops the quotes R's write.csv puts round each name ("TP53" matched nothing)
        rows = list(csv.reader(io.StringIO(joined), delimiter=sep))
        if joined.count('"') % 2 or any(row and "\n" in row[0] for row in rows):
            # a quote never closed ('"TP53') took the lines after it into one field: read
            # a line at a time, where no quote spans lines
            rows = [next(csv.reader([ln], delimiter=sep), []) for ln in lines]
    except csv.Error as exc:  # a field over 128 KiB (a file of no lines), a NUL byte
        raise GenekbError(f"genes file {path} is no list of gene names ({exc})") from None
    return rows


def _gene_column(header: list[str], path: Path) -> int:
    """The column of names: the first, unless the header names another as the genes' and not
    the first ("score,gene" read its scores 1, 2 as GeneIDs and its header as a gene)."""
    if len(header) < 2 or column_key(header[0]) in GENE_COLUMNS:
        return 0
    named = named_column(header, GENE_COLUMNS, "gene", f"genes file {path}")
    return header.index(named) if named is not None else 0


def _without_row_numbers(rows: list[list[str]]) -> tuple[list[str] | None, list[list[str]]]:
    """(header, rows below it) without a first column of row numbers (0 or 1, 2, 3, ...) that
    a table written with its index holds: pandas' `to_csv` and R's `write.csv` name the index
    "", R's `write.table` leaves it out of the header. Such numbers read as GeneIDs built A1BG,
    A2M, ... in place of the genes listed. (None, `rows`) where there is no such column."""
    data = [row for row in rows if any(cell.strip() for cell in row)]
    if len(data) < 2 or min(len(row) for row in data[1:]) < 2:
        return None, rows
    numbers = [row[0].strip() for row in data[1:]]
    start = 0 if numbers[0] == "0" else 1
    if numbers != [str(i) for i in range(start, start + len(numbers))]:
        return None, rows
    header = data[0]  # a header for sure, whatever it says (R names a vector it wrote "x")
    if not header[0].strip():
        return header[1:], [row[1:] for row in data[1:]]
    if len(header) == len(data[1]) - 1:
        return header, [row[1:] for row in data[1:]]
    return None, rows


def warn_other_style(names: list[str], given: int, symbols: list[str], taxon: str) -> None:
    """Say so where most names matched are written as the other species writes symbols: names
    match case-blind, so a mouse list (Cd3e, Trp53) built the human genes (the default taxon)
    without a word, and a human list under --taxon mouse the mouse ones."""
    styled = other_style_examples(names, symbols)
    if styled:
        other = "mouse" if taxon != "mouse" else "human"
        warn(
            f"{len(styled):,} of the {given:,} genes given are written as {other} symbols (e.g."
            f" {', '.join(styled[:3])}) and were read as the {taxon} genes of those names,"
            f" case-blind; for {other} genes build with --taxon {other}",
            OtherSpeciesNamesWarning,
        )


# The species of an Ensembl gene id's prefix, of those a build may be asked for (--taxon).
_PREFIX_TAXON = {"ENSG": "human", "ENSMUSG": "mouse"}


def why_none_matched(names: list[str], index: GeneIndex) -> str:
    """Why no name matched, where the names say: another species' Ensembl ids (ENSMUSG under
    --taxon human), spreadsheet dates, names several genes share; else what to check."""
    own = sorted({parsed.prefix for e in index.ensembl if (parsed := parse_ensembl(e))})
    foreign = foreign_prefixes(names, own)
    other = next((_PREFIX_TAXON[p] for p in foreign if p in _PREFIX_TAXON), None)
    notes = [
        f"{sum(foreign.values()):,} names are {', '.join(foreign)} Ensembl ids, of another"
        f" species than the source's ({', '.join(own)}): "
        + (f"build with --taxon {other}" if other else "give this species' genes")
        if foreign
        else "",
        spreadsheet_date_note(spreadsheet_dates(names)),
        shared_name_note(index.shared_names(names)),
    ]
    return "; ".join(n for n in notes if n) or "check the gene names and the taxon"


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
