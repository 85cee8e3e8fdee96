"""The whole ontology's term vectors live in the store as versions: built once per store and
encoder, carried by export / import, checked on read (fake encoder: counts its calls)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellmodel.annotate import annotate, report_of
from cellmodel.annotate.term_vectors import SOURCE
from genekb.errors import DamagedVersionWarning
from genekb.store.sharing import export_version, import_file
from genekb.store.store import Store
from tests import fake_encoder
from tests.test_annotate import _islets

SETTINGS = dict(groupby="kind", n_markers=5, top_k=2, n_background=200, model="fake")


def _calls(store: Store) -> dict[str, str]:
    adata = annotate(_islets(), store, **SETTINGS)
    return {e["group"]: e["cl_id"] for e in report_of(adata)["groups"]}


def _term_version(store: Store):
    (found,) = [v for v in store.embeddings() if v.text.manifest["source"]["source"] == SOURCE]
    return found


@pytest.mark.slow
def test_term_vectors_are_a_store_version_that_export_carries(tmp_path: Path, fake_spec) -> None:
    store = Store.open(tmp_path / "a", create=True)
    fake_encoder.CALLS.clear()
    first = _calls(store)
    terms = _term_version(store)
    assert terms.manifest["counts"]["genes"] > 3000  # every live CL term, embedded once
    assert sum(fake_encoder.CALLS) > 3000
    assert terms.text.manifest["template"]["id"] == "given-text"
    assert terms.text.manifest["source"]["details"]["text_style"] == "parents"

    fake_encoder.CALLS.clear()
    assert _calls(store) == first and fake_encoder.CALLS == []  # a second run embeds nothing

    fresh = Store.open(tmp_path / "b", create=True)
    genes = next(v for v in store.embeddings() if v.id != terms.id)
    for version in (genes, terms):
        file = tmp_path / f"{version.id}.tar"
        export_version(store, version.id, file)
        import_file(fresh, file)
    assert all(r["ok"] for r in fresh.verify())  # `genekb verify` checks the term version too
    assert _term_version(fresh).id == terms.id
    fake_encoder.CALLS.clear()
    assert _calls(fresh) == first and fake_encoder.CALLS == []  # the import is used as it is


def test_a_damaged_term_version_is_rebuilt_with_a_warning(tmp_path: Path, fake_spec) -> None:
    """The store's repair rule: a run of the same recipe writes a damaged version again (the
    damaged copy is moved aside, with a warning naming it), and the calls do not change."""
    store = Store.open(tmp_path, create=True)
    first = _calls(store)
    terms = _term_version(store)
    vectors = next(terms.path.glob("*.parquet"))
    data = bytearray(vectors.read_bytes())
    data[len(data) // 2] ^= 0xFF
    vectors.chmod(0o644)
    vectors.write_bytes(bytes(data))
    assert not all(r["ok"] for r in store.verify())
    with pytest.warns(DamagedVersionWarning, match=terms.id):
        assert _calls(store) == first
    assert all(r["ok"] for r in store.verify())


def test_a_blocking_step_still_gives_a_line_every_interval() -> None:
    """`steady_progress` (annotate's CLI hook): a step that blocks (loading a model, reading a
    file) is named again whenever the interval passes without a line; nothing before that, so
    input that fails its checks still gives one line."""
    import time

    from cli.progress import steady_progress

    lines: list[str] = []
    with steady_progress("reading the input", interval=0.2, write=lines.append) as progress:
        time.sleep(0.05)
        assert lines == []
        time.sleep(0.4)
        assert lines and lines[0].startswith("reading the input: still working")
        progress("ontology term texts", 0, 10)
        time.sleep(0.4)
    assert lines[-1].startswith("ontology term texts: 0/10, still working")
    assert "ontology term texts: 0/10" in lines


def test_in_a_terminal_stages_are_bars() -> None:
    import io

    from rich.console import Console

    from cli.progress import stage_bars

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    with stage_bars(console) as progress:
        progress("annotate: matching genes", 0, 1)
        progress("ontology term texts", 0, 64)
        progress("ontology term texts", 64, 64)
    shown = screen.getvalue()
    assert "annotate: matching genes" in shown and "64/64" in shown


def test_mentions_of_the_ontology_texts_are_kept_and_read_back(tmp_path: Path, monkeypatch) -> None:
    from cellmodel.annotate import mentions

    texts = ["CD4-positive T cell expressing granzyme B", "a cell", "insulin-secreting cell"]
    plain = mentions.text_mentions(texts)
    assert mentions.text_mentions(texts, str(tmp_path)) == plain
    monkeypatch.setattr(mentions, "human_lexicon", lambda: pytest.fail("lexicon rebuilt"))
    assert mentions.text_mentions(texts[::-1], str(tmp_path)) == plain[::-1]  # read back
    (cached,) = tmp_path.glob("mentions-*.json")
    cached.write_text("{not json")
    monkeypatch.undo()
    assert mentions.text_mentions(texts, str(tmp_path)) == plain  # a garbled file is rebuilt
