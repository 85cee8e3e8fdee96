"""What the `entrez` source stores: NCBI Gene records parsed from efetch XML, and the per-gene
SQLite cache that makes a fetch resumable (see `genekb.sources.entrez`).
"""

from __future__ import annotations

import logging
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from genekb.errors import GenekbError

log = logging.getLogger(__name__)

CACHE_FILENAME = "gene_summaries.sqlite"
CACHE_FORMAT = 1  # stored as SQLite user_version; bump when the table changes

# Gene-track_status values, plus ABSENT for a GeneID that NCBI returned no record for.
LIVE, SECONDARY, DISCONTINUED, ABSENT = "live", "secondary", "discontinued", "absent"


@dataclass(frozen=True)
class GeneSummary:
    """What NCBI Gene says about one GeneID: the fields this source uses."""

    gene_id: int
    symbol: str | None  # Gene-ref_locus
    summary: str | None  # Entrezgene_summary; None when NCBI has none
    status: str  # live | secondary | discontinued | absent
    current_id: int | None = None  # for a secondary (merged) record: the GeneID that replaced it
    fetched_on: str | None = None  # ISO date of the request that returned it


# ---------------------------------------------------------------------------------------------
# Parsing


class NcbiErrorResponse(Exception):
    """NCBI answered 200 with an error document instead of an Entrezgene-Set."""


def parse_entrezgene_xml(source: IO[bytes] | str | Path) -> list[GeneSummary]:
    """The records of an `efetch db=gene retmode=xml` answer (an Entrezgene-Set).

    Streams with ElementTree and clears each record once read: full Entrezgene records carry
    every GeneRIF and can be megabytes. ElementTree never loads the DTD that the DOCTYPE names,
    so parsing makes no network access.
    """
    records: list[GeneSummary] = []
    root: ET.Element | None = None
    for event, element in ET.iterparse(source, events=("start", "end")):
        if root is None:
            root = element
        elif event == "end" and element.tag == "Entrezgene":
            record = _record_from_element(element)
            if record is not None:
                records.append(record)
            element.clear()
    if root is None:  # iterparse raises on an empty document; this is for type checkers
        raise ET.ParseError("no element found")
    if root.tag != "Entrezgene-Set":
        words = " ".join(t.strip() for t in root.itertext() if t.strip())
        raise NcbiErrorResponse(words[:300] or f"<{root.tag}> instead of <Entrezgene-Set>")
    return records


def _record_from_element(gene: ET.Element) -> GeneSummary | None:
    track = gene.find("Entrezgene_track-info/Gene-track")
    gene_id = _text(track, "Gene-track_geneid") if track is not None else None
    if track is None or gene_id is None:
        log.warning("skipped an Entrezgene record without Gene-track_geneid")
        return None
    status_element = track.find("Gene-track_status")
    status = LIVE if status_element is None else status_element.get("value", LIVE)
    current_id = None
    for dbtag in track.iterfind("Gene-track_current-id/Dbtag"):
        tag_id = _text(dbtag, "Dbtag_tag/Object-id/Object-id_id")
        if _text(dbtag, "Dbtag_db") == "GeneID" and tag_id is not None:
            current_id = int(tag_id)
    return GeneSummary(
        gene_id=int(gene_id),
        symbol=_text(gene, "Entrezgene_gene/Gene-ref/Gene-ref_locus"),
        summary=_text(gene, "Entrezgene_summary"),
        status=status,
        current_id=current_id,
    )


def _text(element: ET.Element, path: str) -> str | None:
    found = element.find(path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


class SummaryCache:
    """Per-gene results in one SQLite file; each `put_many` is one committed transaction."""

    def __init__(self, cache_dir: Path | str) -> None:
        self.path = Path(cache_dir) / CACHE_FILENAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60)
        except (OSError, sqlite3.Error) as exc:
            raise GenekbError(f"cannot open the Entrez cache {self.path}: {exc}") from exc
        try:
            self._prepare()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise GenekbError(
                f"{self.path} is not a readable Entrez cache ({exc}); delete it to refetch"
            ) from exc

    def _prepare(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version == 0:
            with self._db:
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS gene_summary ("
                    " gene_id INTEGER PRIMARY KEY, symbol TEXT, summary TEXT,"
                    " status TEXT NOT NULL, current_id INTEGER, fetched_on TEXT NOT NULL)"
                )
                self._db.execute(f"PRAGMA user_version = {CACHE_FORMAT}")
        elif version != CACHE_FORMAT:
            raise GenekbError(
                f"{self.path} has cache format {version}, this genekb reads {CACHE_FORMAT};"
                " delete it to refetch"
            )

    def get_many(self, gene_ids: Iterable[int]) -> dict[int, GeneSummary]:
        ids = list(gene_ids)
        found: dict[int, GeneSummary] = {}
        for start in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT gene_id, symbol, summary, status, current_id, fetched_on"
                f" FROM gene_summary WHERE gene_id IN ({marks})",
                chunk,
            )
            found.update((row[0], GeneSummary(*row)) for row in rows)
        return found

    def put_many(self, records: Iterable[GeneSummary]) -> None:
        rows = [
            (r.gene_id, r.symbol, r.summary, r.status, r.current_id, r.fetched_on) for r in records
        ]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO gene_summary VALUES (?,?,?,?,?,?)", rows)

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM gene_summary").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SummaryCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
