"""Publish and pull against an S3 remote that misbehaves: moto's standalone server on 127.0.0.1
(`tests.remote_servers`), with objects replaced, cut, removed, a bucket that is not there,
credentials it refuses, publishes cut at each upload and two publishers at once. Each failure is
one line and leaves the local store as it was; the remote never gets an index naming what it
does not hold."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from genekb.store.store import Store
from tests.conftest import one_line_error
from tests.conftest import run_genekb as run
from tests.remote_servers import make_bucket, s3_env, s3_server
from tests.test_remote import build_tags, visible

pytest.importorskip("s3fs")
pytest.importorskip("moto")
INDEX = "genekb-remote.json"
BUCKETS = itertools.count()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """One moto server for the module: it takes seconds to start."""
    with s3_server() as url:
        yield url


@pytest.fixture
def s3(endpoint, monkeypatch, tmp_path) -> Any:
    """A boto3 client on a fresh bucket (named after the test), the environment pointed at it."""
    import boto3

    for key, value in s3_env(endpoint).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GENEKB_CACHE", str(tmp_path / "cache"))
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.bucket = f"bucket-{next(BUCKETS)}"  # type: ignore[attr-defined]
    make_bucket(endpoint, client.bucket)  # type: ignore[attr-defined]
    return client


def keys(s3: Any, bucket: str | None = None) -> list[str]:
    listing = s3.list_objects_v2(Bucket=bucket or s3.bucket)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def published(tmp_path: Path, s3: Any, *tags: str) -> tuple[Store, dict[str, str], str]:
    """A source store with `tags`, published to s3://<bucket>/genekb."""
    source = Store.open(tmp_path / "source", create=True)
    ids = build_tags(source, *tags)
    url = f"s3://{s3.bucket}/genekb"
    result = run("publish", url, "--root", str(source.root))
    assert result.exit_code == 0, result.output
    return source, ids, url


def test_a_bucket_that_does_not_exist_is_named_and_never_created(tmp_path, s3):
    # publish made the bucket (s3fs's makedirs creates a missing one): a misspelt name became a
    # new bucket; pull said the URL was "no genekb remote".
    source = Store.open(tmp_path / "source", create=True)
    build_tags(source, "t0")
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    line = one_line_error(run("publish", "s3://no-such-bucket/genekb", "--root", str(source.root)))
    assert "the bucket does not exist (NoSuchBucket)" in line and "create the bucket" in line
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == buckets
    local = tmp_path / "local"
    line = one_line_error(run("pull", "s3://no-such-bucket/genekb", "--root", str(local)))
    assert "the bucket does not exist (NoSuchBucket)" in line
    assert not (local / "embeddings").exists()


def test_an_object_cut_short_or_missing_is_refused_at_once_and_changes_nothing(tmp_path, s3):
    source, ids, url = published(tmp_path, s3, "t0", "t1")
    local = tmp_path / "local"
    assert run("pull", url, "t0", "--root", str(local)).exit_code == 0
    before = visible(local)
    key = f"genekb/embeddings/{ids['t1']}/vectors.parquet"
    good = s3.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    # An object's end is final: no retry brings the rest (the default retries wait 7.5 s).
    s3.put_object(Bucket=s3.bucket, Key=key, Body=good[: len(good) // 2])
    started = time.monotonic()
    line = one_line_error(run("pull", url, "t1", "--root", str(local)))
    assert f"holds {len(good) // 2:,} of the {len(good):,} bytes" in line and "tries" not in line
    assert time.monotonic() - started < 5
    assert visible(local) == before and not (local / ".staging").exists()
    s3.delete_object(Bucket=s3.bucket, Key=key)
    line = one_line_error(run("pull", url, "t1", "--root", str(local)))
    assert "not found on the remote, though its index lists it" in line  # it said no more
    assert "publish again" in line
    assert visible(local) == before and not (local / ".staging").exists()
    result = run("publish", url, "--root", str(source.root), "--json")  # mends the remote
    assert json.loads(result.stdout)["files_uploaded"] == 1
    assert run("pull", url, "t1", "--root", str(local)).exit_code == 0


def test_refused_credentials_say_what_to_do_without_the_secret(tmp_path, monkeypatch):
    # The line was "permission denied by the remote": no cause, nothing to do.
    monkeypatch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "1")  # moto checks keys after one call
    with s3_server() as url:
        for key, value in s3_env(url).items():
            monkeypatch.setenv(key, value)
        make_bucket(url, "lab")
        source = Store.open(tmp_path / "source", create=True)
        build_tags(source, "t0")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOTKNOWNHERE0000")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-never-printed")
        for args in (("publish", "s3://lab/genekb", "--root", str(source.root)),
                     ("pull", "s3://lab/genekb", "--root", str(tmp_path / "local"))):  # fmt: skip
            result = run(*args)
            line = one_line_error(result)
            assert re.search(r"access refused \((InvalidAccessKeyId|HTTP 403)\); check", line)
            assert "AWS_ACCESS_KEY_ID" in line and "tries" not in line
            assert "s3cr3t" not in result.output and "AKIANOTKNOWN" not in result.output


WRITES = {"put_object", "copy_object", "delete_object", "delete_objects",
          "create_multipart_upload", "upload_part", "complete_multipart_upload"}  # fmt: skip


