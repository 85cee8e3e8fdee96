"""A Cell Ranger matrix folder (`read_10x_mtx`): matrix.mtx (MatrixMarket), features.tsv (v3) or
genes.tsv (v2) and barcodes.tsv, each gzipped or not.

var_names are the feature ids (Ensembl, unique by construction); symbols go to
`var["gene_symbols"]`; only "Gene Expression" features are kept when the file lists feature types.
A matrix written cells × genes (R's `writeMM(t(counts))`) is read the other way, with a warning.
The values are read as real numbers whatever the header declares: scipy truncates a declared
integer field (2.7 → 2) and overflows beyond 64 bits, so a declared integer matrix is read as
real and then held to its word.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellmodel.formats import gene_expression_mask, reason
from cellmodel.orientation import TableOrientationWarning
from cellmodel.storage import as_float32, refuse_non_numeric
from genekb.errors import GenekbError, warn
from genekb.sniff import gzipped

INTEGER_MAX = 2.0**63  # a declared integer beyond this overflows scipy's reader


def read_10x_mtx(path: str | Path) -> ad.AnnData:
    """Read a Cell Ranger matrix folder, or its matrix file, as cells × genes sparse float32 (see
    the module); a file `<prefix>matrix.mtx(.gz)` is read with `<prefix>features.tsv` and
    `<prefix>barcodes.tsv` beside it, as GEO serves a sample's three files."""
    path = Path(path)
    folder, prefix = (path, "") if path.is_dir() else (path.parent, _prefix(path))
    found = {name: _find(folder, [prefix + n for n in names]) for name, names in FILES.items()}
    if not path.is_dir():
        found["matrix.mtx"] = path  # the file given, not a sibling of another compression
    missing = [prefix + name for name, file in found.items() if file is None]
    if missing:
        hint = _prefixed_hint(folder) if found["matrix.mtx"] is None else ""
        raise GenekbError(
            f"{folder} is not a 10x matrix folder: missing {', '.join(missing)}(.gz){hint}"
        )
    features = read_names(found["features.tsv"], "feature")
    barcodes = read_names(found["barcodes.tsv"], "barcode")[0]
    check_declared(found["matrix.mtx"], len(features), len(barcodes))
    genes_by_cells = read_mtx_matrix(found["matrix.mtx"])
    genes_by_cells = _oriented(genes_by_cells, len(features), len(barcodes), found["matrix.mtx"])
    if genes_by_cells.shape != (len(features), len(barcodes)):
        raise GenekbError(
            f"{folder}: matrix is {genes_by_cells.shape[0]} × {genes_by_cells.shape[1]} but"
            f" there are {len(features)} features and {len(barcodes)} barcodes"
        )
    var = pd.DataFrame(index=pd.Index(features[0].to_numpy(), name=None))
    var["gene_ids"] = features[0].to_numpy()
    var["gene_symbols"] = (
        features[1].to_numpy() if features.shape[1] > 1 else features[0].to_numpy()
    )
    if features.shape[1] > 2:
        var["feature_types"] = features[2].to_numpy()
    adata = ad.AnnData(
        X=genes_by_cells.T.tocsr(), obs=pd.DataFrame(index=barcodes.to_numpy()), var=var
    )
    if "feature_types" in adata.var:
        keep = gene_expression_mask(adata.var["feature_types"].to_numpy(), found["features.tsv"])
        adata = adata[:, keep].copy() if keep is not None else adata
    return adata


FILES = {
    "matrix.mtx": ("matrix.mtx",),
    "features.tsv": ("features.tsv", "genes.tsv"),
    "barcodes.tsv": ("barcodes.tsv",),
}


MATRIX_NAME = "matrix.mtx"


