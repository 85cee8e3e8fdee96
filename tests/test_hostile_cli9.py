"""Hostile input to genekb's gene-side commands, ninth sweep: a store on a read-only disk still
reads, a user's NCBI table saved by another program is read or refused by its line, and a gene
name holding a look-alike letter is named as such."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import pytest

from genekb.fileio import write_failed
from genekb.store import integrity
from genekb.store.store import Store
from tests.conftest import one_line_error
from tests.conftest import run_genekb as run
from tests.test_remote import build_tags


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A store with tag t0 (GENE1…) and its catalog, no hash records yet."""
    store = Store.open(tmp_path / "store", create=True)
    build_tags(store, "t0")
    assert run("reindex", "--root", str(store.root)).exit_code == 0
    shutil.rmtree(store.root / integrity.VERIFIED_DIR, ignore_errors=True)
    return store


# ---- a store on a read-only disk ---------------------------------------------------------------


def test_a_read_only_store_still_reads(store, tmp_path, monkeypatch):
    # Every reader failed on its first look: writing the hash record (a cache that only saves
    # work) turned the disk's refusal into "cannot write .verified/…" and exit 1.
    def read_only(path: Path, data: bytes, **_: object) -> None:
        raise write_failed(path, OSError(errno.EROFS, "Read-only file system"))

    monkeypatch.setattr(integrity, "atomic_write", read_only)
    root = ("--root", str(store.root))
    for args in (
        ("list",),
        ("verify",),
        ("info", "t0"),
        ("sql", "SELECT count(*) AS n FROM embeddings"),
        ("similar", "GENE5", "--ref", "t0", "-k", "2"),
        ("export", "t0", str(tmp_path / "t0.tar")),
    ):
        result = run(*args, *root)
        assert result.exit_code == 0, (args, result.output)
        assert "cannot write" not in result.output
