"""Leftovers of real files: gene symbols a spreadsheet turned into dates, human symbols written in
title case, and publishing over a network that fails now and then."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import genekb.sources.bundled as bundled
from cellmodel.knowledge.genes import (
    GeneNameFormWarning,
    SpreadsheetDateWarning,
    match_genes,
    read_gene_names,
    require_gene_names,
)
from cellmodel.knowledge.orthologs import bundled_index
from genekb.genemap import spreadsheet_dates
from genekb.store.store import Store

# As Excel writes MARCH1, SEPT2, DEC1, MARCH2 back, and as pandas reads a date cell.
DATES = ["1-Mar", "2-Sep", "1-Dec", "Mar-02", "2023-03-01 00:00:00"]


def _store(symbols: list[str]) -> pd.DataFrame:
    n = len(symbols)
    return pd.DataFrame(
        {
            "gene_id": np.arange(1, n + 1, dtype=np.int64),
            "symbol": symbols,
            "aliases": [[]] * n,
            "ensembl": [[]] * n,
        }
    )


@pytest.mark.filterwarnings("ignore::cellmodel.knowledge.genes.LowMatchWarning")
@pytest.mark.parametrize(
    ("taxon", "symbols"), [("human", ["CD3E", "ACTB"]), ("mouse", ["Cd3e", "Actb"])]
)
def test_spreadsheet_dates_are_named_in_the_match_report(taxon: str, symbols: list[str]) -> None:
    names = [*symbols, *DATES, "Oct-4", "NOT_A_GENE"]
    with pytest.warns(SpreadsheetDateWarning, match=r"5 gene names are dates \('1-Mar'"):
        m = match_genes(names, _store(symbols), store_taxon=taxon, data_taxon=taxon)
    assert m.report.n_matched == 2  # reported, never guessed back: '1-Mar' is MARCHF1 or MTARC1
    (note,) = [w for w in m.report.to_dict()["warnings"] if "dates" in w]
    assert "gene column as text" in note and "Entrez ids" in note
    # "Oct-4" is an alias of POU5F1 as NCBI writes it, no spreadsheet's date.
    assert spreadsheet_dates(names) == DATES


def test_genekb_build_counts_the_dates_and_says_what_to_do(tmp_path, capsys) -> None:
    from cli.genekb_build_cmd import _build_summary
    from tests.test_store import _build

    report = _build(Store.open(tmp_path, create=True), genes=["GENE1", "GENE2", *DATES])
    assert report["unmatched_dates"] == 5 and report["unmatched_date_examples"] == DATES
    _build_summary(report)
    err = capsys.readouterr().err
    assert "5 gene names are dates ('1-Mar', '2-Sep', '1-Dec')" in err
    assert "re-export the table with the gene column as text" in err


needs_both = pytest.mark.skipif(
    not {"human", "mouse"} <= set(bundled.available_taxa()),
    reason="bundled human and mouse snapshots are not both installed",
)


def _coding(taxon: str, n: int, only: bool | None = None) -> list[str]:
    """`n` protein-coding symbols of `taxon`: any, only those the other species lacks (True),
    or only those it has too, ignoring case (False)."""
    table = bundled.load_bundled(taxon).table.to_pandas()
    symbols = table.loc[table["gene_type"] == "protein-coding", "symbol"].astype(str).tolist()
    symbols = np.random.default_rng(0).permutation(symbols).tolist()
    if only is not None:
        other = bundled_index("mouse" if taxon == "human" else "human")
        theirs = other.resolve(symbols)["gene_id"].to_numpy() >= 0
        symbols = [s for s, t in zip(symbols, theirs, strict=True) if t != only]
    return symbols[:n]


def _title(names: list[str]) -> list[str]:
    return [n[:1].upper() + n[1:].lower() for n in names]


@needs_both
def test_title_case_human_symbols_read_as_human_with_a_notice() -> None:
    human = _title(_coding("human", 600))
    with pytest.warns(GeneNameFormWarning, match="title-case gene names read as human genes"):
        assert require_gene_names(human, None, "annotate") == "human"
    assert "pass taxon=mouse" in read_gene_names(human).note
    given = read_gene_names(human, "mouse")
    assert given.taxon == "mouse"  # a given taxon is obeyed, with a word (it ran silently)
    assert given.note.startswith("taxon=mouse is given, but the names read as human genes")
    assert read_gene_names(_coding("mouse", 600), "mouse").note == ""  # and none where right
    # Mouse files, title case as mouse writes them, stay mouse and plain.
    assert read_gene_names(_coding("mouse", 600)) == read_gene_names(["Cd3e", "Lyz2", "Actb"])
    assert read_gene_names(_coding("mouse", 600)).note == ""
    # A short list where no species' own names stand out goes by its case.
    assert read_gene_names(["Ins", "Gcg", "Cd3e"]).taxon == "mouse"


@needs_both
def test_upper_case_mouse_files_with_few_mouse_only_names_read_as_mouse() -> None:
    # As an upper-cased whole-transcriptome mouse file: 8% of names mouse-only (Gm, Rik genes).
    names = [s.upper() for s in _coding("mouse", 920, only=False) + _coding("mouse", 80, True)]
    read = read_gene_names(names)
    assert read.taxon == "mouse" and "80 are mouse genes and not human ones" in read.note
