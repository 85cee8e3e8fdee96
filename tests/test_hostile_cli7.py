"""Hostile input to genekb's command line, seventh sweep: a failed command into a root that held
no store leaves none behind, and each refusal is one line with nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from genekb.store.store import Store
from tests.conftest import one_line_error
from tests.conftest import run_genekb as run
from tests.test_remote import build_tags


@pytest.fixture
def folder_remote(tmp_path: Path) -> Path:
    """A store with tag t0, published to a local folder."""
    source = Store.open(tmp_path / "source", create=True)
    build_tags(source, "t0")
    assert run("publish", str(tmp_path / "pub"), "--root", str(source.root)).exit_code == 0
    return tmp_path / "pub"


def test_a_refused_pull_into_a_new_root_leaves_no_store(tmp_path, folder_remote):
    # It left genekb-store.json, locks/ and .staging/ (and the folders it made) behind.
    nested = tmp_path / "new" / "deeper" / "store"
    args = ("pull", str(folder_remote), "--expect", "0" * 16, "--root")
    line = one_line_error(run(*args, str(nested)))
    assert "you expected" in line
    assert not (tmp_path / "new").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(run(*args, str(empty)))
    assert list(empty.iterdir()) == []
    vectors = next(folder_remote.glob("embeddings/*/vectors.parquet"))
    good = vectors.read_bytes()
    data = bytearray(good)
    data[len(data) // 2] ^= 0x01
    vectors.write_bytes(bytes(data))
    line = one_line_error(run("pull", str(folder_remote), "--root", str(empty)))
    assert "does not match the remote's index" in line
    assert list(empty.iterdir()) == []  # the text version it had verified is not kept either
    vectors.write_bytes(good)
    assert run("pull", str(folder_remote), "--root", str(empty)).exit_code == 0  # then it works


def test_a_refused_import_into_a_new_nested_root_leaves_no_folder(tmp_path, folder_remote):
    source = tmp_path / "source"
    assert run("export", "t0", str(tmp_path / "t0.tar"), "--root", str(source)).exit_code == 0
    nested = tmp_path / "new" / "deeper" / "store"
    args = ("import", str(tmp_path / "t0.tar"), "--expect", "0" * 16, "--root", str(nested))
    one_line_error(run(*args))
    assert not (tmp_path / "new").exists()  # it left new/deeper/ behind