def fail_writes(monkeypatch, failing: Callable[[int], bool]) -> None:
    """The S3 writes whose number (from 1) `failing` picks fail as a dropped connection would."""
    import s3fs.core

    original = s3fs.core.S3FileSystem._call_s3
    done = [0]

    async def call(self: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        if method in WRITES:
            done[0] += 1
            if failing(done[0]):
                raise ConnectionError("the connection dropped")
        return await original(self, method, *args, **kwargs)

    monkeypatch.setattr(s3fs.core.S3FileSystem, "_call_s3", call)


def cut_writes_after(monkeypatch, allowed: int) -> None:
    """Every S3 write after the first `allowed` fails as a dropped connection would."""
    fail_writes(monkeypatch, lambda n: n > allowed)


@pytest.mark.parametrize("uploaded", [1, 3, 4])  # of 5: t0 (2 + 2 files), the index
def test_a_publish_cut_at_any_upload_shows_nothing_and_resumes(tmp_path, s3, monkeypatch, uploaded):
    # Each file went up as a temporary object, copied into place and deleted: a cut between
    # those left `.tmp` objects in the bucket for good; and a rerun sent every file again, since
    # only an index (written last, so never there after a cut) vouched for files already sent.
    source = Store.open(tmp_path / "source", create=True)
    build_tags(source, "t0")
    url = f"s3://{s3.bucket}/genekb"
    monkeypatch.setattr(time, "sleep", lambda seconds: None)  # the retries' backoff
    with monkeypatch.context() as cut:
        cut_writes_after(cut, uploaded)
        line = one_line_error(run("publish", url, "--root", str(source.root)))
        assert "the connection dropped" in line
    assert f"genekb/{INDEX}" not in keys(s3)  # a reader sees no remote, never half of one
    assert not [k for k in keys(s3) if not k.endswith((".parquet", ".json"))]
    result = run("publish", url, "--root", str(source.root), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    finished_versions = uploaded // 2  # a version's manifest goes up last
    assert report["files_skipped"] == 2 * finished_versions
    assert report["files_uploaded"] == 4 - 2 * finished_versions
    pulled = run("pull", url, "t0", "--root", str(tmp_path / "local"))
    assert pulled.exit_code == 0, pulled.output


def test_publish_retries_an_upload_that_fails_once_as_pull_does(tmp_path, s3, monkeypatch):
    # `pull --retries` set how often a request that failed in passing is tried again; publish
    # had no such option, so a flaky link could not be given more tries (nor a test fewer).
    source = Store.open(tmp_path / "source", create=True)
    build_tags(source, "t0")
    url = f"s3://{s3.bucket}/genekb"
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)  # the retries' backoff, not waited for
    args = ("publish", url, "--root", str(source.root))
    with monkeypatch.context() as flaky:
        fail_writes(flaky, lambda n: n == 2)  # the second upload drops once
        line = one_line_error(run(*args, "--retries", "0"))
    assert "the connection dropped (after 1 tries)" in line and not slept
    assert f"genekb/{INDEX}" not in keys(s3)
    with monkeypatch.context() as flaky:
        fail_writes(flaky, lambda n: n == 2)
        result = run(*args, "--retries", "1", "--json")
    assert result.exit_code == 0, result.output
    assert slept == [0.5] and json.loads(result.stdout)["tags"] == ["t0"]
    assert run("pull", url, "t0", "--root", str(tmp_path / "local")).exit_code == 0


def test_two_publishers_at_once_keep_each_others_versions(tmp_path, s3, monkeypatch):
    # Each wrote the index it read before uploading plus its own versions: the later one
    # dropped the other's versions and tags from the remote.
    from genekb.store import remote_io
    from genekb.store.publish import publish

    first = Store.open(tmp_path / "first", create=True)
    second = Store.open(tmp_path / "second", create=True)
    ids = {**build_tags(first, "t0"), **build_tags(second, "t1")}
    url = f"s3://{s3.bucket}/genekb"
    put = remote_io.Remote.put
    meanwhile = []

    def put_and_let_the_other_publish(self: Any, name: str, data: bytes) -> None:
        if not meanwhile:  # the first publish's first upload: the second runs whole now
            meanwhile.append({})
            meanwhile[0] = publish(second, url)
        put(self, name, data)

    monkeypatch.setattr(remote_io.Remote, "put", put_and_let_the_other_publish)
    publish(first, url)
    assert meanwhile and meanwhile[0]["tags"] == ["t1"]
    listing = json.loads(run("remote", "ls", url, "--json").stdout)
    assert {v["id"] for v in listing["versions"]} >= {ids["t0"], ids["t1"]}
    local = tmp_path / "local"
    result = run("pull", url, "t0", "t1", "--root", str(local))
    assert result.exit_code == 0, result.output
    assert Store.open(local).tags() == ids


def test_a_url_with_an_empty_key_part_is_refused_and_writes_nothing(tmp_path, s3):
    # s3://bucket//genekb put the store under the key "/genekb/…", beside "genekb/…".
    source = Store.open(tmp_path / "source", create=True)
    build_tags(source, "t0")
    url = f"s3://{s3.bucket}//genekb"
    line = one_line_error(run("publish", url, "--root", str(source.root)), code=2)
    assert f"write it with single slashes (s3://{s3.bucket}/genekb)" in line
    assert keys(s3) == []
    # A trailing slash, or no key prefix at all, is a remote like any other.
    for good in (f"s3://{s3.bucket}/genekb/", f"s3://{s3.bucket}"):
        assert run("publish", good, "t0", "--root", str(source.root)).exit_code == 0
        assert run("remote", "ls", good).exit_code == 0
    assert {f"genekb/{INDEX}", INDEX} <= set(keys(s3))
