"""Hostile input to genekb's command line, eighth sweep: re-signing tags keeps the tag rule, a
failed build leaves only what is whole, and a hostile remote leaves the local store as it was."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from genekb.store.store import Store
from tests import fake_encoder
from tests.conftest import one_line_error
from tests.conftest import run_genekb as run
from tests.remote_servers import Fault, Served, http_server
from tests.test_remote import build_tags


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENEKB_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A store with tag t0 and its catalog."""
    store = Store.open(tmp_path / "store", create=True)
    build_tags(store, "t0")
    assert run("reindex", "--root", str(store.root)).exit_code == 0
    return store


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root`, staging and locks included: what "changed nothing" compares."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


# ---- reindex --resign-tags ---------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["../x", "emb-0123456789abcdef", "a b", "x/../y", "/abs"])
def test_resign_refuses_a_tag_that_is_no_name_and_changes_nothing(store, bad):
    # It signed any string: verify then called the signed file good but the tag bad.
    body = json.loads(store.tags_file.read_text())
    body["tags"][bad] = body["tags"]["t0"]
    store.tags_file.write_text(json.dumps(body))
    before = snapshot(store.root)
    line = one_line_error(run("reindex", "--resign-tags", "--root", str(store.root)))
    assert "refused to re-sign" in line and repr(bad) in line and "letters, digits" in line
    assert "--resign-tags` again" in line
    assert snapshot(store.root) == before


# ---- a failed build ----------------------------------------------------------------------------

BROKEN = {"on": True}  # whether the "broken" encoder fails (the test mends it for the rerun)


class _BrokenEncoder(fake_encoder.FakeEncoder):
    def encode(self, texts, **kwargs):  # type: ignore[no-untyped-def]
        if BROKEN["on"]:
            raise RuntimeError("CUDA out of memory")
        return super().encode(texts, **kwargs)


def load_broken(spec, device):  # type: ignore[no-untyped-def]
    return _BrokenEncoder(spec)


