"""Sharing a store through a URL: publish, pull, read in place, against real local servers (an
HTTP server in a thread, moto's S3 server in a subprocess); no client is mocked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from genekb.build import build
from genekb.store.store import Store
from tests.conftest import make_genes, one_line_error
from tests.conftest import run_genekb as run
from tests.remote_servers import INDEX_FILES, Fault, http_server, make_bucket, s3_env, s3_server

RANGES = {"t0": (1, 20), "t1": (10, 30), "t2": (20, 40), "t3": (30, 60)}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENEKB_CACHE", str(tmp_path / "cache"))


def build_tags(store: Store, *tags: str) -> dict[str, str]:
    """Small fake-encoder versions over overlapping gene ranges; tag -> embedding id."""
    genes = make_genes(60)
    found = {}
    for tag in tags:
        lo, hi = RANGES[tag]
        report = build(
            store, model="fake", gene_table=genes, genes=[f"GENE{i}" for i in range(lo, hi)],
            tag=tag,
        )  # fmt: skip
        found[tag] = report["embedding_id"]
    return found


def visible(root: Path) -> dict[str, bytes]:
    """What a reader of the store sees: every file but staging, locks and hash records."""
    hidden = {".staging", "locks", ".verified"}
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not hidden & set(p.relative_to(root).parts)
    }


def verifies(root: Path) -> None:
    result = run("verify", "--root", str(root))
    assert result.exit_code == 0, result.output


def files_of(store: Store, ref: str) -> set[str]:
    """Remote paths of an embedding version's files and its text version's."""
    version = store.embedding(ref)
    paths = set()
    for v, kind in ((version, "embeddings"), (version.text, "texts")):
        paths |= {f"{kind}/{v.id}/{name}" for name in [*v.manifest["files"], "manifest.json"]}
    return paths


@pytest.fixture
def published(tmp_path):
    """A store with three tagged versions, published to a folder served over HTTP."""
    source = Store.open(tmp_path / "source", create=True)
    ids = build_tags(source, "t0", "t1", "t2")
    result = run("publish", str(tmp_path / "pub"), "--root", str(source.root), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["files_uploaded"] == 12 and report["files_skipped"] == 0  # 3 × (2 + 2 files)
    with http_server(tmp_path / "pub") as (url, served):
        yield source, ids, url, served


def test_pull_one_tag_then_only_what_is_new(tmp_path, published):
    source, ids, url, served = published
    local = tmp_path / "local"
    result = run("pull", url, "t1", "--root", str(local), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert served.files_fetched() == files_of(source, "t1")  # only t1's four files
    assert report["files_fetched"] == 4 and report["fetched"][-1] == ids["t1"]
    assert Store.open(local).tags() == {"t1": ids["t1"]}
    verifies(local)
    # A fourth version: re-publishing uploads only its files; pulling fetches only new files.
    build_tags(source, "t3")
    again = json.loads(run("publish", str(tmp_path / "pub"), "--root", str(source.root),
                           "--json").stdout)  # fmt: skip
    assert again["files_uploaded"] == 4 and again["files_skipped"] == 12
    before = set(served.gets)
    result = run("pull", url, "t3", "--root", str(local), "--json")
    assert result.exit_code == 0, result.output
    assert set(served.gets) - before == files_of(source, "t3")
    assert all(n == 1 for p, n in served.gets.items() if p not in INDEX_FILES)
    verifies(local)
    # Everything else: never a file twice; `remote ls` lists what the remote holds.
    assert run("pull", url, "--root", str(local)).exit_code == 0
    assert all(n == 1 for p, n in served.gets.items() if p not in INDEX_FILES)
    listing = json.loads(run("remote", "ls", url, "--json").stdout)
    assert {v["id"] for v in listing["versions"]} >= set(ids.values())
    verifies(local)


def test_pull_never_moves_a_local_tag_without_force(tmp_path, published):
    _source, ids, url, _served = published
    local = Store.open(tmp_path / "local", create=True)
    build_tags(local, "t0")  # the same recipe: the same version id
    local.set_tag("t1", ids["t0"])
    before = visible(local.root)
    line = one_line_error(run("pull", url, "t1", "--root", str(local.root)))
    assert "'t1' already points at" in line and "--force" in line
    assert visible(local.root) == before
    assert run("pull", url, "t1", "--force", "--root", str(local.root)).exit_code == 0
    assert Store.open(local.root).tags()["t1"] == ids["t1"]


FAULTS = [
    (Fault("vectors.parquet", "drop", at=100), ["--retries", "1"], "ended after 200 of"),
    (Fault("vectors.parquet", "flip"), [], "sha256 does not match the remote's index"),
    (Fault("genekb-remote.json", "cut"), [], "not a JSON document"),
    (Fault("embeddings/", "404"), [], r"not found on the remote \(HTTP 404\)"),
    (Fault("genes.parquet", "slow", delay=1.5), ["--timeout", "0.3", "--retries", "1"],
     r"timed out \(after 2 tries\)"),
    # A byte at a time never trips a socket timeout: the pace is checked (it hung forever).
    (Fault("vectors.parquet", "drip", at=40, delay=0.05), ["--timeout", "0.5", "--retries", "0"],
     r"the remote sends under 1,024 bytes a second \(\d+ in 0\.\d s\) \(after 1 tries\)"),
]  # fmt: skip


@pytest.mark.parametrize(("fault", "options", "said"), FAULTS, ids=lambda f: getattr(f, "kind", ""))
def test_each_fault_is_one_line_and_leaves_the_store_as_it_was(
    tmp_path, published, fault, options, said
):
    _source, ids, url, served = published
    local = tmp_path / "local"
    assert run("pull", url, "t0", "--root", str(local)).exit_code == 0
    before = visible(local)
    served.faults.append(fault)
    line = one_line_error(run("pull", url, "t2", *options, "--root", str(local)))
    assert re.search(said, line), line
    assert visible(local) == before
    verifies(local)
    served.faults.clear()
    assert run("pull", url, "t2", "--root", str(local)).exit_code == 0  # then it works
    assert Store.open(local).tags() == {"t0": ids["t0"], "t2": ids["t2"]}
    verifies(local)


def test_a_slow_server_is_retried_with_backoff(tmp_path, published):
    _source, _ids, url, served = published
    served.faults.append(Fault("vectors.parquet", "slow", delay=1.0, times=1))
    result = run("pull", url, "t0", "--timeout", "0.3", "--root", str(tmp_path / "l"), "--json")
    assert result.exit_code == 0, result.output
    assert max(n for p, n in served.gets.items() if p.endswith("vectors.parquet")) == 2


def test_an_interrupted_pull_resumes_without_refetching_finished_files(tmp_path, published):
    _source, ids, url, served = published
    local = tmp_path / "local"
    served.faults.append(Fault("vectors.parquet", "drop", at=1000))
    one_line_error(run("pull", url, "t2", "--retries", "0", "--root", str(local)))
    finished = {p for p, n in served.gets.items() if "vectors.parquet" not in p}
    served.faults.clear()
    result = run("pull", url, "t2", "--root", str(local), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["files_reused"] == 3 and report["files_fetched"] == 1
    # Finished files were not asked for again; the cut-off one resumed where it stopped.
    assert all(served.gets[p] == 1 for p in finished - set(INDEX_FILES))
    assert served.ranges == ["bytes=1000-"]
    vectors = next(p for p in served.gets if "vectors.parquet" in p)
    size = (tmp_path / "pub" / vectors).stat().st_size
    assert served.bytes_sent[vectors] == size  # 1000 bytes, then the rest: not the file twice
    verifies(local)
    assert Store.open(local).tags() == {"t2": ids["t2"]}


def test_a_hostile_remote_cannot_slip_in_other_content(tmp_path, published):
    """A remote that replaces a file and rewrites the index to match (a self-consistent lie) is
    still refused: the version's manifest records every file's sha256 and its own hash."""
    from genekb.store.hashing import sha256_json

    _source, ids, url, _served = published
    pub = tmp_path / "pub"
    index = json.loads((pub / "genekb-remote.json").read_text())
    path = next(pub.glob(f"embeddings/{ids['t1']}/vectors.parquet"))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    entry = index["versions"][ids["t1"]]["files"]["vectors.parquet"]
    entry["sha256"] = __import__("hashlib").sha256(bytes(data)).hexdigest()
    body = {k: v for k, v in index.items() if k != "sha256"}
    (pub / "genekb-remote.json").write_text(json.dumps({**body, "sha256": sha256_json(body)}))
    local = tmp_path / "local"
    line = one_line_error(run("pull", url, "t1", "--root", str(local)))
    assert f"{ids['t1']} refused: sha256 does not match the manifest" in line
    assert not list(local.glob("embeddings/*"))


def test_expect_refuses_other_content(tmp_path, published):
    source, _ids, url, _served = published
    content = source.embedding("t1").manifest["content_sha256"]
    local = tmp_path / "local"
    line = one_line_error(run("pull", url, "t1", "--expect", "0" * 16, "--root", str(local)))
    assert "not the" in line
    ok = run("pull", url, "t1", "--expect", content[:16], "--root", str(local))
    assert ok.exit_code == 0, ok.output


@pytest.mark.slow  # a 20,000-gene version: about 8 s
def test_open_url_reads_one_version_only_and_matches_a_local_copy(tmp_path):
    source = Store.open(tmp_path / "source", create=True)
    genes = make_genes(20000)
    big = build(source, model="fake", gene_table=genes, tag="big")["embedding_id"]
    build_tags(source, "t0", "t1")
    assert run("publish", str(tmp_path / "pub"), "--root", str(source.root)).exit_code == 0
    with http_server(tmp_path / "pub") as (url, served):
        remote = Store.open(url)
        wanted = list(range(1, 20001, 200))  # 100 genes
        vectors, found = remote.embedding("big").vectors(wanted)
        local_vectors, _ = source.embedding("big").vectors(wanted)
        assert found.all() and np.array_equal(vectors, local_vectors)
        allowed = files_of(source, "big")
        assert served.files_fetched() <= allowed
        limit = sum((tmp_path / "pub" / p).stat().st_size for p in allowed)
        sent = sum(n for p, n in served.bytes_sent.items() if p != "genekb-remote.json")
        assert sent <= limit and remote.fetched_bytes <= limit + (1 << 20)
        # A second read is local: nothing fetched again.
        before = dict(served.gets)
        Store.open(url).embedding("big").vectors(wanted)
        assert {p: n for p, n in served.gets.items() if p not in INDEX_FILES} == {
            p: n for p, n in before.items() if p not in INDEX_FILES
        }
        assert big in Store.open(url).tags().values()


def test_sql_and_similar_read_a_url_in_place_read_only(published):
    source, _ids, url, served = published
    similar = run("similar", "GENE5", "--ref", "t0", "--root", url, "--json")
    assert similar.exit_code == 0, similar.output
    assert served.files_fetched() == files_of(source, "t0")  # one version, nothing else
    local = run("similar", "GENE5", "--ref", "t0", "--root", str(source.root), "--json")
    assert json.loads(similar.stdout) == json.loads(local.stdout)
    sql = run("sql", "SELECT count(*) AS n FROM embeddings", "--root", url, "--json")
    assert sql.exit_code == 0, sql.output
    assert json.loads(sql.stdout)["rows"][0]["n"] == 19 + 20 + 20
    line = one_line_error(run("build", "--model", "fake", "--root", url), 2)
    assert "read-only" in line
    assert run("verify", "--root", url).exit_code == 0  # fetches every version, then re-hashes


@pytest.mark.slow  # moto's server takes seconds to start
def test_publish_and_pull_through_s3(tmp_path, monkeypatch):
    with s3_server() as endpoint:
        for key, value in s3_env(endpoint).items():
            monkeypatch.setenv(key, value)
        make_bucket(endpoint, "lab")
        source = Store.open(tmp_path / "source", create=True)
        ids = build_tags(source, "t0", "t1", "t2")
        first = json.loads(run("publish", "s3://lab/genekb", "--root", str(source.root),
                               "--json").stdout)  # fmt: skip
        assert first["files_uploaded"] == 12
        local = tmp_path / "local"
        result = run("pull", "s3://lab/genekb", "t1", "--root", str(local), "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["files_fetched"] == 4
        verifies(local)
        build_tags(source, "t3")
        again = json.loads(run("publish", "s3://lab/genekb", "--root", str(source.root),
                               "--json").stdout)  # fmt: skip
        assert again["files_uploaded"] == 4 and again["files_skipped"] == 12
        result = run("pull", "s3://lab/genekb", "t3", "--root", str(local), "--json")
        assert json.loads(result.stdout)["files_fetched"] == 4
        verifies(local)
        vectors, _ = Store.open("s3://lab/genekb").embedding("t3").vectors([30, 31])
        assert np.array_equal(vectors, source.embedding("t3").vectors([30, 31])[0])
        assert Store.open(local).tags() == {"t1": ids["t1"], "t3": Store.open(local).tags()["t3"]}


def test_publish_refuses_an_http_remote_and_a_damaged_version(tmp_path, published):
    source, ids, url, _served = published
    line = one_line_error(run("publish", url, "--root", str(source.root)), 2)
    assert "read-only" in line
    vectors = source.root / "embeddings" / ids["t0"] / "vectors.parquet"
    data = bytearray(vectors.read_bytes())
    data[len(data) // 2] ^= 0x01
    vectors.write_bytes(bytes(data))
    line = one_line_error(run("publish", str(tmp_path / "other"), "t0", "--root", str(source.root)))
    assert "vectors.parquet" in line
    assert not (tmp_path / "other" / "genekb-remote.json").exists()


def test_progress_is_told_the_total_and_every_byte(tmp_path, published):
    from genekb.store.pull import pull

    _source, _ids, url, served = published
    totals: list[int] = []
    chunks: list[int] = []

    def factory(total: int):
        totals.append(total)
        return chunks.append

    report = pull(Store.open(tmp_path / "l", create=True), url, ["t0"], progress=factory)
    files = sum(n for p, n in served.bytes_sent.items() if p != "genekb-remote.json")
    assert totals == [files] and sum(chunks) == files
    assert report["bytes_fetched"] == files + served.bytes_sent["genekb-remote.json"]


def test_an_index_that_lies_about_a_text_version_is_refused(tmp_path, published):
    """An index may only point at what the manifests confirm: an embedding listed on another
    text version than the one its manifest names would land without its genes."""
    from genekb.store.hashing import sha256_json

    source, ids, url, _served = published
    pub = tmp_path / "pub"
    index = json.loads((pub / "genekb-remote.json").read_text())
    index["versions"][ids["t0"]]["text_id"] = source.embedding("t1").text_id
    body = {k: v for k, v in index.items() if k != "sha256"}
    (pub / "genekb-remote.json").write_text(json.dumps({**body, "sha256": sha256_json(body)}))
    local = tmp_path / "local"
    line = one_line_error(run("pull", url, "t0", "--root", str(local)))
    assert f"embedding {ids['t0']} rests on text" in line and "refused" in line
    assert not list(local.glob("embeddings/*"))


def test_publish_moves_a_remote_tag_only_with_force_and_a_folder_is_a_remote(tmp_path):
    source = Store.open(tmp_path / "source", create=True)
    ids = build_tags(source, "t0", "t1")
    pub = tmp_path / "pub"
    assert run("publish", str(pub), "t0", "--root", str(source.root)).exit_code == 0
    source.set_tag("t0", ids["t1"])  # a rebuild moved the tag here
    line = one_line_error(run("publish", str(pub), "t0", "--root", str(source.root)))
    assert "'t0' already points at" in line and "--force" in line
    assert run("publish", str(pub), "t0", "--force", "--root", str(source.root)).exit_code == 0
    # A plain folder and a file:// URL are remotes too (fsspec's local file system).
    local = tmp_path / "local"
    assert run("pull", str(pub), "t0", "--root", str(local)).exit_code == 0
    assert Store.open(local).tags() == {"t0": ids["t1"]}
    vectors, found = Store.open(f"file://{pub}").embedding("t0").vectors([10, 11])
    assert found.all() and np.array_equal(vectors, source.embedding("t1").vectors([10, 11])[0])
