"""Leftovers of real files: gene symbols a spreadsheet turned into dates, human symbols written in
title case, and publishing over a network that fails now and then."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cellmodel.knowledge.genes import SpreadsheetDateWarning, match_genes
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
    from cli.genekb_app import _build_summary
    from tests.test_store import _build

    report = _build(Store.open(tmp_path, create=True), genes=["GENE1", "GENE2", *DATES])
    assert report["unmatched_dates"] == 5 and report["unmatched_date_examples"] == DATES
    _build_summary(report)
    err = capsys.readouterr().err
    assert "5 gene names are dates ('1-Mar', '2-Sep', '1-Dec')" in err
    assert "re-export the table with the gene column as text" in err
