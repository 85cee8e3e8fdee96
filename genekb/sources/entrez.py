"""The `entrez` source: NCBI Gene summary paragraphs through E-utilities (`Bio.Entrez.efetch`).

GenePT embedded the RefSeq summaries of genes; the bundled snapshot has none, so this module
fetches them: batched (200 GeneIDs a request), rate-limited (NCBI allows 3 requests/s, 10/s with
`NCBI_API_KEY`), retried with bounded exponential backoff on HTTP 429/5xx and network errors,
and cached per gene in one SQLite file committed per batch. A killed run resumes where it stopped
and a rerun asks NCBI nothing for genes already cached; genes without a summary, and GeneIDs NCBI
returned no record for, are cached as such. The API key is sent to NCBI only: it is never stored,
logged, or put in an error message.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa

from genekb.records import GENE_SCHEMA, GeneTable, Snapshot
from genekb.sources.entrez_client import (
    DEFAULT_BATCH_SIZE,
    TOOL,
    EntrezClient,
    FetchStats,
    ProgressCallback,
    RateLimiter,
    default_cache_dir,
)
from genekb.sources.entrez_records import (
    ABSENT,
    CACHE_FILENAME,
    CACHE_FORMAT,
    DISCONTINUED,
    LIVE,
    SECONDARY,
    GeneSummary,
    NcbiErrorResponse,
    SummaryCache,
    parse_entrezgene_xml,
)

log = logging.getLogger(__name__)

__all__ = [  # the records and cache live in entrez_records; these names stay importable here
    "ABSENT",
    "CACHE_FILENAME",
    "CACHE_FORMAT",
    "DEFAULT_BATCH_SIZE",
    "DISCONTINUED",
    "LIVE",
    "SECONDARY",
    "TOOL",
    "EntrezClient",
    "EntrezSource",
    "FetchStats",
    "GeneSummary",
    "NcbiErrorResponse",
    "RateLimiter",
    "SummaryCache",
    "add_summaries",
    "default_cache_dir",
    "entrez_snapshot",
    "fetch_summaries",
    "parse_entrezgene_xml",
]

SOURCE_NAME = "entrez"


def fetch_summaries(
    gene_ids: Iterable[int],
    *,
    cache_dir: Path | str | None = None,
    progress: ProgressCallback | None = None,
    **client_options: Any,
) -> dict[int, str | None]:
    """GeneID -> NCBI summary paragraph (None where NCBI has none); see EntrezClient options."""
    client = EntrezClient(cache_dir, **client_options)
    return {gid: r.summary for gid, r in client.fetch(gene_ids, progress=progress).items()}


def add_summaries(
    genes: GeneTable,
    *,
    cache_dir: Path | str | None = None,
    client: EntrezClient | None = None,
    progress: ProgressCallback | None = None,
    **client_options: Any,
) -> GeneTable:
    """`genes` with the `summary` column filled from NCBI, and a snapshot that records the fetch.

    A gene keeps the summary it had when NCBI has none for it. The snapshot depends only on the
    cached answers (never on how many came from the cache), so equal data hash equal.
    """
    if client is None:
        client = EntrezClient(cache_dir, **client_options)
    table = genes.table
    gene_ids = table.column("gene_id").to_pylist()
    fetched = client.fetch(gene_ids, progress=progress)
    records = [fetched[gene_id] for gene_id in gene_ids]
    old = table.column("summary").to_pylist()
    merged = [r.summary if r.summary is not None else o for r, o in zip(records, old, strict=True)]
    column = GENE_SCHEMA.names.index("summary")
    table = table.set_column(column, GENE_SCHEMA.field("summary"), pa.array(merged, pa.string()))
    snapshot = entrez_snapshot(genes.snapshot, table.column("symbol").to_pylist(), records)
    return GeneTable(table, snapshot)


def entrez_snapshot(base: Snapshot, symbols: list[str], records: list[GeneSummary]) -> Snapshot:
    """The base snapshot extended with what the Entrez fetch contributed."""
    dates = sorted({r.fetched_on for r in records if r.fetched_on})
    with_summary = sum(r.summary is not None for r in records)
    symbol_differs = sum(
        1 for s, r in zip(symbols, records, strict=True) if r.symbol is not None and r.symbol != s
    )
    if symbol_differs:
        log.info("entrez: %d genes have a different symbol at NCBI now", symbol_differs)
    if dates:
        span = dates[0] if dates[0] == dates[-1] else f"{dates[0]}..{dates[-1]}"
        fetched = f"fetched {span}"
    else:
        fetched = "nothing fetched"
    return Snapshot(
        source=f"{base.source}+{SOURCE_NAME}",
        taxon=base.taxon,
        date=dates[-1] if dates else base.date,
        description=(
            f"{base.description.rstrip()} Summaries from NCBI Gene (E-utilities efetch db=gene),"
            f" {fetched}: {with_summary} of {len(records)} genes have one."
        ),
        details={
            "base": base.to_dict(),
            "entrez": {
                "db": "gene",
                "retmode": "xml",
                "fetched_first": dates[0] if dates else None,
                "fetched_last": dates[-1] if dates else None,
                "genes": len(records),
                "with_summary": with_summary,
                "without_summary": len(records) - with_summary,
                "status": dict(sorted(Counter(r.status for r in records).items())),
                "symbol_differs": symbol_differs,
            },
        },
    )


class EntrezSource:
    """The `entrez` source: a base gene table (or a function making one) plus NCBI summaries."""

    name = SOURCE_NAME

    def __init__(
        self,
        base: GeneTable | Callable[[], GeneTable],
        *,
        cache_dir: Path | str | None = None,
        progress: ProgressCallback | None = None,
        **client_options: Any,
    ) -> None:
        self._base = base
        self.client = EntrezClient(cache_dir, **client_options)
        self.progress = progress

    def load(self) -> GeneTable:
        base = self._base if isinstance(self._base, GeneTable) else self._base()
        return add_summaries(base, client=self.client, progress=self.progress)
