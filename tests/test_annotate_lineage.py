"""The lineage-first walk over the Cell Ontology, its grading and the tissue inferred from the
context prior (the ontology is read offline by cellxgene-ontology-guide)."""

from __future__ import annotations

import numpy as np
import pytest

from cellmodel.annotate import infer, kinds, lineage, ontology

T_CELL, NAIVE_CD4, NAIVE_CD8 = "CL:0000084", "CL:0000895", "CL:0000900"
MONOCYTE, CD14_MONO, NEUTROPHIL = "CL:0000576", "CL:0001054", "CL:0000775"
HSC, LEUKOCYTE, BETA = "CL:0000037", "CL:0000738", "CL:0000169"


@pytest.fixture(scope="module")
def ids() -> list[str]:
    return [c.cl_id for c in ontology.from_ontology()]


def test_grades_exact_partial_wrong_and_generic() -> None:
    assert kinds.grade(NAIVE_CD4, NAIVE_CD4) == "exact"
    assert kinds.grade(T_CELL, NAIVE_CD4) == "partial"  # an ancestor
    assert kinds.grade(NAIVE_CD4, T_CELL) == "partial"  # a descendant
    assert kinds.grade(NAIVE_CD8, NAIVE_CD4) == "wrong"  # a sibling
    assert kinds.grade(LEUKOCYTE, NAIVE_CD4) == "wrong"  # generic ancestor earns nothing
    assert kinds.grade(None, NAIVE_CD4) == "wrong"


def test_wrong_lineage_is_told_from_a_near_miss() -> None:
    assert kinds.crosses_lineage(NEUTROPHIL, CD14_MONO)  # granulocyte vs mononuclear phagocyte
    assert kinds.crosses_lineage(HSC, NAIVE_CD4)  # precursor vs lymphocyte
    assert kinds.crosses_lineage(BETA, T_CELL)  # epithelial vs hematopoietic
    assert not kinds.crosses_lineage(NAIVE_CD8, NAIVE_CD4)  # both T cells
    assert not kinds.crosses_lineage(LEUKOCYTE, NAIVE_CD4)  # generic: no lineage claimed
    assert kinds.kinds_of(BETA, 0) == {"epithelial"}


def _row(ids: list[str], high: dict[str, float]) -> np.ndarray:
    rng = np.random.default_rng(0)
    row = rng.normal(0, 0.1, len(ids))
    where = {c: i for i, c in enumerate(ids)}
    for cl, value in high.items():
        row[where[cl]] = value
    return row


def test_a_lineage_many_terms_support_beats_one_stray_term(ids: list[str]) -> None:
    # a single neutrophil spike against monocytes and their relatives scoring well together
    mono = {MONOCYTE: 5.0, CD14_MONO: 5.5, "CL:0000235": 4.5, "CL:0000113": 4.5}
    walk = lineage.Walker(ids).walk(_row(ids, {**mono, NEUTROPHIL: 6.0}))
    assert "mononuclear phagocyte" in walk.kinds
    assert walk.cl_id == CD14_MONO
    assert np.isfinite(walk.confidence)
    flat = ids[int(np.argmax(_row(ids, {**mono, NEUTROPHIL: 6.0})))]
    assert flat == NEUTROPHIL  # what the flat call would have said


def test_tied_subtypes_fall_back_to_their_common_term(ids: list[str]) -> None:
    row = _row(ids, {T_CELL: 4.0, NAIVE_CD4: 5.0, NAIVE_CD8: 5.0, "CL:0000624": 4.5})
    walk = lineage.Walker(ids).walk(row)
    assert walk.abstained and "within" in walk.why
    assert kinds.grade(walk.cl_id, NAIVE_CD4) == "partial"
    assert walk.kinds[:2] == ["hematopoietic", "lymphocyte"]


def test_a_term_tied_with_its_own_ancestors_is_named(ids: list[str]) -> None:
    # naive CD4 T ties with T cell, its ancestor, and nothing off its is_a line comes near
    walk = lineage.Walker(ids).walk(_row(ids, {T_CELL: 5.0, NAIVE_CD4: 5.01, NAIVE_CD8: 3.0}))
    assert walk.cl_id == NAIVE_CD4 and not walk.abstained
    assert "one is_a line" in walk.why
    # a sibling within the margin breaks the line: their common term, as before
    walk = lineage.Walker(ids).walk(_row(ids, {T_CELL: 5.0, NAIVE_CD4: 5.01, NAIVE_CD8: 5.0}))
    assert walk.cl_id not in (NAIVE_CD4, NAIVE_CD8) and walk.abstained


