"""File basics used everywhere: one sha256 of a file, one write-to-temp-then-rename. The checks of
an output path before any work are `genekb.output_paths`; inputs given as a pipe or `-` (stdin)
are `genekb.input_streams`.

Every file the toolkit publishes (store versions, tags, catalogs, exports, AnnData outputs) is
written under a temporary name in the target's own directory and renamed into place, so a reader
sees the whole old file or the whole new one. Temporary names carry the writer's pid, so the next
writer can tell a dead writer's leftovers from a live one's and remove them.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import math
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genekb.errors import GenekbError

CHUNK = 1 << 20


def _kind_of(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a pipe"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
                       (stat.S_ISSOCK, "a socket")):  # fmt: skip
        if test(mode):
            return kind
    return "not a regular file"


def open_regular(path: Path, *, follow: bool = True) -> int:
    """A read-only descriptor of `path`, refused (GenekbError) unless it is a regular file: a
    FIFO would block and a device (`/dev/zero`) never ends. Without `follow`, a symbolic link is
    refused too (a store's files never are links: one could point anywhere). FileNotFoundError
    passes through."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise GenekbError(f"{path} is a symbolic link; a store's files never are") from None
        if exc.errno == errno.EISDIR:
            raise GenekbError(f"{path} is a directory, not a file") from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise GenekbError(f"{path} is {_kind_of(mode)}, not a regular file")
    os.set_blocking(fd, True)
    return fd


def require_file(path: Path, what: str) -> Path:
    """`path` when it names a regular file (a link to one is fine); GenekbError saying what it is
    otherwise: missing, a directory, a pipe, `-` (stdin) or a device, for inputs read as a file
    (seeked, or read more than once)."""
    if is_stdin(path):
        raise GenekbError(f"{what} cannot be - (stdin): it is read as a file; save it to one first")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise GenekbError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise GenekbError(f"{what} {path} cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise GenekbError(f"{what} {path} is {_kind_of(mode)}; give a file")
    return Path(path)


def read_regular(path: Path, limit: int, *, follow: bool = True) -> bytes:
    """The bytes of the regular file `path` (see `open_regular`), refused before reading when it
    holds more than `limit` bytes."""
    fd = open_regular(path, follow=follow)
    with os.fdopen(fd, "rb") as fh:
        size = os.fstat(fd).st_size
        if size > limit:
            raise GenekbError(f"{path} holds {size:,} bytes, more than the {limit:,} expected")
        # Never read(limit + 1) itself: Python sets that many bytes aside first, and a limit of
        # "no size recorded" (a terabyte) was a MemoryError before a byte was read.
        data = fh.read(min(size, limit) + 1)
        while size < len(data) <= limit and (more := fh.read(min(CHUNK, limit + 1 - len(data)))):
            data += more  # it grows while read
    if len(data) > limit:  # grew while read
        raise GenekbError(f"{path} holds more than the {limit:,} bytes expected")
    return data


def sha256_file(path: Path, *, follow: bool = True) -> str:
    digest = hashlib.sha256()
    with os.fdopen(open_regular(path, follow=follow), "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def left_by_dead_process(label: str) -> bool:
    """Whether `label` (`<pid>-…`: how a writer names its temporary files and staging folders)
    names a process that no longer runs: what it left is debris, no one's work under way."""
    pid = label.split("-", 1)[0]
    return pid.isdigit() and not pid_alive(int(pid))


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def temp_name(path: Path, suffix: str = ".tmp") -> Path:
    """A temporary sibling of `path` that names this process: `.<name>.<pid>-<rand><suffix>`."""
    return path.with_name(f"{_temp_prefix(path)}{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}")


def clear_stale_temps(path: Path) -> None:
    """Remove temporary siblings of `path` left by writers that no longer run (killed mid-write)."""
    prefix = _temp_prefix(path)
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        if left_by_dead_process(entry.name[len(prefix) :]):
            with contextlib.suppress(OSError):
                entry.unlink()


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# What a file system answers a write it cannot take (full, over quota, over the size limit, an
# I/O error, read-only), and the way out the line ends with.
WRITE_FIXES = {
    errno.ENOSPC: "free some space or write elsewhere",
    errno.EDQUOT: "free some space within the quota or write elsewhere",
    errno.EFBIG: "raise the file size limit (ulimit -f) or write to another file system",
    errno.EIO: "check the disk (dmesg) or write elsewhere",
    errno.EROFS: "write elsewhere",
}
WRITE_ERRNOS = set(WRITE_FIXES)
NOTHING_WRITTEN = "; nothing was written there"


def write_failed(path: Path, exc: OSError) -> GenekbError:
    """One line for a write the file system refused (disk full, quota, file too large, I/O)."""
    reason = exc.strerror or str(exc) or exc.__class__.__name__
    fix = f"; {WRITE_FIXES[exc.errno]}" if exc.errno in WRITE_FIXES else ""
    return GenekbError(f"cannot write {path}: {reason}{NOTHING_WRITTEN}{fix}")


@contextlib.contextmanager
def named_writes(path: Path) -> Iterator[None]:
    """A write the file system refuses inside the block (full, quota, I/O) as one GenekbError
    naming `path`: Arrow's OSError names no file ("Error writing bytes to file")."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in WRITE_ERRNOS:
            raise
        raise write_failed(path, OSError(exc.errno, os.strerror(exc.errno))) from None


def check_room(path: Path, need: int, largest: int | None = None) -> None:
    """GenekbError naming `path` when `need` bytes cannot be written there: over this process's
    file size limit (`ulimit -f`) or over the space free on its file system. Checked before a
    write whose failure a library handles badly (HDF5 crashes cleaning up after one). `largest`:
    the biggest of the files making up `need` (the limit is per file, not for all of them)."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    one_file = need if largest is None else largest
    if soft != resource.RLIM_INFINITY and one_file > soft:
        which = "it needs" if largest is None else "its largest file needs"
        raise GenekbError(
            f"cannot write {path}: {which} about {one_file:,} bytes, over this process's file"
            f" size limit of {soft:,} (ulimit -f); nothing was written there"
        )
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return  # the write itself will say what is wrong
    free = st.f_bavail * st.f_frsize
    if need > free:
        raise GenekbError(
            f"cannot write {path}: it needs about {need:,} bytes and {path.parent} has {free:,}"
            " free; free some space or write elsewhere"
        )


@contextlib.contextmanager
def atomic_path(
    path: Path, *, suffix: str = ".tmp", durable: bool = True, expected_bytes: int | None = None
) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` if the block succeeds.

    The caller writes the temporary file (any library, any format). On an exception the
    temporary file is removed and `path` is untouched; an OSError (a full disk, a quota, a file
    size limit, an I/O error) becomes one GenekbError naming `path`. With `expected_bytes`, the
    room for them is checked first (`check_room`).
    """
    path = Path(path)
    if expected_bytes is not None:
        check_room(path, expected_bytes)
    clear_stale_temps(path)
    tmp = temp_name(path, suffix)
    try:
        yield tmp
        if durable and tmp.is_file():
            fsync_path(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        # A failure of another file (an input that vanished) keeps its own name.
        if exc.errno in WRITE_ERRNOS or exc.filename in (None, str(tmp), str(path)):
            raise write_failed(path, exc) from None
        raise
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def write_bytes_to(path: Path, payload: bytes | memoryview, *, suffix: str = ".tmp") -> None:
    """`payload` written to `path` through `atomic_path` (durable, one line if the disk fails)."""
    with atomic_path(path, suffix=suffix, expected_bytes=len(payload)) as tmp, tmp.open("wb") as fh:
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write(path: Path, payload: bytes) -> None:
    """Write `payload` to `path` durably and atomically."""
    write_bytes_to(path, payload)


def json_safe(value: Any) -> Any:
    """NaN and infinities as null: JSON has no such numbers, and strict readers refuse them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


# ---- `-`: stdin as an input (read by `genekb.input_streams`), refused as an output ----------

STDIN = "-"


def is_stdin(path: str | os.PathLike[str]) -> bool:
    return str(path) == STDIN
