"""Sharing, fourth round: a server that redirects a file to ftp:// or to a URL that is none, two
pulls into one store at once, a store whose manifests record no file sizes, a folder where a
file or the signature goes, a disk that fills as a download lands, a resume answered with the
whole file, a server that drips its headers, a prefix of several remote versions, an object
replaced in a bucket by other bytes of its size. Each is one line or a clean turn each, never a
deep error, a misleading one, a hang, or a pull that takes another's downloads from under it."""

from __future__ import annotations

import errno
import io
import json
import os
import re
import shutil
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from genekb.errors import GenekbError
from genekb.store import pull as pull_module
from genekb.store.hashing import sha256_json
from genekb.store.manifest import MANIFEST, dump_manifest
from genekb.store.store import Store
from tests.conftest import one_line_error
from tests.conftest import run_genekb as run
from tests.remote_servers import Fault, http_server, make_bucket, s3_env, s3_server
from tests.test_remote import build_tags, verifies


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENEKB_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def folder(tmp_path) -> tuple[dict[str, str], Path]:
    """t0 and t1 published to a folder: (tag -> embedding id, the folder)."""
    source = Store.open(tmp_path / "source", create=True)
    ids = build_tags(source, "t0", "t1")
    result = run("publish", str(tmp_path / "pub"), "--root", str(source.root))
    assert result.exit_code == 0, result.output
    return ids, tmp_path / "pub"


@pytest.mark.parametrize(
    ("to", "said"),
    [
        # Followed to any FTP host, in the clear; the line said "cannot connect" after retries.
        ("ftp://127.0.0.1:1", "which is no http(s) URL"),
        # urllib's parse of the Location raised a bare ValueError ("unexpected ValueError").
        ("http://[::1", "which is not a valid URL"),
    ],
)
def test_a_redirect_to_no_http_url_is_one_line_at_once(tmp_path, folder, to, said):
    _ids, pub = folder
    with http_server(pub) as (url, served):
        served.faults.append(Fault("vectors.parquet", "moved", to=to))
        local = tmp_path / "local"
        line = one_line_error(run("pull", url, "t0", "--root", str(local)))
        assert "vectors.parquet: the server redirects it to" in line and said in line, line
        assert sum(n for p, n in served.gets.items() if p.endswith("vectors.parquet")) == 1
        assert not local.exists()  # a root that held no store holds none
        with pytest.raises(GenekbError, match="redirects it to"):
            pull_module.pull(Store.open(local, create=True), url, ["t0"], retries=0)


def test_two_pulls_into_one_store_take_turns(tmp_path, folder, monkeypatch):
    """A second pull starts while the first checks what it downloaded. It took the first's
    downloads from under it (or the first took its): one said a file was "not found on the
    remote, though its index lists it", or a version "was taken by a concurrent pull", and the
    other reported nothing fetched and nothing present. Now the second waits its turn."""
    ids, pub = folder
    root = tmp_path / "local"
    install = pull_module.install
    second: dict[str, object] = {}

    def pull_second() -> None:
        try:
            second["report"] = pull_module.pull(Store.open(root, create=True), str(pub), ["t0"])
        except BaseException as exc:  # the test reads it
            second["error"] = exc

    def first_install(*args, **kwargs):
        if not second:  # once, in the first pull: the second runs meanwhile (or waits)
            second["started"] = True
            thread = threading.Thread(target=pull_second)
            thread.start()
            thread.join(1.0)
            second["thread"] = thread
        return install(*args, **kwargs)

    monkeypatch.setattr(pull_module, "install", first_install)
    first = pull_module.pull(Store.open(root, create=True), str(pub), ["t0"])
    second["thread"].join(30)
    assert "error" not in second, second.get("error")
    text_id = Store.open(pub.parent / "source").embedding("t0").text_id
    assert first["fetched"] == [text_id, ids["t0"]] and first["files_fetched"] == 4
    report = second["report"]
    assert report["already_present"] == [text_id, ids["t0"]] and report["fetched"] == []
    assert report["files_fetched"] == 0
    assert Store.open(root).tags() == {"t0": ids["t0"]}
    assert not (root / ".staging").exists()
    verifies(root)


