"""Reading gene-vector files made elsewhere: dict pickles (GenePT's files), CSV/TSV/Parquet with a
gene column, NumPy `.npz` with names and a matrix, JSON objects of gene -> vector; every vector
checked before anything is written. Pickles are read by `genekb.store.safe_pickle`, which runs
none of their code.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genekb.errors import GenekbError, GenekbWarning, UsageError, warn
from genekb.fileio import sha256_file
from genekb.genemap import GENE_COLUMNS, column_key, is_missing, named_column
from genekb.input_streams import input_kind, read_input_bytes
from genekb.store.safe_pickle import safe_load_pickle
from genekb.store.vector_limits import (
    check_dim,
    check_flat,
    check_npz,
)
from genekb.store.vector_notes import (
    TORCH_LEGACY_MAGIC,
    refuse_zip,
    suffix_note,
    torch_note,
    vocab_to_npz,
)
from genekb.store.vector_tables import (
    drop_row_numbers,
    one_column_note,
    read_frame,
    refuse_headerless,
    written_lists,
)

FORMATS = ("pickle", "csv", "tsv", "parquet", "npz", "json")
SUFFIXES = {
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".npz": "npz",
    ".json": "json",
}
NPZ_NAMES = ("genes", "gene_names", "names", "symbols", "gene", "index")
NPZ_VECTORS = ("vectors", "embeddings", "embedding", "matrix", "X", "emb")


REAL_KINDS = "fiu"  # floating point and integers; complex, bool, strings and objects are refused
_KIND_WORDS = {"c": "complex numbers", "b": "true/false values", "O": "objects", "U": "text"}


def _as_vector(row: Any, name: Any, where: Any) -> np.ndarray:
    check_flat(row, name, where)
    try:
        array = np.asarray(row)
    except (TypeError, ValueError, RecursionError):
        raise GenekbError(f"{where}: the vector of {name!r} is not a list of numbers") from None
    if array.dtype.kind not in REAL_KINDS:
        found = _KIND_WORDS.get(array.dtype.kind, f"values of type {array.dtype}")
        raise GenekbError(
            f"{where}: the vector of {name!r} holds {found}; give real numbers (floats)"
        )
    if array.ndim != 1:
        shape = "a single number" if array.ndim == 0 else f"an array of shape {array.shape}"
        raise GenekbError(f"{where}: the vector of {name!r} is {shape}, not a 1-d vector")
    return array


def _stack(names: list[Any], rows: list[Any], where: Any) -> tuple[list[str], np.ndarray]:
    """Names and a float32 matrix, after checking every row is a real 1-d vector of one length
    (at least 1), before anything is written."""
    if not names:
        raise GenekbError(f"{where} holds no gene vectors")
    arrays = [_as_vector(r, n, where) for n, r in zip(names, rows, strict=True)]
    dims = sorted({a.shape[0] for a in arrays})
    if len(dims) != 1:
        raise GenekbError(f"{where}: vectors of different lengths {dims[:5]}; give one length")
    if dims[0] < 1:
        raise GenekbError(f"{where}: the vectors have no dimensions (length 0)")
    check_dim(dims[0], where)
    with np.errstate(over="ignore"):
        matrix = np.stack(arrays).astype(np.float32)
    return [_name(n, where).strip() for n in names], matrix


def _name(name: Any, where: Any) -> str:
    """A gene name as text: bytes (a Python 2 pickle's keys, an .npz or HDF5 array of dtype S)
    decoded, where str() made "b'TP53'", a name no gene has."""
    if isinstance(name, bytes | np.bytes_):
        try:
            return bytes(name).decode("utf-8")
        except UnicodeDecodeError:
            raise GenekbError(f"{where}: the gene name {name!r} is not UTF-8 text") from None
    return str(name)


def _raw(source: Path | io.BytesIO) -> bytes:
    return source.read_bytes() if isinstance(source, Path) else source.getvalue()


def _read_pickle(source: Any, where: Any) -> tuple[list[str], np.ndarray]:
    refuse_zip(source, where)
    data = safe_load_pickle(source)
    # torch.save(..., _use_new_zipfile_serialization=False); an int alone, since `==` on an
    # unpickled array or frame is no bool
    if type(data) is int and data == TORCH_LEGACY_MAGIC:
        raise GenekbError(f"{where}: {torch_note(Path(where).name)}")
    if not isinstance(data, dict):
        raise GenekbError(
            f"{where}: expected a dict of gene name -> vector, found {type(data).__name__}"
        )
    return _stack(list(data.keys()), list(data.values()), where)


def _read_json(source: Any, where: Any) -> tuple[list[str], np.ndarray]:
    """A JSON object of gene name -> list of numbers (JSON runs no code, unlike a pickle)."""
    try:
        data = json.loads(_raw(source).decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise GenekbError(f"{where} is not readable JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise GenekbError(
            f"{where}: expected a JSON object of gene name -> vector, found a {type(data).__name__}"
        )
    values = list(data.values())
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        convert = vocab_to_npz("MATRIX.npy", Path(where).name)
        raise GenekbError(
            f"{where} maps gene names to row numbers: a vocabulary, whose vectors are the rows of"
            f" the matrix beside it; save both as .npz: {convert}"
        )
    return _stack(list(data), values, where)


def _numbers(frame: pd.DataFrame, columns: list[str], gene: str, where: Any) -> np.ndarray:
    """The vector columns as numbers; an empty cell or a word is named, not read as NaN."""
    try:  # all at once when every cell is a number; column by column to name a bad cell
        block = frame[columns].to_numpy()
        if block.dtype.kind in REAL_KINDS or not any(
            isinstance(x, str) and not x.strip() for x in block.ravel()
        ):
            return block.astype(np.float64)
    except (TypeError, ValueError):
        pass
    out = []
    for c in columns:
        col = frame[c]
        if col.dtype.kind in REAL_KINDS:
            out.append(col.to_numpy(np.float64))
            continue
        if col.dtype.kind != "O":
            found = _KIND_WORDS.get(col.dtype.kind, str(col.dtype))
            raise GenekbError(f"{where}: column {c!r} holds {found}; give real numbers")
        text = col.astype(str).str.strip()
        values = pd.to_numeric(text, errors="coerce")
        bad = values.isna() & ~text.str.lower().isin(("nan", "-nan", "+nan"))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            cell = "an empty cell" if text.iloc[i] in ("", "None") else repr(text.iloc[i])
            raise GenekbError(
                f"{where}: column {c!r} of gene {frame[gene].iloc[i]!r} holds {cell}, not a"
                " real number"
            )
        out.append(values.to_numpy(np.float64))
    return np.column_stack(out)


def _read_table(
    source: Any, fmt: str, gene_column: str | None, where: Any
) -> tuple[list[str], np.ndarray]:
    frame = read_frame(source, fmt, where)
    if frame.empty and len(frame.columns):  # every column reads as words when no row is there
        raise GenekbError(f"{where} holds a header but no rows; give one row per gene")
    frame.columns = [str(c) for c in frame.columns]
    refuse_headerless(list(frame.columns), where)
    frame = drop_row_numbers(frame)
    columns = list(frame.columns)
    if gene_column is not None:
        if gene_column not in columns:
            raise UsageError(f"{where}: no column {gene_column!r}; columns: {columns[:10]}")
        gene = gene_column
    else:
        named = named_column(columns, GENE_COLUMNS, "gene", where)  # "gene" and "Gene": refused
        text_cols = [c for c in columns if _is_text(frame[c])]
        if named is not None:
            gene = named
        elif text_cols:
            gene = text_cols[0]
        else:
            raise GenekbError(
                f"{where}: no gene column; pass --gene-column (columns {columns[:10]})"
            )
    rest = [c for c in columns if c != gene]
    if not rest:
        raise GenekbError(f"{where}: no vector columns beside {gene[:40]!r}{one_column_note(gene)}")
    ids = [c for c in rest if column_key(c) in GENE_COLUMNS]
    if ids:  # an entrez_id column of numbers was read as a dimension, one that swamps cosine
        raise GenekbError(
            f"{where}: column(s) {ids[:5]} name genes too, beside the gene column {gene!r}, and"
            " would be read as dimensions of the vectors; drop them"
        )
    lists = [c for c in rest if _is_list(frame[c])]
    if lists:
        return _stack(frame[gene].tolist(), frame[lists[0]].tolist(), where)
    for column in rest:  # a column of lists saved by to_csv: "[0.1, 0.2, …]" in each cell
        written = written_lists(frame[column], where)
        if written is not None:
            return _stack(frame[gene].tolist(), written, where)
    words = [c for c in rest if _is_text(frame[c])]
    if words:
        raise GenekbError(f"{where}: column(s) {words[:5]} are not numbers; keep one gene column")
    return _stack(frame[gene].tolist(), list(_numbers(frame, rest, gene, where)), where)


def _is_text(column: pd.Series) -> bool:
    """A column of words (no value reads as a number), e.g. gene names."""
    if column.dtype.kind != "O" or _is_list(column):
        return False
    return bool(pd.to_numeric(column.astype(str), errors="coerce").isna().all())


def _is_list(column: pd.Series) -> bool:
    first = column.dropna().head(1).tolist()
    return bool(first) and isinstance(first[0], (list, np.ndarray))


def _read_npz(source: Any, where: Any, size: int) -> tuple[list[str], np.ndarray]:
    check_npz(source, size, where)
    try:
        with np.load(source, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except ValueError as exc:
        raise GenekbError(
            f"{where}: holds object arrays, which need pickle to load; refused ({exc}); save"
            " names as text and vectors as numbers:"
            " np.savez(PATH, genes=np.asarray(names, dtype=str), vectors=matrix)"
        ) from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise GenekbError(
            f"{where} is not a readable .npz file ({exc.__class__.__name__})"
        ) from None
    names = next((arrays[k] for k in NPZ_NAMES if k in arrays), None)
    vectors = next((arrays[k] for k in NPZ_VECTORS if k in arrays), None)
    if names is None:
        names = next((a for a in arrays.values() if a.ndim == 1 and a.dtype.kind in "US"), None)
    if vectors is None:
        vectors = next((a for a in arrays.values() if a.ndim == 2), None)
    if names is None or vectors is None:
        raise GenekbError(
            f"{where}: needs a 1-d array of gene names ({', '.join(NPZ_NAMES)}) and a 2-d matrix "
            f"({', '.join(NPZ_VECTORS)}); found {sorted(arrays)}"
        )
    if vectors.ndim != 2 or names.ndim != 1 or len(names) != len(vectors):
        raise GenekbError(f"{where}: {len(names)} names for a matrix of shape {vectors.shape}")
    return _stack(list(names), list(vectors), where)


def detect_format(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
        return fmt
    found = SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise UsageError(
            f"cannot tell the format of {path.name} from its suffix; "
            + suffix_note(path, f"pass --format ({', '.join(FORMATS)})")
        )
    return found


@dataclass(frozen=True)
class VectorFile:
    """A foreign vector file as read: names, a float32 matrix, its format, sha256 and size."""

    names: list[str]
    matrix: np.ndarray
    fmt: str
    sha256: str
    n_bytes: int


def load_vectors(path: Path, fmt: str | None = None, gene_column: str | None = None) -> VectorFile:
    """Read and check a foreign vector file (a file, a pipe or `-` for stdin): every vector real,
    1-d, of one length ≥ 1 and finite in float32; GenekbError naming the first problem."""
    kind = input_kind(path, "vector file")
    if kind == "file":
        fmt = detect_format(path, fmt)
        source: Any = path
        sha, size = sha256_file(path), path.stat().st_size
        if size == 0:  # else "not a readable csv table (EmptyDataError)", and no way forward
            raise GenekbError(f"{path} is empty; give a file of gene vectors")
    else:
        if not fmt:
            raise UsageError(f"{path} is a stream; pass --format ({', '.join(FORMATS)})")
        fmt = detect_format(path, fmt)
        data = read_input_bytes(path, "vector file")
        source, sha, size = io.BytesIO(data), hashlib.sha256(data).hexdigest(), len(data)
    if fmt == "pickle":
        names, matrix = _read_pickle(source, path)
    elif fmt == "json":
        names, matrix = _read_json(source, path)
    elif fmt == "npz":
        names, matrix = _read_npz(source, path, size)
    else:
        names, matrix = _read_table(source, fmt, gene_column, path)
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        raise GenekbError(
            f"{path}: {int(bad.sum())} vectors hold NaN or infinite values (or beyond float32),"
            f" e.g. {', '.join(n for n, b in zip(names, bad, strict=True) if b)[:80]}; drop"
            " those genes, or give them vectors of zeros, which the import leaves out"
        )
    _refuse_empty(names, matrix, path)
    _refuse_conflicts(names, matrix, path)
    return VectorFile(names, matrix, fmt, sha, size)


def _refuse_empty(names: list[str], matrix: np.ndarray, path: Path) -> None:
    """A file of vectors that are all zeros has no direction to compare (some zero rows are left
    out at import, `foreign.map_genes`), and a gene without a name matches no gene."""
    if matrix.size and not matrix.any():
        raise GenekbError(
            f"{path}: every vector is all zeros in float32 (no direction to compare); check the"
            " file and its --format"
        )
    unnamed = sum(1 for n in names if is_missing(n))
    if unnamed:
        raise GenekbError(
            f"{path}: {unnamed} genes have an empty name (or NA, NaN); name or drop them first"
        )


def _refuse_conflicts(names: list[str], matrix: np.ndarray, path: Path) -> None:
    """A name given twice with two different vectors: which is the gene's is unknown, and the
    import kept the first without a word (the same vector twice is only a repeat)."""
    frame = pd.DataFrame({"name": names, "row": np.arange(len(names))})
    repeated = frame[frame["name"].duplicated(keep=False)]
    if repeated.empty:
        return
    first = repeated.groupby("name", sort=False)["row"].transform("first").to_numpy()
    differ = (matrix[repeated["row"].to_numpy()] != matrix[first]).any(axis=1)
    clashing = list(dict.fromkeys(repeated.loc[differ, "name"]))
    if clashing:
        raise GenekbError(
            f"{path}: {len(clashing):,} gene name(s) are given more than once with different"
            f" vectors, e.g. {', '.join(clashing[:5])}; keep one row per gene"
        )


class OneDimensionalVectorsWarning(GenekbWarning):
    """Imported vectors of one dimension: cosine can only say +1 or -1."""


def check_informative(matrix: np.ndarray, path: Path) -> None:
    """The vectors a version will hold (nonzero rows), where they cannot tell genes apart by
    cosine: every one pointing one way (every similarity 1) is refused, since a version of them
    answers every query with ties; one dimension (every similarity +1 or -1) is warned of, as
    the signs still split the genes in two."""
    rows = matrix[matrix.any(axis=1)].astype(np.float64)
    if len(rows) >= 2:
        unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
        if float(np.ptp(unit, axis=0).max()) <= 1e-6:
            how = "the same vector" if (rows == rows[0]).all() else "one direction, scaled"
            raise GenekbError(
                f"{path}: all {len(rows):,} matched nonzero vectors are {how}, so every gene is"
                " equally similar to every other and they carry no information; check the file"
                " and its --format"
            )
    if matrix.shape[1] < 2:
        warn(
            f"{path}: the vectors have 1 dimension, so any two genes' cosine similarity is +1"
            " or -1 and ranks no neighbours; importing anyway, but give vectors of at least 2"
            " dimensions for a useful version",
            OneDimensionalVectorsWarning,
        )


def read_vectors(
    path: Path, fmt: str | None = None, gene_column: str | None = None
) -> tuple[list[str], np.ndarray, str]:
    """(gene names, float32 matrix, format) from a foreign file; GenekbError if it is unusable."""
    found = load_vectors(path, fmt, gene_column)
    return found.names, found.matrix, found.fmt
