"""Which way a count table runs, read from its names: cells in rows (scanpy's layout) or genes in
rows (how GEO and most R tools write count tables). `cellmodel.tables.read_table` asks here when
the caller does not say; a table it turns gets one warning that says why and how to override it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

from cellmodel.knowledge.genes import gene_share
from genekb.errors import GenekbWarning, warn

# A droplet barcode as Cell Ranger, STARsolo and alevin write it (ACGT…, 10–20 bases, "-1"), on
# its own or after a sample prefix ("pbmc1_", "S1:").
_BARCODE = re.compile(r"^(?:.*[_:.-])?[ACGTN]{10,20}(?:-\d+)?$")
BARCODE_MIN_SHARE = 0.9  # names are barcodes when this share of them are
# One side names genes when at least this share of its names resolve as genes of one species...
GENE_MIN_SHARE = 0.5
# ...and this much more than the other side's (96 plate wells, A1..H12, resolve at about half).
GENE_MARGIN = 0.25


class TableOrientationWarning(GenekbWarning):
    """A matrix was read the other way round from what its format assumes (a table with genes
    in rows, a 10x matrix with cells in rows), because its names say so."""


def barcode_share(names: Sequence[str]) -> float:
    """The share of `names` that look like droplet barcodes."""
    names = [str(n) for n in names]
    return sum(bool(_BARCODE.match(n)) for n in names) / len(names) if names else 0.0


def _genes_side(rows: Sequence[str], columns: Sequence[str]) -> str | None:
    """ "rows" or "columns" where one side clearly names genes (most of its names resolve as
    genes of one species, and a larger share than on the other side: short cell names such as
    plate wells, A1..H12, resolve too, as complement and coagulation factors); else None."""
    with warnings.catch_warnings():  # only the shares matter here, not the reader's notes
        warnings.simplefilter("ignore")
        shares = {"rows": gene_share(rows), "columns": gene_share(columns)}
    side = max(shares, key=shares.__getitem__)
    other = shares["columns" if side == "rows" else "rows"]
    if shares[side] >= GENE_MIN_SHARE and shares[side] - other >= GENE_MARGIN:
        return side
    return None


def genes_in_rows(rows: Sequence[str], columns: Sequence[str]) -> str | None:
    """Why the table's rows are genes (its first column names genes and its header does not, or
    its header names droplet barcodes and its first column does not); None when nothing says
    so, and the table is read with cells in rows."""
    side = _genes_side([str(n) for n in rows], [str(n) for n in columns])
    if side == "rows":
        return "its first column names genes and its header does not"
    if side is None:
        columns_barcodes = barcode_share(columns) >= BARCODE_MIN_SHARE
        if columns_barcodes and barcode_share(rows) < BARCODE_MIN_SHARE:
            return "its header names cell barcodes and its first column does not"
    return None


def warn_turned(path: object, why: str, n_cells: int, n_genes: int) -> None:
    """The one warning for a table read with genes in rows."""
    warn(
        f"{path}: read with genes in rows ({why}): {n_cells} cells × {n_genes} genes; pass"
        " orientation=cells-by-genes if its rows are cells",
        TableOrientationWarning,
    )
