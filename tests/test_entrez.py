"""The entrez source against a local E-utilities server that answers from saved Entrezgene XML.

Bio.Entrez builds its request as usual; only the host of the URL it opens is swapped for the
local server's, so request building, GET/POST choice, HTTP, parsing and caching all run for real.
"""

from __future__ import annotations

import io
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pytest
from Bio import Entrez

from genekb.errors import GenekbError, UsageError
from genekb.records import GENE_SCHEMA, GeneTable, Snapshot
from genekb.sources import entrez
from genekb.sources.entrez import (
    ABSENT,
    CACHE_FILENAME,
    SECONDARY,
    EntrezClient,
    EntrezSource,
    GeneSummary,
    RateLimiter,
    SummaryCache,
    add_summaries,
    default_cache_dir,
    fetch_summaries,
    parse_entrezgene_xml,
)
from tests.fakes import send_reply

DATA = Path(__file__).parent / "data" / "entrez"
NCBI = "https://eutils.ncbi.nlm.nih.gov"
EMAIL = "tests@example.org"
SAVED = [7157, 3630, 920, 643837]  # TP53, INS, CD4 and LINC01128 (no summary)
NOT_AT_NCBI = 999_999_999


def _saved_records() -> tuple[str, dict[int, str]]:
    """The prolog NCBI sends and each saved Entrezgene record, by GeneID."""
    records: dict[int, str] = {}
    prolog = ""
    for path in sorted(DATA.glob("efetch_gene_*.xml")):
        text = path.read_text(encoding="utf-8")
        start = text.index("<Entrezgene-Set>")
        prolog = text[:start]
        body = text[start + len("<Entrezgene-Set>") : text.rindex("</Entrezgene-Set>")]
        records[int(path.stem.rsplit("_", 1)[1])] = body.strip("\n")
    return prolog, records


@dataclass
class Seen:
    method: str
    path: str
    params: dict[str, list[str]]

    @property
    def ids(self) -> list[int]:
        return [int(i) for i in self.params["id"][0].split(",")]