def _prefix(path: Path) -> str:
    """What comes before `matrix.mtx` in a matrix file's name; any other name is refused, as the
    features and barcodes that belong to it could not be found."""
    name = path.name[: -len(".gz")] if path.name.lower().endswith(".gz") else path.name
    if not name.lower().endswith(MATRIX_NAME):
        raise GenekbError(
            f"{path}: a 10x matrix file is named matrix.mtx, or <prefix>matrix.mtx beside"
            " <prefix>features.tsv and <prefix>barcodes.tsv; rename the three files so"
        )
    return name[: -len(MATRIX_NAME)]


def _prefixed_hint(folder: Path) -> str:
    """Point at the prefixed matrix files (GSM…_matrix.mtx.gz) a folder without matrix.mtx
    holds, if any."""
    files = sorted(
        p.name for p in folder.iterdir() if p.name.lower().removesuffix(".gz").endswith(MATRIX_NAME)
    )
    return f"; it holds {', '.join(files[:3])}: pass that file instead" if files else ""


def _find(folder: Path, names: Iterable[str]) -> Path | None:
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.exists():
                return candidate
    return None


def _open_binary(path: Path) -> Any:
    # Binary, not text: scipy wraps a text stream in a helper whose clean-up prints a traceback
    # ("Exception ignored in ...") once the file is closed after a parse error.
    return gzip.open(path, "rb") if gzipped(path) else path.open("rb")


def check_declared(path: Path, n_features: int, n_barcodes: int) -> None:
    """The size line of matrix.mtx must name the features and barcodes, either way round, before
    scipy allocates what it declares (a few bytes can declare a matrix no memory holds)."""
    declared = declared_shape(path)
    if declared is None:
        return  # no size line, or not numbers: scipy names the file as damaged
    rows, cols = declared
    if sorted((rows, cols)) != sorted((n_features, n_barcodes)):
        raise GenekbError(
            f"{path} declares a {rows:,} × {cols:,} matrix, but there are {n_features:,}"
            f" features and {n_barcodes:,} barcodes; refused before reading it"
        )


def mtx_cell_count(path: Path) -> int | None:
    """The cells of a Cell Ranger matrix folder (or its matrix file), from the barcodes and the
    matrix's size line, without the matrix; None where the two disagree or the files are not
    found (the read says why) or the folder is another tool's layout."""
    try:
        folder, prefix = (path, "") if path.is_dir() else (path.parent, _prefix(path))
        matrix = path if not path.is_dir() else _find(folder, FILES["matrix.mtx"])
        barcodes = _find(folder, [prefix + n for n in FILES["barcodes.tsv"]])
        if matrix is None or barcodes is None:
            return None
        declared, n_cells = declared_shape(matrix), len(read_names(barcodes, "barcode"))
    except GenekbError:
        return None
    return n_cells if declared is not None and n_cells in declared else None


def declared_shape(path: Path) -> tuple[int, int] | None:
    """The rows and columns the matrix file's size line declares (None: no such line)."""
    try:
        with _open_binary(path) as fh:
            for _ in range(10_000):  # the header, its comments, then the size line
                line = fh.readline(4096)
                if not line:
                    return None  # no size line
                if not line.startswith(b"%") and line.strip():
                    break
            else:
                return None
    except (OSError, EOFError) as exc:  # a .gz that is no gzip, a file cut short
        raise GenekbError(
            f"{path} cannot be read ({reason(exc)}); copy it again from the Cell Ranger output"
        ) from None
    try:
        rows, cols = (int(v) for v in line.split()[:2])
    except ValueError:
        return None
    return rows, cols


class _NewHeader(io.RawIOBase):
    """A stream that gives `header` in place of the first line of `rest`."""

    def __init__(self, header: bytes, rest: Any) -> None:
        self._header, self._rest = header, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._header[: len(buffer)] if self._header else self._rest.read(len(buffer))
        self._header = self._header[len(data) :] if self._header else b""
        buffer[: len(data)] = data
        return len(data)


