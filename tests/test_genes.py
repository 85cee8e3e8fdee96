"""Gene mapping from cell data to a store: routes, taxa, orthologs, and the match report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import scipy.sparse as sp

import genekb.sources.bundled as bundled
from cellmodel.knowledge.genes import LowMatchWarning, detect_taxon, match_genes
from genekb.errors import GenekbError, GenekbWarning, UsageError
from genekb.records import ORTHOLOG_SCHEMA, Snapshot

STORE = pd.DataFrame(
    {
        "gene_id": np.array([916, 915, 931, 4069, 2597, 6135], dtype=np.int64),
        "symbol": ["CD3E", "CD3D", "MS4A1", "LYZ", "GAPDH", "RPL11"],
        "aliases": [["T3E"], ["T3D"], ["CD20"], ["LZM"], ["G3PD"], ["DBA7"]],
        "ensembl": [
            ["ENSG00000198851"],
            ["ENSG00000167286"],
            ["ENSG00000156738"],
            ["ENSG00000090382"],
            ["ENSG00000111640"],
            ["ENSG00000142676"],
        ],
    }
)
SYMBOLS = ["CD3E", "CD3D", "MS4A1", "LYZ", "GAPDH", "NOTAGENE"]
ENSEMBL = [
    "ENSG00000198851.9",
    "ENSG00000167286",
    "ENSG00000156738.18",
    "ENSG00000090382",
    "ENSG00000111640.15",
    "ENSG00000999999",
]


def test_ensembl_ids_map_as_well_as_symbols() -> None:
    by_symbol = match_genes(SYMBOLS, STORE, store_taxon="human")
    by_ensembl = match_genes(ENSEMBL, STORE, store_taxon="human")
    np.testing.assert_array_equal(by_symbol.gene_ids, by_ensembl.gene_ids)
    np.testing.assert_array_equal(by_symbol.gene_ids, [916, 915, 931, 4069, 2597, -1])
    assert by_symbol.report.by_route == {"symbol": 5}
    assert by_ensembl.report.by_route == {"ensembl": 5}
    assert by_ensembl.report.match_rate == pytest.approx(5 / 6)


def test_alias_entrez_and_case_routes() -> None:
    m = match_genes(["T3E", "915", "ms4a1", "LYZ"], STORE, store_taxon=9606, data_taxon="human")
    assert m.gene_ids.tolist() == [916, 915, 931, 4069]
    assert m.routes == ["alias", "entrez", "symbol", "symbol"]
    # An Entrez id the store does not hold is no match.
    assert match_genes(["12345", "CD3E"], STORE, store_taxon="human").gene_ids.tolist() == [-1, 916]


def test_report_counts_expression_share_and_unmatched() -> None:
    X = sp.csr_matrix(np.array([[1.0, 0, 0, 0, 0, 3.0], [0, 2.0, 0, 0, 0, 2.0]]))
    report = match_genes(SYMBOLS, STORE, store_taxon="human", X=X).report
    assert report.unmatched == ["NOTAGENE"] and report.n_unmatched == 1
    assert report.expression_covered == pytest.approx(3 / 8)
    d = report.to_dict()
    assert d["match_rate"] == pytest.approx(5 / 6) and d["by_route"] == {"symbol": 5}
    assert "5/6" in report.summary()


def test_low_match_warns_and_zero_match_fails() -> None:
    with pytest.warns(LowMatchWarning):
        report = match_genes(["CD3E", "X1", "X2", "X3"], STORE, store_taxon="human").report
    assert report.warnings and "25.0%" in report.warnings[0]
    # a user's warning, which the command line prints (annotate's markers rest on these genes)
    assert issubclass(LowMatchWarning, GenekbWarning) and "markers" in report.warnings[0]
    with pytest.raises(GenekbError, match="none of the 3 genes matched"):
        match_genes(["X1", "X2", "X3"], STORE, store_taxon="human", data_taxon="human")


def test_detect_taxon() -> None:
    assert detect_taxon(["CD3E", "ACTB", "MT-CO1", "Cd3e"]) == "human"
    assert detect_taxon(["Cd3e", "Actb", "0610007P14Rik", "mt-Co1", "CD4"]) == "mouse"
    assert detect_taxon(["ENSMUSG00000032093", "ENSMUSG00000029580.14"]) == "mouse"
    assert detect_taxon(["ENSG00000198851", "ENSG00000167286"]) == "human"
    with pytest.raises(UsageError, match="taxon="):
        detect_taxon(["916", "915"])


def fake_orthologs() -> tuple[pa.Table, Snapshot]:
    rows = {
        "human_gene_id": [916, 915, 931, 4069, 4069],
        "human_symbol": ["CD3E", "CD3D", "MS4A1", "LYZ", "LYZ"],
        "mouse_gene_id": [12501, 12500, 12482, 17105, 17110],
        "mouse_symbol": ["Cd3e", "Cd3d", "Ms4a1", "Lyz2", "Lyz1"],
    }
    table = pa.table(rows, schema=ORTHOLOG_SCHEMA)
    return table, Snapshot("test", 0, "2024-01-01", "made in the test")


def test_mouse_genes_reach_a_human_store_through_orthologs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bundled, "load_orthologs", fake_orthologs)
    # Without a bundled mouse table, mouse names resolve through the ortholog table's symbols.
    monkeypatch.setattr(bundled, "available_taxa", lambda: ["human"])
    m = match_genes(["Cd3e", "Cd3d", "Lyz2", "Lyz1", "Gapdh"], STORE, store_taxon="human")
    assert m.report.data_taxon == "mouse" and m.report.store_taxon == "human"
    assert m.gene_ids.tolist() == [916, 915, 4069, 4069, -1]
    assert m.report.by_route == {"ortholog": 4}
    assert m.routes[-1] is None


def test_ortholog_choice_prefers_same_name() -> None:
    from cellmodel.knowledge.orthologs import _ortholog_map

    frame = pd.DataFrame(
        {
            "human_gene_id": [10, 20],
            "human_symbol": ["ABC1", "ABC2"],
            "mouse_gene_id": [5, 5],
            "mouse_symbol": ["Abc2", "Abc2"],
        }
    )
    assert _ortholog_map(frame, "mouse", "human") == {5: 20}
    assert _ortholog_map(frame, "human", "mouse") == {10: 5, 20: 5}


def test_pbmc68k_reduced_matches_the_bundled_human_snapshot() -> None:
    from cellmodel.datasets import load

    if "human" not in bundled.available_taxa():
        pytest.skip("no bundled human snapshot in this install")
    genes = (
        bundled.load_bundled("human")
        .table.select(["gene_id", "symbol", "aliases", "ensembl"])
        .to_pandas()
    )
    adata = load("pbmc68k-reduced")
    report = match_genes(list(adata.var_names), genes, store_taxon="human").report
    assert report.match_rate >= 0.95, report.summary()


def test_real_mouse_symbols_reach_human_genes_through_the_bundled_orthologs() -> None:
    if not {"human", "mouse"} <= set(bundled.available_taxa()):
        pytest.skip("bundled human and mouse snapshots are not both installed")
    human = (
        bundled.load_bundled("human")
        .table.select(["gene_id", "symbol", "aliases", "ensembl"])
        .to_pandas()
    )
    mouse = ["Cd3e", "Actb", "Ins2", "Gcg", "Sst", "Krt19", "Notagene"]
    m = match_genes(mouse, human, store_taxon="human", data_taxon="mouse")
    symbol = dict(zip(human["gene_id"], human["symbol"], strict=True))
    assert [symbol.get(g) for g in m.gene_ids] == [
        "CD3E",
        "ACTB",
        "INS",
        "GCG",
        "SST",
        "KRT19",
        None,
    ]
    assert m.report.by_route == {"ortholog": 6}


def test_lower_case_names_go_to_the_species_that_knows_more_of_them_as_symbols() -> None:
    from cellmodel.knowledge.genes import read_gene_names

    read = read_gene_names(["ly6a", "cd59a", "acss1", "gad1", "aqp4", "sst"])
    assert read.taxon == "mouse" and "no telling case" in read.note
    assert read_gene_names(["xq1", "zz9", "qq2"]).taxon is None