def test_a_failed_build_keeps_only_its_whole_text_version_and_says_so(
    tmp_path, store, encoder_registry
):
    # The line said only "unexpected RuntimeError", and nothing told the text version apart
    # from a half-written one.
    from genekb.encoders.base import EncoderSpec

    encoder_registry.register_backend("broken", "tests.test_hostile_cli8:load_broken")
    encoder_registry.register(
        EncoderSpec(name="broken", backend="broken", model_id="broken", dim=16, max_length=20)
    )
    (tmp_path / "genes.txt").write_text("CD3E\nCD19\nINS\n")
    args = ("build", "-m", "broken", "--genes", str(tmp_path / "genes.txt"))
    root = ("--root", str(store.root))
    tags, texts = store.tags(), set(store.version_ids("text"))
    BROKEN["on"] = True
    line = one_line_error(run(*args, *root))
    (kept,) = set(store.version_ids("text")) - texts
    assert "CUDA out of memory" in line and f"text version {kept}" in line
    assert "complete and kept" in line and "reuses" in line
    assert store.tags() == tags and store.version_ids("embedding") == list(tags.values())
    assert not (store.root / ".staging").exists()
    assert run("verify", kept, "--root", str(store.root)).exit_code == 0
    BROKEN["on"] = False
    result = run(*args, *root, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["text_id"] == kept and not report["text_created"]


# ---- pull from a hostile remote ----------------------------------------------------------------


@pytest.fixture
def shared(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """(remote folder, local store holding t0, tag -> id): t0 and t1 published to a folder."""
    source = Store.open(tmp_path / "source", create=True)
    ids = build_tags(source, "t0", "t1")
    folder, local = tmp_path / "pub", tmp_path / "local"
    assert run("publish", str(folder), "--root", str(source.root)).exit_code == 0
    assert run("pull", str(folder), "t0", "--root", str(local)).exit_code == 0
    return folder, local, ids


def unchanged(root: Path) -> dict[str, bytes]:
    """The store's files, staging and the pull cache included (lock files persist by design)."""
    return {k: v for k, v in snapshot(root).items() if not k.startswith("locks/")}


def pulls_after_mending(url: str, local: Path, ids: dict[str, str]) -> None:
    result = run("pull", url, "t1", "--root", str(local))
    assert result.exit_code == 0, result.output
    assert run("verify", "--root", str(local)).exit_code == 0
    assert Store.open(local).tags() == {"t0": ids["t0"], "t1": ids["t1"]}


@pytest.mark.parametrize("scheme", ["", "file://"])
def test_a_file_cut_short_in_a_folder_remote_is_refused_at_once(shared, scheme):
    # It was retried 5 times (7.5 s of backoff) as "the connection ended", and its part file
    # and the version's other downloads stayed in the store's .staging/.
    folder, local, ids = shared
    vectors = folder / "embeddings" / ids["t1"] / "vectors.parquet"
    good = vectors.read_bytes()
    vectors.write_bytes(good[: len(good) // 2])
    before = unchanged(local)
    started = time.monotonic()
    line = one_line_error(run("pull", f"{scheme}{folder}", "t1", "--root", str(local)))
    assert time.monotonic() - started < 5
    assert f"holds {len(good) // 2:,} of the {len(good):,} bytes" in line
    assert "publish again" in line and "connection" not in line
    assert unchanged(local) == before
    vectors.write_bytes(good)
    pulls_after_mending(f"{scheme}{folder}", local, ids)


def _html_for_vectors(folder: Path, vid: str, served: Served) -> None:
    (folder / "embeddings" / vid / "vectors.parquet").write_bytes(b"<html>502 Bad Gateway</html>")


REFUSALS = {
    "flip": (lambda folder, vid, served: served.faults.append(Fault("vectors.parquet", "flip")),
             "sha256 does not match the remote's index"),
    "loop": (lambda folder, vid, served: served.faults.append(Fault("vectors.parquet", "loop")),
             "redirects in a loop; check the URL"),
    "html": (_html_for_vectors, "bytes where the remote's index states"),
}  # fmt: skip


@pytest.mark.parametrize("fault", sorted(REFUSALS))
def test_a_refused_pull_leaves_no_download_in_an_existing_store(shared, fault):
    # The versions' verified files stayed in .staging/pull-cache/ of a store that existed
    # (only a new store's were removed), where nothing lists or clears them.
    folder, local, ids = shared
    good = (folder / "embeddings" / ids["t1"] / "vectors.parquet").read_bytes()
    cause, said = REFUSALS[fault]
    before = unchanged(local)
    with http_server(folder) as (url, served):
        cause(folder, ids["t1"], served)
        line = one_line_error(run("pull", url, "t1", "--root", str(local)))
        assert said in line
        assert unchanged(local) == before
        served.faults.clear()
        (folder / "embeddings" / ids["t1"] / "vectors.parquet").write_bytes(good)
        pulls_after_mending(url, local, ids)


def test_an_html_page_served_as_the_index_is_named_as_such(shared):
    folder, local, _ids = shared
    (folder / "genekb-remote.json").write_text("<!DOCTYPE html><html><h1>Sign in</h1></html>\n")
    before = unchanged(local)
    with http_server(folder) as (url, _served):
        line = one_line_error(run("pull", url, "t1", "--root", str(local)))
    assert "genekb-remote.json: an HTML page (an error or login page?), not a genekb index" in line
    assert "check the URL" in line and unchanged(local) == before


def test_a_huge_index_is_refused_without_reading_it_whole(shared):
    folder, local, _ids = shared
    with (folder / "genekb-remote.json").open("r+b") as index:
        index.truncate(8 << 30)  # sparse: 8 GiB of zeros that take no disk
    before = unchanged(local)
    line = one_line_error(run("pull", str(folder), "t1", "--root", str(local)))
    assert "genekb-remote.json: larger than 67,108,864 bytes; not a genekb file" in line
    assert unchanged(local) == before


@pytest.mark.parametrize("name", ["../../escape", "/etc/passwd", "..", "x/../../y"])
def test_an_index_naming_a_file_outside_the_version_is_refused_before_any_fetch(shared, name):
    from genekb.store.remote_index import dump_index

    folder, local, ids = shared
    path = folder / "genekb-remote.json"
    index = json.loads(path.read_text())
    files = index["versions"][ids["t1"]]["files"]
    files[name] = files["vectors.parquet"]
    path.write_bytes(dump_index(index["tags"], index["versions"], index["published"]))
    before = unchanged(local)
    with http_server(folder) as (url, served):
        line = one_line_error(run("pull", url, "t1", "--root", str(local)))
        assert served.files_fetched() == set()
    assert f"file name {name!r} is outside the store's layout; refused, nothing fetched" in line
    assert unchanged(local) == before


class _StopsMidway:
    """A remote file whose reader is interrupted (Ctrl-C) after `at` bytes."""

    def __init__(self, file: Any, at: int) -> None:
        self.file, self.left = file, at

    def seek(self, offset: int) -> int:
        return self.file.seek(offset)

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            raise KeyboardInterrupt
        data = self.file.read(min(size, self.left))
        self.left -= len(data)
        return data

    def __enter__(self) -> _StopsMidway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def test_a_pull_from_a_folder_interrupted_midway_resumes_and_ends_verified(shared, monkeypatch):
    from genekb.store import remote_io

    folder, local, ids = shared
    size = (folder / "embeddings" / ids["t1"] / "vectors.parquet").stat().st_size
    opened = remote_io.Remote._open_file

    def open_file(self: Any, name: str) -> Any:
        source = opened(self, name)
        return _StopsMidway(source, 1000) if name.endswith("vectors.parquet") else source

    before = snapshot(local)
    with monkeypatch.context() as patch:
        patch.setattr(remote_io.Remote, "_open_file", open_file)
        line = one_line_error(run("pull", str(folder), "t1", "--root", str(local)), 130)
    assert "interrupted" in line
    after = snapshot(local)
    assert {k: v for k, v in after.items() if not k.startswith((".staging/", "locks/"))} == {
        k: v for k, v in before.items() if not k.startswith("locks/")
    }  # nothing visible; the downloads wait in the pull cache
    part = f".staging/pull-cache/{ids['t1']}/vectors.parquet.part"
    assert len(after[part]) == 1000
    result = run("pull", str(folder), "t1", "--root", str(local), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["files_reused"] == 3 and report["files_fetched"] == 1
    assert report["bytes_fetched"] == size - 1000 + (folder / "genekb-remote.json").stat().st_size
    assert not (local / ".staging").exists()
    pulls_after_mending(str(folder), local, ids)
