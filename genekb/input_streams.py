"""Inputs given as a file, a pipe (`<(…)`, a FIFO) or `-` (stdin): what each is, and its bytes or
text read whole, a stream only up to a size limit (`/dev/zero` never ends)."""

from __future__ import annotations

import codecs
import os
import re
from pathlib import Path

from genekb.errors import GenekbError
from genekb.fileio import is_stdin
from genekb.output_paths import check_path_name
from genekb.sniff import refuse_binary


def input_kind(path: str | os.PathLike[str], what: str) -> str:
    """'stdin', 'file' or 'stream' (a FIFO, `<(…)`, a device); GenekbError for anything else,
    saying what it is (missing, a directory)."""
    if is_stdin(path):
        return "stdin"
    p = Path(path)
    check_path_name(p, what)
    if p.is_dir():
        raise GenekbError(f"{what} {p} is a directory; give a file (or - for stdin)")
    if not p.exists():
        raise GenekbError(f"{what} {p} does not exist")
    if p.is_file():
        return "file"
    if (p.is_char_device() or p.is_block_device()) and not _is_terminal(p):
        # `/dev/zero` never ends and `/dev/sda` is a disk: neither is data someone meant to give
        raise GenekbError(f"{what} {p} is a device, not a file or a pipe; give a file")
    return "stream"


def _is_terminal(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return False
    try:
        return os.isatty(fd)
    finally:
        os.close(fd)


# What a web page starts with where a download saved the server's error or login page.
_HTML = re.compile(r"\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>])", re.IGNORECASE | re.DOTALL)
STREAM_LIMIT = 4 << 30  # bytes read from a pipe or stdin at most (`/dev/zero` never ends)


def read_input_bytes(path: str | os.PathLike[str], what: str, limit: int = STREAM_LIMIT) -> bytes:
    """The bytes of an input given as a file, a pipe (`<(…)`, a FIFO) or `-` (stdin); a stream
    longer than `limit` bytes is refused."""
    import sys

    kind = input_kind(path, what)
    try:
        if kind == "file":
            return Path(path).read_bytes()
        if kind == "stdin":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with Path(path).open("rb") as fh:
                data = fh.read(limit + 1)
        if len(data) > limit:
            raise GenekbError(f"{what} {path} streams more than {limit:,} bytes; give a file")
        return data
    except PermissionError:
        raise GenekbError(f"{what} {path} is not readable (permission denied)") from None
    except OSError as exc:
        raise GenekbError(f"{what} {path} cannot be read ({exc.strerror})") from None


def read_input_text(path: str | os.PathLike[str], what: str, limit: int = STREAM_LIMIT) -> str:
    """`read_input_bytes` as text: UTF-8 (a BOM dropped) or UTF-16 with its BOM (what Excel's
    "Unicode Text" saves); GenekbError saying what to do for anything else."""
    data = read_input_bytes(path, what, limit)
    refuse_binary(data, what, path)
    text = decode_text(data, what, path)
    if _HTML.match(text):  # its tags read as names: "none of the 5 genes given matches"
        raise GenekbError(
            f"{what} {path} is an HTML page, not a list or table (a failed download or a"
            " login page?); download the file itself"
        )
    return text


def decode_text(data: bytes, what: str, path: str | os.PathLike[str]) -> str:
    """`data` decoded as UTF-8 or, when it starts with a UTF-16 BOM, as UTF-16."""
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return data.decode("utf-16")
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GenekbError(
            f"{what} {path} is not UTF-8 text (byte 0x{data[exc.start]:02X} at offset"
            f" {exc.start:,}); save it as UTF-8 (CSV UTF-8 in Excel)"
        ) from None
    if "\x00" in text:  # UTF-16 without a BOM decodes as UTF-8 with a NUL beside each letter
        raise GenekbError(
            f"{what} {path} holds NUL bytes (UTF-16 text without a byte-order mark?); save it"
            " as UTF-8 (CSV UTF-8 in Excel)"
        )
    return text