def test_an_undecided_lineage_with_one_clear_term_names_it_and_says_so(ids: list[str]) -> None:
    # epithelial and hematopoietic score alike (the mean of each kind's three best terms), but
    # the beta cell leads every other term by far: it is the call, and not a broader one
    pneumocyte, club = "CL:0002063", "CL:0000158"
    high = {BETA: 6.0, pneumocyte: 3.0, club: 3.0, T_CELL: 4.0, NAIVE_CD4: 4.0, NAIVE_CD8: 4.0}
    assert {"epithelial"} == kinds.kinds_of(pneumocyte, 0) == kinds.kinds_of(club, 0)
    walk = lineage.Walker(ids).walk(_row(ids, high))
    assert walk.kinds == [] and walk.cl_id == BETA and not walk.abstained
    assert "not told apart at lineage level 1" in walk.why
    assert walk.why.endswith("its best term is the call")


def test_walk_is_off_for_a_users_list_and_on_for_the_ontology(ids: list[str]) -> None:
    matrix = np.zeros((1, len(ids)))
    assert lineage.walk_calls(matrix, [], "auto", user_given=True) is None
    cands = ontology.from_ontology()
    walks = lineage.walk_calls(matrix + _row(ids, {BETA: 6.0}), cands, "auto", user_given=False)
    assert walks is not None and walks[0].cl_id == BETA


def test_tissue_is_read_from_the_groups_best_terms(ids: list[str]) -> None:
    islet = [c for c in ids if c in infer._tissue_terms()["pancreas"]][:8]
    rows = np.stack([_row(ids, dict.fromkeys(islet[i : i + 4], 4.0)) for i in (0, 4)])
    found = infer.tissue(rows, ids)
    assert found is not None and found["tissue"] == "pancreas" and found["lead"] > 0
    assert found["terms"]["pancreas"] == 8 and found["of_terms"] == 20
    from cellmodel.annotate.report import inferred_line

    line = inferred_line({"tissue": found})
    assert "tissue pancreas (named by 8 of the groups' 20 best terms, " in line
    assert infer.tissue(np.full((2, len(ids)), np.nan), ids) is None
    assert infer.tissue_terms(found) == infer._tissue_terms()["pancreas"]
    # as many of the best terms name the pancreas as the lung: no tissue
    lung = [c for c in ids if c in infer._tissue_terms()["lung"] - set(islet)][:4]
    pancreas_only = [c for c in islet if c not in infer._tissue_terms()["lung"]][:4]
    tie = _row(ids, dict.fromkeys(pancreas_only + lung, 4.0))
    assert infer.tissue(tie[None], ids) is None
    # 1 + 2 pancreas terms against 3 + 0 lung terms in the two groups' best ten: a tie, though
    # 0.1 + 0.2 > 0.3 in floating point
    split = np.stack(
        [
            _row(ids, dict.fromkeys(pancreas_only[:1] + lung[:3], 4.0)),
            _row(ids, dict.fromkeys(pancreas_only[1:3], 4.0)),
        ]
    )
    assert infer.tissue(split, ids) is None


def test_a_place_named_as_origin_is_no_tissue() -> None:
    thymus = infer._tissue_terms()["thymus"]
    assert "CL:0000893" in thymus  # thymocyte: "located in the thymus"
    assert NAIVE_CD4 not in thymus  # "naive thymus-derived …", "develops in the thymus"
    assert NAIVE_CD8 not in thymus
    assert NAIVE_CD4 not in infer._labelled_tissues()["thymus"]


def test_labels_name_the_genes_their_cells_express() -> None:
    from cellmodel.annotate.named_genes import named_positive

    named = named_positive()
    assert named[CD14_MONO] == (("CD14",),)
    assert ("FCGR3A", "FCGR3B") in named["CL:0002396"]  # CD16 may be either gene
    assert named["CL:0001024"] == (("CD34",),)  # CD38-negative is no positive claim
    assert MONOCYTE not in named


def test_a_term_whose_named_gene_is_not_expressed_drops_out(ids: list[str]) -> None:
    from cellmodel.annotate.named_genes import GENE_PREFIX

    # naive CD4 T cells whose best single term is the CD34-positive stem cell (issue 67)
    t_cells = {T_CELL: 4.5, NAIVE_CD4: 5.0, "CL:0000624": 4.6, "CL:0000623": 3.0}
    row = _row(ids, {**t_cells, "CL:0001024": 9.0, HSC: 5.0})
    walker = lineage.Walker(ids)
    expressed = {GENE_PREFIX + "CD34": 0.6, GENE_PREFIX + "CD4": 0.6}
    assert walker.walk(row, expressed).cl_id == "CL:0001024"  # the claim holds: kept
    absent = {GENE_PREFIX + "CD34": -0.4, GENE_PREFIX + "CD4": 0.6}
    walk = walker.walk(row, absent)
    assert "T cell" in walk.kinds and walk.cl_id == NAIVE_CD4
    assert "CL:0001024 left out" in walk.why and "CD34" in walk.why  # the report says why
    # an unmeasured gene says nothing: the term stays
    assert walker.walk(row, {GENE_PREFIX + "CD4": 0.6}).cl_id == "CL:0001024"


def test_a_term_another_tissue_names_loses_to_the_files_own(ids: list[str]) -> None:
    brain = {"tissue": "brain", "lead": 0.3}
    elsewhere = infer.elsewhere_terms(brain)
    assert elsewhere is not None
    mammary = "CL:4033058"  # luminal hormone-sensing cell of mammary gland
    assert mammary in elsewhere and "CL:0000127" not in elsewhere  # astrocyte names no tissue
    assert "CL:0000071" not in elsewhere  # "blood vessel endothelial cell" is no blood cell
    assert "CL:0002097" in elsewhere  # cortical cell of adrenal gland: its cortex is no brain's
    assert infer.elsewhere_terms("brain") is None  # a user's tissue restricts the list already
    # the mammary gland's cells a little ahead of glia (a quarter of the noise's spread apart)
    gland = {mammary: 0.52, "CL:0002327": 0.51, "CL:0002326": 0.51}
    row = _row(ids, {**gland, "CL:0000127": 0.48, "CL:0000125": 0.47, "CL:0000128": 0.47})
    cands = ontology.from_ontology()
    plain = lineage.walk_calls(row[None], cands, "on", False)[0]
    weighed = lineage.walk_calls(row[None], cands, "on", False, None, frozenset(), elsewhere)[0]
    assert plain.kinds == ["epithelial"] and plain.cl_id in elsewhere
    assert weighed.cl_id not in elsewhere and "neural" in weighed.kinds


def test_a_term_defined_for_another_species_is_never_the_call(ids: list[str]) -> None:
    human_vip, mouse_vip, human_dc = "CL:4072032", "CL:4023014", "CL:0001056"
    for_mouse, for_human = infer.other_species_terms("mouse"), infer.other_species_terms("human")
    assert human_vip in for_mouse and human_dc in for_mouse and human_vip not in for_human
    assert mouse_vip in for_human and mouse_vip not in for_mouse
    assert "CL:0000127" not in for_mouse | for_human  # astrocyte names no species
    assert infer.other_species_terms(None) == frozenset()
    row = _row(ids, {human_vip: 6.0, mouse_vip: 5.0, "CL:0000617": 4.5, "CL:0000540": 4.0})
    cands = ontology.from_ontology()
    as_human = lineage.walk_calls(row[None], cands, "on", False, None, None, None, for_human)[0]
    as_mouse = lineage.walk_calls(row[None], cands, "on", False, None, None, None, for_mouse)[0]
    assert as_human.cl_id == human_vip and as_mouse.cl_id == mouse_vip


def test_a_term_named_by_a_mouse_only_antigen_is_left_out_of_a_human_file() -> None:
    # Gr-1 (Ly6G/Ly6C) and Sca-1 (Ly6A) have no human ortholog: a human file cannot show them
    gr1_low_monocyte, sca1_stem, cd14_monocyte = "CL:0002058", "CL:0001008", "CL:0001054"
    for_human, for_mouse = infer.other_species_terms("human"), infer.other_species_terms("mouse")
    assert {gr1_low_monocyte, sca1_stem} <= for_human
    assert not {gr1_low_monocyte, sca1_stem} & for_mouse
    assert cd14_monocyte not in for_human | for_mouse


def test_a_kind_placed_in_one_tissue_is_left_out_where_another_or_none_was_inferred() -> None:
    from cellmodel.annotate.report import inferred_line

    thymocyte, double_positive, microglia = "CL:0000893", "CL:0000809", "CL:0000129"
    lung = {"tissue": "lung", "lead": 0.06, "runner_up": "blood"}
    left = infer.out_of_place_terms("human", lung)
    assert {thymocyte, double_positive, microglia} <= left
    assert "CL:0000583" not in left  # alveolar macrophage belongs in a lung
    assert infer.other_species_terms("human") <= left
    brain = infer.out_of_place_terms("mouse", {"tissue": "brain", "lead": 0.2})
    assert microglia not in brain and thymocyte in brain
    # searched and nothing found: every placed kind is left out, as none has its place
    none_found = infer.out_of_place_terms("human", None)
    assert {thymocyte, double_positive, microglia} <= none_found
    assert infer.placed_elsewhere(None) == list(infer.PLACED_KINDS)
    # not searched (the user named the tissue or the candidates): only other species' terms
    not_searched = infer.out_of_place_terms("human", None, searched=False)
    assert not_searched == infer.other_species_terms("human")
    line = inferred_line({"tissue": lung, "left_out": {"kinds_placed_elsewhere": ["thymocyte"]}})
    assert "tissue lung" in line and "left out, as found only in other tissues: thymocyte" in line
    line = inferred_line({"tissue": None, "left_out": {"kinds_placed_elsewhere": ["thymocyte"]}})
    assert "left out, as found only in a tissue not inferred: thymocyte" in line


def test_a_group_of_a_kind_no_candidate_is_gets_no_name() -> None:
    # candidates: the T-cell subtree; the group's genes are a monocyte's
    t_cells = [c.cl_id for c in ontology.from_ontology(subtree=T_CELL)]
    walker = lineage.Walker(t_cells)
    row = _row(t_cells, {T_CELL: 5.0, NAIVE_CD4: 4.0})
    monocyte = {"hematopoietic": 0.5, "lymphocyte": -0.3, "T cell": -0.2, "myeloid": 0.1}
    walk = walker.walk(row, {**monocyte, "mononuclear phagocyte": 0.8})
    assert walk.cl_id is None and walk.abstained and walk.outside == "myeloid"
    assert walk.why == "its genes are those of the myeloid kind, and no candidate is one"
    entry = {"label": "T cell", "cl_id": T_CELL}
    lineage.apply_walk(entry, walk, [])
    assert entry["label"] is None and entry["cl_id"] is None
    # a T cell whose lymphocyte genes are weak but whose T-cell genes lead is named: each side
    # scores with the kinds refining it
    t_cell = {"hematopoietic": 0.4, "lymphocyte": 0.08, "T cell": 0.49, "myeloid": -0.43}
    walk = walker.walk(row, {**t_cell, "megakaryocyte/platelet": 0.32})
    assert walk.cl_id == T_CELL and "no candidate" not in walk.why
    # over the whole ontology every kind has candidates: nothing is absent
    assert (
        lineage.Walker([c.cl_id for c in ontology.from_ontology()])._absent(1, "hematopoietic")
        == []
    )


def test_a_users_list_leaves_a_group_of_no_listed_kind_unnamed() -> None:
    from types import SimpleNamespace

    listed = [SimpleNamespace(cl_id=c) for c in (T_CELL, "CL:0000236", "CL:0000623")]
    matrix = np.array([[3.0, 1.0, 0.5], [3.0, 1.0, 0.5]])
    monocyte = {"hematopoietic": 0.5, "lymphocyte": -0.3, "mononuclear phagocyte": 0.8}
    t_cell = {"hematopoietic": 0.5, "lymphocyte": 0.4, "T cell": 0.7, "myeloid": -0.4}
    whys = lineage.unplaced(matrix, listed, [monocyte, t_cell])
    assert whys == ["its genes are those of the myeloid kind, and no candidate is one", None]
    # a free label, or a CL term of no lineage, may be of any kind: nothing is left unnamed
    free = [*listed, SimpleNamespace(cl_id=None)]
    malignant = [*listed, SimpleNamespace(cl_id="CL:0001064")]
    for cands in (free, malignant):
        wide = np.hstack([matrix, np.zeros((2, 1))])
        assert lineage.unplaced(wide, cands, [monocyte, t_cell]) == [None, None]
        walks = lineage.walk_calls(wide, cands, "on", True, [monocyte, t_cell])
        assert walks is not None and not any(w.outside for w in walks)
    assert lineage.unplaced(matrix, listed, None) == [None, None]


def test_lineages_without_a_signature_are_named_in_one_line() -> None:
    from cellmodel.annotate.report import unsigned_line
    from cellmodel.annotate.signatures import lineage_checked, unsigned_lineages

    signed = {k: 0.0 for k in kinds.LEVELS[0] if k not in ("neural", "muscle")}
    cands = [BETA, T_CELL, "CL:0000540"]  # epithelial, hematopoietic, neural (a neuron)
    assert unsigned_lineages([{**signed, "neuron": 0.2}], cands) == ["neural"]  # muscle: no term
    microglia = "CL:0000129"  # hematopoietic and neural: checked as hematopoietic
    assert kinds.kinds_of(microglia, 0) == {"hematopoietic", "neural"}
    assert unsigned_lineages([signed], [BETA, T_CELL, microglia]) == []
    assert lineage_checked("CL:0000540", signed) is False  # a neuron: neural has no signature
    assert lineage_checked(microglia, signed) is True
    assert lineage_checked("CL:0001064", signed) is None  # malignant cell: no lineage
    assert unsigned_lineages([], cands) == []  # no group scored: nothing to say
    line = unsigned_line({"unsigned_lineages": ["neural"]})
    assert line.startswith("lineage not checked from expression for neural:")
    assert unsigned_line({"unsigned_lineages": []}) == unsigned_line(None) == ""


def test_a_call_the_marker_table_names_off_its_line_goes_up_to_what_both_support(
    ids: list[str],
) -> None:
    cands = ontology.from_ontology()
    default = _row(ids, {T_CELL: 4.0, NAIVE_CD4: 6.0, "CL:0000624": 4.5})[None]
    # the table alone walks to naive CD8 T: the two agree on no more than their common term
    table = _row(ids, {T_CELL: 4.0, NAIVE_CD8: 6.0, "CL:0000625": 4.5})[None]
    alone = lineage.walk_calls(default, cands, "on", False)[0]
    both = lineage.walk_calls(default, cands, "on", False, table=table)[0]
    assert alone.cl_id == NAIVE_CD4 and not alone.abstained
    assert both.abstained and f"the marker table alone calls {NAIVE_CD8}" in both.why
    assert NAIVE_CD4 != both.cl_id != NAIVE_CD8
    assert kinds.grade(both.cl_id, NAIVE_CD4) == kinds.grade(both.cl_id, NAIVE_CD8) == "partial"
    assert both.kinds == alone.kinds  # the lineage is the default's
    # a table call on the default's is_a line (its ancestor, T cell) leaves the call as it was
    line = _row(ids, {T_CELL: 6.0, "CL:0000789": 4.0})[None]
    same = lineage.walk_calls(default, cands, "on", False, table=line)[0]
    assert same.cl_id == NAIVE_CD4 and not same.abstained


def test_a_kind_whose_own_signature_genes_are_unmeasured_gets_none() -> None:
    from cellmodel.annotate import markerdb
    from cellmodel.annotate.signatures import signatures

    genes = sorted(markerdb.load_table()["gene"].unique())
    full = signatures(genes)
    assert len(full["T cell"]) == 20
    # a panel without the T-cell signature's genes: the next-best genes are not a signature
    # (in a 240-gene file they were housekeeping genes read as "T cell")
    panel = [g for g in genes if g not in set(full["T cell"])]
    assert "T cell" not in signatures(panel)
    assert signatures(panel)["B cell"] == [g for g in full["B cell"] if g in set(panel)]
