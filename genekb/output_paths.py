"""Checking an output path before any work: a file or folder a command will write, refused in one
line (a store's own files, a link into a stream, an existing file without --force, an unwritable
place) before anything is read or computed. `-` (stdin, an input) is refused as an output."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from genekb.errors import GenekbError, UsageError
from genekb.fileio import is_stdin

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
