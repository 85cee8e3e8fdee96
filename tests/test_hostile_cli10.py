"""Hostile input to both command lines, tenth sweep: files a newer genekb wrote, output paths
that name a folder, remote waits beyond what a socket takes, and `-` where a file is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genekb.errors import UsageError
from genekb.eval.evaluate import evaluate
from genekb.store import remote_io
from genekb.store.hashing import sha256_json
from genekb.store.remote_index import INDEX
from genekb.store.store import Store
from tests.conftest import blobs, one_line_error, run_cellmodel
from tests.conftest import run_genekb as run
from tests.remote_servers import free_port
from tests.test_hostile_cli6 import _rewrite_header
from tests.test_remote import build_tags

UPGRADE = "written by a newer genekb"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A store holding tag t0."""
    store = Store.open(tmp_path / "store", create=True)
    build_tags(store, "t0")
    return store.root


# ---- files a newer genekb wrote ----------------------------------------------------------------


def test_a_tags_file_of_a_newer_format_is_kept_and_never_re_signed(root):
    # It was "corrupt; delete it and set tags again" (losing every tag), and
    # `reindex --resign-tags` rewrote it in the older format, vouching for what it never read.
    tags = root / "tags.json"
    tags.write_text(tags.read_text().replace("genekb-tags/1", "genekb-tags/2"))
    before = tags.read_bytes()
    result = run("list", "--root", str(root))
    assert UPGRADE in result.stderr and "delete it" not in result.stderr
    line = one_line_error(run("reindex", "--resign-tags", "--root", str(root)))
    assert UPGRADE in line and "pip install -U" in line
    assert tags.read_bytes() == before


def test_a_store_export_or_remote_of_a_newer_format_says_to_upgrade(root, tmp_path):
    # Each said only "of format 'genekb-…/2', not genekb-…/1", no way out.
    sent = tmp_path / "sent.tar"
    assert run("export", "t0", str(sent), "--root", str(root)).exit_code == 0
    newer = _rewrite_header(
        sent, tmp_path / "newer.tar", lambda h: h.update(format="genekb-store/2")
    )
    assert UPGRADE in one_line_error(run("import", str(newer), "--root", str(tmp_path / "new")))
    assert not (tmp_path / "new").exists()

    pub = tmp_path / "pub"
    assert run("publish", str(pub), "--root", str(root)).exit_code == 0
    index = json.loads((pub / INDEX).read_text())
    body = {k: v for k, v in index.items() if k != "sha256"} | {"format": "genekb-remote/2"}
    (pub / INDEX).write_text(json.dumps({**body, "sha256": sha256_json(body)}))
    assert UPGRADE in one_line_error(run("remote", "ls", str(pub)))

    marker = root / "genekb-store.json"
    marker.write_text(marker.read_text().replace("genekb-store/1", "genekb-store/2"))
    line = one_line_error(run("list", "--root", str(root)))
    assert UPGRADE in line and "pip install -U genekb-cellmodel" in line
    marker.write_text(marker.read_text().replace("genekb-store/2", "other-tool/7"))
    line = one_line_error(run("list", "--root", str(root)))
    assert "not genekb-store/1" in line and UPGRADE not in line


# ---- waits on a remote -------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", ["inf", "1e10"])
def test_a_timeout_no_socket_takes_is_one_usage_line(root, tmp_path, timeout):
    # Each was "unexpected OverflowError: timestamp out of range for platform time_t" once the
    # first request went out.
    url = f"http://127.0.0.1:{free_port()}"
    for args in (
        ("pull", url, "--root", str(tmp_path / "new")),
        ("remote", "ls", url),
        ("publish", str(tmp_path / "pub"), "--root", str(root)),
    ):
        line = one_line_error(run(*args, "--timeout", timeout), code=2)
        assert "--timeout" in line and "86,400 seconds" in line
    assert not (tmp_path / "new").exists() and not (tmp_path / "pub").exists()


def test_many_retries_wait_at_most_a_minute_each(tmp_path, monkeypatch):
    # The waits doubled without end: --retries 20 slept 0.5 * 2**19 s (three days) before its
    # last try, and past 1,024 retries the wait was "unexpected OverflowError".
    waits: list[float] = []
    monkeypatch.setattr(remote_io.time, "sleep", waits.append)
    url = f"http://127.0.0.1:{free_port()}"
    args = ("pull", url, "--retries", "20", "--timeout", "0.5", "--root", str(tmp_path / "new"))
    assert "after 21 tries" in one_line_error(run(*args))
    assert len(waits) == 20 and max(waits) == remote_io.MAX_BACKOFF_S
    assert waits[:3] == [0.5, 1.0, 2.0]


# ---- output paths that name a folder, and `-` where a file is read -----------------------------


@pytest.fixture(scope="module")
def cells(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cells") / "cells.h5ad"
    blobs(30, dim=20, counts=True).write_h5ad(path)
    return path


@pytest.mark.parametrize(
    ("app", "args", "flag"),
    [
        (run, ["export", "t0"], None),
        (run_cellmodel, ["embed", "{cells}"], "-o"),
        (run_cellmodel, ["cluster", "{cells}", "--no-semantic"], "-o"),
        (run_cellmodel, ["classify", "{cells}", "--label-key", "group"], "--output"),
        (run_cellmodel, ["annotate", "{cells}", "--candidates", "a;b"], "-o"),
        (run_cellmodel, ["annotate", "{cells}", "--candidates", "a;b"], "--markdown"),
    ],
)
def test_a_file_output_ending_in_a_slash_is_refused(root, cells, tmp_path, app, args, flag):
    # Path() drops the slash: `export t0 out/` wrote a tar named `out`, `-o run.h5ad/` a file
    # `run.h5ad`; and `-o ""` was called "output . is a directory".
    words = [a.format(cells=cells) for a in args]
    for target, says in ((f"{tmp_path}/new/", "names a folder"), ("", "it is empty")):
        given = [target] if flag is None else [flag, target]
        line = one_line_error(app(*words, *given, "--root", str(root)), code=2)
        assert says in line
    assert not (tmp_path / "new").exists()


def test_explain_from_stdin_says_it_reads_a_path(cells):
    # It said "- does not exist; write one with `cellmodel cluster IN -o FILE`".
    line = one_line_error(run_cellmodel("explain", "-"))
    assert "not from - (stdin)" in line and "does not exist" not in line


# ---- repetitions beyond any run ----------------------------------------------------------------


def test_a_billion_seeds_is_one_usage_line_not_a_process_out_of_memory(root, tmp_path, monkeypatch):
    # `eval --seeds 1000000000` and `bench --seeds 1000000000` first built the list of every seed:
    # the process grew until the kernel killed it (exit 137), with no word.
    def no_run(*args, **kwargs):
        raise AssertionError("the benchmark started")

    monkeypatch.setattr("cellmodel.bench.run_bench", no_run)
    too_many = "1001"  # refused as a billion is, without a billion's risk before the fix
    line = one_line_error(run("eval", "t0", "--seeds", too_many, "--root", str(root)), code=2)
    assert "--seeds" in line and "1000" in line
    bench = (
        "bench",
        "--datasets",
        "synthetic-60",
        "--seeds",
        too_many,
        "--out",
        str(tmp_path / "b"),
    )
    assert "--seeds" in one_line_error(run_cellmodel(*bench), code=2)
    assert not (tmp_path / "b").exists()
    with pytest.raises(UsageError, match="1 to 1,000 seeds"):
        evaluate([Store.open(root).version("t0")], seeds=10**9)
