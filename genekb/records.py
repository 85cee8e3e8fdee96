"""The gene record: one row per gene, the shape every source yields and every text version keeps."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa

HUMAN = 9606
MOUSE = 10090
TAXA: dict[str, int] = {"human": HUMAN, "mouse": MOUSE}

# Column order is part of the format: text versions hash these tables.
GENE_SCHEMA = pa.schema(
    [
        pa.field("gene_id", pa.int64(), nullable=False),  # NCBI GeneID
        pa.field("taxon", pa.int32(), nullable=False),  # NCBI taxonomy id
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("name", pa.string()),  # full name
        pa.field("gene_type", pa.string()),  # NCBI type_of_gene, e.g. "protein-coding"
        pa.field("map_location", pa.string()),
        pa.field("aliases", pa.list_(pa.string())),
        pa.field("ensembl", pa.list_(pa.string())),  # Ensembl gene ids, no version suffix
        pa.field("summary", pa.string()),  # NCBI RefSeq summary where the source has one
        pa.field("go_bp", pa.list_(pa.string())),  # GO term names, sorted
        pa.field("go_mf", pa.list_(pa.string())),
        pa.field("go_cc", pa.list_(pa.string())),
    ]
)
GENE_COLUMNS: list[str] = GENE_SCHEMA.names

ORTHOLOG_SCHEMA = pa.schema(
    [
        pa.field("human_gene_id", pa.int64(), nullable=False),
        pa.field("human_symbol", pa.string()),
        pa.field("mouse_gene_id", pa.int64(), nullable=False),
        pa.field("mouse_symbol", pa.string()),
    ]
)


@dataclass(frozen=True)
class Snapshot:
    """Where a gene table came from; hashed into every text version built from it."""

    source: str  # registry name of the source, e.g. "bundled", "orgdb", "ncbi"
    taxon: int
    date: str  # snapshot date of the upstream data, ISO yyyy-mm-dd
    description: str  # one human sentence: which files, which versions
    details: dict[str, Any] = field(default_factory=dict)  # file hashes, package versions, urls

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GeneTable:
    """A gene table in GENE_SCHEMA plus the snapshot it came from."""

    table: pa.Table
    snapshot: Snapshot

    def __post_init__(self) -> None:
        self.table = conform(self.table)

    def __len__(self) -> int:
        return self.table.num_rows


def conform(table: pa.Table) -> pa.Table:
    """Return `table` with exactly GENE_SCHEMA's columns, in order, cast to its types."""
    missing = [c for c in GENE_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"gene table lacks columns {missing}")
    return table.select(GENE_COLUMNS).cast(GENE_SCHEMA)