def _sizes_recorded_as(version_dir: Path, size: object) -> None:
    """Rewrite a version's manifest (its own sha256 too) with each file's size as `size`; the
    string "absent" drops the field, as a hand-made manifest may."""
    manifest = json.loads((version_dir / MANIFEST).read_text())
    for entry in manifest["files"].values():
        if size == "absent":
            entry.pop("bytes")
        else:
            entry["bytes"] = size
    (version_dir / MANIFEST).chmod(0o644)
    (version_dir / MANIFEST).write_bytes(dump_manifest(manifest))
    shutil.rmtree(version_dir.parent.parent / ".verified", ignore_errors=True)


@pytest.mark.parametrize("size", [None, "absent"])
def test_a_manifest_that_records_no_sizes_verifies_publishes_and_pulls(tmp_path, size):
    """A store tolerates a manifest without file sizes (None or absent). `verify` died of a
    MemoryError (it set aside a terabyte to read each file), and `publish` said "sha256 does
    not match the manifest" (None) or "unexpected KeyError: 'bytes'" (absent)."""
    source = Store.open(tmp_path / "source", create=True)
    ids = build_tags(source, "t0")
    _sizes_recorded_as(source.root / "embeddings" / ids["t0"], size)
    verifies(source.root)
    result = run("publish", str(tmp_path / "pub"), "--root", str(source.root))
    assert result.exit_code == 0, result.output
    result = run("pull", str(tmp_path / "pub"), "t0", "--root", str(tmp_path / "local"))
    assert result.exit_code == 0, result.output
    verifies(tmp_path / "local")


def test_a_manifest_that_records_another_size_is_still_refused(tmp_path):
    source = Store.open(tmp_path / "source", create=True)
    ids = build_tags(source, "t0")
    _sizes_recorded_as(source.root / "embeddings" / ids["t0"], 7)
    result = run("verify", "--root", str(source.root))
    assert result.exit_code == 1 and "more than the 7 expected" in result.output, result.output
    line = one_line_error(run("publish", str(tmp_path / "pub"), "--root", str(source.root)))
    assert "does not match the manifest" in line and not (tmp_path / "pub").exists()


def test_a_folder_where_a_published_file_goes_is_refused_not_filled(tmp_path):
    """A folder remote holding a folder at a version file's path (a hostile or careless
    neighbour): the file was moved into it, publish said all was well, its index named the
    folder, and every pull was refused; publishing again did the same."""
    source = Store.open(tmp_path / "source", create=True)
    ids = build_tags(source, "t0")
    in_the_way = tmp_path / "pub" / "embeddings" / ids["t0"] / "vectors.parquet"
    in_the_way.mkdir(parents=True)
    line = one_line_error(run("publish", str(tmp_path / "pub"), "--root", str(source.root)))
    assert "vectors.parquet: a folder lies where this file goes" in line, line
    assert not any(in_the_way.iterdir())
    assert not (tmp_path / "pub" / "genekb-remote.json").exists()
    in_the_way.rmdir()
    assert run("publish", str(tmp_path / "pub"), "--root", str(source.root)).exit_code == 0
    result = run("pull", str(tmp_path / "pub"), "t0", "--root", str(tmp_path / "local"))
    assert result.exit_code == 0, result.output


