"""Labels as users bring them, read by `cellmodel.annotate.free_labels`: mixtures written with
"/", thousands of long labels, and the characters other keyboards type."""

from __future__ import annotations

import pytest

from cellmodel.annotate import free_labels
from cellmodel.annotate.free_labels import read_label, subtree_term, user_candidates


@pytest.mark.parametrize("given", ["B/Plasma", "T/NK cells", "Mono/Macro", "CD4+ T/CD8+ T"])
def test_a_slash_between_two_cell_types_names_neither(given):
    # Read whole, "B/Plasma" was the plasma cell: a claim the mixed group does not make.
    assert read_label(given) == (None, "")
    assert subtree_term(given) == given  # not the plasma cell's subtree
    cands = user_candidates([given, "Kupffer cells"])
    assert cands[0].cl_id is None and cands[1].cl_id == "CL:0000091"


@pytest.mark.parametrize(
    ("given", "cl_id"),
    [
        ("CD4+/CD25 T Reg", "CL:0000792"),  # a "/" between markers of one cell type
        ("CD14+/CD16+ Mono", "CL:0002397"),  # CD14-positive, CD16-positive monocyte
    ],
)
def test_a_slash_between_markers_still_reads(given, cl_id):
    assert read_label(given)[0] == cl_id


def test_each_label_is_split_once_for_all_tissues(monkeypatch):
    # The tissue pass split every label once per tissue: 2,000 labels of 500 characters took
    # ~3 s after the first call. Counted, not timed: the machine is shared.
    labels = [f"x{i} " + "CD4 T memory naive " * 26 for i in range(200)]
    user_candidates(["T cells", "B cells"])  # the ontology, read once per process
    calls = 0
    words = free_labels._words

    def counting(text: str) -> list[str]:
        nonlocal calls
        calls += 1
        return words(text)

    monkeypatch.setattr(free_labels, "_words", counting)
    cands = user_candidates(labels)
    assert all(c.cl_id is None for c in cands)
    assert calls <= 2 * len(labels)


@pytest.mark.parametrize("given", ["activated T", "T cells activated", "activated NK", "CD4 NKT"])
def test_a_reading_adds_no_numbered_subtype(given):
    # Each was read as a "type I" or "type II" NK T cell ("activated NK": not an NK cell at all).
    assert read_label(given) == (None, "")


def test_a_numbered_subtype_the_label_writes_still_reads():
    assert read_label("type II NKT")[0] == "CL:0000922"  # type II NK T cell
    assert read_label("activated CD4 T")[0] == "CL:0000896"
    assert subtree_term("activated T") == "activated T"  # was the one-term NK T subtree


@pytest.mark.parametrize(
    ("given", "cl_id"),
    [
        ("CD4⁺ T", "CL:0000624"),  # a superscript plus
        ("ＣＤ８ Ｔ", "CL:0000625"),  # full-width letters and digits
        ("γδ T cells", "CL:0000798"),  # Greek letters, as CL spells them: gamma-delta T cell
        ("γδT", "CL:0000798"),
        ("αβ T", "CL:0000789"),  # alpha-beta T cell
        ("Müller glia", "CL:0000636"),  # an accent: Mueller cell
        ("T [CD4]", "CL:0000624"),  # brackets, as parentheses are
    ],
)
def test_other_keyboards_characters_read_as_cl_writes_them(given, cl_id):
    assert read_label(given)[0] == cl_id


def test_greek_labels_read_with_the_lists_tissue():
    cands = user_candidates(["α", "β", "δ", "B"])
    assert [c.cl_id for c in cands[:3]] == ["CL:0000171", "CL:0000169", "CL:0000173"]


@pytest.mark.parametrize(
    "given",
    [
        "T cells 2",  # was the T-helper 2 cell
        "T_1",  # was the T-helper 1 cell
        "B cells 1",  # was the B-1 B cell
        "Endo 2",  # was the alveolar capillary type 2 endothelial cell
        "Neurons 2",  # was the L2 marginal neuron
    ],
)
def test_a_clusters_number_is_not_read_as_the_cell_types(given):
    assert read_label(given) == (None, "")
    assert user_candidates(["T cells 2", "Endo 2", "B"])[0].cl_id is None


@pytest.mark.parametrize(
    ("given", "cl_id"),
    [
        ("group 2 ILC", "CL:0001069"),
        ("T-helper 17", "CL:0000899"),
        ("B1", "CL:0000819"),
        ("ILC_2", "CL:0001069"),  # CL writes the name with its number: "ILC2"
    ],
)
def test_a_number_that_is_the_names_still_reads(given, cl_id):
    assert read_label(given)[0] == cl_id


@pytest.mark.parametrize(
    ("given", "cl_id"),
    [
        ("CD16+/- Mono", "CL:0000576"),  # was the CD14-positive, CD16-positive monocyte
        ("CD4+/- T", "CL:0000084"),  # was the CD4-positive, alpha-beta T cell
        ("CD4± T", "CL:0000084"),
        ("CD27-/+ B", "CL:0000236"),
    ],
)
def test_a_marker_with_both_signs_claims_neither(given, cl_id):
    assert read_label(given)[0] == cl_id
    assert read_label("CD16+ Mono")[0] == "CL:0002397"  # one sign still reads (CL's synonym)
