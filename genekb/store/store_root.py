"""Where a store lies and whether a directory may be one: the root from the argument,
$GENEKB_HOME or ./artifacts, and the checks a local root passes before anything is read from it
or written to it (the marker file and its format, a folder of other things, a path that was a URL).
"""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

from genekb.errors import GenekbError, UsageError, format_words
from genekb.fileio import read_regular
from genekb.output_paths import STORE_MARKER, check_output_dir
from genekb.store.manifest import FORMAT
from genekb.store.remote_urls import shown
from genekb.store.tags_file import SMALL_FILE_LIMIT

MARKER = STORE_MARKER  # the one spelling: genekb.output_paths, which names what a store owns
# Entries a fresh root may already hold (the repo's artifacts/ keeps a README and run outputs).
ALLOWED_IN_NEW_ROOT = {"README.md", ".gitignore", "runs", "datasets", "cache", "plots"}
PUBLISHED_INDEX = "genekb-remote.json"  # genekb.store.remote_index.INDEX (which imports this)


_MANGLED_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:/(?!/)")  # `https:/host/x`: Path("https://…")


def refuse_non_path_root(root: object) -> None:
    """A store root is a path (or None for the default): Path() of anything else is a TypeError."""
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise UsageError(f"a store root is a path, not {type(root).__name__}")


def resolve_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The store root: the argument, else $GENEKB_HOME, else ./artifacts."""
    given = root if root else os.environ.get("GENEKB_HOME")
    if not given:
        return Path("artifacts")
    try:
        return Path(given).expanduser()
    except RuntimeError:  # `~name` of a user this system does not know
        raise UsageError(f"store root {str(given)!r}: no such user's home directory") from None


def open_local_root(root: str | os.PathLike[str] | None, *, create: bool) -> tuple[Path, bool]:
    """The local store root `root` names (see `resolve_root`) and whether it is new (no store
    there yet; allowed only with `create`). Refused: a path that was a URL, a file, an unreadable
    folder, a store of another format, a folder holding other things. Nothing is written here.
    """
    path = resolve_root(root)
    if _MANGLED_URL.match(str(path)) and not path.exists():
        # A Path folds a URL's "//": writing there made local folders named "https:".
        url = shown(str(path).replace(":/", "://", 1))  # never its password or token
        raise UsageError(
            f"store root {url} is a URL; this command takes a local store (`genekb pull` one)"
        )
    marker = path / MARKER
    _refuse_broken_link(path)
    if path.exists() and not path.is_dir():
        raise GenekbError(f"store root {path} is a file, not a directory; give a directory")
    try:
        has_marker = marker.exists()
        entries = {p.name for p in path.iterdir()} if path.is_dir() else set()
    except PermissionError:
        raise GenekbError(f"store root {path} is not readable; check its permissions") from None
    if has_marker:
        try:
            info = json.loads(read_regular(marker, SMALL_FILE_LIMIT, follow=False))
        except (OSError, GenekbError, ValueError):
            raise GenekbError(f"{marker} is unreadable or corrupt; is {path} a store?") from None
        if not isinstance(info, dict) or info.get("format") != FORMAT:
            found = info.get("format") if isinstance(info, dict) else None
            raise GenekbError(f"{path} is a store of {format_words(found, FORMAT)}")
        return path, False
    # A concurrent creator's marker being written is not foreign content.
    entries = {e for e in entries if not e.startswith(f".{MARKER}.")}
    if PUBLISHED_INDEX in entries:  # `genekb publish` to a folder: read by URL, or pulled
        raise GenekbError(
            f"{path} is a published store ({PUBLISHED_INDEX}), not a store's root; give it as"
            f" --root {path.resolve().as_uri()} where a command reads one by URL, or pull it:"
            f" genekb pull {path} TAG --root NEW_ROOT"
        )
    if entries - ALLOWED_IN_NEW_ROOT:
        raise GenekbError(
            f"{path} is not a genekb store (no {MARKER}) and is not empty; "
            "choose a store root or a new directory"
        )
    if not create:
        raise GenekbError(f"no genekb store at {path}; build one with `genekb build` first")
    # A root that could never be written fails now, before the work that would fill it.
    check_output_dir(path, force=True, flag="store root", parents=True)
    return path, True


def _refuse_broken_link(path: Path) -> None:
    """GenekbError where `path` or a folder above it is a symbolic link that leads nowhere (to
    nothing, or round in a loop): an import said "cannot create a store at X: File exists",
    and `list` "no genekb store at X", of a link the user made to a store."""
    for link in (path, *path.parents):
        if not link.is_symlink() or link.exists():
            continue
        try:
            target = os.readlink(link)
            link.stat()
        except OSError as exc:
            leads = "round in a loop" if exc.errno == errno.ELOOP else "to nothing"
        else:  # made good between the two looks: nothing to refuse
            return
        raise GenekbError(
            f"store root {path}: {link} is a symbolic link {leads} (-> {target}); make it point"
            " at the store's folder, or give another --root"
        )


PLACE_TAKEN = (errno.EEXIST, errno.EISDIR, errno.ELOOP, errno.ENOTDIR)  # what such a place raises


def place_taken(path: Path, what: str) -> GenekbError:
    """The refusal where a file, folder or link holds the place of one of a store's own (its
    locks, its staging folder): the OSError said only "File exists" or "Not a directory"."""
    kind = "a link" if path.is_symlink() else "a folder" if path.is_dir() else "a file"
    return GenekbError(
        f"{path} is {kind}, where genekb keeps {what}; move it aside if no genekb process runs,"
        " then run again"
    )


NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)  # a store this process may only read


class ReadOnlyStore(GenekbError):
    """A write into a store on a read-only file system, or one this user may not change."""


def not_writable(path: Path, exc: OSError) -> ReadOnlyStore:
    """The refusal where a store's own file or folder cannot be made (`exc.errno` in
    NOT_WRITABLE): it said only "Read-only file system" of a lock file, with no way out."""
    if exc.errno == errno.EROFS:
        why, fix = "the store's file system is read-only", "run this where it is writable"
    else:
        why, fix = "this user may not write there", "ask the store's owner to run this"
    return ReadOnlyStore(
        f"cannot write {path}: {why}; {fix}, or on a copy of your own (`genekb pull` or"
        " `import` into a new root)"
    )


def own_folder(folder: Path, what: str) -> Path:
    """`folder` of a store's own (`what` it keeps), made where absent."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno in NOT_WRITABLE:
            raise not_writable(folder, exc) from None
        if exc.errno not in PLACE_TAKEN:
            raise
        raise place_taken(folder, what) from None
    return folder
