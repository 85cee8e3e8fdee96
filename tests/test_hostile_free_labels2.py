"""Candidates as users bring them, second round: files exported with a header, quotes or trailing
comments; labels with invisible characters; CL ids as OBO files and CellxGene write them; and
the report naming a candidate given as a CL id by its term, not by the id alone."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from cellmodel.annotate import annotate, ontology, report_of, to_markdown
from cellmodel.annotate.free_labels import user_candidates
from genekb.errors import UsageError
from tests.conftest import one_line_error, run_cellmodel


@pytest.mark.parametrize("header", ["cell_type", "cell type", "CellType", "label", "name"])
def test_a_files_header_line_is_refused_not_scored(tmp_path: Path, header: str) -> None:
    # The header was a candidate like any other: scored, and able to be a group's call.
    f = tmp_path / "cands.txt"
    f.write_text(f"{header}\nT cell\nB cell\n")
    with pytest.raises(UsageError, match="column's header"):
        user_candidates(ontology.parse_candidates(str(f)))


def test_cli_refuses_a_header_in_one_line(tmp_path: Path) -> None:
    cells = tmp_path / "cells.h5ad"
    adata = ad.AnnData(np.ones((20, 3), dtype=np.float32))
    adata.obs["g"] = pd.Categorical(["a", "b"] * 10)
    adata.write_h5ad(cells)
    f = tmp_path / "cands.txt"
    f.write_text("cell_type\nT cell\nB cell\n")
    result = run_cellmodel("annotate", str(cells), "--groupby", "g", "--candidates", str(f))
    assert "column's header" in one_line_error(result, 2)
    assert not (tmp_path / "out.h5ad").exists()


@pytest.mark.parametrize(
    "text",
    [
        "T cell  # lymphocytes\nB cell\n",  # a comment after the label
        '"T cell"\n"B cell"\n',  # R's write.table quotes each label
        "'T cell'\r\n'B cell'\r\n",
    ],
)
def test_a_files_comments_and_quotes_are_not_part_of_the_label(tmp_path: Path, text: str) -> None:
    # Each stayed in the label, which then named no CL term and was scored by its words alone.
    f = tmp_path / "cands.txt"
    f.write_text(text)
    labels = ontology.parse_candidates(str(f))
    assert labels == ["T cell", "B cell"]
    assert [c.cl_id for c in user_candidates(labels)] == ["CL:0000084", "CL:0000236"]


def test_quotes_on_the_command_lines_list_are_dropped() -> None:
    assert ontology.parse_candidates('"T cell";"B cell"') == ["T cell", "B cell"]


@pytest.mark.parametrize("mark", ["\ufeff", "\u200b"])
def test_an_invisible_character_does_not_hide_the_term(mark: str) -> None:
    # A file read without "utf-8-sig" keeps its BOM on the first label; str.strip keeps it.
    cands = user_candidates([f"{mark}T cell", "B cell"])
    assert [(c.given, c.cl_id) for c in cands] == [
        ("T cell", "CL:0000084"),
        ("B cell", "CL:0000236"),
    ]


@pytest.mark.parametrize(
    "given", ["http://purl.obolibrary.org/obo/CL_0000236", "CL0000236", "cl_0000236"]
)
def test_cl_ids_as_obo_files_and_cellxgene_write_them(given: str) -> None:
    # The PURL was refused as "a CL id beside other text"; "CL0000236" was a free label.
    cands = user_candidates([given, "T cell"])
    assert cands[0].cl_id == "CL:0000236" and cands[0].label == "B cell"


def test_a_call_given_as_a_cl_id_is_written_with_its_terms_name() -> None:
    from cellmodel.annotate.report import _named

    assert _named("CL:0000169", "CL:0000169") == "type B pancreatic cell (CL:0000169)"
    assert _named("beta", "CL:0000169") == "beta"  # a label in words stays as written
    assert _named(None, None) == "unassigned"


@pytest.mark.slow  # a whole annotate run (~9 s)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_candidate_given_as_a_cl_id_is_named_beside_its_id(fake_spec) -> None:
    # The report's table, headings and top lists showed "CL:0000169" alone (twice in a row).
    from tests.test_annotate import ALPHA, BETA, DELTA, _islets, _planted, _TextEncoder

    adata = annotate(
        _islets(), _planted(fake_spec), groupby="kind", candidates=[BETA, ALPHA, DELTA],
        n_markers=5, top_k=2, n_background=200, load_encoder=_TextEncoder, model="fake",
    )  # fmt: skip
    text = to_markdown(report_of(adata))
    assert "## b: type B pancreatic cell" in text
    assert "| type B pancreatic cell | CL:0000169 |" in text
    # obs holds the terms' names, as for labels given in words; the ids are the report's cl_id
    names = {"type B pancreatic cell", "pancreatic A cell", "pancreatic D cell"}
    assert set(adata.obs["cellmodel_annotation"].astype(str)) == names
    assert {e["cl_id"] for e in report_of(adata)["groups"]} == {BETA, ALPHA, DELTA}


@pytest.mark.parametrize("labels", [["1", "2"], ["I", "II"], ["type 1", "type 2"], ["0", "1", "2"]])
def test_numbers_alone_are_not_read_with_the_lists_tissue(labels: list[str]) -> None:
    # A list of cluster numbers read as the lung's alveolar type 1 and type 2 cells.
    assert all(c.cl_id is None for c in user_candidates(labels))


def test_names_beside_numbers_are_still_read_with_the_lists_tissue() -> None:
    cands = user_candidates(["alpha", "beta", "delta", "1"])
    assert [c.cl_id for c in cands] == ["CL:0000171", "CL:0000169", "CL:0000173", None]


@pytest.mark.parametrize("missing", ["nan", "NA", "None", "<NA>"])
def test_a_tables_missing_value_is_refused_as_a_candidate(missing: str) -> None:
    # A label column's empty cell, exported by pandas or R, was scored as a cell type's name.
    with pytest.raises(UsageError, match="missing value"):
        user_candidates(["T cell", missing, "B cell"])


def test_a_label_of_digits_alone_stays_a_candidate() -> None:
    # Cell lines are named so ("2339" in pollen2014): words, not refused.
    assert [c.cl_id for c in user_candidates(["2339", "K562"])] == [None, None]


@pytest.mark.parametrize(
    ("given", "said"), [("lung", "UBERON:0002048"), ("asthma", "MONDO:0004979")]
)
def test_a_tissue_or_a_disease_as_a_candidate_is_warned_of(given: str, said: str) -> None:
    # "T cell;lung" on pbmc68k-reduced called five of eleven groups "lung", with only the
    # generic note that 'lung' names no CL term.
    from cellmodel.annotate.other_terms import NotACellTypeWarning

    with pytest.warns(NotACellTypeWarning, match=said):
        cands = user_candidates(["T cell", given])
    assert cands[1].cl_id is None  # still a candidate: a lab's list may name cells so


def test_cell_types_alone_are_not_warned_of() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        user_candidates(["T cells", "B cell", "Kupffer cells", "CD14+ Mono"])


def test_a_number_written_with_a_hash_is_part_of_the_label(tmp_path: Path) -> None:
    # Read as a comment, "CD4 T #1" and "CD4 T #2" became one label given twice.
    f = tmp_path / "cands.txt"
    f.write_text("CD4 T #1\nCD4 T #2  # the second\n")
    assert ontology.parse_candidates(str(f)) == ["CD4 T #1", "CD4 T #2"]


def test_a_list_with_one_item_not_a_label_names_that_item_alone() -> None:
    # The message quoted the whole list: 6,464 characters for 500 labels and a None.
    labels = [f"label {i}" for i in range(500)]
    with pytest.raises(UsageError) as err:
        user_candidates([*labels[:3], None, *labels[3:]])
    assert "candidates[3] is None, a missing value" in str(err.value)
    assert len(str(err.value)) < 200
    with pytest.raises(UsageError, match=r"candidates\[2\] is nan, a missing value"):
        user_candidates(pd.Series(["T cell", "B cell", np.nan]))


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("T cel", "T cell"),
        ("Tcell", "T cell"),
        ("macrophges", "macrophage"),
        ("Kupfer cell", "Kupffer cell"),
    ],
)
def test_a_typo_of_a_cl_label_is_warned_of_with_the_label(typed: str, meant: str) -> None:
    # A typo named no term and was scored by its words alone, said only as "names no CL term".
    from cellmodel.annotate.other_terms import CloseToTermWarning

    with pytest.warns(CloseToTermWarning, match=f"did you mean '{meant}'"):
        cands = user_candidates([typed, "B cell"])
    assert cands[0].cl_id is None  # a hint, not a reading


def test_lab_labels_near_no_cl_label_are_not_taken_for_typos() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Bipolar cells" was close to CL's "ON bipolar cell"
        user_candidates(["Bipolar cells", "Rods", "Cones", "Muller glia"])
