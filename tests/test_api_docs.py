"""The API reference is generated from the docstrings: every public function of cm.pp / cm.tl /
cm.pl / gk / gk.pl has one with an Examples section, and docs/api.md matches them."""

from __future__ import annotations

from cellmodel import api_reference


def test_every_public_function_has_a_docstring_with_examples() -> None:
    assert api_reference.problems() == []


def test_a_missing_example_is_caught(monkeypatch) -> None:
    import cellmodel.tl

    monkeypatch.setattr(cellmodel.tl.cluster, "__doc__", "Cluster the cells.")
    assert api_reference.problems() == ["cm.tl.cluster: no Examples section"]


def test_the_reference_page_is_up_to_date() -> None:
    text = api_reference.render()
    assert api_reference.TARGET.read_text() == text, "run scripts/make_api_docs.py"
    for name in ("cm.tl.cluster", "cm.pl.umap", "gk.eval", "gk.pl.neighbours", "cm.pp.read"):
        assert f"### `{name}(" in text
