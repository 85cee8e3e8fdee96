"""File basics used everywhere: one sha256 of a file, one write-to-temp-then-rename, one check of
an output path before any work. Inputs given as a pipe or `-` (stdin) are `genekb.input_streams`.

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

from genekb.errors import GenekbError, UsageError

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


# ---- checking paths before any work -------------------------------------------------------------

NAME_MAX = 255  # bytes in one path component on the usual Linux file systems


def _writable_dir(folder: Path, target: Path) -> None:
    """GenekbError unless `folder` (where `target` will be created) is a writable directory."""
    if not folder.exists():
        raise GenekbError(f"directory {folder} does not exist; create it first or write elsewhere")
    if not folder.is_dir():
        raise GenekbError(f"cannot write {target}: {folder} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise GenekbError(f"cannot write in {folder} (permission denied); choose another place")


def check_path_name(path: Path, flag: str) -> None:
    """UsageError for a path no file system takes (a NUL byte, a name over NAME_MAX bytes),
    before a stat of it fails with a less clear error."""
    if "\x00" in str(path):
        raise UsageError(f"{flag} {path!r} holds a NUL byte; give a plain path")
    for part in path.parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise UsageError(f"{flag}: the name {part[:40]}… is longer than {NAME_MAX} bytes")


# What a store owns under its root (`genekb.store.store` lays these out): never an output target.
STORE_MARKER = "genekb-store.json"
STORE_OWNED = {
    STORE_MARKER, "texts", "embeddings", "tags.json", "catalog.duckdb", "locks", ".staging",
    ".verified",
}  # fmt: skip


def inside_a_store(path: Path) -> Path | None:
    """The store root if `path` is one of a store's own files or lies inside its versions."""
    try:
        resolved = path.parent.resolve() / path.name
    except (OSError, RuntimeError):
        return None
    for root in resolved.parents:
        if (root / STORE_MARKER).is_file():
            first = resolved.relative_to(root).parts[0]
            return root if first in STORE_OWNED else None
    return None


_STREAMS = ("/proc/", "/dev/fd/", "/dev/stdout", "/dev/stderr", "/dev/stdin")


def _linked_output(path: Path, flag: str) -> str:
    """Why the output `path`, a symbolic link, is refused: `/dev/stdout` (a link to the
    stream's /proc entry) was replaced by a regular file, and so is any link by a rename."""
    hops, hop = [str(path.absolute())], path
    with contextlib.suppress(OSError):
        while hop.is_symlink() and len(hops) < 40:
            hop = hop.parent / os.readlink(hop)
            hops.append(str(hop))
    if any(h.startswith(_STREAMS) for h in hops):
        return f"{flag} {path} is a stream ({hops[1]}); this writes a file: give a file name"
    return (
        f"{flag} {path} is a symbolic link (to {hops[-1]}); writing would replace the link: give"
        " the file's own path or another name"
    )


def check_output_file(
    path: Path, *, force: bool, flag: str = "output", suffixes: tuple[str, ...] = ()
) -> Path:
    """Decide, before any work, whether a command may write the file `path`.

    Refused (GenekbError, exit 1; UsageError, exit 2 for a wrong suffix): a directory where a file
    is expected, something that is not a regular file (a FIFO, a device, a symbolic link:
    writing by rename would replace it), an existing file without `force`, a parent that is
    missing, not a directory or not writable. Nothing is written or created here.
    """
    if is_stdin(path):  # `-` is stdin to every input; as an output it made a file named `-`
        raise UsageError(f"{flag} '-': this writes a file, not stdout; give a file name")
    path = Path(path)
    check_path_name(path, flag)
    if path.is_dir():
        hint = f" ending in {suffixes[0]}" if suffixes else ""
        raise GenekbError(f"{flag} {path} is a directory; give a file name{hint}")
    if suffixes and path.suffix.lower() not in suffixes:
        raise UsageError(f"{flag} {path} must end in {' or '.join(suffixes)}")
    if path.is_symlink():  # a rename over it would replace the link, not write where it points
        raise GenekbError(_linked_output(path, flag))
    if path.exists():
        if not path.is_file():
            raise GenekbError(f"{flag} {path} is not a regular file; give a file name")
        if not force:
            raise GenekbError(f"{path} exists; pass --force to overwrite it")
    _writable_dir(path.parent, path)
    store = inside_a_store(path)
    if store is not None:
        raise GenekbError(f"{flag} {path} is inside the genekb store {store}; write elsewhere")
    return path


def check_output_dir(
    folder: Path,
    *,
    force: bool,
    flag: str = "output folder",
    files: tuple[str, ...] = (),
    parents: bool = False,
) -> Path:
    """Decide, before any work, whether a command may write `files` into the folder `folder`.

    The folder may exist (then it must be a writable directory, and each of `files` already in it
    needs `force`) or not (then its parent must be a writable directory; with `parents`, the
    nearest existing ancestor). Nothing is created here.
    """
    if is_stdin(folder):  # `-` is stdin to every input; as a folder it made one named `-`
        raise UsageError(f"{flag} '-': this writes files into a folder, not stdout; name a folder")
    folder = Path(folder)
    check_path_name(folder, flag)
    if not folder.exists() and folder.suffix.lower() in {Path(f).suffix for f in files}:
        # `--plots umap.png` made a folder umap.png/ and wrote umap.png inside it
        raise UsageError(f"{flag} {folder} names a file; give a folder for {', '.join(files)}")
    store = inside_a_store(folder / "x")
    if store is not None:
        raise GenekbError(f"{flag} {folder} is inside the genekb store {store}; write elsewhere")
    if folder.exists():
        if not folder.is_dir():
            raise GenekbError(f"{flag} {folder} is not a directory; give a folder")
        _writable_dir(folder, folder / (files[0] if files else "x"))
        clash = [folder / f for f in files if (folder / f).exists()]
        if any(c.is_dir() for c in clash):  # --force replaced nothing: the run failed at the end
            raise GenekbError(f"{next(c for c in clash if c.is_dir())} is a folder; move it away")
        if clash and not force:
            raise GenekbError(f"{clash[0]} exists; pass --force to overwrite it")
        return folder
    parent = folder.parent
    while parents and not parent.exists() and parent != parent.parent:
        parent = parent.parent
    _writable_dir(parent, folder)
    return folder


# ---- `-`: stdin as an input (read by `genekb.input_streams`), refused as an output ----------

STDIN = "-"


def is_stdin(path: str | os.PathLike[str]) -> bool:
    return str(path) == STDIN
