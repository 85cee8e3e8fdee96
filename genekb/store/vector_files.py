"""Reading gene-vector files made elsewhere: dict pickles (GenePT's files), CSV/TSV/Parquet with a
gene column, NumPy `.npz` with names and a matrix.

A pickle can run code when loaded, so it is read by an unpickler that admits only plain containers,
numbers, strings and NumPy arrays; anything else is refused before it is built.
"""

from __future__ import annotations

import collections
import functools
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genekb.errors import GenekbError, UsageError

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
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    for module in ("numpy.core", "numpy._core"):
        allowed[(f"{module}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{module}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{module}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


_PLAIN = (dict, list, tuple, set, frozenset, float, int, complex, str, bytes, bytearray, bool)


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
    """Builds only plain containers, numbers, strings and NumPy arrays; refuses any other global."""

    def find_class(self, module: str, name: str) -> Any:
        found = _SAFE_GLOBALS.get((module, name)) or _numpy_globals().get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"refused global {module}.{name}")
        return found


def safe_load_pickle(path: Path) -> Any:
    try:
        with path.open("rb") as fh:
            return SafeUnpickler(io.BufferedReader(fh)).load()
    except pickle.UnpicklingError as exc:
        if str(exc).startswith("refused global"):
            raise GenekbError(
                f"{path}: the pickle asks to build {str(exc)[len('refused global ') :]}, which a "
                "gene-vector file has no need of; refused, since a pickle can run code. Convert it "
                "to .npz or .parquet where it was made"
            ) from None
        raise GenekbError(f"{path} is not a readable pickle ({exc})") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise GenekbError(f"{path} is not a readable pickle ({exc.__class__.__name__})") from None


def _stack(names: list[Any], rows: list[Any], path: Path) -> tuple[list[str], np.ndarray]:
    if not names:
        raise GenekbError(f"{path} holds no gene vectors")
    try:
        arrays = [np.asarray(r, dtype=np.float32).ravel() for r in rows]
    except (TypeError, ValueError):
        raise GenekbError(f"{path}: a vector is not a list of numbers") from None
    dims = {a.shape[0] for a in arrays}
    if len(dims) != 1:
        raise GenekbError(f"{path}: vectors of different lengths {sorted(dims)[:5]}")
    matrix = np.stack(arrays)
    return [str(n).strip() for n in names], matrix


def _read_pickle(path: Path) -> tuple[list[str], np.ndarray]:
    data = safe_load_pickle(path)
    if not isinstance(data, dict):
        raise GenekbError(
            f"{path}: expected a dict of gene name -> vector, found {type(data).__name__}"
        )
    return _stack(list(data.keys()), list(data.values()), path)


def _read_table(path: Path, fmt: str, gene_column: str | None) -> tuple[list[str], np.ndarray]:
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",")
    except Exception as exc:  # pandas/pyarrow raise many types for a foreign file
        raise GenekbError(
            f"{path} is not a readable {fmt} table ({exc.__class__.__name__})"
        ) from None
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if gene_column is not None:
        if gene_column not in columns:
            raise UsageError(f"{path}: no column {gene_column!r}; columns: {columns[:10]}")
        gene = gene_column
    else:
        lowered = {c.lower(): c for c in columns}
        named = [lowered[c] for c in GENE_COLUMNS if c in lowered]
        text_cols = [c for c in columns if frame[c].dtype == object and not _is_list(frame[c])]
        if named:
            gene = named[0]
        elif text_cols:
            gene = text_cols[0]
        else:
            raise GenekbError(
                f"{path}: no gene column; pass --gene-column (columns {columns[:10]})"
            )
    rest = [c for c in columns if c != gene]
    lists = [c for c in rest if _is_list(frame[c])]
    if lists:
        return _stack(frame[gene].tolist(), frame[lists[0]].tolist(), path)
    numeric = frame[rest].apply(pd.to_numeric, errors="coerce")
    bad = [c for c in rest if numeric[c].isna().all()]
    if bad:
        raise GenekbError(f"{path}: column(s) {bad[:5]} are not numbers; keep one gene column")
    if not rest:
        raise GenekbError(f"{path}: no vector columns beside the gene column {gene!r}")
    return _stack(frame[gene].tolist(), list(numeric.to_numpy(np.float32)), path)


def _is_list(column: pd.Series) -> bool:
    first = column.dropna().head(1).tolist()
    return bool(first) and isinstance(first[0], (list, np.ndarray))


def _read_npz(path: Path) -> tuple[list[str], np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except ValueError as exc:
        raise GenekbError(
            f"{path}: holds object arrays, which need pickle to load; refused ({exc})"
        ) from None
    except (OSError, EOFError) as exc:
        raise GenekbError(
            f"{path} is not a readable .npz file ({exc.__class__.__name__})"
        ) from None
    names = next((arrays[k] for k in NPZ_NAMES if k in arrays), None)
    vectors = next((arrays[k] for k in NPZ_VECTORS if k in arrays), None)
    if names is None:
        names = next((a for a in arrays.values() if a.ndim == 1 and a.dtype.kind in "US"), None)
    if vectors is None:
        vectors = next((a for a in arrays.values() if a.ndim == 2 and a.dtype.kind in "fiu"), None)
    if names is None or vectors is None:
        raise GenekbError(
            f"{path}: needs a 1-d array of gene names ({', '.join(NPZ_NAMES)}) and a 2-d matrix "
            f"({', '.join(NPZ_VECTORS)}); found {sorted(arrays)}"
        )
    if vectors.ndim != 2 or len(names) != len(vectors):
        raise GenekbError(f"{path}: {len(names)} names for a matrix of shape {vectors.shape}")
    return _stack([str(n) for n in names], list(vectors), path)


def detect_format(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
        return fmt
    found = SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise UsageError(
            f"cannot tell the format of {path.name} from its suffix; pass --format "
            f"({', '.join(FORMATS)})"
        )
    return found


def read_vectors(
    path: Path, fmt: str | None = None, gene_column: str | None = None
) -> tuple[list[str], np.ndarray, str]:
    """(gene names, float32 matrix, format) from a foreign file; GenekbError if it is unusable."""
    if not path.is_file():
        raise GenekbError(f"{path}: no such file")
    fmt = detect_format(path, fmt)
    if fmt == "pickle":
        names, matrix = _read_pickle(path)
    elif fmt == "npz":
        names, matrix = _read_npz(path)
    else:
        names, matrix = _read_table(path, fmt, gene_column)
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        raise GenekbError(
            f"{path}: {int(bad.sum())} vectors hold NaN or infinite values, e.g. "
            f"{', '.join(n for n, b in zip(names, bad, strict=True) if b)[:80]}"
        )
    return names, matrix, fmt