def read_mtx_matrix(path: Path) -> sp.csr_matrix:
    """The stored matrix, its values held to the field its header declares."""
    from scipy.io import mmread

    try:
        with _open_binary(path) as fh:
            header = fh.readline()
            _refuse_symmetry(header, path)
            declared_integer = re.search(rb"(?i)\binteger\b", header) is not None
            real = re.sub(rb"(?i)\binteger\b", b"real", header, count=1)
            matrix = mmread(io.BufferedReader(_NewHeader(real, fh)))
    except (ValueError, OSError, EOFError, OverflowError) as exc:
        raise GenekbError(f"{path} is not a MatrixMarket file ({reason(exc)})") from None
    matrix = sp.csr_matrix(matrix) if not sp.issparse(matrix) else matrix.tocsr()
    refuse_non_numeric(matrix.dtype, str(path))
    if declared_integer:
        _hold_to_integers(matrix.data, path)
    values = as_float32(matrix.data, str(path))
    return sp.csr_matrix((values, matrix.indices, matrix.indptr), shape=matrix.shape)


def _refuse_symmetry(header: bytes, path: Path) -> None:
    """Genes × cells has no symmetry: scipy mirrors each entry of a 'symmetric', 'skew-symmetric'
    or 'hermitian' matrix across the diagonal, inventing counts for other cells (and, when the
    matrix is not square, for cells past the diagonal's end) without a word."""
    fields = header.decode("ascii", "replace").lower().split()
    if len(fields) == 5 and fields[0] == "%%matrixmarket" and fields[4] != "general":
        raise GenekbError(
            f"{path}: the header declares a {fields[4]} matrix, which would mirror each count"
            " across the diagonal; a 10x matrix is 'general': write it again from its source"
            " (or fix the first line if each entry is written once)"
        )


def _hold_to_integers(values: np.ndarray, path: Path) -> None:
    """A header that declares integers, and values that are not (scipy would truncate them)."""
    finite = values[np.isfinite(values)]
    fractional = finite[finite != np.round(finite)]
    if fractional.size:
        raise GenekbError(
            f"{path}: the header declares integer values but the matrix holds {fractional[0]:g};"
            " write counts as integers, or declare the field 'real' in the first line"
        )
    if finite.size and np.abs(finite).max() >= INTEGER_MAX:
        raise GenekbError(
            f"{path} holds an integer too large to be a count ({np.abs(finite).max():.3g});"
            " write it again from its source"
        )


def _oriented(matrix: sp.csr_matrix, n_features: int, n_barcodes: int, path: Path) -> Any:
    """Genes × cells; a matrix whose rows match the barcodes and columns the features is turned."""
    if matrix.shape == (n_barcodes, n_features) != (n_features, n_barcodes):
        warn(
            f"{path}: {n_barcodes} rows as there are barcodes, {n_features} columns as there are"
            " features: read with cells in rows",
            TableOrientationWarning,
        )
        return matrix.T.tocsr()
    if matrix.shape == (n_features, n_barcodes) and n_features == n_barcodes > 1:
        # Square, with as many features as barcodes: either way round fits, and a guess would
        # silently swap genes and cells.
        raise GenekbError(
            f"{path}: a square matrix ({n_features} × {n_barcodes}) with as many features as"
            " barcodes, so whether genes or cells are its rows cannot be told; write the data"
            " as .h5ad (cells × genes) instead"
        )
    return matrix


def read_names(path: Path, what: str) -> pd.DataFrame:
    """The tab-separated rows of a features/barcodes file as text (a gene named NA stays "NA"),
    refused in one line when empty or unreadable."""
    try:
        compression = "gzip" if gzipped(path) else None  # by its bytes, not its name
        rows = pd.read_csv(
            path, sep="\t", header=None, dtype=str, na_filter=False, compression=compression
        )
    except pd.errors.EmptyDataError:
        raise GenekbError(
            f"{path} is empty; a 10x folder needs one line per {what}: copy it again from the"
            " Cell Ranger output"
        ) from None
    except (ValueError, OSError, EOFError, pd.errors.ParserError) as exc:
        raise GenekbError(f"cannot read {path} ({reason(exc)}); copy it again") from None
    return rows
