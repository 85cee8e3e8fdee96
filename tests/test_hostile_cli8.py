"""Hostile input to genekb's command line, eighth sweep: re-signing tags keeps the tag rule, a
failed build leaves only what is whole, and a hostile remote leaves the local store as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genekb.store.store import Store
from tests.conftest import one_line_error
from tests.conftest import run_genekb as run
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
