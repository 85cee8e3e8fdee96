"""The snapshots shipped as package data: human (and mouse) gene tables and human–mouse orthologs.

Each Parquet file carries its provenance as JSON under the key `genekb.snapshot`; see
`genekb/data/README.md` for attribution and the scripts that regenerate them.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from genekb.errors import GenekbError
from genekb.fileio import atomic_path
from genekb.records import ORTHOLOG_SCHEMA, TAXA, GeneTable, Snapshot

SNAPSHOT_KEY = b"genekb.snapshot"


def data_dir() -> Path:
    return Path(str(resources.files("genekb") / "data"))


def bundled_path(taxon: str) -> Path:
    return data_dir() / f"{taxon}_genes.parquet"


def available_taxa() -> list[str]:
    return [t for t in TAXA if bundled_path(t).exists()]


def read_snapshot_metadata(path: Path) -> Snapshot:
    meta = pq.read_schema(path).metadata or {}
    if SNAPSHOT_KEY not in meta:
        raise GenekbError(f"{path} has no genekb.snapshot metadata; regenerate it with scripts/")
    return Snapshot(**json.loads(meta[SNAPSHOT_KEY]))


def write_with_snapshot(table: pa.Table, snapshot: Snapshot, path: Path) -> None:
    """Write `table` to `path` with the snapshot in its key-value metadata (used by scripts/)."""
    meta = dict(table.schema.metadata or {})
    meta[SNAPSHOT_KEY] = json.dumps(snapshot.to_dict(), sort_keys=True).encode()
    with atomic_path(path) as tmp:
        pq.write_table(
            table.replace_schema_metadata(meta), tmp, compression="zstd", compression_level=19
        )


@lru_cache(maxsize=4)
def load_bundled(taxon: str = "human") -> GeneTable:
    """The bundled gene table for `taxon` ("human" or "mouse")."""
    path = bundled_path(taxon)
    if not path.exists():
        have = ", ".join(available_taxa()) or "none"
        raise GenekbError(f"no bundled {taxon} snapshot in this install (bundled: {have})")
    return GeneTable(
        pq.read_table(path).replace_schema_metadata(None), read_snapshot_metadata(path)
    )


@lru_cache(maxsize=1)
def load_orthologs() -> tuple[pa.Table, Snapshot]:
    """The bundled human–mouse ortholog table (ORTHOLOG_SCHEMA) and its provenance."""
    path = data_dir() / "human_mouse_orthologs.parquet"
    if not path.exists():
        raise GenekbError("no bundled human–mouse ortholog table in this install")
    table = pq.read_table(path).replace_schema_metadata(None)
    return table.select(ORTHOLOG_SCHEMA.names).cast(ORTHOLOG_SCHEMA), read_snapshot_metadata(path)
