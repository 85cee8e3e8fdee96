"""CSV/TSV count tables (`read_table`): names in the first column and the header, numbers
elsewhere; cells in rows or genes in rows (`orientation`, told from the names by default:
`cellmodel.orientation`); from a file, a gzipped file, a pipe or stdin."""

from __future__ import annotations

import re
import sys
import zlib
from pathlib import Path
from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellmodel.formats import reason, refuse_repeated
from cellmodel.orientation import genes_in_rows, warn_turned
from cellmodel.storage import as_float32
from genekb.errors import GenekbError, GenekbWarning, UsageError, warn
from genekb.sniff import HDF5_MAGIC, gzipped, refuse_binary

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": "\t"}
# "auto": genes in rows where the names say so (`cellmodel.orientation`), else cells in rows.
Orientation = Literal["auto", "cells-by-genes", "genes-by-cells"]
ORIENTATIONS: tuple[str, ...] = ("auto", "cells-by-genes", "genes-by-cells")


def read_table(
    path: str | Path, *, orientation: Orientation = "auto", sep: str | None = None
) -> ad.AnnData:
    """Read a delimited table with names in the first column and the header row; `orientation`
    says whether its rows are cells or genes ("auto": read from the names, with a warning when
    they make the rows genes)."""
    path = Path(path)
    if orientation not in ORIENTATIONS:
        raise UsageError(
            f"unknown orientation {orientation!r}; choose one of {', '.join(ORIENTATIONS)}"
        )
    if sep == "":
        raise UsageError("sep= is empty; give the character between columns, e.g. ',' or ';'")
    if sep is None:
        sep = TABLE_SUFFIXES.get(Path(path.name.lower().removesuffix(".gz")).suffix, ",")
    try:
        source = sys.stdin.buffer if str(path) == "-" else path
        # A space after each separator (", ") is layout, not a part of the header's names: " CD3E"
        # would name no gene, " AAAC…-1" no barcode (nor tell the table's orientation).
        packed = _compression(path)
        frame = pd.read_csv(source, sep=sep, index_col=0, skipinitialspace=True, compression=packed)
    except UnicodeDecodeError as exc:
        if bytes(exc.object[:4]) == HDF5_MAGIC[:4] and str(path) != "-" and path.is_file():
            raise GenekbError(
                f"{path} is an HDF5 file (.h5ad, .h5 or .loom), not a text table: name it after"
                " its format (an AnnData file: .h5ad)"
            ) from None
        if bytes(exc.object[:4]) == HDF5_MAGIC[:4]:
            raise GenekbError(
                f"{path} holds an HDF5 (.h5ad) file, which cannot be read from a pipe or stdin"
                " (HDF5 needs a seekable file): save it to a file and pass its path"
            ) from None
        refuse_binary(bytes(exc.object[:64]), "table", path)  # a workbook, a gzip on stdin
        raise GenekbError(f"cannot read table {path} (not UTF-8 text: {exc.reason})") from None
    except (EOFError, zlib.error) as exc:
        raise GenekbError(
            f"cannot read table {path}: a truncated or damaged gzip file ({reason(exc)}); copy or"
            " compress it again"
        ) from None
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise GenekbError(
            f"cannot read table {path} ({reason(exc)}); its first line must be the header, each"
            " line split by sep="
        ) from None
    frame = _drop_empty_last_columns(frame)
    _check_table_shape(frame, path, sep)
    turned = genes_in_rows(frame.index, frame.columns) if orientation == "auto" else None
    if orientation == "auto":
        orientation = "genes-by-cells" if turned else "cells-by-genes"
    _refuse_missing_names(frame, path, orientation)
    _check_table_names(frame, path, sep, orientation)
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        first = non_numeric[0]
        # A label column of words (cell_type, cluster names): say where labels go instead.
        way = (
            ": drop it and give labels in a file of cell id -> label"
            " (cellmodel.classify.read_labels)"
            if str(first).strip().casefold() in METADATA_NAMES
            else " (check sep=)"
        )
        raise GenekbError(
            f"{path}: column {first!r} {_not_a_number(frame[first])}; the table must hold names"
            f" in the first column and the header, and numbers elsewhere{way}"
        )
    _refuse_empty_fields(frame, path)
    if orientation == "genes-by-cells":
        frame = frame.T
    if turned:
        warn_turned(path, turned, *frame.shape)
    _warn_metadata_columns(frame.columns, path)
    values = as_float32(frame.to_numpy(), str(path))
    # Tables are usually mostly zeros; keep them sparse like every other input.
    if values.size and np.count_nonzero(values) < 0.5 * values.size:
        values = sp.csr_matrix(values)
    obs = pd.DataFrame(index=frame.index.astype(str).to_numpy())
    var = pd.DataFrame(index=frame.columns.astype(str).to_numpy())
    return ad.AnnData(X=values, obs=obs, var=var)


# Names of cell metadata that a table of numbers can carry as a column (clusters, classes, donors
# written as numbers); no gene is named so.
METADATA_NAMES = frozenset(
    {"label", "labels", "cell_type", "celltype", "cell type", "cell_types", "cluster", "clusters",
     "class", "group", "batch", "sample", "donor", "condition", "annotation", "leiden", "louvain",
     "seurat_clusters", "ident", "orig.ident", "y"}
)  # fmt: skip


class MetadataColumnWarning(GenekbWarning):
    """A table's gene named like cell metadata (a label or cluster column of numbers)."""