def test_a_signature_that_is_no_file_only_stops_a_pull_that_asks_for_one(tmp_path, folder):
    """A folder at the signature's path of a folder remote: a pull without --trust, which only
    reports the signer, was refused ("is a directory"); one with --trust still is, and publish
    names the folder to remove."""
    ids, pub = folder
    (pub / "genekb-remote.json.sig").mkdir()
    result = run("pull", str(pub), "t0", "--root", str(tmp_path / "local"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["signed_by"] is None
    assert run("remote", "ls", str(pub)).exit_code == 0
    key = tmp_path / "lab.key"
    assert run("keys", "new", "--out", str(key)).exit_code == 0
    args = ["pull", str(pub), "t1", "--trust", f"{key}.pub", "--root", str(tmp_path / "local")]
    line = one_line_error(run(*args))
    assert "genekb-remote.json.sig is a directory" in line, line
    assert Store.open(tmp_path / "local").tags() == {"t0": ids["t0"]}
    # Publishing again meets it as it deletes the old signature: it said "a file where a folder
    # must be (or the reverse); give a folder, or a URL, as the remote".
    line = one_line_error(run("publish", str(pub), "--root", str(pub.parent / "source")))
    assert "genekb-remote.json.sig: a folder lies where this file goes; remove it" in line, line


def test_a_disk_that_fills_as_a_download_is_kept_keeps_what_arrived(tmp_path, folder, monkeypatch):
    """ENOSPC as a finished download is renamed into place (os.replace): the pull dropped every
    file it had fetched, with no word of what to do; a write that fills the disk keeps them."""
    ids, pub = folder
    local = tmp_path / "local"
    replace, calls = os.replace, []

    def full(src, dst, *args, **kwargs):
        if str(src).endswith(".part"):
            calls.append(src)
            if len(calls) == 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        return replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", full)
    line = one_line_error(run("pull", str(pub), "t0", "--root", str(local)))
    monkeypatch.undo()
    assert "No space left on device; free space or give a writable place" in line, line
    assert not (local / "embeddings").exists() and not (local / "texts").exists()
    report = json.loads(run("pull", str(pub), "t0", "--root", str(local), "--json").stdout)
    assert report["files_reused"] == 1 and report["fetched"][-1] == ids["t0"]
    verifies(local)


def test_a_prefix_of_several_remote_versions_says_so(tmp_path, folder):
    """It said "the remote has no tag or version 'emb-9'" of a prefix the remote holds twice;
    a local store says, as now, that it names several."""
    ids, pub = folder
    first, second = ids["t0"], ids["t1"]
    prefix = first[: next(i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b)]
    assert len(prefix) >= 5, prefix  # the fake encoder's ids: emb-9142…, emb-9b8b…
    if len(prefix) < 8:  # a prefix needs four digits: one this short names no version
        line = one_line_error(run("pull", str(pub), prefix, "--root", str(tmp_path / "l")))
        assert "an id prefix needs 4 digits after 'emb-'" in line, line
        assert not (tmp_path / "l").exists()
        return
    line = one_line_error(run("pull", str(pub), prefix, "--root", str(tmp_path / "l")), code=2)
    assert f"{prefix!r} is a prefix of 2 versions on the remote" in line, line
    assert ids["t0"] in line and ids["t1"] in line and "give more of the id" in line
    assert not (tmp_path / "l").exists()


def test_a_resume_answered_with_the_whole_file_starts_over(tmp_path, folder):
    """A server (or a proxy) that answers `Range: bytes=N-` with 206 and the whole file, from
    byte 0 as its Content-Range says: the resumed pull was refused as "the server sends N + 100
    bytes where the remote's index states N; the index does not match its files"."""
    ids, pub = folder
    local = tmp_path / "local"
    with http_server(pub) as (url, served):
        served.faults.append(Fault("vectors.parquet", "drop", at=100, times=1))
        result = run("pull", url, "t0", "--retries", "0", "--root", str(local))
        assert result.exit_code == 1 and "ended after" in result.output, result.output
        served.faults.append(Fault("vectors.parquet", "whole-206"))
        result = run("pull", url, "t0", "--root", str(local), "--json")
        assert result.exit_code == 0, result.output
        assert served.ranges == ["bytes=100-"]
    assert Store.open(local).tags() == {"t0": ids["t0"]}
    verifies(local)


def test_a_server_that_drips_its_headers_times_out(tmp_path, folder):
    """The status line, then a header byte every 0.05 s: no socket timeout fires, and the pace
    check reads only the body, so the pull waited as long as the server liked (here 10 s, then
    a head cut short; a hostile server never ends)."""
    _ids, pub = folder
    with http_server(pub) as (url, served):
        served.faults.append(Fault("vectors.parquet", "drip-head", at=200, delay=0.05))
        started = time.monotonic()
        args = ["--timeout", "0.5", "--retries", "1", "--root", str(tmp_path / "local")]
        line = one_line_error(run("pull", url, "t0", *args))
        assert time.monotonic() - started < 5
    assert re.search(r"vectors\.parquet: timed out \(after 2 tries\)", line), line


@pytest.fixture
def bucket(tmp_path, monkeypatch) -> Iterator[tuple[Any, str]]:
    """moto's S3 server on 127.0.0.1 with a bucket, the environment pointed at it: (a boto3
    client, the bucket's name)."""
    pytest.importorskip("s3fs")
    boto3 = pytest.importorskip("boto3")
    with s3_server() as endpoint:
        for key, value in s3_env(endpoint).items():
            monkeypatch.setenv(key, value)
        make_bucket(endpoint, "lab")
        yield boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1"), "lab"


def test_publishing_again_replaces_an_object_of_the_same_size_and_other_bytes(tmp_path, bucket):
    """An object replaced in the bucket by other bytes of the same size: publish kept it (only
    the size was compared), and every pull was refused with "ask its publisher to publish
    again", which mended nothing. An object put whole carries its md5 as its ETag."""
    client, name = bucket
    source = Store.open(tmp_path / "source", create=True)
    ids = build_tags(source, "t0")
    url = f"s3://{name}/genekb"
    assert run("publish", url, "--root", str(source.root)).exit_code == 0
    key = f"genekb/embeddings/{ids['t0']}/vectors.parquet"
    good = client.get_object(Bucket=name, Key=key)["Body"].read()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0x01
    client.put_object(Bucket=name, Key=key, Body=bytes(bad))
    line = one_line_error(run("pull", url, "t0", "--root", str(tmp_path / "a")))
    assert "ask its publisher to publish again" in line or "does not match" in line, line
    result = run("publish", url, "--root", str(source.root), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["files_uploaded"] == 1 and report["files_skipped"] == 3
    assert client.get_object(Bucket=name, Key=key)["Body"].read() == good
    assert run("pull", url, "t0", "--root", str(tmp_path / "b")).exit_code == 0


def test_a_lock_whose_folder_is_removed_while_waited_for_says_to_run_again(tmp_path):
    """A pull that fails in a root that held no store takes the new store back, its locks
    folder too, while a second pull waits for its turn there: the second died of a bare
    FileNotFoundError ("locks/pull.lock: No such file or directory")."""
    from genekb.store.locks import waiting_lock

    folder = tmp_path / "store" / "locks"
    folder.mkdir(parents=True)
    outcome: dict[str, BaseException] = {}

    def second() -> None:
        try:
            with waiting_lock(folder / "pull.lock", "the pull lock", 30):
                pass
        except BaseException as exc:  # the test reads it
            outcome["error"] = exc

    with waiting_lock(folder / "pull.lock", "the pull lock", 30):
        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.3)
        shutil.rmtree(tmp_path / "store")
    waiter.join(30)
    assert isinstance(outcome.get("error"), GenekbError), outcome
    assert "was removed while waiting for the pull lock" in str(outcome["error"])
    assert "run the command again" in str(outcome["error"])


def test_a_tag_on_a_text_version_is_named_as_such(tmp_path, folder):
    """An index or an export whose tag points at a text version it holds: refused as pointing
    at a version "it does not list" (pull) or "not in the file" (import)."""
    ids, pub = folder
    index = pub / "genekb-remote.json"
    data = json.loads(index.read_text())
    text_id = data["versions"][ids["t0"]]["text_id"]
    data["tags"]["t0"] = text_id
    body = {k: v for k, v in data.items() if k != "sha256"}
    index.write_text(json.dumps({**body, "sha256": sha256_json(body)}))
    line = one_line_error(run("pull", str(pub), "t0", "--root", str(tmp_path / "a")))
    assert f"tag 't0' points at '{text_id}', a text version, where a tag names an" in line, line
    sent = tmp_path / "t0.tar"
    source = pub.parent / "source"
    assert run("export", "t0", str(sent), "--root", str(source)).exit_code == 0
    forged = tmp_path / "forged.tar"
    with tarfile.open(sent) as tar, tarfile.open(forged, "w") as out:
        for member in tar:
            data = tar.extractfile(member).read() if member.isfile() else None
            if member.name == "genekb-export.json":
                data = json.dumps({**json.loads(data), "tags": {"t0": text_id}}).encode()
                member.size = len(data)
            out.addfile(member, io.BytesIO(data) if data is not None else None)
    line = one_line_error(run("import", str(forged), "--root", str(tmp_path / "b")))
    assert f"tag 't0' points at {text_id}, a text version, where a tag names an" in line, line
