"""The store keeps its promise: no reader uses a damaged version, SQL cannot write, import is
all-or-nothing, and bad input leaves nothing behind."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from genekb.build import build
from genekb.errors import GenekbError, IntegrityError
from genekb.store.sharing import export_version, import_file
from genekb.store.store import Store
from tests.conftest import make_genes, one_line_error
from tests.conftest import run_genekb as run

runner = CliRunner()


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` and its bytes (directories as empty entries)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"<dir>")
        for p in sorted(root.rglob("*"))
    }


def two_versions(root: Path) -> tuple[Store, dict, dict]:
    """A store with two embedding versions (genes 1-30 and 31-40) of the fake encoder."""
    store = Store.open(root, create=True)
    genes = make_genes()
    a = build(
        store, model="fake", gene_table=genes, genes=[f"GENE{i}" for i in range(1, 31)], tag="a"
    )
    b = build(
        store, model="fake", gene_table=genes, genes=[f"GENE{i}" for i in range(31, 41)], tag="b"
    )
    return store, a, b


def flip(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2 if offset is None else offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_flipped_vector_byte_is_refused_by_every_reader_and_never_reused(tmp_path):
    store, a, _b = two_versions(tmp_path)
    vectors = tmp_path / "embeddings" / a["embedding_id"] / "vectors.parquet"
    store.embedding("a").check()  # records the clean stamp: the damage must still be seen
    flip(vectors)
    with pytest.raises(IntegrityError, match=r"vectors\.parquet.*genekb verify"):
        store.embedding("a").matrix()
    with pytest.raises(IntegrityError, match=r"vectors\.parquet"):
        store.embedding("a").check()
    for args in (("similar", "GENE3", "--ref", "a"), ("info", "a"), ("export", "a", "x.tar")):
        line = one_line_error(run(*args, "--root", str(tmp_path)))
        assert "vectors.parquet" in line and "genekb verify" in line
    assert not (tmp_path / "x.tar").exists()
    # The other version stays usable.
    assert run("similar", "GENE33", "--ref", "b", "--root", str(tmp_path)).exit_code == 0
    # A new version over the same genes embeds afresh instead of reusing the damaged vectors.
    c = build(
        store, model="fake", gene_table=make_genes(), genes=[f"GENE{i}" for i in range(1, 36)]
    )
    assert c["embedded"] == 30 and c["reused"] == 5
    assert any("vectors.parquet" in m for m in c["skipped_damaged"])
    bad = [r["id"] for r in store.verify() if not r["ok"]]
    assert bad == [a["embedding_id"]]
    # A build of the damaged version's own recipe is never reported as found: it writes the
    # version again in place of the damaged copy (issue 64: the repair the message names).
    with pytest.warns(UserWarning, match=r"vectors\.parquet.*rebuilding it"):
        build(
            store, model="fake", gene_table=make_genes(), genes=[f"GENE{i}" for i in range(1, 31)],
            tag="a",
        )  # fmt: skip
    assert all(r["ok"] for r in store.verify())


def test_a_warm_check_hashes_nothing_but_sees_a_rewritten_file(tmp_path, monkeypatch):
    store, _a, _ = two_versions(tmp_path)
    version = store.embedding("a")
    version.check()
    import genekb.store.integrity as integrity

    calls = []
    monkeypatch.setattr(integrity, "sha256_file", lambda p, **_: calls.append(p) or "0" * 64)
    version.check()
    assert calls == []  # size, mtime, ctime and inode unchanged: no re-hash
    vectors = version.path / "vectors.parquet"
    stat = vectors.stat()
    data = bytearray(vectors.read_bytes())
    data[100] ^= 0x01
    vectors.write_bytes(bytes(data))
    os.utime(vectors, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # mtime restored; ctime is not
    with pytest.raises(IntegrityError):
        version.check()
    assert calls == [vectors]


@pytest.mark.parametrize(
    "statement",
    [
        "COPY (SELECT 1 AS x) TO '{root}/tags.json'",
        "COPY (SELECT * FROM embeddings) TO '{vectors}' (FORMAT parquet)",
        "ATTACH '{root}/catalog.duckdb' AS c",
        "ATTACH '{root}/new.duckdb' AS n",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM read_parquet('{vectors}')",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "EXPORT DATABASE '{root}/dump'",
    ],
)
def test_sql_cannot_write_or_reach_outside(tmp_path, statement):
    _store, a, _ = two_versions(tmp_path)
    vectors = tmp_path / "embeddings" / a["embedding_id"] / "vectors.parquet"
    before = snapshot(tmp_path)
    sql = statement.format(root=tmp_path, vectors=vectors)
    line = one_line_error(run("sql", sql, "--root", str(tmp_path)))
    assert line.startswith("error: SQL error")
    assert snapshot(tmp_path) == before


def test_sql_runs_queries_only(tmp_path):
    two_versions(tmp_path)
    before = snapshot(tmp_path)
    changes = ("DROP VIEW versions", "CREATE TABLE t AS SELECT 1", "SELECT 1; DROP VIEW tags")
    for statement in changes:
        line = one_line_error(run("sql", statement, "--root", str(tmp_path)))
        assert "only queries run here (SELECT, EXPLAIN), not DROP" in line or "not CREATE" in line
    assert snapshot(tmp_path) == before
    shown = run("sql", "EXPLAIN SELECT count(*) FROM versions", "--root", str(tmp_path))
    assert shown.exit_code == 0, shown.output
    for statement, found in (("", "no statement"), ("SELECT 1; SELECT 2", "2 statements")):
        line = one_line_error(run("sql", statement, "--root", str(tmp_path)), 2)
        assert f"give one SQL query (found {found})" in line


def test_one_damaged_version_leaves_the_rest_of_the_store_working(tmp_path):
    store, a, _b = two_versions(tmp_path)
    genes = tmp_path / "texts" / a["text_id"] / "genes.parquet"
    genes.write_bytes(genes.read_bytes()[:100])  # truncated
    result = run("sql", "SELECT count(*) AS n FROM embeddings", "--root", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == [{"n": 10}]
    assert "warning:" in result.stderr and "genes.parquet" in result.stderr
    listed = json.loads(run("list", "--root", str(tmp_path), "--json").stdout)["versions"]
    assert {v["id"]: v["status"] for v in listed}[a["text_id"]] == "damaged"
    other = build(store, model="fake", gene_table=make_genes(), genes=["GENE35", "GENE36"])
    assert (
        other["embedding_created"] and store.tags()["human/ncbi-card/fake"] == other["embedding_id"]
    )


def test_verify_checks_tags_and_catalog(tmp_path):
    store, _a, _b = two_versions(tmp_path)
    assert all(r["ok"] for r in store.verify())
    tags = json.loads((tmp_path / "tags.json").read_text())
    edited = {**tags, "tags": {**tags["tags"], "gone": "emb-0000000000000000"}}
    (tmp_path / "tags.json").write_text(json.dumps(edited))
    problems = [p for r in store.verify() for p in r["problems"]]
    assert any("does not match its recorded sha256" in p for p in problems)
    assert run("verify", "--root", str(tmp_path)).exit_code == 1
    assert run("reindex", "--resign-tags", "--root", str(tmp_path)).exit_code == 0
    problems = [p for r in store.verify() for p in r["problems"]]
    assert any("'gone'" in p for p in problems)
    (tmp_path / "tags.json").write_text("{not json")
    problems = [p for r in store.verify() for p in r["problems"]]
    assert any("tags.json is corrupt" in p for p in problems)
    (tmp_path / "tags.json").write_text(json.dumps(tags))
    (tmp_path / "catalog.duckdb").write_bytes(b"garbage" * 100)
    problems = [p for r in store.verify() for p in r["problems"]]
    assert any("catalog.duckdb: unreadable" in p for p in problems)
    assert run("reindex", "--root", str(tmp_path)).exit_code == 0
    assert all(r["ok"] for r in store.verify())


def _rewrite_tar(source: Path, target: Path, change) -> None:
    with tarfile.open(source) as src, tarfile.open(target, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            member, data = change(member, data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
        extra = change(None, None)
        if extra is not None:
            dst.addfile(extra[0], io.BytesIO(extra[1]))


def _flip_vectors(member, data):
    if member is None:
        return None
    if member.name.endswith("vectors.parquet"):
        data = bytearray(data)
        data[len(data) // 2] ^= 0x01
        data = bytes(data)
    return member, data


def _pad(member, data):
    if member is None:
        info = tarfile.TarInfo(f"embeddings/{_pad.vid}/extra.bin")
        info.size = 4
        return info, b"evil"
    return member, data


@pytest.mark.parametrize("change", ["flip", "pad"])
@pytest.mark.parametrize("target_exists", [True, False])
def test_tampered_or_padded_import_leaves_the_target_as_it_was(tmp_path, change, target_exists):
    store, a, _ = two_versions(tmp_path / "src")
    good = tmp_path / "a.tar"
    export_version(store, "a", good)
    bad = tmp_path / "bad.tar"
    _pad.vid = a["embedding_id"]
    _rewrite_tar(good, bad, _flip_vectors if change == "flip" else _pad)
    target = tmp_path / "dst"
    if target_exists:
        two_versions(target)
    before = snapshot(target)
    with pytest.raises(IntegrityError):
        import_file(Store.open(target, create=True), bad)
    assert snapshot(target) == before
    result = run("import", str(bad), "--root", str(target))
    one_line_error(result)
    assert snapshot(target) == before


def test_export_import_carries_tags_and_refuses_to_move_one(tmp_path):
    _store, a, _ = two_versions(tmp_path / "src")
    tar = tmp_path / "a.tar"
    assert run("export", "a", str(tar), "--root", str(tmp_path / "src")).exit_code == 0
    dst = tmp_path / "dst"
    assert run("import", str(tar), "--root", str(dst)).exit_code == 0
    result = run("similar", "GENE3", "--ref", "a", "--root", str(dst), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["embedding_id"] == a["embedding_id"]
    # A tag that already points elsewhere moves only with --force; nothing is imported without.
    other = tmp_path / "other"
    build(
        Store.open(other, create=True),
        model="fake",
        gene_table=make_genes(),
        genes=["GENE1"],
        tag="a",
    )
    before = snapshot(other)
    line = one_line_error(run("import", str(tar), "--root", str(other)))
    assert "tag 'a' already points" in line and "--force" in line
    assert snapshot(other) == before
    assert run("import", str(tar), "--root", str(other), "--force").exit_code == 0
    assert Store.open(other).tags()["a"] == a["embedding_id"]


def test_similar_with_k_past_the_gene_count_is_valid_json(tmp_path):
    _store, _, _ = two_versions(tmp_path)
    result = run("similar", "GENE33", "--ref", "b", "-k", "50", "--root", str(tmp_path), "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)  # no -Infinity
    symbols = [h["symbol"] for h in doc["hits"]]
    assert len(symbols) == 9 and "GENE33" not in symbols
    assert all(np.isfinite(h["score"]) for h in doc["hits"])


def test_a_dead_writers_tag_temp_file_is_cleared(tmp_path):
    store, a, _ = two_versions(tmp_path)
    stale = tmp_path / ".tags.json.999999999-deadbeef.tmp"  # no such pid
    stale.write_text("{}")
    store.set_tag("c", a["embedding_id"])
    assert not stale.exists() and store.tags()["c"] == a["embedding_id"]


@pytest.mark.parametrize(
    "args, code, words",
    [
        (("build", "--template", "nope"), 2, "unknown template"),
        (("build", "--source", "nope"), 2, "source"),
        (("build", "--taxon", "zebrafish"), 2, "unknown taxon"),
        (("build", "--source-opt", "foo"), 2, "--source-opt expects key=value"),
    ],
)
def test_bad_build_input_leaves_no_store_behind(tmp_path, args, code, words):
    root = tmp_path / "new"
    line = one_line_error(run(*args, "--model", "fake", "--root", str(root)), code)
    assert words in line
    assert not root.exists()


def test_no_match_gene_list_leaves_no_store_behind(tmp_path):
    root = tmp_path / "new"
    genes = tmp_path / "genes.txt"
    genes.write_text("NOT_A_GENE_1\nNOT_A_GENE_2\n")
    line = one_line_error(
        run("build", "--genes", str(genes), "--model", "fake", "--root", str(root))
    )
    assert "none of the 2 genes" in line
    assert not root.exists()


def test_store_open_create_writes_nothing_until_a_write(tmp_path):
    store = Store.open(tmp_path / "lazy", create=True)
    assert not (tmp_path / "lazy").exists() and store.embeddings() == [] and store.tags() == {}
    with pytest.raises(GenekbError):
        store.embedding("anything")
    assert not (tmp_path / "lazy").exists()


# --- OpenAI-compatible servers: identity, a server that is down, a server that never answers ---


class _Embedder(BaseHTTPRequestHandler):
    """Answers /v1/embeddings with 3-d vectors; `silent` accepts and never answers."""

    silent = False

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.silent:
            time.sleep(5)
            return
        data = [
            {"index": i, "embedding": [float(len(t)), 1.0, float(i + 1)]}
            for i, t in enumerate(body["input"])
        ]
        raw = json.dumps({"data": data}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args) -> None:
        pass


def _serve(handler: type) -> tuple[ThreadingHTTPServer, str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/v1"


def test_openai_server_is_part_of_the_identity_and_a_down_server_still_finds_its_version(
    tmp_path, monkeypatch
):
    store = Store.open(tmp_path, create=True)
    genes = ["GENE1", "GENE2", "GENE3"]
    ids = []
    for _ in range(2):  # two servers, same model name
        httpd, url = _serve(_Embedder)
        monkeypatch.setenv("OPENAI_BASE_URL", url)
        report = build(store, model="openai:tiny", gene_table=make_genes(), genes=genes)
        assert store.embedding(report["embedding_id"]).spec.endpoint == url
        ids.append(report["embedding_id"])
        httpd.shutdown()
        httpd.server_close()
    assert ids[0] != ids[1]
    # The second server is down now: rebuilding its complete version needs no request.
    again = build(store, model="openai:tiny", gene_table=make_genes(), genes=genes)
    assert again["embedding_id"] == ids[1] and not again["embedding_created"]


def test_openai_server_that_never_answers_fails_in_bounded_time():
    from genekb.encoders.openai_backend import OpenAIEncoder
    from genekb.encoders.registry import resolve

    class Silent(_Embedder):
        silent = True

    httpd, url = _serve(Silent)
    try:
        encoder = OpenAIEncoder(
            resolve("openai:tiny"), base_url=url, timeout_s=0.3, max_attempts=3, backoff_s=0.01
        )
        start = time.monotonic()
        with pytest.raises(GenekbError, match="ReadTimeout"):
            encoder.encode(["a text"])
        assert time.monotonic() - start < 3
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_an_embedding_whose_text_version_is_damaged_is_refused(tmp_path):
    store, a, _ = two_versions(tmp_path)
    flip(tmp_path / "texts" / a["text_id"] / "genes.parquet")
    with pytest.raises(IntegrityError, match="genes"):
        store.embedding("a")
    line = one_line_error(run("info", "a", "--root", str(tmp_path)))
    assert a["text_id"] in line and "genes.parquet" in line
    assert store.embedding("b").matrix()[0].size == 10  # the other version stays usable
    shutil.rmtree(tmp_path / "texts" / a["text_id"])
    with pytest.raises(IntegrityError, match="is missing"):
        store.embedding("a")


def test_corrupt_tags_leave_sql_and_listing_working(tmp_path):
    store, a, _ = two_versions(tmp_path)
    (tmp_path / "tags.json").write_text("{not json")
    result = run("sql", "SELECT count(*) AS n FROM embeddings", "--root", str(tmp_path), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["rows"] == [{"n": 40}]
    assert "tags.json is corrupt" in result.stderr
    assert run("list", "--root", str(tmp_path)).exit_code == 0
    line = one_line_error(run("similar", "GENE3", "--ref", "a", "--root", str(tmp_path)))
    assert "tags.json is corrupt" in line
    assert store.embedding(a["embedding_id"]).matrix()[0].size == 30


def test_cli_prints_user_warnings_in_one_line_and_silences_library_ones(monkeypatch):
    import typer

    from cli.common import handle_errors
    from genekb.errors import GenekbWarning

    monkeypatch.delenv("GENEKB_DEBUG", raising=False)
    noisy_app = typer.Typer()

    @noisy_app.command()
    @handle_errors
    def noisy() -> None:
        import warnings

        warnings.warn("invalid value encountered in divide", RuntimeWarning, stacklevel=1)
        warnings.warn("a damaged version was left out", GenekbWarning, stacklevel=1)

    result = runner.invoke(noisy_app, [])
    assert result.exit_code == 0
    assert result.stderr.strip() == "warning: a damaged version was left out"
