"""Hostile input to `cellmodel annotate`'s candidates and settings (the second sweep): labels
given twice or naming one Cell Ontology term, ids of other ontologies or miswritten CL ids, the
word an uncalled group is given, rows of a table, unordered collections, a misspelled tissue and
settings of the wrong kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellmodel.annotate.free_labels import user_candidates
from cellmodel.annotate.ontology import from_ontology, from_user
from cellmodel.annotate.params import AnnotateParams
from genekb.errors import UsageError
from tests.conftest import blobs, one_line_error, run_cellmodel


@pytest.mark.parametrize(
    ("labels", "says"),
    [(["T cell", "B cell", "T cell"], "candidate 'T cell' is given twice"),
     (["T cell", "t cell"], r"'T cell' and 't cell' name the same Cell Ontology term \(CL:0000084"),
     (["T-lymphocyte", "CL:0000084"], "'T-lymphocyte' and 'CL:0000084' name the same"),
     (["my cell", "My  Cell", "B cell"], "'my cell' and 'My  Cell' are the same label")],
)  # fmt: skip
def test_a_cell_type_given_twice_is_named(labels: list[str], says: str) -> None:
    # Was "needs at least two candidate labels" for the first, and the others ran: two
    # candidates with one text tie in every ranking, so the call between them is arbitrary.
    with pytest.raises(UsageError, match=says):
        from_user(labels)


@pytest.mark.parametrize(
    ("label", "says"),
    [("cl:84", r"'cl:84' is no CL id: one is CL: and seven digits \(CL:0000084\)"),
     ("CL:00000840", "is no CL id"),
     ("UBERON:0002107", "'UBERON:0002107' is a UBERON id, not a Cell Ontology cell type"),
     ("GO_0008150", "is a GO id"),
     ("Unassigned", "is the word a group without a call is given"),
     ("label\tcl_id", "holds a tab or line break; give one label per line")],
)  # fmt: skip
def test_a_label_that_names_no_cell_type_is_refused(label: str, says: str) -> None:
    # Each was taken as free text and could be called; "unassigned" then read as no call.
    with pytest.raises(UsageError, match=says):
        from_user([label, "B cell", "T cell"])


def test_free_text_like_an_id_stays_a_label() -> None:
    # not refused as a miswritten id; its words read as ILC2 (`free_labels`), its text kept
    first, second = user_candidates(["ILC_2", "CL_0000084"])
    assert (first.given, first.cl_id, first.read_as) == ("ILC_2", "CL:0001069", "every word")
    assert second.cl_id == "CL:0000084" and second.read_as is None


def test_candidates_must_be_an_ordered_list_and_a_generator_is_read_once() -> None:
    with pytest.raises(UsageError, match="must be a list of labels"):
        from_user({"T cell", "B cell"})  # its order, and so a tie's winner, varied run to run
    with pytest.raises(UsageError, match="must be a list of labels"):
        from_user({"T cell": 1, "B cell": 2})
    # was "needs at least two": the type check had used the generator up
    assert [c.given for c in from_user(x for x in ["T cell", "B cell"])] == ["T cell", "B cell"]


@pytest.mark.parametrize("name", ["tissue", "subtree"])
def test_an_ontology_restriction_that_is_no_word_is_refused(name: str) -> None:
    with pytest.raises(UsageError, match="must be a word"):  # was AttributeError: 'int' .strip
        from_ontology(**{name: 5})


def test_a_misspelled_tissue_is_answered_with_the_words_it_resembles() -> None:
    with pytest.raises(UsageError, match=r"leaves 0 term.*did you mean 'pancreas'"):
        from_ontology(tissue="pancrease")
    # a tissue given as a subtree is pointed to tissue= (it said only "give a CL id")
    with pytest.raises(UsageError, match=r"'pancreas' names no Cell Ontology term.*tissue="):
        from_ontology(subtree="pancreas")


@pytest.mark.parametrize("setting", [{"method": None}, {"method": ["text"]}, {"markers": ["rest"]}])
def test_a_choice_that_is_no_string_is_refused_in_words(setting: dict) -> None:
    # was AttributeError ('NoneType' has no 'split') or TypeError (unhashable type: 'list')
    with pytest.raises(UsageError, match=r"unknown (method|marker rule)"):
        AnnotateParams(groupby="grp", **setting).check()


def test_the_command_line_refuses_a_table_and_a_repeat_in_one_line(tmp_path: Path) -> None:
    cells = tmp_path / "cells.h5ad"
    blobs(20, dim=30, counts=True).write_h5ad(cells)
    table = tmp_path / "types.tsv"
    table.write_text("label\tcl_id\r\nT cell\tCL:0000084\r\nB cell\tCL:0000236\r\n")
    base = ["annotate", str(cells), "--groupby", "group", "--root", str(tmp_path / "store")]
    said = one_line_error(run_cellmodel(*base, "--candidates", str(table)), 2)
    assert "'label\\tcl_id' holds a tab" in said
    said = one_line_error(run_cellmodel(*base, "--candidates", "T cell;B cell;T cell"), 2)
    assert "'T cell' is given twice" in said
