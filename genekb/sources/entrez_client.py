"""The E-utilities client behind the `entrez` source: batched `efetch db=gene` requests,
rate-limited (3 requests/s, 10/s with `NCBI_API_KEY`), retried with bounded backoff, answered
from and written to the per-gene cache (`genekb.sources.entrez_records.SummaryCache`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from http.client import HTTPException
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError

from Bio import Entrez

from genekb.errors import GenekbError, UsageError
from genekb.sources.entrez_records import (
    ABSENT,
    GeneSummary,
    NcbiErrorResponse,
    SummaryCache,
    parse_entrezgene_xml,
)
from genekb.store.store_root import resolve_root  # the store's root rule: $GENEKB_HOME, ./artifacts

log = logging.getLogger(__name__)

TOOL = "genekb"  # the `tool` parameter NCBI asks every E-utilities client to send
DEFAULT_BATCH_SIZE = 200  # NCBI's advice for efetch id lists; Bio.Entrez POSTs from 200 ids
RATE_WITHOUT_KEY = 3.0  # requests per second NCBI allows without an API key
RATE_WITH_KEY = 10.0
ProgressCallback = Callable[[int, int], None]  # (genes done, genes asked for)


def default_cache_dir(root: Path | str) -> Path:
    """The cache directory under a store root: `<root>/cache/entrez`."""
    return Path(root) / "cache" / "entrez"


def _resolve_cache_dir(cache_dir: Path | str | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)

    return default_cache_dir(resolve_root(None))


@dataclass
class FetchStats:
    """What one `EntrezClient.fetch` call did (for progress lines and logs, not provenance)."""

    genes: int = 0  # distinct GeneIDs asked for
    from_cache: int = 0
    fetched: int = 0  # GeneIDs answered by requests made in this call
    requests: int = 0  # HTTP requests sent, retries included
    retries: int = 0


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