def _warn_metadata_columns(genes: pd.Index, path: Path) -> None:
    """Say where a table's genes include a column named like cell metadata: numbers there (a
    cluster or class id) are read as a gene's counts, and labels would leak into the expression."""
    found = [str(g) for g in genes if str(g).strip().casefold() in METADATA_NAMES]
    if found:
        warn(
            f"{path}: {', '.join(map(repr, found[:3]))} read as gene(s), though named like cell"
            " metadata: a table holds only counts, so drop such a column and give labels in a"
            " file of cell id -> label (cellmodel.classify.read_labels)",
            MetadataColumnWarning,
        )


def _compression(path: Path) -> str | None:
    """A file is gzip by its bytes, whatever its name says (a download may decompress it and
    keep .gz); a pipe, which a peek would consume, by its name."""
    if str(path) == "-" or not path.is_file():
        return "infer"
    return "gzip" if gzipped(path) else None


def _drop_empty_last_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop what a separator at the end of every line makes: unnamed last columns, all empty."""
    while frame.shape[1] and str(frame.columns[-1]).startswith("Unnamed: "):
        if not frame.iloc[:, -1].isna().all():
            break
        frame = frame.iloc[:, :-1]
    return frame


def _refuse_empty_fields(frame: pd.DataFrame, path: Path) -> None:
    """Name the rows with empty fields (a short or cut line) rather than say "NaN" later."""
    empty = frame.isna().any(axis=1).to_numpy()
    if empty.any():
        first = frame.index[empty][0]
        raise GenekbError(
            f"{path}: {int(empty.sum())} rows have empty fields (e.g. row {first!r}); fill them in"
            " (0 for no count) or drop those rows"
        )


def _refuse_missing_names(frame: pd.DataFrame, path: Path, orientation: str) -> None:
    """Every row and column named, and the first column names rather than numbers: pandas reads
    an empty name, or one such as NA, as missing, an empty header name as "Unnamed: N", and a
    table without a names column takes its first column of values for names."""
    rows, header = ("cell", "gene") if orientation == "cells-by-genes" else ("gene", "cell")
    missing = np.flatnonzero(pd.isna(frame.index))
    if missing.size:
        raise GenekbError(
            f"{path}: {missing.size} name(s) in the first column are empty or read as missing"
            f" (NA, NULL, nan…; first in data row {int(missing[0]) + 1}); name every row"
        )
    unnamed = [i for i, c in enumerate(frame.columns) if str(c).startswith("Unnamed: ")]
    if unnamed:
        raise GenekbError(
            f"{path}: {len(unnamed)} {header} name(s) in the header are empty (first at column"
            f" {unnamed[0] + 2}); name every column"
        )
    if pd.api.types.is_float_dtype(frame.index):
        shown = ", ".join(f"{v:g}" for v in frame.index[:3])
        raise GenekbError(
            f"{path}: the first column holds numbers ({shown}, …), not {rows} names; the table"
            f" needs a column of {rows} names first (and a header naming every column)"
        )


def _check_table_shape(frame: pd.DataFrame, path: Path, sep: str) -> None:
    """A table with no column besides the names (another separator) or no row (a header only)."""
    if frame.shape[1] == 0:
        raise GenekbError(
            f"{path} has no column besides the names when split at {sep!r}; if its columns are"
            " separated by another character, pass it with sep="
        )
    if frame.shape[0] == 0:
        raise GenekbError(
            f"{path} holds a header but no rows; the table needs one row per cell (or gene)"
        )


def _check_table_names(frame: pd.DataFrame, path: Path, sep: str, orientation: str) -> None:
    """Each cell and each gene named once: outputs are keyed by cell, and pandas renames a
    repeated header name `G` to `G.1`, a gene that does not exist."""
    rows, header = ("cell", "gene") if orientation == "cells-by-genes" else ("gene", "cell")
    refuse_repeated(frame.index, path, f"{rows} names (first column)")
    refuse_repeated(_header_as_written(frame, path, sep), path, f"{header} names (header)")


def _header_as_written(frame: pd.DataFrame, path: Path, sep: str) -> list[str]:
    """The header's names as the file writes them: pandas renames a repeated `G` to `G.1`, so
    where such a pair appears the header line is read again (on stdin, which cannot be, `G.1`
    counts as `G`)."""
    header = [str(c) for c in frame.columns]
    renamed = {
        c: base for c in header if (base := c.rpartition(".")[0]) in header and c[-1].isdigit()
    }
    if not renamed:
        return header
    if str(path) == "-":
        return [renamed.get(c, c) for c in header]
    first = pd.read_csv(
        path, sep=sep, header=None, nrows=1, dtype=str, skipinitialspace=True,
        compression=_compression(path),
    )  # fmt: skip
    first = first.iloc[0]
    return [str(n) for n in first.to_numpy()[-len(header) :]]  # the last: no corner cell


def _not_a_number(column: pd.Series) -> str:
    """What makes a column that pandas did not read as numbers so, with its first such value."""
    parsed = pd.to_numeric(column, errors="coerce")
    bad = column[parsed.isna() & column.notna()]
    if bad.empty:  # every value parses: integers beyond 64 bits keep a column as objects
        row = parsed.abs().idxmax()
        return f"holds an integer too large to be a count (row {row!r}: {column[row]})"
    row, value = bad.index[0], str(bad.iloc[0])
    hint = " (a decimal comma? write 1.5, not 1,5)" if re.fullmatch(r"-?\d+,\d+", value) else ""
    return f"holds {value!r} (row {row!r}), not a number{hint}"
