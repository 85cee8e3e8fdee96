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

import contextlib
import logging
import math
import os
import socket
import sqlite3
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from http.client import HTTPException
from pathlib import Path
from typing import IO, Any
from urllib.error import HTTPError, URLError

import pyarrow as pa
from Bio import Entrez

from genekb.errors import GenekbError, UsageError
from genekb.records import GENE_SCHEMA, GeneTable, Snapshot

log = logging.getLogger(__name__)

SOURCE_NAME = "entrez"
TOOL = "genekb"  # the `tool` parameter NCBI asks every E-utilities client to send
DEFAULT_BATCH_SIZE = 200  # NCBI's advice for efetch id lists; Bio.Entrez POSTs from 200 ids
RATE_WITHOUT_KEY = 3.0  # requests per second NCBI allows without an API key
RATE_WITH_KEY = 10.0
CACHE_FILENAME = "gene_summaries.sqlite"
CACHE_FORMAT = 1  # stored as SQLite user_version; bump when the table changes

# Gene-track_status values, plus ABSENT for a GeneID that NCBI returned no record for.
LIVE, SECONDARY, DISCONTINUED, ABSENT = "live", "secondary", "discontinued", "absent"

ProgressCallback = Callable[[int, int], None]  # (genes done, genes asked for)


def default_cache_dir(root: Path | str) -> Path:
    """The cache directory under a store root: `<root>/cache/entrez`."""
    return Path(root) / "cache" / "entrez"


