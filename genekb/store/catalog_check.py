"""Is `catalog.duckdb` consistent with the versions on disk? A leaf: `Store.verify` calls it, and
`catalog` (which reads and writes the file) names the file from here, so the store never imports
the catalog that is built on top of it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:  # a type name only: importing the store here would close a circle
    from genekb.store.store import Store

CATALOG_FILE = "catalog.duckdb"


def check_catalog(store: Store, clean_ids: set[str], all_ids: set[str]) -> list[str]:
    """Problems with `catalog.duckdb`: unreadable, listing a version the store lacks, or missing
    a clean one (a damaged version may be listed: it was clean when the catalog was written)."""
    path = store.root / CATALOG_FILE
    if not path.exists():
        return []
    try:
        con = duckdb.connect(str(path), read_only=True)
        try:
            listed = {r[0] for r in con.execute("SELECT id FROM versions").fetchall()}
        finally:
            con.close()
    except duckdb.Error:
        return [f"{path}: unreadable; `genekb reindex` rewrites it from the Parquet files"]
    if listed - all_ids or clean_ids - listed:
        return [f"{path}: lists other versions than the store holds; run `genekb reindex`"]
    return []
