"""Hostile input to genekb's command line, eighth sweep: re-signing tags keeps the tag rule, a
failed build leaves only what is whole, and a hostile remote leaves the local store as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genekb.store.store import Store
from tests import fake_encoder
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