def _resolve_cache_dir(cache_dir: Path | str | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    from genekb.store.store import resolve_root  # the store's root rule: $GENEKB_HOME, ./artifacts

    return default_cache_dir(resolve_root(None))


@dataclass(frozen=True)
class GeneSummary:
    """What NCBI Gene says about one GeneID: the fields this source uses."""

    gene_id: int
    symbol: str | None  # Gene-ref_locus
    summary: str | None  # Entrezgene_summary; None when NCBI has none
    status: str  # live | secondary | discontinued | absent
    current_id: int | None = None  # for a secondary (merged) record: the GeneID that replaced it
    fetched_on: str | None = None  # ISO date of the request that returned it


@dataclass
class FetchStats:
    """What one `EntrezClient.fetch` call did (for progress lines and logs, not provenance)."""

    genes: int = 0  # distinct GeneIDs asked for
    from_cache: int = 0
    fetched: int = 0  # GeneIDs answered by requests made in this call
    requests: int = 0  # HTTP requests sent, retries included
    retries: int = 0


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


# ---------------------------------------------------------------------------------------------
# Rate limit and cache


class RateLimiter:
    """Spaces request starts at least 1/rate seconds apart, on an injectable clock."""

    def __init__(
        self,
        rate_per_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate_per_s > 0:
            raise UsageError(f"request rate must be positive, got {rate_per_s}")
        self.interval_s = 1.0 / rate_per_s
        self._clock, self._sleep = clock, sleep
        self._next_start = -math.inf

    def wait(self) -> float:
        """Block until the next request may start; return the seconds slept."""
        delay = self._next_start - self._clock()
        if delay > 0:
            self._sleep(delay)
        self._next_start = max(self._clock(), self._next_start) + self.interval_s
        return max(delay, 0.0)


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


# ---------------------------------------------------------------------------------------------
# The client

_ENTREZ_GLOBALS_LOCK = threading.Lock()


@contextlib.contextmanager
def _one_try_with_timeout(timeout_s: float) -> Iterator[None]:
    """Run one Bio.Entrez request with its own retries off and a socket timeout on.

    Bio.Entrez retries by itself (at once on HTTP errors, after 15 s on network errors) and opens
    sockets without a timeout; we retry with backoff on an injectable clock instead, and a stalled
    connection must not hang a long run. Both knobs are process-wide, hence the lock.
    """
    with _ENTREZ_GLOBALS_LOCK:
        saved_tries, saved_timeout = Entrez.max_tries, socket.getdefaulttimeout()
        Entrez.max_tries = 1
        socket.setdefaulttimeout(timeout_s)
        try:
            yield
        finally:
            Entrez.max_tries = saved_tries
            socket.setdefaulttimeout(saved_timeout)


class _RetriesExhausted(Exception):
    def __init__(self, failure: str, attempts: int) -> None:
        super().__init__(failure)
        self.failure, self.attempts = failure, attempts


class EntrezClient:
    """Fetches NCBI Gene records by GeneID through `Bio.Entrez.efetch`, caching every answer.

    `cache_dir` defaults to `<store root>/cache/entrez`, `email` to `NCBI_EMAIL` and `api_key` to
    `NCBI_API_KEY`; an email is required only when something must be fetched. `clock` and `sleep`
    drive the rate limit and the backoff.
    """

    def __init__(
        self,
        cache_dir: Path | str | None = None,
        *,
        email: str | None = None,
        api_key: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_retries: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        timeout_s: float = 120.0,
        rate_per_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if batch_size < 1:
            raise UsageError(f"batch size must be at least 1, got {batch_size}")
        if max_retries < 0:
            raise UsageError(f"max retries must be 0 or more, got {max_retries}")
        if not timeout_s > 0:
            raise UsageError(f"timeout must be positive, got {timeout_s}")
        self.cache_dir = _resolve_cache_dir(cache_dir)
        self.email = email or os.environ.get("NCBI_EMAIL") or None
        self._api_key = api_key or os.environ.get("NCBI_API_KEY") or None
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self.timeout_s = timeout_s
        rate = rate_per_s or (RATE_WITH_KEY if self._api_key else RATE_WITHOUT_KEY)
        self.limiter = RateLimiter(rate, clock=clock, sleep=sleep)
        self._sleep = sleep
        self.stats = FetchStats()

    @property
    def has_api_key(self) -> bool:
        return self._api_key is not None

    def __repr__(self) -> str:  # never show the key
        key = "set" if self._api_key else "unset"
        return f"EntrezClient(cache_dir={str(self.cache_dir)!r}, api_key={key})"

    def fetch(
        self, gene_ids: Iterable[int], *, progress: ProgressCallback | None = None
    ) -> dict[int, GeneSummary]:
        """One GeneSummary per distinct GeneID, in first-seen order; cached ones are not fetched.

        `progress(done, total)` is called once after the cache lookup and after every batch.
        """
        ids = _distinct_gene_ids(gene_ids)
        stats = self.stats = FetchStats(genes=len(ids))
        with SummaryCache(self.cache_dir) as cache:
            found = cache.get_many(ids)
            stats.from_cache = len(found)
            missing = [gene_id for gene_id in ids if gene_id not in found]
            if progress:
                progress(len(found), len(ids))
            if missing and not self.email:
                raise UsageError(
                    f"{len(missing)} genes need fetching from NCBI, which asks for a contact"
                    " email: set NCBI_EMAIL=you@example.org (or pass email=...)"
                )
            for start in range(0, len(missing), self.batch_size):
                batch = missing[start : start + self.batch_size]
                try:
                    records = self._fetch_batch(batch)
                except _RetriesExhausted as exc:
                    raise GenekbError(
                        f"NCBI E-utilities failed {exc.attempts} times in a row ({exc.failure});"
                        f" {len(found)} of {len(ids)} genes are cached in {self.cache_dir}:"
                        " rerun later to resume from there"
                    ) from None
                fetched = self._complete(batch, records)
                cache.put_many(fetched.values())
                found.update((gene_id, fetched[gene_id]) for gene_id in batch)
                stats.fetched += len(batch)
                if progress:
                    progress(len(found), len(ids))
        log.info(
            "entrez: %d genes, %d from cache, %d fetched in %d requests (%d retries)",
            stats.genes,
            stats.from_cache,
            stats.fetched,
            stats.requests,
            stats.retries,
        )
        return {gene_id: found[gene_id] for gene_id in ids}

    @staticmethod
    def _complete(batch: list[int], records: list[GeneSummary]) -> dict[int, GeneSummary]:
        """Date the records and add an ABSENT entry for each GeneID NCBI did not answer."""
        today = datetime.now(timezone.utc).date().isoformat()
        # Records NCBI returns beyond those asked for are kept too: GeneIDs are global keys.
        by_id = {r.gene_id: replace(r, fetched_on=today) for r in records}
        for gene_id in batch:
            by_id.setdefault(gene_id, GeneSummary(gene_id, None, None, ABSENT, None, today))
        return by_id

    def _fetch_batch(self, batch: list[int]) -> list[GeneSummary]:
        attempt = 0
        while True:
            self.limiter.wait()
            self.stats.requests += 1
            retry_after: float | None = None
            try:
                return self._request(batch)
            except HTTPError as exc:
                with contextlib.suppress(Exception):
                    exc.close()  # it holds the connection open
                if exc.code != 429 and exc.code < 500:
                    hint = " and NCBI_API_KEY" if self._api_key else ""
                    raise GenekbError(
                        f"NCBI E-utilities refused the request (HTTP {exc.code} {exc.reason});"
                        f" check the gene ids{hint}"
                    ) from None
                failure = f"HTTP {exc.code} {exc.reason}"
                retry_after = _retry_after_s(exc.headers)
            except NcbiErrorResponse as exc:
                raise GenekbError(
                    f"NCBI answered with an error for GeneIDs {batch[0]}..{batch[-1]}:"
                    f" {self._scrub(str(exc))}; check those ids"
                ) from None
            except ET.ParseError as exc:
                failure = f"unreadable XML from NCBI ({exc})"
            except (URLError, HTTPException, OSError) as exc:
                # URLError carries a reason (never the URL); read errors and timeouts land here too
                reason = exc.reason if isinstance(exc, URLError) else exc
                failure = f"{type(exc).__name__}: {self._scrub(str(reason))}"
            attempt += 1
            if attempt > self.max_retries:
                raise _RetriesExhausted(failure, attempt)
            delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
            if retry_after is not None:
                delay = max(delay, min(retry_after, self.max_backoff_s))
            log.warning(
                "NCBI request failed (%s); retry %d of %d in %.1f s",
                failure,
                attempt,
                self.max_retries,
                delay,
            )
            self.stats.retries += 1
            self._sleep(delay)

    def _request(self, batch: list[int]) -> list[GeneSummary]:
        params: dict[str, Any] = {
            "id": [str(gene_id) for gene_id in batch],
            "retmode": "xml",
            "tool": TOOL,
            "email": self.email,
            "api_key": self._api_key,  # None is dropped by Bio.Entrez
        }
        with _one_try_with_timeout(self.timeout_s):
            handle = Entrez.efetch(db="gene", **params)
            try:
                return parse_entrezgene_xml(handle)
            finally:
                handle.close()

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "<NCBI_API_KEY>") if self._api_key else text


def _distinct_gene_ids(gene_ids: Iterable[Any]) -> list[int]:
    ids: dict[int, None] = {}
    for value in gene_ids:
        try:
            gene_id = int(value)
        except (TypeError, ValueError):
            gene_id = 0
        if gene_id <= 0 or isinstance(value, bool | float):
            raise UsageError(f"{value!r} is not an NCBI GeneID (a positive integer)")
        ids[gene_id] = None
    return list(ids)


def _retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a Retry-After header given in seconds (NCBI sends no HTTP dates)."""
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Public entry points


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
