"""A user's own label names read as Cell Ontology terms (`cellmodel.annotate.free_labels`):
the forms labs write, a reading only where exactly one term fits, and no claim added."""

from __future__ import annotations

import pytest

from cellmodel.annotate.free_labels import read_label, user_candidates
from cellmodel.annotate.report import candidates_line
from genekb.errors import UsageError


@pytest.mark.parametrize(
    ("given", "cl_id"),
    [
        ("CD14+ Mono", "CL:0001054"),  # CD14-positive monocyte
        ("B cells", "CL:0000236"),
        ("NK", "CL:0000623"),
        ("Dendritic", "CL:0000451"),
        ("T.CD4.Naive", "CL:0000895"),  # naive thymus-derived CD4-positive, alpha-beta T cell
        ("Memory CD4 T", "CL:0000897"),  # words in another order
        ("CD4+/CD25 T Reg", "CL:0000792"),
        ("Megakaryocytes", "CL:0000556"),
        ("microglia", "CL:0000129"),
        ("MAIT cells", "CL:0000940"),  # an abbreviation's words, lower-cased
        ("Classical Monocytes", "CL:0000860"),
    ],
)
def test_labels_read_as_the_term_they_name(given, cl_id):
    assert read_label(given)[0] == cl_id


@pytest.mark.parametrize(
    "given",
    [
        "alpha",  # "alpha cell" is CL's synonym of a mouse-only retinal ganglion cell
        "CD34+",  # one word: many terms hold it
        "malignant_93",
        "4.1-Trm",
    ],
)
def test_labels_no_single_term_fits_stay_words(given):
    assert read_label(given) == (None, "")


def test_a_reading_adds_no_marker_or_sign_the_user_did_not_write():
    # CL's synonyms "CD16- monocyte" and "CD16+ monocyte" keep their signs
    for given in ("CD16+ Mono", "Mono.CD16", "FCGR3A+ Mono"):  # FCGR3A: CD16's gene
        assert read_label(given)[0] == "CL:0002397"  # CD14-positive, CD16-positive monocyte
    assert read_label("CD16- Mono")[0] == "CL:0002057"  # CD16-negative classical monocyte


def test_user_candidates_keep_the_text_and_says_how_each_was_read():
    given = ["CD14+ Mono", "B cell", "B cells", "Tregs", "Regulatory T cells", "xyz"]
    cands = user_candidates(given)
    got = {c.given: (c.cl_id, c.read_as) for c in cands}
    assert got["CD14+ Mono"] == ("CL:0001054", "written form")
    assert got["B cell"] == ("CL:0000236", None)  # CL's own label: not a reading
    assert got["B cells"] == (None, None)  # the term is taken by the exact label
    assert got["Tregs"] == got["Regulatory T cells"] == (None, None)  # two read as one term
    assert got["xyz"] == (None, None)
    assert [c.given for c in cands][:2] == ["CD14+ Mono", "B cell"]


def test_the_run_says_what_it_read():
    entry = {
        "n": 3,
        "read_as_terms": [{"given": "B cells", "cl_id": "CL:0000236", "label": "B cell"}],
        "free_text": ["alpha"],
    }
    line = candidates_line(entry)
    assert line.startswith("read 1 of 3 candidates as Cell Ontology terms from their words:")
    assert "'B cells' as B cell" in line
    assert "1 names no CL term and is scored by its words alone: 'alpha'" in line
    assert candidates_line({"n": 2, "read_as_terms": [], "free_text": []}) == ""


def test_a_lists_tissue_reads_labels_named_within_it():
    cands = user_candidates(["alpha", "beta", "delta", "ductal", "gamma", "endothelial"])
    got = {c.given: (c.cl_id, c.read_as) for c in cands}
    assert got["alpha"][0] == "CL:0000171"  # pancreatic A cell
    assert got["beta"][0] == "CL:0000169"  # type B pancreatic cell
    assert got["delta"][0] == "CL:0000173"  # pancreatic D cell
    assert got["ductal"][0] == "CL:0002079"  # pancreatic ductal cell
    assert "'pancreatic', the list's tissue" in got["alpha"][1]
    # the islet's gamma cell is CL's PP cell (abbreviations: "gamma" after "pancreatic")
    assert got["gamma"][0] == "CL:0002275"


def test_no_tissue_is_read_on_one_label_or_a_tie():
    lone = user_candidates(["CD14+ Mono", "B", "NK", "alpha"])
    assert [c.cl_id for c in lone][-1] is None  # one label reads under the pancreas: no tissue
    tie = user_candidates(["alpha", "delta", "B"])  # pancreatic and pituitary alike
    assert [c.cl_id for c in tie][:2] == [None, None]


def test_the_markdown_report_says_what_it_read():
    from cellmodel.annotate.report import _summary_lines

    report = {
        "n_groups": 2, "groupby": "g", "n_cells": 10, "method": "combined", "groups": [],
        "candidates": {"n": 2, "source": "user", "cl_version": "v", "with_cl_id": 1,
                       "in_marker_table": 1, "free_text": ["alpha"],
                       "read_as_terms": [{"given": "B cells", "cl_id": "CL:0000236",
                                          "label": "B cell"}]},
        "store": {"embedding_id": "emb", "model": "m"}, "params": {"gene_vectors": "real"},
    }  # fmt: skip
    text = "\n".join(_summary_lines(report))
    assert "> Note: read 1 of 2 candidates as Cell Ontology terms" in text
    assert "'B cells' as B cell" in text and "'alpha'" in text


def test_a_level_written_onto_its_marker_is_read_apart():
    from cellmodel.annotate.free_labels import _split

    assert _split("CD56bright NK") == ["cd56", "bright", "nk"]
    assert _split("CD27neg B") == ["cd27", "negative", "b"]
    assert _split("CD4+CD8-") == ["cd4", "positive", "cd8", "negative"]


def test_a_subtree_named_as_labs_write_it():
    from cellmodel.annotate.params import setup

    _, cands = setup("g", None, "T cells", None)  # was refused: 'names no Cell Ontology term'
    assert cands.ontology_subtree == "CL:0000084"
    _, exact = setup("g", None, "T cell", None)
    assert [c.cl_id for c in cands.terms] == [c.cl_id for c in exact.terms]
    with pytest.raises(UsageError, match="names no Cell Ontology term"):
        setup("g", None, "nonsense words", None)
