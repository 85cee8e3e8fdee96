"""Genes a candidate's text names (`cellmodel.annotate.mentions`): the lexicon's rules on a tiny
table, the real lexicon on real Cell Ontology text, and the scores on planted groups."""

from __future__ import annotations

import numpy as np

from cellmodel.annotate import annotate, mentions, ontology, report_of
from cellmodel.annotate.evaluate import group_truth, score_report
from tests.test_annotate import ALPHA, BETA, DELTA, _islets, _planted, _TextEncoder


def _tiny() -> mentions.Lexicon:
    rows = [  # gene_id, symbol, aliases, full name, GO terms
        (1, "INS", ["IDDM"], "insulin", ["insulin secretion"]),
        (2, "NCAM1", ["CD56", "NCAM"], "neural cell adhesion molecule 1", []),
        (3, "PRF1", ["P1"], "perforin 1", []),
        (4, "GZMB", [], "granzyme B", []),
        (5, "GZMA", [], "granzyme A", []),
        (6, "GHRL", [], "ghrelin and obestatin prepropeptide", ["ghrelin receptor binding"]),
        (7, "HEPACAM", [], "hepatic and glial cell adhesion molecule", ["cell adhesion"]),
        (8, "CD19", [], "CD19 molecule", []),
        (9, "GZMH", [], "granzyme H", []),
        (10, "GZMK", [], "granzyme K", []),
        (11, "NDUFA2", ["CD19", "B8"], "NADH:ubiquinone oxidoreductase subunit A2", []),
    ]
    cols = list(zip(*rows, strict=True))
    return mentions.Lexicon.from_table(*cols)


def _named(lex: mentions.Lexicon, text: str) -> list[tuple[str, tuple[int, ...], bool]]:
    return [(m.words, m.gene_ids, m.positive) for m in lex.find(text)]


def test_lexicon_reads_symbols_digit_aliases_and_names_but_not_common_abbreviations() -> None:
    lex = _tiny()
    found = _named(lex, "A cell that secretes insulin. It is CD56-positive, NCAM and INS high.")
    assert found == [("insulin", (1,), True), ("CD56", (2,), True), ("INS", (1,), True)]
    assert _named(lex, "ins and ncam") == []  # symbols are case-sensitive; NCAM has no digit
    assert _named(lex, "CD19 cells") == [("CD19", (8,), True)]  # the symbol, not an alias
    # A name without its designator, the first of two joined names where the gene's GO uses it,
    # and the longest phrase first ("granzyme B", not the shared "granzyme").
    found = _named(lex, "perforin-positive and granzyme B-positive ghrelin cells")
    assert found == [("perforin", (3,), True), ("granzyme B", (4,), True), ("ghrelin", (6,), True)]
    assert _named(lex, "a hepatic cell with granzyme") == []  # adjective; shared by 4 names


def test_negated_mentions_are_kept_apart() -> None:
    lex = _tiny()
    assert _named(lex, "CD19-negative, CD56-low cells") == [
        ("CD19", (8,), False),
        ("CD56", (2,), False),
    ]
    found = _named(lex, "Expresses insulin and is negative for CD19 and CD56. Makes perforin.")
    assert found == [
        ("insulin", (1,), True),
        ("CD19", (8,), False),
        ("CD56", (2,), False),
        ("perforin", (3,), True),
    ]


def test_real_lexicon_on_real_cell_ontology_text() -> None:
    lex = mentions.human_lexicon()
    symbol = {3630: "INS", 929: "CD14", 930: "CD19", 931: "MS4A1"}

    def positive(cl_id: str) -> set[str]:
        text = mentions.mention_text(ontology.term(cl_id))
        return {symbol.get(g, str(g)) for m in lex.find(text) if m.positive for g in m.gene_ids}

    assert "INS" in positive(BETA)  # "A cell that secretes insulin"
    monocyte = positive("CL:0001054")  # "expresses CD14 and is negative for ... CD19, and CD20"
    assert "CD14" in monocyte and not {"CD19", "MS4A1"} & monocyte


def test_scores_follow_the_named_genes_and_a_control_loses_them() -> None:
    lfc = np.array([[3.0, 0.0, 0.1], [0.0, 2.0, 0.0]])  # 2 groups × 3 data genes
    cands = [ontology.term(BETA), ontology.term(ALPHA), ontology.term("CL:0000084")]
    ids = np.array([3630, 2641, 7157])  # INS, GCG, TP53
    ms = mentions.score_groups(cands, lfc, ids, gene_vectors="real", seed=0)
    assert list(np.nanargmax(ms.scores, axis=1)) == [0, 1]
    assert np.isnan(ms.scores[:, 2]).all()  # "T cell" names no data gene
    assert ms.evidence(lfc, 0, 0) == [("insulin", 0, 3.0)]
    moved = [
        not np.allclose(
            mentions.score_groups(cands, lfc, ids, gene_vectors="shuffled", seed=s).scores[:, :2],
            ms.scores[:, :2],
        )
        for s in range(5)
    ]
    assert sum(moved) >= 3  # a permutation of three genes leaves them in place 1 time in 6


def test_planted_islets_named_by_mentions_with_the_genes_shown(fake_spec) -> None:
    kw = dict(
        groupby="kind", candidates=[BETA, ALPHA, DELTA], n_markers=5, top_k=2,
        n_background=200, load_encoder=_TextEncoder, model="fake",
    )  # fmt: skip
    adata = _islets()
    truth = group_truth(adata.obs["kind"], adata.obs["truth"].astype(str))
    report = report_of(annotate(adata, _planted(fake_spec), method="mentions", **kw))
    assert score_report(report, truth)["mentions"]["exact@1"] == 3
    beta = next(e for e in report["groups"] if e["group"] == "b")
    assert beta["mentions"]["named"][0]["gene"] == "INS"
    assert beta["mentions"]["named"][0]["log_fold_change"] > 1
    assert report["mentions"]["candidates_naming_data_genes"] == 3
    hits = [
        score_report(
            report_of(annotate(adata, _planted(fake_spec), gene_vectors="shuffled", seed=s, **kw)),
            truth,
        )["mentions"]["exact@1"]
        for s in range(3)
    ]
    assert np.mean(hits) < 3
