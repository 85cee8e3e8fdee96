"""An .h5ad matrix read in row chunks through h5py (the output is written by `chunked.h5_out`).

Only the rows of one chunk are ever in memory: a CSR matrix is read as its `indptr` plus the
`data` / `indices` slice of those rows, a dense one as a row slice. CSC matrices cannot be read by
rows without reading all of them, so they are refused with the way out.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellmodel.formats import reason, refuse_foreign_layout, unreadable
from cellmodel.storage import check_sparse_structure, refuse_non_numeric, repeats_entries
from genekb.errors import GenekbError


def h5py_module() -> Any:
    try:
        import h5py
    except ImportError:  # pragma: no cover - anndata depends on h5py
        raise GenekbError("chunked reading needs h5py: install genekb-cellmodel[dask]") from None
    return h5py


@dataclass(frozen=True)
class MatrixRef:
    """Where the matrix lives inside the file: its element path and its var frame's path, and
    the file's stamp when it was picked (None: not checked)."""

    path: str
    matrix: str  # "X", "raw/X" or "layers/<name>"
    var: str  # "var" or "raw/var"
    source: str  # label as cellmodel.io names it: "X", "raw", "layers/<name>"
    stamp: tuple[int, int] | None = None
    # The gene expression columns of a multiome or CITE-seq file (None: all), as in memory
    # (`matrix_checks.gene_expression_columns`), and the line that names the rest.
    keep: tuple[int, ...] | None = None
    left_out: str = ""


