"""Remotes as a hostile or careless world serves them: login pages with 200, bodies cut short in
passing, gzip sent unasked, Retry-After, URLs with a query or credentials (never echoed), and
publishing over an index this genekb cannot read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genekb.errors import UsageError
from genekb.store.store import Store
from genekb.store.store_root import open_local_root
from tests.conftest import one_line_error
from tests.conftest import run_genekb as run
from tests.remote_servers import INDEX_FILES, Fault, http_server
from tests.test_remote import build_tags, verifies, visible


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENEKB_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def published(tmp_path):
    """t0 and t1 published to a folder served over HTTP."""
    source = Store.open(tmp_path / "source", create=True)
    ids = build_tags(source, "t0", "t1")
    assert run("publish", str(tmp_path / "pub"), "--root", str(source.root)).exit_code == 0
    with http_server(tmp_path / "pub") as (url, served):
        yield source, ids, url, served


def test_a_login_page_where_a_file_should_be_is_refused_at_once(tmp_path, published):
    # A 200 HTML page without a length read as a connection cut short: retried five times,
    # kept as a partial file to resume, and "run the command again".
    _source, _ids, url, served = published
    served.faults.append(Fault("vectors.parquet", "html"))
    local = tmp_path / "local"
    line = one_line_error(run("pull", url, "t0", "--root", str(local)))
    assert "vectors.parquet: the server sends an HTML page (an error or login page?)" in line
    assert [n for p, n in served.gets.items() if p.endswith("vectors.parquet")] == [1]
    assert not (local / "embeddings").exists() and not (local / ".staging").exists()
    served.faults[:] = [Fault("", "as-html")]  # a server that calls every file HTML: its bytes
    assert run("pull", url, "t0", "--root", str(local)).exit_code == 0


def test_an_index_cut_short_in_passing_is_fetched_again(tmp_path, published):
    # It was "not a JSON document (cut short or damaged); refused", no retry.
    _source, ids, url, served = published
    served.faults.append(Fault("genekb-remote.json", "drop", at=100, times=1))
    result = run("pull", url, "t0", "--root", str(tmp_path / "local"))
    assert result.exit_code == 0, result.output
    assert served.gets["genekb-remote.json"] == 2
    assert Store.open(tmp_path / "local").tags() == {"t0": ids["t0"]}


def test_a_server_that_gzips_unasked_is_read_through(tmp_path, published):
    # Its index was "not a JSON document", its files "the index does not match its files".
    _source, ids, url, served = published
    served.faults.append(Fault("", "gzip"))
    listing = run("remote", "ls", url, "--json")
    assert listing.exit_code == 0, listing.output
    assert set(json.loads(listing.stdout)["tags"]) == {"t0", "t1"}
    local = tmp_path / "local"
    result = run("pull", url, "t1", "--root", str(local))
    assert result.exit_code == 0, result.output
    assert Store.open(local).tags() == {"t1": ids["t1"]}
    verifies(local)


def test_retry_after_is_honoured_and_a_long_one_fails_at_once(tmp_path, published):
    # A 429's Retry-After was ignored: asked again after 0.5 s, 1 s, ... whatever it said.
    _source, _ids, url, served = published
    served.faults.append(Fault("vectors.parquet", "busy", at=429, delay=2, times=1))
    local = tmp_path / "local"
    assert run("pull", url, "t0", "--retries", "1", "--root", str(local)).exit_code == 0
    asked = [t for p, _, t in served.requests if p.endswith("vectors.parquet")]
    assert len(asked) == 2 and asked[1] - asked[0] >= 1.9
    served.faults[:] = [Fault("vectors.parquet", "busy", at=503, delay=3600)]
    line = one_line_error(run("pull", url, "t1", "--root", str(local)))
    assert "HTTP 503, and the server asks to be left alone for 3,600 s; run the" in line
    assert len([p for p, _, _ in served.requests if p.endswith("vectors.parquet")]) == 3


def test_a_url_with_a_query_or_credentials_is_used_and_never_echoed(tmp_path, published):
    # The query swallowed every file name ("?token=x/genekb-remote.json"), user:password@ was
    # looked up as a host name five times, and every error line printed both secrets.
    _source, ids, url, served = published
    host = url.removeprefix("http://")
    secret = f"http://bob:s3cret@{host}/?token=t0ken"
    local = tmp_path / "local"
    result = run("pull", secret, "t0", "--root", str(local), "--json")
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output and "t0ken" not in result.output
    assert json.loads(result.stdout)["remote"] == f"http://bob:***@{host}?token=***"
    assert all(p.endswith("?token=t0ken") and auth == "Basic Ym9iOnMzY3JldA=="
               for p, auth, _ in served.requests)  # fmt: skip
    served.faults.append(Fault("vectors.parquet", "reason"))
    line = one_line_error(run("pull", secret, "t1", "--root", str(local)))
    assert "HTTP 403" in line and "s3cret" not in line and "t0ken" not in line
    served.faults[:] = [Fault("genekb-remote.json", "reason")]  # the file's name before the query
    line = one_line_error(run("remote", "ls", secret))
    assert f"error: http://bob:***@{host}/genekb-remote.json?token=***: HTTP 403" in line
    served.faults[:] = [Fault("genekb-remote.json", "reason")]  # a token as the user name
    line = one_line_error(run("remote", "ls", f"http://ghp_t0ken@{host}"))
    assert f"error: http://***@{host}/genekb-remote.json: HTTP 403" in line
    with pytest.raises(UsageError, match=r"store root http://bob:\*\*\*@.*\?token=\*\*\* is a URL"):
        open_local_root(secret, create=False)  # what cellmodel says of a URL as its --root
    # A redirect to another server does not take the password along.
    with http_server(tmp_path / "pub") as (elsewhere, seen):
        served.faults[:] = [Fault("genekb-remote.json", "moved", to=elsewhere)]
        assert run("remote", "ls", secret).exit_code == 0
        assert {auth for _, auth, _ in seen.requests} == {None}  # the index and its .sig
    line = one_line_error(run("remote", "ls", "s3://AKIAX:s3cret@bucket/store"), 2)
    assert "holds credentials" in line and "AWS_ACCESS_KEY_ID" in line and "s3cret" not in line
    assert Store.open(local).tags() == {"t0": ids["t0"]}


def test_a_host_without_a_scheme_is_told_to_add_one(tmp_path, published):
    # It was "is no genekb remote (no genekb-remote.json there)", as of a real folder.
    _source, _ids, url, _served = published
    host = url.removeprefix("http://")
    line = one_line_error(run("pull", f"{host}/store", "--root", str(tmp_path / "local")))
    assert line.endswith(
        f"{host}/store: no such folder; for a web server, write http://{host}/store"
    )


def _index_of(folder: Path) -> bytes:
    return (folder / "genekb-remote.json").read_bytes()


@pytest.mark.parametrize("index", ["newer", "damaged"])
def test_publishing_over_an_unreadable_index_needs_force(tmp_path, index):
    # The index was replaced with a note: the versions a newer genekb (or a damaged index)
    # listed were no longer listed, and nothing said so before it was done.
    from genekb.store.hashing import sha256_json

    lab = Store.open(tmp_path / "lab", create=True)
    build_tags(lab, "t0", "t1")
    pub = tmp_path / "pub"
    assert run("publish", str(pub), "--root", str(lab.root)).exit_code == 0
    data = json.loads(_index_of(pub))
    if index == "newer":
        data["format"] = "genekb-remote/2"
        data["sha256"] = sha256_json({k: v for k, v in data.items() if k != "sha256"})
        (pub / "genekb-remote.json").write_text(json.dumps(data))
    else:
        (pub / "genekb-remote.json").write_bytes(_index_of(pub)[:-40])
    before = visible(pub)
    other = Store.open(tmp_path / "other", create=True)
    build_tags(other, "t2")
    line = one_line_error(run("publish", str(pub), "--root", str(other.root)))
    assert "publishing would replace it and unlist every version it lists" in line
    assert "--force" in line
    assert visible(pub) == before
    result = run("publish", str(pub), "--force", "--root", str(other.root))
    assert result.exit_code == 0, result.output
    assert "the remote's index was replaced" in result.stderr
    assert set(json.loads(_index_of(pub))["tags"]) == {"t2"}


def test_two_publishes_racing_to_one_folder_keep_each_others_versions(tmp_path, monkeypatch):
    # Each read the index, then wrote it with its own versions added: the second to read, if
    # it read before the first wrote, dropped the first's versions and tags from the index.
    import threading

    from genekb.store import remote_io
    from genekb.store.publish import publish

    first = Store.open(tmp_path / "first", create=True)
    second = Store.open(tmp_path / "second", create=True)
    ids = {**build_tags(first, "t0"), **build_tags(second, "t1")}
    pub = tmp_path / "pub"
    put = remote_io.Remote.put
    other = threading.Thread(target=publish, args=(second, str(pub)))

    def put_with_the_other_publishing(self, name: str, data: bytes) -> None:
        if name == "genekb-remote.json" and not other.is_alive() and other.ident is None:
            other.start()  # the second publish runs whole, while the first is about to write
            other.join(timeout=3)
        put(self, name, data)

    monkeypatch.setattr(remote_io.Remote, "put", put_with_the_other_publishing)
    publish(first, str(pub))
    other.join(timeout=30)
    assert not other.is_alive()
    assert json.loads(_index_of(pub))["tags"] == ids
    local = tmp_path / "local"
    assert run("pull", str(pub), "t0", "t1", "--root", str(local)).exit_code == 0
    assert Store.open(local).tags() == ids


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_publishing_where_no_folder_can_be_made_says_so(tmp_path):
    # It said "not found on the remote", a pull's words, of a folder publish could not make.
    source = Store.open(tmp_path / "source", create=True)
    build_tags(source, "t0")
    line = one_line_error(run("publish", "/proc/genekb-no-such", "--root", str(source.root)))
    assert "cannot be written there (its folder cannot be made); publish to a folder" in line
    assert not Path("/proc/genekb-no-such").exists()


@pytest.mark.parametrize("damage", ["vectors.parquet", "manifest.json"])
def test_a_pull_replaces_a_damaged_local_copy_from_the_remote(tmp_path, damage):
    # A damaged copy counted as present: "pulled nothing new", and the store stayed damaged
    # (a damaged manifest even made the pull fail, naming `import --replace-damaged`).
    lab = Store.open(tmp_path / "lab", create=True)
    ids = build_tags(lab, "t0")
    pub = tmp_path / "pub"
    assert run("publish", str(pub), "--root", str(lab.root)).exit_code == 0
    local = tmp_path / "local"
    assert run("pull", str(pub), "t0", "--root", str(local)).exit_code == 0
    (local / "embeddings" / ids["t0"] / damage).write_bytes(b"{ damaged")
    result = run("pull", str(pub), "t0", "--root", str(local), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["repaired"] == [ids["t0"]]
    verifies(local)
    assert Store.open(local).tags() == ids


def test_clear_cache_drops_what_an_interrupted_pull_left(tmp_path, published):
    # Partial downloads stayed in .staging/pull-cache for good: the option the code named
    # (`genekb pull --clear-cache`) did not exist.
    _source, ids, url, served = published
    local = tmp_path / "local"
    served.faults.append(Fault("vectors.parquet", "drop", at=1000, times=1))
    one_line_error(run("pull", url, "t1", "--retries", "0", "--root", str(local)))
    assert list((local / ".staging" / "pull-cache").rglob("*.part"))
    result = run("pull", url, "t1", "--clear-cache", "--root", str(local), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["files_reused"] == 0 and served.ranges == []
    assert not (local / ".staging").exists()
    assert Store.open(local).tags() == {"t1": ids["t1"]}


def test_a_retry_after_beyond_any_float_is_a_long_wait_not_inf():
    from genekb.store.remote_http import retry_after

    assert retry_after("9" * 400) == 1e9  # was inf, printed as "left alone for inf s"
    assert retry_after("Fri, 01 Jan 9999 00:00:00 GMT") == 1e9
    assert retry_after("2") == 2 and retry_after("soon") is None


def test_a_damaged_copy_in_the_url_cache_is_fetched_again(tmp_path, published):
    # It failed every later read of the URL, advising `genekb build` or `import
    # --replace-damaged`, for a cache the user never made.
    source, _ids, url, served = published
    assert run("similar", "GENE5", "--ref", "t0", "--root", url).exit_code == 0
    (vectors,) = (tmp_path / "cache").rglob("vectors.parquet")
    data = bytearray(vectors.read_bytes())
    data[len(data) // 2] ^= 0x01
    vectors.write_bytes(bytes(data))
    result = run("similar", "GENE5", "--ref", "t0", "--root", url, "--json")
    assert result.exit_code == 0, result.output
    local = run("similar", "GENE5", "--ref", "t0", "--root", str(source.root), "--json")
    assert json.loads(result.stdout) == json.loads(local.stdout)
    assert [n for p, n in served.gets.items() if p.endswith("vectors.parquet")] == [2]


def test_a_pull_interrupted_while_checking_resumes_without_fetching_again(
    tmp_path, published, monkeypatch
):
    # Ctrl-C during the checks (seconds for a large version) deleted every downloaded file
    # with the staging folder: the rerun fetched it all again.
    from genekb.store import pull as pull_module

    _source, ids, url, served = published
    check = pull_module.check_staged
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the embedding, after its text version passed
            raise KeyboardInterrupt
        return check(*args, **kwargs)

    monkeypatch.setattr(pull_module, "check_staged", interrupted)
    local = Store.open(tmp_path / "local", create=True)
    with pytest.raises(KeyboardInterrupt):
        pull_module.pull(local, url, ["t0"])
    assert not (local.root / "embeddings").exists() and not (local.root / "texts").exists()
    monkeypatch.undo()
    fetched = dict(served.gets)
    report = pull_module.pull(Store.open(local.root, create=True), url, ["t0"])
    assert report["files_reused"] == 4 and report["files_fetched"] == 0
    assert {p: n for p, n in served.gets.items() if p not in INDEX_FILES} == {
        p: n for p, n in fetched.items() if p not in INDEX_FILES
    }
    assert Store.open(local.root).tags() == {"t0": ids["t0"]}
    verifies(local.root)
