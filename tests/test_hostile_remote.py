"""Remotes that cannot be one: a file where the folder should be, a URL whose file system
connects when it is made (ftp://) to a port where nothing listens on 127.0.0.1. Each is one
line at once, with no retries spent on what no retry mends."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path

import pytest

from genekb.errors import GenekbError
from genekb.store.store import Store
from tests.conftest import one_line_error
from tests.conftest import run_genekb as run
from tests.remote_servers import Fault, free_port, http_server
from tests.test_remote import build_tags, visible


def test_publishing_onto_a_file_is_refused_at_once(tmp_path):
    source = Store.open(tmp_path / "source", create=True)
    build_tags(source, "t0")
    target = tmp_path / "a-file"
    target.write_text("not a folder\n")
    started = time.monotonic()
    line = one_line_error(run("publish", str(target), "--root", str(source.root)))
    assert "a file where a folder must be" in line and "tries" not in line
    assert time.monotonic() - started < 5  # no backoff: the default retries wait 7.5 s
    assert target.read_text() == "not a folder\n"


def test_a_remote_whose_server_is_not_there_is_one_line(tmp_path):
    url = f"ftp://127.0.0.1:{free_port()}/store"
    line = one_line_error(run("pull", url, "t0", "--root", str(tmp_path / "local")))
    assert line.startswith(f"error: {url}: cannot open the remote (")
    assert "check the URL" in line and "published" not in line


def test_publishing_into_a_folder_of_other_files_is_refused(tmp_path):
    source = Store.open(tmp_path / "source", create=True)
    build_tags(source, "t0")
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine\n")
    line = one_line_error(run("publish", str(home), "--root", str(source.root)), code=2)
    assert "is not a genekb remote (no genekb-remote.json) and is not empty" in line
    assert sorted(p.name for p in home.iterdir()) == ["notes.txt"]
    fresh = tmp_path / "fresh"  # a new folder, and then the remote it became, are fine
    assert run("publish", str(fresh), "--root", str(source.root)).exit_code == 0
    assert run("publish", str(fresh), "--root", str(source.root)).exit_code == 0
    # A publish cut before its index was written (the index comes last) leaves only the store's
    # own folders: publishing there again resumes instead of being refused.
    (fresh / "genekb-remote.json").unlink()
    (fresh / "genekb-remote.json.123-abcd.tmp").write_text("{")
    assert run("publish", str(fresh), "--root", str(source.root)).exit_code == 0
    assert (fresh / "genekb-remote.json").is_file()


def test_a_folder_that_is_no_remote_says_what_a_remote_is(tmp_path):
    line = one_line_error(run("pull", str(tmp_path), "t0", "--root", str(tmp_path / "local")))
    assert f"{tmp_path} is no genekb remote (no genekb-remote.json there)" in line
    assert "`genekb publish` wrote to" in line


def _forged(tmp_path, edit) -> tuple[Path, str]:
    """t0 published to a folder whose index `edit` changes in place and which is then re-hashed,
    so it is self-consistent, as a hostile publisher would write it; (folder, t0's id)."""
    from genekb.store.remote_index import dump_index

    source = Store.open(tmp_path / "source", create=True)
    ids = build_tags(source, "t0")
    folder = tmp_path / "pub"
    assert run("publish", str(folder), "--root", str(source.root)).exit_code == 0
    index_path = folder / "genekb-remote.json"
    index = json.loads(index_path.read_text())
    edit(index, ids["t0"])
    index_path.write_bytes(dump_index(index["tags"], index["versions"], index["published"]))
    return folder, ids["t0"]


def _sizes(change):
    def edit(index, vid):
        for meta in index["versions"][vid]["files"].values():
            meta["bytes"] = change(meta["bytes"])

    return edit


def test_an_index_stating_more_than_the_disk_holds_is_refused_before_any_download(tmp_path):
    folder, _ = _forged(tmp_path, _sizes(lambda n: n + 10**15))
    with http_server(folder) as (url, served):
        line = one_line_error(run("pull", url, "t0", "--root", str(tmp_path / "local")))
        assert "needs about" in line and "free; free some space" in line
        assert not any(name.startswith("embeddings/") for name in served.files_fetched())


def test_a_server_sending_other_sizes_than_its_index_is_refused_without_retries(tmp_path):
    folder, _ = _forged(tmp_path, _sizes(lambda n: n + 10))
    with http_server(folder) as (url, served):
        started = time.monotonic()
        line = one_line_error(run("pull", url, "t0", "--root", str(tmp_path / "local")))
        assert "bytes where the remote's index states" in line and "publish again" in line
        assert time.monotonic() - started < 5  # the default retries wait 7.5 s
        assert max(served.gets.values()) == 1


def test_a_remote_tag_that_is_no_tag_is_refused_by_ls_and_pull(tmp_path):
    folder, _ = _forged(tmp_path, lambda index, vid: index["tags"].update({"../../etc": vid}))
    pull = ["pull", str(folder), "--root", str(tmp_path / "local")]
    for args in (["remote", "ls", str(folder)], pull):
        line = one_line_error(run(*args))
        assert "tag '../../etc' is not a name; a tag is up to" in line and "nothing fetched" in line


def test_a_damaged_partial_download_is_fetched_again_whole(tmp_path):
    source = Store.open(tmp_path / "source", create=True)
    ids = build_tags(source, "t0", "t1")
    folder, local = tmp_path / "pub", tmp_path / "local"
    assert run("publish", str(folder), "--root", str(source.root)).exit_code == 0
    assert run("pull", str(folder), "t0", "--root", str(local)).exit_code == 0
    vectors = folder / "embeddings" / ids["t1"] / "vectors.parquet"
    cache = local / ".staging" / "pull-cache" / ids["t1"]
    cache.mkdir(parents=True, exist_ok=True)
    # A whole-length partial file from an earlier, interrupted try whose bytes went wrong.
    (cache / "vectors.parquet.part").write_bytes(b"\0" * vectors.stat().st_size)
    result = run("pull", str(folder), "t1", "--root", str(local))
    assert result.exit_code == 0, result.output  # it blamed the remote's sha256 and stopped
    assert Store.open(local).tags() == {"t0": ids["t0"], "t1": ids["t1"]}


def test_a_url_naming_no_place_is_refused_and_writes_nothing(tmp_path, monkeypatch):
    # `http://` with its slashes stripped is `http:`, a relative folder to fsspec: publish wrote
    # a whole store into the working directory under that name, and reported success.
    source = Store.open(tmp_path / "source", create=True)
    build_tags(source, "t0")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for url in ("http://", "s3://", "file://"):
        line = one_line_error(run("publish", url, "--root", str(source.root)), code=2)
        assert f"'{url}' names no host, bucket or folder after" in line
        line = one_line_error(run("pull", url, "t0", "--root", str(tmp_path / "local")), code=2)
        assert "names no host" in line
    line = one_line_error(run("remote", "ls", "http://[::1/x"), code=2)
    assert "'http://[::1/x' is not a valid URL (Invalid IPv6 URL)" in line
    assert list(work.iterdir()) == [] and not (tmp_path / "local").exists()


def test_index_fields_that_ls_prints_cannot_drive_the_terminal(tmp_path, monkeypatch):
    # `remote ls` printed a hostile encoder name as it came: an escape sequence retitled or
    # cleared the reader's terminal, and a name that was a list ended in "unexpected ...".
    title = "\x1b]0;owned\x07"
    edits = {
        title: lambda index, vid: index["versions"][vid].update(model=title),
        "list": lambda index, vid: index["versions"][vid].update(model=["a"]),
        "genes": lambda index, vid: index["versions"][vid].update(n_genes={"x": 1}),
        "published": lambda index, vid: index.update(published="\x1b[2J"),
    }  # fmt: skip
    said = {title: "encoder name is not a line of plain text", "list": "encoder name",
            "genes": "its n_genes is not a count", "published": "publication time"}  # fmt: skip
    for name, edit in edits.items():
        folder, _ = _forged(tmp_path / name.encode().hex(), edit)
        for args in (["remote", "ls", str(folder)],
                     ["pull", str(folder), "t0", "--root", str(tmp_path / "local")]):  # fmt: skip
            line = one_line_error(run(*args))
            assert said[name] in line and "refused, nothing fetched" in line
            assert "\x1b" not in line
    assert not (tmp_path / "local").exists()
    # Square brackets are text, not rich markup: shown as they are (on a table wide enough).
    monkeypatch.setenv("COLUMNS", "300")
    folder, _ = _forged(tmp_path / "markup", lambda index, vid: index["versions"][vid].update(
        model="[bold red]x[/]"))  # fmt: skip
    result = run("remote", "ls", str(folder))
    assert result.exit_code == 0 and "[bold red]x[/]" in result.stdout


def _full_disk_for_tags(monkeypatch) -> None:
    """tags.json cannot be written, as on a disk that filled after the versions landed."""

    def refuse(self, tags):
        raise GenekbError(f"cannot write {self.root / 'tags.json'}: No space left on device")

    monkeypatch.setattr(Store, "_write_tags", refuse)


def test_a_pull_whose_tags_cannot_be_written_leaves_nothing_visible(tmp_path, monkeypatch):
    # The versions were renamed in before the tags were written, and stayed there, untagged,
    # when that write failed: the command said "error" while the store had changed.
    source = Store.open(tmp_path / "source", create=True)
    ids = build_tags(source, "t0", "t1")
    folder, local = tmp_path / "pub", tmp_path / "local"
    assert run("publish", str(folder), "--root", str(source.root)).exit_code == 0
    assert run("pull", str(folder), "t0", "--root", str(local)).exit_code == 0
    before = visible(local)
    _full_disk_for_tags(monkeypatch)
    line = one_line_error(run("pull", str(folder), "t1", "--root", str(local)))
    assert "tags.json: No space left on device" in line
    assert visible(local) == before
    monkeypatch.undo()
    assert run("pull", str(folder), "t1", "--root", str(local)).exit_code == 0
    assert Store.open(local).tags() == {"t0": ids["t0"], "t1": ids["t1"]}


def _unblock_later(fifo: Path, after: float) -> threading.Thread:
    """From `after` s on, keep opening `fifo` for writing and closing it: a reader blocked on it
    gets an end of file, so a regression fails this test instead of hanging it."""

    def run_() -> None:
        time.sleep(after)
        for _ in range(100):
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            time.sleep(0.2)

    thread = threading.Thread(target=run_, daemon=True)
    thread.start()
    return thread


def test_a_pipe_in_a_folder_remote_is_refused_not_waited_on(tmp_path):
    # A FIFO where a remote's file should be blocked `pull` and `remote ls` forever.
    source = Store.open(tmp_path / "source", create=True)
    ids = build_tags(source, "t0")
    folder, local = tmp_path / "pub", tmp_path / "local"
    assert run("publish", str(folder), "--root", str(source.root)).exit_code == 0
    vectors = folder / "embeddings" / ids["t0"] / "vectors.parquet"
    vectors.unlink()
    os.mkfifo(vectors)
    started = time.monotonic()
    _unblock_later(vectors, 8)
    line = one_line_error(run("pull", str(folder), "t0", "--retries", "0", "--root", str(local)))
    assert f"{vectors} is a pipe, not a regular file" in line
    assert time.monotonic() - started < 5
    assert not (local / "embeddings").exists()
    index = folder / "genekb-remote.json"
    index.unlink()
    os.mkfifo(index)
    _unblock_later(index, 8)
    line = one_line_error(run("remote", "ls", str(folder)))
    assert f"{index} is a pipe, not a regular file" in line


def test_what_a_hostile_server_says_is_one_printable_line(tmp_path):
    # urllib's redirect-loop reason ran over three lines, a reason phrase reached the terminal
    # with its escape sequences, and an index nested a few thousand deep was an "unexpected
    # RecursionError".
    source = Store.open(tmp_path / "source", create=True)
    build_tags(source, "t0")
    folder = tmp_path / "pub"
    assert run("publish", str(folder), "--root", str(source.root)).exit_code == 0
    with http_server(folder) as (url, served):
        served.faults.append(Fault("genekb-remote.json", "loop"))
        line = one_line_error(run("remote", "ls", url))
        assert line.endswith("genekb-remote.json: HTTP 302 redirects in a loop; check the URL")
        served.faults[:] = [Fault("vectors.parquet", "reason")]
        line = one_line_error(run("pull", url, "t0", "--root", str(tmp_path / "local")))
        assert "vectors.parquet: HTTP 403 Go ?[2Jaway; the server refuses access" in line
    assert not (tmp_path / "local" / "embeddings").exists()
    (folder / "genekb-remote.json").write_text("[" * 100_000 + "]" * 100_000)
    line = one_line_error(run("remote", "ls", str(folder)))
    assert "a JSON document nested deeper than an index ever is; refused" in line


def test_an_s3_remote_without_credentials_says_so_at_once(tmp_path, monkeypatch):
    # NoCredentialsError was retried like a dropped connection: 7.5 s of backoff, then "check
    # the remote and run the command again", which no rerun mends.
    pytest.importorskip("s3fs")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask a metadata service
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    line = one_line_error(run("remote", "ls", "s3://bucket/store"))
    assert "genekb-remote.json: no credentials for it (NoCredentialsError" in line
    assert "AWS_ACCESS_KEY_ID" in line and "tries" not in line
    assert time.monotonic() - started < 5


def test_publishing_again_repairs_a_damaged_file_in_a_folder_remote(tmp_path):
    # A same-size damaged copy was skipped because the old index vouched for it: publishing
    # again never mended the remote, and every pull kept failing.
    source = Store.open(tmp_path / "source", create=True)
    ids = build_tags(source, "t0")
    folder = tmp_path / "pub"
    assert run("publish", str(folder), "--root", str(source.root)).exit_code == 0
    vectors = folder / "embeddings" / ids["t0"] / "vectors.parquet"
    damaged = bytearray(vectors.read_bytes())
    damaged[len(damaged) // 2] ^= 0x01
    vectors.write_bytes(bytes(damaged))
    line = one_line_error(run("pull", str(folder), "t0", "--root", str(tmp_path / "a")))
    assert "sha256 does not match the remote's index" in line
    result = run("publish", str(folder), "--root", str(source.root), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["files_uploaded"] == 1 and report["files_skipped"] == 3
    original = source.root / "embeddings" / ids["t0"] / vectors.name
    assert vectors.read_bytes() == original.read_bytes()
    assert run("pull", str(folder), "t0", "--root", str(tmp_path / "b")).exit_code == 0


@pytest.mark.parametrize("code", ["EROFS", "ENOSPC"])
def test_a_full_or_read_only_disk_is_not_retried_as_a_network_fault(tmp_path, code):
    import errno

    from genekb.store.remote_io import Remote, RemoteError

    remote = Remote(str(tmp_path / "remote"), retries=4, backoff=0)
    tries = []

    def write() -> None:
        tries.append(1)
        raise OSError(getattr(errno, code), os.strerror(getattr(errno, code)))

    with pytest.raises(RemoteError, match="free space or give a writable place"):
        remote._retrying("index.json", write)
    assert len(tries) == 1  # was five tries and "check the remote"