def stamp_of(path: str | Path) -> tuple[int, int]:
    """The file's size and modification time (ns): what changes when another process writes it."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def check_unchanged(ref: MatrixRef) -> None:
    """GenekbError unless the file is as it was picked. A pass reads the file many times; one
    rewritten or cut short in between would mix two files' cells, or fail in HDF5's words."""
    if ref.stamp is None:
        return
    try:
        now = stamp_of(ref.path)
    except OSError:
        now = None
    if now != ref.stamp:
        raise GenekbError(
            f"{ref.path} changed while it was being read (another process wrote, moved or cut it);"
            " run again once nothing else writes to it"
        )


def open_read(path: str | Path) -> Any:
    """The HDF5 file at `path` opened read-only; a file that does not open is one line."""
    try:
        return h5py_module().File(str(path), "r")
    except OSError as exc:
        raise unreadable(Path(path), exc, "h5ad file") from None


def obs_columns(path: str | Path) -> list[str] | None:
    """The obs column names of an .h5ad file, from its header (neither the obs frame nor the
    matrix is read); None where the file does not say (not HDF5, no obs group, an old layout)."""
    try:
        with h5py_module().File(str(path), "r") as f:
            obs = f.get("obs")
            order = obs.attrs.get("column-order") if hasattr(obs, "attrs") else None
            if order is None or not hasattr(obs, "keys"):
                return None
            names = [str(c) for c in np.atleast_1d(order)]
            if len(set(names)) < len(names) or not set(names) <= set(obs.keys()):
                return None  # a header at odds with itself: the reader names what is wrong
            return names
    except (OSError, ValueError):  # the reader, later, names what is wrong with the file
        return None


def _encoding(node: Any) -> str:
    value = node.attrs.get("encoding-type", "array")
    return value.decode() if isinstance(value, bytes) else str(value)


def pick(path: str | Path, layer: str | None) -> MatrixRef:
    """The matrix `layer` names (None or "X", "raw", or a layer name), checked to exist."""
    path = str(path)
    if not Path(path).is_file():
        raise GenekbError(f"{path} does not exist")
    stamp = stamp_of(path)  # before the checks: a write during them shows at the first task
    with open_read(path) as f:
        refuse_foreign_layout(f, Path(path))
        try:
            ref = _checked_ref(f, path, layer)
            return replace(ref, stamp=stamp, **_expression_columns(f, ref))
        except (KeyError, AttributeError, TypeError, ValueError, IndexError) as exc:
            # Arrays or attributes missing, or of the wrong kind: a damaged or hand-made file.
            raise GenekbError(f"{path} is a damaged .h5ad file ({reason(exc)})") from None


def _checked_ref(f: Any, path: str, layer: str | None) -> MatrixRef:
    """The matrix `layer` names in the open file `f`, refused unless it can be read by rows and
    its shape agrees with the cells and genes the file names."""
    if layer == "":
        raise GenekbError(f"layer '' is not in {path}; name a layer, raw or X")
    if layer is None or layer == "X":
        ref = MatrixRef(path, "X", "var", "X")
    elif layer == "raw":
        ref = MatrixRef(path, "raw/X", "raw/var", "raw")
    else:
        ref = MatrixRef(path, f"layers/{layer}", "var", f"layers/{layer}")
    if ref.matrix not in f:
        have = ["X" if "X" in f else None, "raw" if "raw/X" in f else None]
        have += list(f["layers"]) if "layers" in f else []
        shown = ", ".join(h for h in have if h) or "none"
        if layer is None and shown != "none":  # as in memory: the user named no layer
            raise GenekbError(
                f"{path} has no X matrix; pass the layer that holds the expression with layer="
                f" (layers present: {shown})"
            )
        raise GenekbError(f"layer {layer or 'X'!r} is not in {path}; matrices present: {shown}")
    encoding = _encoding(f[ref.matrix])
    if encoding == "csc_matrix":
        raise GenekbError(
            f"{ref.source} of {path} is stored by columns (CSC), which cannot be read a few"
            " cells at a time; rewrite it as CSR once (adata.X = adata.X.tocsr())"
        )
    if encoding not in ("csr_matrix", "array"):
        raise GenekbError(f"{ref.source} of {path} is a {encoding}, not a matrix")
    node = f[ref.matrix]
    dtype = node["data"].dtype if encoding == "csr_matrix" else node.dtype
    refuse_non_numeric(dtype, f"{ref.source} of {path}")
    shape = _stored_shape(node, encoding == "csr_matrix", f"{ref.source} of {path}")
    named = (_frame_length(f, "obs"), _frame_length(f, ref.var))
    if shape != named:
        raise GenekbError(
            f"{ref.source} of {path} is {shape[0]} × {shape[1]} but the file names"
            f" {named[0]} cells and {named[1]} genes; write it again from its source"
        )
    return ref


def _expression_columns(f: Any, ref: MatrixRef) -> dict[str, Any]:
    """`keep` and `left_out` of `ref` by its var["feature_types"]: peaks and antibody tags were
    read as genes out of core while the file read whole left them out."""
    from anndata.io import read_elem

    from cellmodel.formats import gene_expression_features

    var = f[ref.var]
    if "feature_types" not in var:
        return {}
    kinds = pd.Series(read_elem(var["feature_types"])).astype(str).to_numpy()
    keep, left_out = gene_expression_features(kinds, f"the matrix ({ref.source})")
    if keep is None:
        return {}
    return {"keep": tuple(int(i) for i in np.flatnonzero(keep)), "left_out": left_out}


def read_var(ref: MatrixRef) -> pd.DataFrame:
    """The var frame of the matrix `ref` reads: its gene expression columns only."""
    var = read_frame(ref.path, ref.var)
    return var if ref.keep is None else var.iloc[list(ref.keep)]


def _stored_shape(node: Any, sparse: bool, what: str) -> tuple[int, int]:
    """The matrix's shape, with a CSR's row pointers checked to cover exactly its stored values
    (each chunk's indices are checked as it is read)."""
    if not sparse:
        if len(node.shape) != 2:
            raise GenekbError(f"{what} has {len(node.shape)} dimension(s), not cells × genes")
        return int(node.shape[0]), int(node.shape[1])
    n_rows, n_cols = (int(v) for v in node.attrs["shape"])
    indptr, n_values = node["indptr"], node["data"].shape[0]
    first, last = (int(indptr[0]), int(indptr[-1])) if indptr.shape[0] else (-1, -1)
    paired = node["indices"].shape[0] == n_values  # scipy's rule: values may run past the last
    if indptr.shape[0] != n_rows + 1 or first != 0 or not paired or not 0 <= last <= n_values:
        raise GenekbError(
            f"{what} is a damaged sparse matrix ({indptr.shape[0]} row pointers from {first} to"
            f" {last} for {n_rows} rows and {n_values} values); write it again from its source"
        )
    return n_rows, n_cols


def _frame_length(f: Any, key: str) -> int:
    """The rows of obs or var, read from their index alone: an array, or the codes of the
    categorical column a frame may name as its index (CELLxGENE's var `feature_name`)."""
    group = f[key]
    index = group.attrs["_index"]
    node = group[index.decode() if isinstance(index, bytes) else index]
    return int((node if hasattr(node, "shape") else node["codes"]).shape[0])


class ChunkReader:
    """Row chunks of one matrix of an .h5ad file, opened for the reader's lifetime."""

    def __init__(self, ref: MatrixRef) -> None:
        self.ref = ref
        check_unchanged(ref)  # each task opens the file anew, possibly long after the pick
        self.file = open_read(ref.path)
        node = self.file[ref.matrix]
        self.sparse = _encoding(node) == "csr_matrix"
        if self.sparse:
            shape = node.attrs["shape"]
            self.shape = (int(shape[0]), int(shape[1]))
            # indptr is read per chunk too: a task reads its own rows' slice, never the whole.
            self.indptr = node["indptr"]
            self.data, self.indices = node["data"], node["indices"]
        else:
            self.shape = (int(node.shape[0]), int(node.shape[1]))
            self.dense = node
        self.keep = None if ref.keep is None else np.asarray(ref.keep, dtype=np.int64)
        self.stored_columns = self.shape[1]
        if self.keep is not None:
            self.shape = (self.shape[0], len(self.keep))

    def __enter__(self) -> ChunkReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.file.close()

    def rows(self, start: int, stop: int) -> sp.csr_matrix | np.ndarray:
        """Rows start..stop-1 as float32 (CSR stays CSR), of the gene expression columns."""
        try:
            rows = self._rows(start, stop)
            return rows if self.keep is None else rows[:, self.keep]
        except OSError as exc:  # HDF5 blocks that do not decode: damage a pass meets mid-way
            raise GenekbError(
                f"{self.ref.source} of {self.ref.path} (rows {start}–{stop - 1}) cannot be read"
                f" ({reason(exc)}); the file is damaged: write or copy it again"
            ) from None

    def _rows(self, start: int, stop: int) -> sp.csr_matrix | np.ndarray:
        if not self.sparse:
            return np.asarray(self.dense[start:stop], dtype=np.float32)
        indptr = np.asarray(self.indptr[start : stop + 1], dtype=np.int64)
        lo, hi = int(indptr[0]), int(indptr[-1])
        what = f"{self.ref.source} of {self.ref.path} (rows {start}–{stop - 1})"
        try:
            rows = sp.csr_matrix(
                (
                    np.asarray(self.data[lo:hi], dtype=np.float32),
                    np.asarray(self.indices[lo:hi]),
                    indptr - lo,
                ),
                shape=(stop - start, self.stored_columns),
            )
        except ValueError as error:  # row pointers past the stored values
            raise GenekbError(f"{what} is a damaged sparse matrix ({error})") from None
        check_sparse_structure(rows, what)
        if repeats_entries(rows):  # the value kind, judged on a sample of the parts, was wrong
            raise GenekbError(
                f"{what} stores some cell–gene entries more than once, which a chunked run cannot"
                " read as their sums; sum them once (adata.X.sum_duplicates()) and write the"
                " file again"
            )
        return rows

    def kind_rows(self) -> sp.csr_matrix | np.ndarray:
        """The cells `matrix_checks.kind_rows` takes of a matrix in memory (the same ones, so
        both paths read the same kind), one read each."""
        from cellmodel.matrix_checks import KIND_ROWS

        n = self.shape[0]
        picked = np.unique(np.linspace(0, max(n - 1, 0), min(n, KIND_ROWS)).astype(np.int64))
        blocks = [self.rows(int(i), int(i) + 1) for i in picked]
        if not blocks:
            return np.zeros((0, self.shape[1]), np.float32)
        return sp.vstack(blocks, format="csr") if self.sparse else np.vstack(blocks)

    def values(self) -> Iterator[np.ndarray]:
        """Every stored value, a row chunk of about `KIND_CHUNK` values at a time (those of the
        gene expression columns): what `value_kinds.kind_of_values` reads, as it reads a matrix in
        memory."""
        from cellmodel.matrix_checks import stored_values
        from cellmodel.value_kinds import KIND_CHUNK

        n = self.shape[0]
        per_row = int(self.indptr[-1]) / max(n, 1) if self.sparse else self.stored_columns
        step = max(1, int(KIND_CHUNK // max(per_row, 1)))
        for start, stop in chunk_ranges(n, step):
            yield stored_values(self.rows(start, stop))


def read_frame(path: str | Path, key: str) -> pd.DataFrame:
    """obs / var (or raw/var) of an .h5ad file without touching its matrices."""
    from anndata.io import read_elem

    with open_read(path) as f:
        try:
            return read_elem(f[key])
        except (KeyError, AttributeError, TypeError, ValueError, IndexError, OSError) as exc:
            raise GenekbError(
                f"{path}: a damaged {key} ({reason(exc)}); write or copy the file again"
            ) from None


def chunk_ranges(n: int, chunk_size: int) -> list[tuple[int, int]]:
    return [(s, min(s + chunk_size, n)) for s in range(0, n, chunk_size)]
