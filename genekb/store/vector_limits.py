"""Budgets a foreign vector file is held to before its parser allocates anything.

A small file can describe a huge allocation: an `.npz` member compresses 160 MB of zeros into a
few hundred bytes, a pickle's shared references nest one list a million times over, a CSV header
names 100,000 columns that pandas then converts one by one. Each is checked from what the file
declares (an array header, the first line, the nesting of what was unpickled) against limits no
real gene-vector file comes near, and refused in one line before the work starts.
"""

from __future__ import annotations

import csv
import zipfile
from typing import Any

import numpy as np

from genekb.errors import GenekbError

MAX_DIM = 32_768  # the widest embedding models write 3,072-8,192 dimensions
MAX_CELLS = 200_000_000  # numbers in one file (50,000 genes × 4,000 dimensions)
NPZ_RATIO, NPZ_SLACK = 20, 256 << 20  # what an .npz may unpack to: 20× the file + 256 MiB
_NESTED = (list, tuple, dict, set, frozenset)


def check_dim(dim: int, where: Any) -> None:
    if dim > MAX_DIM:
        raise GenekbError(
            f"{where}: vectors of {dim:,} dimensions, more than the {MAX_DIM:,} any text encoder"
            " writes; refused (is it the right file, or transposed?)"
        )


def check_flat(row: Any, name: Any, where: Any) -> None:
    """A vector given as a list must hold numbers, not lists: a pickle's shared references can
    nest a few bytes into more elements than memory holds, which NumPy would try to build."""
    if isinstance(row, (list, tuple)) and any(isinstance(x, _NESTED) for x in row):
        raise GenekbError(
            f"{where}: the vector of {name!r} holds lists, not numbers; give 1-d vectors"
        )


def check_table_shape(raw: bytes, sep: str, where: Any) -> None:
    """A CSV/TSV's width (from its first line) and size (lines × width) within the budgets."""
    # a line ends in LF, CRLF or (Excel for Mac) CR alone: the whole file was once "one line"
    ends = [i for i in (raw.find(b"\n"), raw.find(b"\r")) if i >= 0]
    first = raw[: min(ends, default=len(raw))]
    width = first.count(sep.encode()) + 1
    check_dim(width - 1, where)
    cells = width * ((raw.count(b"\n") or raw.count(b"\r")) + 1)
    if cells > MAX_CELLS:
        raise GenekbError(f"{where}: {cells:,} cells, more than the {MAX_CELLS:,} read at most")


def refuse_ragged(raw: bytes | str, sep: str, where: Any) -> None:
    """Refuse a table whose rows have a field count other than the header's: pandas reads a row
    one field longer as an index column, shifting every column under the wrong name."""
    text = raw.decode("utf-8-sig", errors="replace") if isinstance(raw, bytes) else raw
    width = None
    rows = csv.reader(text.splitlines(), delimiter=sep)
    try:
        for number, fields in enumerate(rows, 1):
            if not fields:
                continue
            if width is None:
                width = len(fields)
            elif len(fields) != width:
                raise GenekbError(
                    f"{where}: a ragged table (line {number} has {len(fields)} fields, the header"
                    f" has {width}); give every row the same fields"
                )
    except csv.Error as exc:  # a field over csv's 128 KiB limit, a NUL byte: no gene table
        raise GenekbError(
            f"{where}: not a readable table at line {rows.line_num:,} ({exc}); give a CSV/TSV"
            " with one gene per line"
        ) from None


def check_npz(source: Any, size: int, where: Any) -> None:
    """Every array of an `.npz`, from its header alone: a 2-d matrix at most MAX_DIM wide, and
    all of them together within NPZ_RATIO × the file's size + NPZ_SLACK bytes."""
    total = 0
    try:
        with zipfile.ZipFile(source) as archive:
            for member in archive.infolist():
                with archive.open(member) as fh:
                    version = np.lib.format.read_magic(fh)
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                            else np.lib.format.read_array_header_2_0)  # fmt: skip
                    shape, _, dtype = read(fh)
                if len(shape) == 2:
                    check_dim(int(shape[1]), where)
                total += int(np.prod(shape, dtype=object)) * dtype.itemsize
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        kind = exc.__class__.__name__
        raise GenekbError(f"{where} is not a readable .npz file ({kind})") from None
    finally:
        if hasattr(source, "seek"):
            source.seek(0)
    limit = NPZ_RATIO * size + NPZ_SLACK
    if total > limit:
        raise GenekbError(
            f"{where}: its arrays unpack to {total:,} bytes, far more than the file holds;"
            " refused before reading them"
        )
