"""RefSeq gene summaries as a source: bundled human and mouse paragraphs joined onto a base source.

The table (`genekb/data/refseq_summaries.parquet`) holds the "Summary" paragraph of NCBI RefSeq
records (O'Leary et al. 2016, Nucleic Acids Res 44:D733) as extracted by the Bioconductor package
GeneSummary 0.99.7 (Zuguang Gu; MIT); `genekb/data/README.md` gives its provenance and
`scripts/make_refseq_summaries.py` regenerates it. Its sha256 is checked on every read.

`add_refseq` fills a gene's `summary` where the base source has none (a summary the base source
does have is kept), and records in the snapshot the table's sha256, date, licence and coverage,
so text versions built with and without the summaries have different ids.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from genekb.errors import GenekbError
from genekb.records import TAXA, GeneTable, Snapshot
from genekb.sources.bundled import data_dir, read_snapshot_metadata

SOURCE_NAME = "refseq"
FILE_NAME = "refseq_summaries.parquet"
# The bytes shipped as package data; a copy that differs is refused, not read.
FILE_SHA256 = "90b6b8df9f4634e6d46feb06d8c29bcf7fbe9beb6fe30e3416602f42b6b24079"
TABLE_SCHEMA = pa.schema(
    [
        pa.field("taxon", pa.int32(), nullable=False),
        pa.field("gene_id", pa.int64(), nullable=False),
        pa.field("review_status", pa.string()),
        pa.field("summary", pa.string(), nullable=False),
    ]
)


def table_path() -> Path:
    return data_dir() / FILE_NAME


@lru_cache(maxsize=1)
def load_table() -> tuple[pa.Table, Snapshot]:
    """The bundled summaries (TABLE_SCHEMA) and their provenance, after checking the file's hash."""
    path = table_path()
    if not path.exists():
        raise GenekbError(f"no bundled RefSeq summaries in this install ({path} is missing)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != FILE_SHA256:
        raise GenekbError(
            f"{path} has sha256 {digest}, not the shipped {FILE_SHA256}; reinstall genekb or "
            "regenerate it with scripts/make_refseq_summaries.py"
        )
    table = pq.read_table(path).replace_schema_metadata(None).cast(TABLE_SCHEMA)
    return table, read_snapshot_metadata(path)


def summaries_for(taxon: int) -> dict[int, str]:
    table, _ = load_table()
    rows = table.filter(pc.equal(table.column("taxon"), taxon))
    return dict(
        zip(rows.column("gene_id").to_pylist(), rows.column("summary").to_pylist(), strict=True)
    )


def add_refseq(genes: GeneTable) -> GeneTable:
    """`genes` with empty summaries filled from the bundled RefSeq table; the snapshot says so."""
    if genes.snapshot.taxon not in TAXA.values():
        raise GenekbError(f"no RefSeq summaries bundled for taxon {genes.snapshot.taxon}")
    found = summaries_for(int(genes.snapshot.taxon))
    table = genes.table
    old = table.column("summary").to_pylist()
    ids = table.column("gene_id").to_pylist()
    new = [s if s else found.get(g) for s, g in zip(old, ids, strict=True)]
    filled = sum(1 for s, n in zip(old, new, strict=True) if not s and n)
    table = table.set_column(
        table.schema.get_field_index("summary"), "summary", pa.array(new, pa.string())
    )
    return GeneTable(table, refseq_snapshot(genes.snapshot, filled, len(ids)))


def refseq_snapshot(base: Snapshot, filled: int, n_genes: int) -> Snapshot:
    _, table_snapshot = load_table()
    return Snapshot(
        source=f"{base.source}+{SOURCE_NAME}",
        taxon=base.taxon,
        date=base.date,
        description=(
            f"{base.description.rstrip()} Summaries from NCBI RefSeq ({table_snapshot.description}"
            f" dated {table_snapshot.date}) filled {filled} of {n_genes} genes."
        ),
        details={
            "base": base.to_dict(),
            "refseq": {
                "file": FILE_NAME,
                "sha256": FILE_SHA256,
                "date": table_snapshot.date,
                "filled": filled,
                "genes": n_genes,
                "provenance": json.loads(json.dumps(table_snapshot.details)),
            },
        },
    )
