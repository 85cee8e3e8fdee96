"""A DuckDB catalog over the store: views `genes`, `embeddings`, `versions`.

The catalog is derived: Parquet files and manifests are canonical, and `connect` rebuilds the views
from them each time, so a moved or copied store needs nothing but its files.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from genekb.store.store import GENES_FILE, VECTORS_FILE, Store

CATALOG_FILE = "catalog.duckdb"


def _quote(path: Path) -> str:
    return "'" + str(path.resolve()).replace("'", "''") + "'"


def version_rows(store: Store) -> list[dict[str, Any]]:
    tags: dict[str, list[str]] = {}
    for tag, vid in store.tags().items():
        tags.setdefault(vid, []).append(tag)
    rows = []
    for v in store.versions():
        m = v.manifest
        encoder = m.get("encoder") or {}
        rows.append(
            {
                "id": v.id,
                "kind": v.kind,
                "text_id": m.get("text_id", v.id),
                "tags": ",".join(sorted(tags.get(v.id, []))),
                "taxon": m.get("taxon"),
                "template": (m.get("template") or {}).get("id"),
                "source": (m.get("source") or {}).get("source"),
                "snapshot_date": (m.get("source") or {}).get("date"),
                "model": encoder.get("name"),
                "backend": encoder.get("backend"),
                "dim": m.get("dim"),
                "n_genes": (m.get("counts") or {}).get("genes"),
                "created": m.get("created"),
            }
        )
    return rows


def _create_views(con: duckdb.DuckDBPyConnection, store: Store) -> None:
    rows = version_rows(store)
    frame = pd.DataFrame(
        rows,
        columns=[
            "id",
            "kind",
            "text_id",
            "tags",
            "taxon",
            "template",
            "source",
            "snapshot_date",
            "model",
            "backend",
            "dim",
            "n_genes",
            "created",
        ],
    )
    con.register("_versions_frame", frame)
    con.execute("CREATE OR REPLACE TABLE versions AS SELECT * FROM _versions_frame")
    con.unregister("_versions_frame")

    texts = [r["id"] for r in rows if r["kind"] == "text"]
    if texts:
        parts = [
            f"SELECT '{t}' AS text_id, * "
            f"FROM read_parquet({_quote(store.root / 'texts' / t / GENES_FILE)})"
            for t in texts
        ]
        con.execute("CREATE OR REPLACE VIEW genes AS " + " UNION ALL BY NAME ".join(parts))
    else:
        con.execute(
            "CREATE OR REPLACE VIEW genes AS SELECT NULL::VARCHAR AS text_id, "
            "NULL::BIGINT AS gene_id, NULL::VARCHAR AS symbol, NULL::VARCHAR AS text WHERE false"
        )
    embeddings = [r for r in rows if r["kind"] == "embedding"]
    if embeddings:
        # Dimensions differ between encoders, so vectors are exposed as variable-length FLOAT[].
        parts = [
            f"SELECT '{r['id']}' AS embedding_id, '{r['text_id']}' AS text_id, "
            f"'{r['model']}' AS model, "
            "gene_id, symbol, text_sha256, n_tokens, truncated, vector::FLOAT[] AS vector "
            f"FROM read_parquet({_quote(store.root / 'embeddings' / r['id'] / VECTORS_FILE)})"
            for r in embeddings
        ]
        con.execute("CREATE OR REPLACE VIEW embeddings AS " + " UNION ALL ".join(parts))
    else:
        con.execute(
            "CREATE OR REPLACE VIEW embeddings AS SELECT NULL::VARCHAR AS embedding_id, "
            "NULL::VARCHAR AS text_id, NULL::VARCHAR AS model, NULL::BIGINT AS gene_id, "
            "NULL::VARCHAR AS symbol, NULL::FLOAT[] AS vector WHERE false"
        )


def connect(store: Store) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the catalog's views over `store`."""
    con = duckdb.connect(":memory:")
    _create_views(con, store)
    return con


def rebuild(store: Store) -> Path:
    """Rewrite `catalog.duckdb` at the store root (atomically) for tools that open it directly."""
    target = store.root / CATALOG_FILE
    with store.lock("catalog"):
        tmp = store.root / f".{CATALOG_FILE}.{uuid.uuid4().hex}"
        try:
            con = duckdb.connect(str(tmp))
            _create_views(con, store)
            con.close()
            os.replace(tmp, target)
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
                leftover.unlink(missing_ok=True)
    return target


def query(store: Store, sql: str) -> pd.DataFrame:
    con = connect(store)
    try:
        return con.execute(sql).fetchdf()
    finally:
        con.close()
