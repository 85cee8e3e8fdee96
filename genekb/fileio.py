"""File basics used everywhere: one sha256 of a file, one write-to-temp-then-rename.

Every file the toolkit publishes (store versions, tags, catalogs, exports, AnnData outputs) is
written under a temporary name in the target's own directory and renamed into place, so a reader
sees the whole old file or the whole new one. Temporary names carry the writer's pid, so the next
writer can tell a dead writer's leftovers from a live one's and remove them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
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
        pid = entry.name[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                entry.unlink()


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: Path, *, suffix: str = ".tmp", durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` if the block succeeds.

    The caller writes the temporary file (any library, any format). On an exception the
    temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    clear_stale_temps(path)
    tmp = temp_name(path, suffix)
    try:
        yield tmp
        if durable and tmp.is_file():
            fsync_path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def atomic_write(path: Path, payload: bytes) -> None:
    """Write `payload` to `path` durably and atomically."""
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())
