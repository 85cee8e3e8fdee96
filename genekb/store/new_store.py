"""Undoing a failed first write: a command that fails in a root that held no store (an import,
a pull refused) leaves no store there, and never removes what a concurrent first writer made."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from pathlib import Path

from genekb.store.store import EMBEDDINGS, TAGS_FILE, TEXTS, Store
from genekb.store.store_root import MARKER


def new_store_undo(store: Store) -> Callable[[], None]:
    """What removes the skeleton a failed write leaves in a root that held no store before it
    (the marker, locks, empty folders, the folders made for the root); a no-op for an existing
    store. Call it after removing the write's own staging."""
    if not store.is_new:
        return lambda: None
    made = store.root  # the outermost folder the write will create (None: the root existed)
    while not made.parent.exists() and made.parent != made.parent.parent:
        made = made.parent
    outermost = None if store.root.exists() else made

    def undo() -> None:
        # Another writer into the new store, publishing or still staging, keeps it whole.
        if any(_holds_any(store.root / name) for name in (TEXTS, EMBEDDINGS, ".staging")):
            return
        if (store.root / TAGS_FILE).exists():
            return
        (store.root / MARKER).unlink(missing_ok=True)
        shutil.rmtree(store.root / "locks", ignore_errors=True)
        folders = [store.root / ".staging", store.root / EMBEDDINGS, store.root / TEXTS]
        if outermost is not None:
            folders += [store.root, *store.root.parents]
        for folder in folders:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty
            if folder == outermost:
                break

    return undo


def _holds_any(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())
