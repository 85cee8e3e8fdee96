"""What a binary file given where text is read holds, told by its first bytes.

A gzipped CSV, an Excel workbook renamed .csv or a Parquet file under a text name otherwise reads
as "not UTF-8 text", a "ragged table" or a header of binary noise; naming the container says what
to do instead (decompress it, save it as CSV).
"""

from __future__ import annotations

import os
import re

from genekb.errors import GenekbError

GZIP_MAGIC = b"\x1f\x8b"  # the first bytes of a gzip stream
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"  # the first bytes of every HDF5 file, .h5ad included
# (first bytes, what the file is, what to do); each holds bytes no text table starts with.
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (GZIP_MAGIC, "gzip-compressed", "decompress it first (gunzip)"),
    (b"\xfd7zXZ\x00", "xz-compressed", "decompress it first (unxz)"),
    (b"(\xb5/\xfd", "zstd-compressed", "decompress it first (unzstd)"),
    (b"PK\x03\x04", "a zip archive (an Excel .xlsx is one)", "save it as CSV (UTF-8) or unzip it"),
    (b"\xd0\xcf\x11\xe0", "an Excel .xls workbook", "save it as CSV (UTF-8)"),
    (HDF5_MAGIC, "an HDF5 file (.h5ad, .h5)", "give it as text (CSV/TSV)"),
    (b"\x93NUMPY", "a NumPy .npy array", "give it as text (CSV/TSV)"),
)
_BZIP2 = re.compile(rb"BZh[1-9]1AY&SY")
_PICKLE = re.compile(rb"\x80[\x02-\x05]")


def binary_kind(raw: bytes) -> tuple[str, str] | None:
    """(what the file is, what to do) when `raw` starts like a binary container, else None."""
    for magic, kind, todo in _SIGNATURES:
        if raw.startswith(magic):
            return kind, todo
    if _BZIP2.match(raw):
        return "bzip2-compressed", "decompress it first (bunzip2)"
    # PAR1 is also a gene alias (F2R): a Parquet file ends in it too, and holds NUL bytes
    if raw.startswith(b"PAR1") and raw.endswith(b"PAR1") and b"\x00" in raw:
        return "a Parquet file", "give it as text (CSV/TSV)"
    if _PICKLE.match(raw):
        return "a Python pickle", "give it as text (CSV/TSV)"
    return None


def refuse_binary(raw: bytes, what: str, path: str | os.PathLike[str]) -> None:
    """GenekbError naming the container when `raw` (an input's bytes) is not text at all."""
    found = binary_kind(raw)
    if found:
        kind, todo = found
        raise GenekbError(f"{what} {path} is {kind}, not text; {todo}")


def gzipped(path: str | os.PathLike[str]) -> bool:
    """Whether the file at `path` is a gzip stream, told by its first bytes: a download may
    keep the .gz name of a file it decompressed, or drop it from one it did not."""
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC
