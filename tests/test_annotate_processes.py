"""Genes of GO processes that name a candidate (`cellmodel.annotate.processes`): the matching
rules on a tiny table, the real index on real Cell Ontology terms, the shared over-representation
statistic, and the scores with their control."""

from __future__ import annotations

import numpy as np
from scipy.stats import hypergeom

from cellmodel.annotate import ontology, processes
from cellmodel.annotate.enrichment import overrepresentation
from cellmodel.annotate.ontology import Candidate

SCHWANN, MAST, DUCTAL = "CL:0002573", "CL:0000097", "CL:0002079"


def _tiny() -> processes.ProcessIndex:
    annotations = [  # gene_id, GO biological processes
        (1, ["T cell receptor signaling pathway"]),
        (2, ["fat cell differentiation"]),
        (3, ["positive regulation of T cell proliferation"]),
        (4, ["B cell activation", "cell adhesion"]),
        (5, ["CD4-positive, alpha-beta T cell differentiation"]),
        (6, None),
    ]
    return processes.ProcessIndex.from_table(*zip(*annotations, strict=True))


def test_a_phrase_matches_whole_runs_of_words_and_regulation_terms_are_not_read() -> None:
    index = _tiny()
    t_cell = index.terms(["T cell"])
    assert t_cell == [
        "CD4-positive, alpha-beta T cell differentiation",
        "T cell receptor signaling pathway",
    ]
    assert index.genes_of(t_cell) == {1, 5}  # not fat cells (2), not a regulation term (3)
    assert index.genes_of(index.terms(["B-cell"])) == {4}  # hyphen read as a space
    assert index.terms(["b cell"]) == []  # one-letter tokens keep their case
    assert index.terms(["cell", "cells"]) == []  # the bare word names no type
    cd4 = index.terms(["CD4-positive, alpha-beta T-cell"])
    assert index.genes_of(cd4) == {5}
    assert index.annotated == {1, 2, 3, 4, 5}  # the universe: genes with any process


def test_real_processes_name_cell_types_in_cl_words() -> None:
    index = processes.human_processes()
    schwann = index.genes_of(index.terms(processes.candidate_phrases(ontology.term(SCHWANN))))
    assert 1959 in schwann  # EGR2: Schwann cell differentiation
    mast = index.genes_of(index.terms(processes.candidate_phrases(ontology.term(MAST))))
    assert 3815 in mast  # KIT
    assert index.terms(processes.candidate_phrases(ontology.term(DUCTAL))) == []
    free = Candidate(given="mast cell", cl_id=None, label="mast cell", definition=None)
    assert processes.candidate_phrases(free) == ["mast cell"]


def test_overrepresentation_is_the_hypergeometric_tail_within_the_universe() -> None:
    universe = set(range(100))
    drawn = [[0, 1, 2, 3, 200], [50, 51]]  # 200 lies outside the universe and is dropped
    refs = [{0, 1, 2, 10, 11, 300}, None, {300}]  # the last has no gene in the universe
    scores = overrepresentation(drawn, refs, universe)
    assert scores.shape == (2, 3)
    expected = -np.log10(hypergeom.sf(3 - 1, 100, 5, 4))
    assert np.isclose(scores[0, 0], expected)
    assert scores[1, 0] == 0.0  # no overlap: p = 1
    assert np.isnan(scores[:, 1]).all() and np.isnan(scores[:, 2]).all()


def test_scores_follow_the_markers_and_the_control_removes_them() -> None:
    index = processes.human_processes()
    cands = [ontology.term(c) for c in (SCHWANN, MAST, DUCTAL)]
    schwann = sorted(index.genes_of(index.terms(processes.candidate_phrases(cands[0]))))
    others = sorted(index.annotated - set(schwann))[:2000]
    data = np.array([*schwann, *others])
    markers = [np.array(schwann[:8] + others[:42]), np.array(others[100:150])]
    real = processes.score_groups(cands, markers, data, gene_vectors="real", seed=0)
    assert real.scores[0, 0] > 3  # eight of 50 markers in a ~14-gene set
    assert real.scores[0, 1] == 0 and (real.scores[1, :2] == 0).all()  # chance: exactly 0
    assert np.isnan(real.scores[:, 2]).all()  # no process names a ductal cell
    assert real.overlap(markers[0], 0) == schwann[:8]
    for seed in range(3):
        control = processes.score_groups(cands, markers, data, gene_vectors="shuffled", seed=seed)
        assert control.scores[0, 0] < 1
        assert [len(g) for g in control.genes] == [len(g) for g in real.genes]
