"""Is `catalog.duckdb` consistent with the versions on disk? A leaf: `Store.verify` calls it, and
`catalog` (which reads and writes the file) names the file from here, so the store never imports
the catalog that is built on top of it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genekb.errors import GenekbError
from genekb.store.locks import held_by_others

if TYPE_CHECKING:  # a type name only: importing the store here would close a circle
    from genekb.store.store import Store

CATALOG_FILE = "catalog.duckdb"


def check_catalog(
    store: Store,
    clean_ids: set[str],
    all_ids: set[str],
    notes: list[str] | None = None,
    rewrite: Callable[[Store], Any] | None = None,
) -> list[str]:
    """Problems with `catalog.duckdb`: unreadable, or listing a version the store lacks (a version
    vanished). A catalog merely behind the store (a write stopped between publishing a version
    and rewriting the catalog, e.g. by Ctrl-C) is derived data, not damage: `rewrite(store)`
    rewrites it when given, and a note says so. A damaged version may be listed: it was clean
    when the catalog was written."""
    path = store.root / CATALOG_FILE
    if not path.exists():
        return []
    import duckdb  # here: opening the store (every command) need not load duckdb

    try:
        con = duckdb.connect(str(path), read_only=True)
        try:
            listed = {r[0] for r in con.execute("SELECT id FROM versions").fetchall()}
        finally:
            con.close()
    except duckdb.Error as exc:
        holder = re.search(r"Conflicting lock is held in (.*?) \(PID (\d+)\)", str(exc))
        if holder:  # it was called unreadable, and reindex would replace it under its user
            program = f"{Path(holder[1]).name}, PID {holder[2]}"
            return [f"{path}: open for writing in another program ({program}), so it cannot be"
                    " checked; close it there, then run `genekb verify` again"]  # fmt: skip
        if path.is_dir():
            return [f"{path}: a folder, not the catalog; remove it, then `genekb reindex` writes"
                    " the catalog from the Parquet files"]  # fmt: skip
        return [f"{path}: unreadable; `genekb reindex` rewrites it from the Parquet files"]
    if listed - all_ids:
        gone = sorted(listed - all_ids)
        return [f"{path}: lists {', '.join(gone[:3])}, which the store no longer holds; "
                "`genekb reindex` rewrites it"]  # fmt: skip
    if clean_ids - listed:
        busy = ", ".join(held_by_others(store.root / "locks")[:3])
        if busy:  # a build publishes its text version before its vectors, then the catalog
            if notes is not None:
                notes.append(f"{path} is behind the store while another process writes to it"
                             f" ({busy}); that write brings it up to date")  # fmt: skip
            return []
        if rewrite is None:
            if notes is not None:
                notes.append(f"{path} is behind the store (a write stopped early);"
                             " `genekb reindex` rewrites it")  # fmt: skip
            return []
        try:
            rewrite(store)
        except (OSError, GenekbError, duckdb.Error) as exc:  # a full disk: no damage either
            if notes is not None:  # it ended verify with that one line, and no report
                notes.append(f"{path} is behind the store and could not be rewritten: {exc}")
            return []
        if notes is not None:
            notes.append(f"{path} was behind the store (a write stopped early); rewritten")
    return []
