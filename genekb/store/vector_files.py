"""Reading gene-vector files made elsewhere: dict pickles (GenePT's files), CSV/TSV/Parquet with a
gene column, NumPy `.npz` with names and a matrix.

A pickle can run code when loaded, so it is read by an unpickler that admits only plain containers,
numbers, strings and NumPy arrays; anything else is refused before it is built.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genekb.errors import GenekbError, UsageError
from genekb.fileio import input_kind, read_input_bytes, sha256_file
from genekb.store.vector_limits import (
    check_dim,
    check_flat,
    check_npz,
)
from genekb.store.vector_tables import (
    drop_row_numbers,
    one_column_note,
    read_frame,
    refuse_headerless,
    suffix_note,
)

FORMATS = ("pickle", "csv", "tsv", "parquet", "npz")
SUFFIXES = {
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".npz": "npz",
}
GENE_COLUMNS = ("gene", "symbol", "gene_name", "gene_symbol", "gene_id", "ensembl_id", "name")
NPZ_NAMES = ("genes", "gene_names", "names", "symbols", "gene", "index")
NPZ_VECTORS = ("vectors", "embeddings", "embedding", "matrix", "X", "emb")


@functools.lru_cache(maxsize=1)
def _numpy_globals() -> dict[tuple[str, str], Any]:
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # NumPy 1.x
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], Any] = {("numpy", "dtype"): np.dtype}
    for module in ("numpy.core", "numpy._core"):
        allowed[(f"{module}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{module}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{module}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


_PLAIN = (dict, list, tuple, set, frozenset, float, int, complex, str, bytes, bytearray, bool)
# Pickles may ask these to allocate: `bytes(n)`, `ndarray(shape)`, `_reconstruct(cls, shape, …)`.
_SIZED = {"bytes", "bytearray", "ndarray", "_reconstruct", "scalar"}
BUDGET_SLACK = 64 << 20  # bytes any pickle may allocate beyond a multiple of its own size


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """What protocol-2 pickles call (`_codecs.encode`) to carry bytes; latin-1 only."""
    if encoding.replace("-", "").lower() != "latin1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refused global _codecs.encode({encoding!r})")
    return text.encode("latin1")


_SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): _latin1_bytes,
    **{("builtins", t.__name__): t for t in _PLAIN},
    **{("__builtin__", t.__name__): t for t in _PLAIN},  # protocol-2 pickles from Python 2
}


class SafeUnpickler(pickle.Unpickler):
    """Builds only plain containers, numbers, strings and NumPy arrays; refuses any other global.

    Every constructor that takes a size (`bytes(n)`, an array's shape) draws on one budget, a
    multiple of the pickle's own size: the data of a real array comes from the file, so a request
    far beyond it is an attack on memory, refused before the allocation.
    """

    def __init__(self, file: Any, *, size: int) -> None:
        super().__init__(file)
        self.budget = 4 * size + BUDGET_SLACK

    def _spend(self, n_bytes: int, what: str) -> None:
        self.budget -= n_bytes
        if n_bytes < 0 or self.budget < 0:
            raise pickle.UnpicklingError(f"oversized: {what} asks for {n_bytes:,} bytes")

    def _array_bytes(self, shape: Any, dtype: Any) -> int:
        dims = shape if isinstance(shape, (tuple, list)) else (shape,)
        if not all(isinstance(d, int) and d >= 0 for d in dims):
            raise pickle.UnpicklingError("oversized: an array shape that is not sizes")
        return int(np.prod(dims, dtype=object)) * np.dtype(dtype).itemsize

    def find_class(self, module: str, name: str) -> Any:
        found = _SAFE_GLOBALS.get((module, name)) or _numpy_globals().get((module, name))
        if module == "numpy" and name == "ndarray":
            found = self._ndarray
        if found is None:
            raise pickle.UnpicklingError(f"refused global {module}.{name}")
        return self._sized(found, name) if name in _SIZED else found

    def _ndarray(self, shape: Any = (0,), dtype: Any = float, *args: Any) -> np.ndarray:
        """`numpy.ndarray` as a pickle sees it: the class `_reconstruct` is handed, and, called
        directly, a constructor on the budget."""
        if args:
            raise pickle.UnpicklingError("refused global numpy.ndarray with a buffer")
        self._spend(self._array_bytes(shape, dtype), "an array")
        return np.ndarray(shape, dtype)

    def _sized(self, build: Any, name: str) -> Any:
        def guarded(*args: Any) -> Any:
            if name in ("bytes", "bytearray") and args and isinstance(args[0], int):
                self._spend(args[0], name)
            elif name == "_reconstruct":
                if len(args) != 3 or args[0] != self._ndarray:
                    raise pickle.UnpicklingError("refused global _reconstruct of a non-array")
                self._spend(self._array_bytes(args[1], args[2]), "an array")
                return build(np.ndarray, args[1], args[2])
            elif name == "scalar" and args:
                self._spend(np.dtype(args[0]).itemsize, "a scalar")
            return build(*args)

        return guarded if name != "ndarray" else build


def safe_load_pickle(path: Path | io.BytesIO, size: int | None = None) -> Any:
    """Unpickle a file (or bytes in memory) with `SafeUnpickler`; GenekbError when refused."""
    where = path if isinstance(path, Path) else "the pickle"
    try:
        if isinstance(path, Path):
            with path.open("rb") as fh:
                stream = io.BufferedReader(fh)
                return SafeUnpickler(stream, size=path.stat().st_size).load()
        return SafeUnpickler(path, size=size or len(path.getbuffer())).load()
    except pickle.UnpicklingError as exc:
        message = str(exc)
        if message.startswith("refused global"):
            raise GenekbError(
                f"{where}: the pickle asks to build {message[len('refused global ') :]}, which a "
                "gene-vector file has no need of; refused, since a pickle can run code. Convert it "
                "to .npz or .parquet where it was made"
            ) from None
        if message.startswith("oversized: "):
            raise GenekbError(
                f"{where}: {message[len('oversized: ') :]}, far more than the file could fill; "
                "refused before allocating it"
            ) from None
        raise GenekbError(f"{where} is not a readable pickle ({exc})") from None
    except MemoryError:
        raise GenekbError(f"{where}: the pickle asks for more memory than there is") from None
    except (
        EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, RecursionError,
    ) as exc:  # fmt: skip
        raise GenekbError(f"{where} is not a readable pickle ({exc.__class__.__name__})") from None


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
    return [str(n).strip() for n in names], matrix


def _read_pickle(source: Any, where: Any) -> tuple[list[str], np.ndarray]:
    data = safe_load_pickle(source)
    if not isinstance(data, dict):
        raise GenekbError(
            f"{where}: expected a dict of gene name -> vector, found {type(data).__name__}"
        )
    return _stack(list(data.keys()), list(data.values()), where)


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
        lowered = {c.lower(): c for c in columns}
        named = [lowered[c] for c in GENE_COLUMNS if c in lowered]
        text_cols = [c for c in columns if _is_text(frame[c])]
        if named:
            gene = named[0]
        elif text_cols:
            gene = text_cols[0]
        else:
            raise GenekbError(
                f"{where}: no gene column; pass --gene-column (columns {columns[:10]})"
            )
    rest = [c for c in columns if c != gene]
    if not rest:
        raise GenekbError(f"{where}: no vector columns beside {gene[:40]!r}{one_column_note(gene)}")
    lists = [c for c in rest if _is_list(frame[c])]
    if lists:
        return _stack(frame[gene].tolist(), frame[lists[0]].tolist(), where)
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
            f"{where}: holds object arrays, which need pickle to load; refused ({exc})"
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
    return _stack([str(n) for n in names], list(vectors), where)


def detect_format(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
        return fmt
    found = SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise UsageError(
            f"cannot tell the format of {path.name} from its suffix; "
            + suffix_note(path.suffix, f"pass --format ({', '.join(FORMATS)})")
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
    else:
        if not fmt:
            raise UsageError(f"{path} is a stream; pass --format ({', '.join(FORMATS)})")
        fmt = detect_format(path, fmt)
        data = read_input_bytes(path, "vector file")
        source, sha, size = io.BytesIO(data), hashlib.sha256(data).hexdigest(), len(data)
    if fmt == "pickle":
        names, matrix = _read_pickle(source, path)
    elif fmt == "npz":
        names, matrix = _read_npz(source, path, size)
    else:
        names, matrix = _read_table(source, fmt, gene_column, path)
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        raise GenekbError(
            f"{path}: {int(bad.sum())} vectors hold NaN or infinite values (or beyond float32),"
            f" e.g. {', '.join(n for n, b in zip(names, bad, strict=True) if b)[:80]}"
        )
    _refuse_empty(names, matrix, path)
    return VectorFile(names, matrix, fmt, sha, size)


def _refuse_empty(names: list[str], matrix: np.ndarray, path: Path) -> None:
    """A file of vectors that are all zeros has no direction to compare (some zero rows are left
    out at import, `foreign.map_genes`), and a gene without a name matches no gene."""
    if matrix.size and not matrix.any():
        raise GenekbError(
            f"{path}: every vector is all zeros in float32 (no direction to compare); check the"
            " file and its --format"
        )
    unnamed = sum(1 for n in names if not str(n).strip())
    if unnamed:
        raise GenekbError(f"{path}: {unnamed} genes have an empty name; name or drop them first")


def read_vectors(
    path: Path, fmt: str | None = None, gene_column: str | None = None
) -> tuple[list[str], np.ndarray, str]:
    """(gene names, float32 matrix, format) from a foreign file; GenekbError if it is unusable."""
    found = load_vectors(path, fmt, gene_column)
    return found.names, found.matrix, found.fmt