@dataclass
class FakeEutils:
    """Answers efetch like NCBI from the saved records; `script` holds the next odd answers.

    A script entry is None (answer normally), an HTTP status, (status, headers), "truncated",
    "stall" (answer after a second) or "error-document".
    """

    prolog: str
    records: dict[int, str]
    script: list[Any] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    def answer(self, method: str, path: str, query: str) -> tuple[int, dict[str, str], bytes]:
        params = parse_qs(query)
        self.seen.append(Seen(method, path, params))
        step = self.script.pop(0) if self.script else None
        if isinstance(step, int):
            step = (step, {})
        if isinstance(step, tuple):
            status, headers = step
            return status, {"Content-Type": "application/json", **headers}, b'{"error":"x"}'
        if step == "error-document":
            doc = (
                '<?xml version="1.0" encoding="UTF-8" ?>\n<eFetchResult>\n'
                "\t<ERROR>ID list is empty! Possibly it has no correct IDs.</ERROR>\n"
                "</eFetchResult>\n"
            )
            return 200, {"Content-Type": "text/xml; charset=UTF-8"}, doc.encode()
        ids = [int(i) for i in params["id"][0].split(",")]
        found = [self.records[i] for i in ids if i in self.records]
        body = self.prolog + "<Entrezgene-Set>\n" + "\n".join(found) + "\n</Entrezgene-Set>\n"
        data = body.encode()
        if step == "truncated":
            data = data[: len(data) // 2]
        if step == "stall":
            time.sleep(1.0)
        return 200, {"Content-Type": "text/xml; charset=UTF-8"}, data


class _Handler(BaseHTTPRequestHandler):
    fake: FakeEutils

    def do_GET(self) -> None:
        self._reply(urlsplit(self.path).query)

    def do_POST(self) -> None:
        self._reply(self.rfile.read(int(self.headers["Content-Length"])).decode())

    def _reply(self, query: str) -> None:
        status, headers, body = self.fake.answer(self.command, urlsplit(self.path).path, query)
        send_reply(self, status, body, headers)

    def log_message(self, *args: Any) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out leaves a broken pipe behind; that is the point


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection beyond this machine fails the test (DTD fetches included)."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"test tried to reach {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    monkeypatch.delenv("NCBI_EMAIL", raising=False)


def _redirect(monkeypatch: pytest.MonkeyPatch, base: str) -> None:
    real_urlopen = urllib.request.urlopen

    def to_local(request: urllib.request.Request, *args: Any, **kwargs: Any) -> Any:
        assert request.full_url.startswith(NCBI + "/entrez/eutils/efetch.fcgi")
        request.full_url = base + request.full_url[len(NCBI) :]
        return real_urlopen(request, *args, **kwargs)

    monkeypatch.setattr(Entrez, "urlopen", to_local)
    # Bio.Entrez spaces requests 0.37 s apart on the real clock; ours is tested on a fake one.
    monkeypatch.setattr(Entrez, "time", SimpleNamespace(time=time.time, sleep=lambda s: None))


@pytest.fixture
def eutils(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEutils]:
    prolog, records = _saved_records()
    fake = FakeEutils(prolog, records)
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    _redirect(monkeypatch, f"http://127.0.0.1:{server.server_address[1]}")
    yield fake
    server.shutdown()
    server.server_close()


class FakeClock:
    """A clock that moves only when slept on, recording each sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _client(cache_dir: Path, clock: FakeClock, **options: Any) -> EntrezClient:
    options.setdefault("email", EMAIL)
    return EntrezClient(cache_dir, clock=clock, sleep=clock.sleep, **options)


def _today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


# ---------------------------------------------------------------------------------------------
# parsing


def test_parse_saved_response_reads_id_symbol_summary_and_unescapes() -> None:
    records = {r.gene_id: r for p in DATA.glob("*.xml") for r in parse_entrezgene_xml(p)}
    assert sorted(records) == sorted(SAVED)
    tp53 = records[7157]
    assert (tp53.symbol, tp53.status, tp53.current_id) == ("TP53", "live", None)
    assert tp53.summary is not None
    assert tp53.summary.startswith("This gene encodes a tumor suppressor protein containing")
    assert tp53.summary.endswith("[provided by RefSeq, Dec 2016]")
    assert "at the 5' region and with the IGF2 gene at the 3' region" in str(records[3630].summary)
    assert records[643837] == GeneSummary(643837, "LINC01128", None, "live")


def test_saved_responses_are_valid_entrezgene_xml_read_offline_by_biopython() -> None:
    # Bio.Entrez.read validates element names against NCBI's DTD, found among Biopython's files
    # (the no_internet fixture would fail any DTD download).
    for path in DATA.glob("*.xml"):
        with path.open("rb") as handle:
            (record,) = Entrez.read(handle, validate=True)
        ours = parse_entrezgene_xml(path)[0]
        assert int(record["Entrezgene_track-info"]["Gene-track"]["Gene-track_geneid"]) == (
            ours.gene_id
        )
        assert record["Entrezgene_gene"]["Gene-ref"]["Gene-ref_locus"] == ours.symbol
        assert record.get("Entrezgene_summary") == ours.summary


def test_parse_secondary_record_reads_the_replacing_gene_id() -> None:
    xml = _saved_records()[0] + (
        "<Entrezgene-Set><Entrezgene><Entrezgene_track-info><Gene-track>"
        "<Gene-track_geneid>100</Gene-track_geneid>"
        '<Gene-track_status value="secondary">1</Gene-track_status>'
        "<Gene-track_current-id>"
        "<Dbtag><Dbtag_db>LocusID</Dbtag_db><Dbtag_tag><Object-id><Object-id_id>200"
        "</Object-id_id></Object-id></Dbtag_tag></Dbtag>"
        "<Dbtag><Dbtag_db>GeneID</Dbtag_db><Dbtag_tag><Object-id><Object-id_id>200"
        "</Object-id_id></Object-id></Dbtag_tag></Dbtag>"
        "</Gene-track_current-id>"
        "<Gene-track_create-date><Date><Date_std><Date-std><Date-std_year>2001</Date-std_year>"
        "</Date-std></Date_std></Date></Gene-track_create-date>"
        "<Gene-track_update-date><Date><Date_std><Date-std><Date-std_year>2020</Date-std_year>"
        "</Date-std></Date_std></Date></Gene-track_update-date>"
        '</Gene-track></Entrezgene_track-info><Entrezgene_type value="unknown">0</Entrezgene_type>'
        "<Entrezgene_source><BioSource><BioSource_org><Org-ref><Org-ref_taxname>Homo sapiens"
        "</Org-ref_taxname></Org-ref></BioSource_org></BioSource></Entrezgene_source>"
        "<Entrezgene_gene><Gene-ref/></Entrezgene_gene></Entrezgene></Entrezgene-Set>"
    )
    (record,) = Entrez.read(io.BytesIO(xml.encode()), validate=True)  # well-formed per the DTD
    assert record["Entrezgene_track-info"]["Gene-track"]["Gene-track_status"] == "1"
    assert parse_entrezgene_xml(io.BytesIO(xml.encode())) == [
        GeneSummary(100, None, None, SECONDARY, current_id=200)
    ]


# ---------------------------------------------------------------------------------------------
# requests, batching, cache


def test_batches_requests_and_sends_ncbi_parameters(eutils: FakeEutils, tmp_path: Path) -> None:
    clock = FakeClock()
    ids = [*SAVED, NOT_AT_NCBI]
    got = _client(tmp_path, clock, batch_size=2).fetch(ids)
    assert [s.ids for s in eutils.seen] == [[7157, 3630], [920, 643837], [NOT_AT_NCBI]]
    first = eutils.seen[0]
    assert (first.method, first.path) == ("GET", "/entrez/eutils/efetch.fcgi")
    assert {k: v for k, v in first.params.items() if k != "id"} == {
        "db": ["gene"],
        "retmode": ["xml"],
        "tool": ["genekb"],
        "email": [EMAIL],
    }
    assert list(got) == ids
    assert got[920].symbol == "CD4" and got[920].summary.startswith("This gene encodes the CD4")
    assert got[643837].summary is None and got[643837].status == "live"
    assert got[NOT_AT_NCBI] == GeneSummary(NOT_AT_NCBI, None, None, ABSENT, None, _today())
    # three requests at 3/s: the limiter waited a third of a second before the 2nd and 3rd
    assert clock.sleeps == pytest.approx([1 / 3, 1 / 3])


def test_default_batch_of_200_is_posted(eutils: FakeEutils, tmp_path: Path) -> None:
    ids = SAVED + list(range(10_000_001, 10_000_198))  # 201 ids
    got = _client(tmp_path, FakeClock()).fetch(ids)
    assert [(s.method, len(s.ids)) for s in eutils.seen] == [("POST", 200), ("GET", 1)]
    assert sum(r.status == ABSENT for r in got.values()) == 197
    assert got[7157].symbol == "TP53"


def test_second_call_is_served_from_cache_with_zero_requests(
    eutils: FakeEutils, tmp_path: Path
) -> None:
    ids = [*SAVED, NOT_AT_NCBI]
    first = fetch_summaries(ids, cache_dir=tmp_path, email=EMAIL, sleep=lambda s: None)
    assert len(eutils.seen) == 1
    assert first[643837] is None and first[NOT_AT_NCBI] is None
    assert first[3630] is not None and first[3630].startswith("This gene encodes insulin")
    eutils.seen.clear()
    client = EntrezClient(tmp_path)  # no email needed: nothing to fetch
    again = client.fetch(ids)
    assert eutils.seen == []
    assert {g: r.summary for g, r in again.items()} == first
    assert (client.stats.from_cache, client.stats.fetched, client.stats.requests) == (5, 0, 0)
    with SummaryCache(tmp_path) as cache:
        assert len(cache) == 5


def test_resume_after_failure_requests_only_the_missing_batch(
    eutils: FakeEutils, tmp_path: Path
) -> None:
    clock = FakeClock()
    eutils.script = [None, 500, 500]  # batch 1 fine, batch 2 fails twice
    with pytest.raises(GenekbError, match=r"failed 2 times in a row \(HTTP 500") as failure:
        _client(tmp_path, clock, batch_size=2, max_retries=1).fetch(SAVED)
    assert "2 of 4 genes are cached" in str(failure.value)
    assert "rerun later" in str(failure.value)
    with SummaryCache(tmp_path) as cache:
        assert sorted(cache.get_many(SAVED)) == [3630, 7157]
    eutils.seen.clear()
    got = _client(tmp_path, clock, batch_size=2).fetch(SAVED)
    assert [s.ids for s in eutils.seen] == [[920, 643837]]
    assert [r.symbol for r in got.values()] == ["TP53", "INS", "CD4", "LINC01128"]


def test_killed_run_keeps_the_batches_it_finished(eutils: FakeEutils, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        calls.append((done, total))
        if len(calls) == 2:
            raise KeyboardInterrupt  # as if ^C arrived right after the first batch

    with pytest.raises(KeyboardInterrupt):
        _client(tmp_path, FakeClock(), batch_size=2).fetch(SAVED, progress=progress)
    assert calls == [(0, 4), (2, 4)]
    eutils.seen.clear()
    resumed: list[tuple[int, int]] = []
    got = _client(tmp_path, FakeClock(), batch_size=2).fetch(
        SAVED, progress=lambda done, total: resumed.append((done, total))
    )
    assert [s.ids for s in eutils.seen] == [[920, 643837]]
    assert resumed == [(2, 4), (4, 4)]
    assert got[7157].symbol == "TP53"


# ---------------------------------------------------------------------------------------------
# retries


def test_429_is_retried_after_retry_after_then_succeeds(eutils: FakeEutils, tmp_path: Path) -> None:
    clock = FakeClock()
    eutils.script = [(429, {"Retry-After": "3"})]
    client = _client(tmp_path, clock)
    got = client.fetch([7157])
    assert got[7157].symbol == "TP53"
    assert len(eutils.seen) == 2
    assert clock.sleeps == [3.0]  # Retry-After beat the 1 s first backoff
    assert (client.stats.requests, client.stats.retries) == (2, 1)


def test_backoff_doubles_between_retries(eutils: FakeEutils, tmp_path: Path) -> None:
    clock = FakeClock()
    eutils.script = [429, 503, 502]
    _client(tmp_path, clock, backoff_s=0.5).fetch([920])
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert len(eutils.seen) == 4


def test_500_storm_ends_in_a_clear_error(eutils: FakeEutils, tmp_path: Path) -> None:
    clock = FakeClock()
    eutils.script = [500] * 10
    with pytest.raises(GenekbError) as failure:
        _client(tmp_path, clock, max_retries=3).fetch([7157])
    message = str(failure.value)
    assert message.startswith("NCBI E-utilities failed 4 times in a row (HTTP 500")
    assert "0 of 1 genes are cached" in message and "\n" not in message
    assert failure.value.exit_code == 1
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert len(eutils.seen) == 4


def test_client_error_is_not_retried(eutils: FakeEutils, tmp_path: Path) -> None:
    eutils.script = [400]
    with pytest.raises(GenekbError, match=r"refused the request \(HTTP 400"):
        _client(tmp_path, FakeClock()).fetch([7157])
    assert len(eutils.seen) == 1


def test_truncated_answer_is_retried(eutils: FakeEutils, tmp_path: Path) -> None:
    clock = FakeClock()
    eutils.script = ["truncated"]
    got = _client(tmp_path, clock, batch_size=4).fetch(SAVED)
    assert got[643837].symbol == "LINC01128"
    assert len(eutils.seen) == 2 and clock.sleeps == [1.0]


def test_stalled_answer_times_out_and_is_retried(eutils: FakeEutils, tmp_path: Path) -> None:
    eutils.script = ["stall"]
    globals_before = (Entrez.max_tries, socket.getdefaulttimeout())
    started = time.monotonic()
    got = _client(tmp_path, FakeClock(), timeout_s=0.2).fetch([7157])
    assert got[7157].symbol == "TP53"
    assert len(eutils.seen) == 2
    assert time.monotonic() - started < 0.9  # did not wait for the stalled answer
    assert (Entrez.max_tries, socket.getdefaulttimeout()) == globals_before  # restored


def test_unreachable_server_ends_in_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _redirect(monkeypatch, f"http://127.0.0.1:{port}")
    clock = FakeClock()
    with pytest.raises(GenekbError, match=r"failed 3 times in a row \(URLError: .*refused"):
        _client(tmp_path, clock, max_retries=2).fetch([7157])
    assert clock.sleeps == [1.0, 2.0]


def test_error_document_names_the_ids(eutils: FakeEutils, tmp_path: Path) -> None:
    eutils.script = ["error-document"]
    with pytest.raises(GenekbError, match=r"GeneIDs 7157\.\.920: ID list is empty"):
        _client(tmp_path, FakeClock()).fetch([7157, 920])


# ---------------------------------------------------------------------------------------------
# rate limit, credentials


def test_rate_limiter_spaces_requests_on_a_fake_clock() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3.0, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(7):
        limiter.wait()
        starts.append(clock.now)
        clock.now += 0.05  # the request itself takes 50 ms
    assert starts == pytest.approx([i / 3 for i in range(7)])
    assert all(
        later - earlier >= 1.0 - 1e-9 for earlier, later in zip(starts, starts[3:], strict=False)
    )
    clock.now += 5.0  # a caller slower than the limit never waits
    clock.sleeps.clear()
    limiter.wait()
    assert clock.sleeps == []


def test_api_key_raises_the_rate_to_ten_per_second(
    eutils: FakeEutils, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NCBI_API_KEY", "k" * 36)
    monkeypatch.setenv("NCBI_EMAIL", EMAIL)
    clock = FakeClock()
    client = EntrezClient(tmp_path, batch_size=1, clock=clock, sleep=clock.sleep)
    assert client.has_api_key and client.email == EMAIL
    client.fetch(SAVED[:3])
    assert clock.sleeps == pytest.approx([0.1, 0.1])
    assert [s.params["api_key"] for s in eutils.seen] == [["k" * 36]] * 3


def test_api_key_never_lands_on_disk_in_logs_or_errors(
    eutils: FakeEutils, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = "0123456789abcdef0123456789abcdef0f1e"
    caplog.set_level("DEBUG")
    eutils.script = [429]
    client = _client(tmp_path, FakeClock(), api_key=key, batch_size=2)
    add_summaries(_gene_table(SAVED), client=client)
    assert eutils.seen[0].params["api_key"] == [key]  # it was sent to NCBI
    eutils.script = [500, 500]
    with pytest.raises(GenekbError) as failure:
        _client(tmp_path, FakeClock(), api_key=key, max_retries=1).fetch([NOT_AT_NCBI])
    eutils.script = [403]
    with pytest.raises(GenekbError) as refused:
        _client(tmp_path, FakeClock(), api_key=key).fetch([NOT_AT_NCBI])
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files and all(key.encode() not in p.read_bytes() for p in files)
    assert key not in caplog.text and "retry 1 of 5" in caplog.text
    assert key not in str(failure.value) and key not in str(refused.value)
    assert key not in repr(client)


def test_email_is_required_only_when_fetching(eutils: FakeEutils, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="NCBI_EMAIL"):
        EntrezClient(tmp_path).fetch([7157])
    assert eutils.seen == []
    assert EntrezClient(tmp_path).fetch([]) == {}


def test_bad_gene_ids_are_usage_errors(tmp_path: Path) -> None:
    for bad in ["TP53", -1, 0, 7157.5]:
        with pytest.raises(UsageError, match="not an NCBI GeneID"):
            EntrezClient(tmp_path, email=EMAIL).fetch([bad])  # type: ignore[list-item]


def test_unreadable_cache_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / CACHE_FILENAME).write_bytes(b"not a database" * 100)
    with pytest.raises(GenekbError, match="delete it to refetch"):
        EntrezClient(tmp_path, email=EMAIL).fetch([7157])


# ---------------------------------------------------------------------------------------------
# gene tables


def _gene_table(ids: list[int], summaries: dict[int, str] | None = None) -> GeneTable:
    symbols = {7157: "TP53", 3630: "INS", 920: "CD4", 643837: "LINC01128", NOT_AT_NCBI: "OLD1"}
    rows = [
        {
            "gene_id": g,
            "taxon": 9606,
            "symbol": symbols.get(g, f"G{g}"),
            "name": None,
            "gene_type": None,
            "map_location": None,
            "aliases": [],
            "ensembl": [],
            "summary": (summaries or {}).get(g),
            "go_bp": [],
            "go_mf": [],
            "go_cc": [],
        }
        for g in ids
    ]
    snapshot = Snapshot("bundled", 9606, "2022-09-12", "org.Hs.eg.db 3.16.", {"sha256": "x"})
    return GeneTable(pa.Table.from_pylist(rows, schema=GENE_SCHEMA), snapshot)


def test_add_summaries_fills_the_column_and_records_the_fetch(
    eutils: FakeEutils, tmp_path: Path
) -> None:
    base = _gene_table([*SAVED, NOT_AT_NCBI], {NOT_AT_NCBI: "kept", 920: "replaced"})
    out = add_summaries(base, cache_dir=tmp_path, email=EMAIL, sleep=lambda s: None)
    summaries = dict(
        zip(out.table["gene_id"].to_pylist(), out.table["summary"].to_pylist(), strict=True)
    )
    assert summaries[7157].startswith("This gene encodes a tumor suppressor")
    assert summaries[920].startswith("This gene encodes the CD4")
    assert summaries[643837] is None
    assert summaries[NOT_AT_NCBI] == "kept"
    assert out.table.schema == GENE_SCHEMA
    snap = out.snapshot
    assert (snap.source, snap.taxon, snap.date) == ("bundled+entrez", 9606, _today())
    assert snap.description.startswith("org.Hs.eg.db 3.16. Summaries from NCBI Gene")
    assert snap.description.endswith(f"fetched {_today()}: 3 of 5 genes have one.")
    assert snap.details["base"] == base.snapshot.to_dict()
    assert snap.details["entrez"] == {
        "db": "gene",
        "retmode": "xml",
        "fetched_first": _today(),
        "fetched_last": _today(),
        "genes": 5,
        "with_summary": 3,
        "without_summary": 2,
        "status": {"absent": 1, "live": 4},
        "symbol_differs": 0,
    }
    eutils.seen.clear()
    again = add_summaries(base, cache_dir=tmp_path)  # all cached: same data, same snapshot
    assert eutils.seen == []
    assert again.snapshot == snap and again.table.equals(out.table)


def test_entrez_source_wraps_a_base_table(eutils: FakeEutils, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    source = EntrezSource(
        lambda: _gene_table([7157, 643837]),
        cache_dir=default_cache_dir(tmp_path),
        email=EMAIL,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert source.name == "entrez" == entrez.SOURCE_NAME
    table = source.load()
    assert table.snapshot.source == "bundled+entrez"
    assert table.table["symbol"].to_pylist() == ["TP53", "LINC01128"]
    assert calls == [(0, 2), (2, 2)]
    assert (tmp_path / "cache" / "entrez" / CACHE_FILENAME).is_file()


def test_cache_dir_defaults_to_the_store_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENEKB_HOME", str(tmp_path / "store"))
    assert EntrezClient().cache_dir == tmp_path / "store" / "cache" / "entrez"
    assert default_cache_dir("/x") == Path("/x/cache/entrez")
