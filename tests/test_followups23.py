"""A species typed as a person would: any case, extra spaces, or the binomial."""

from __future__ import annotations

import pytest

from cellmodel.knowledge.genes import read_gene_names, taxon_name
from genekb.errors import UsageError


@pytest.mark.parametrize(
    ("given", "want"),
    [
        ("human", "human"),
        ("Human", "human"),
        (" MOUSE ", "mouse"),
        ("Homo sapiens", "human"),
        ("mus  Musculus", "mouse"),
        (9606, "human"),
        ("10090", "mouse"),
    ],
)
def test_taxon_name_reads_what_a_user_types(given, want):
    assert taxon_name(given) == want


def test_an_unknown_species_is_still_refused_with_the_choices():
    with pytest.raises(UsageError, match="unknown taxon 'rat'; choose one of human, mouse"):
        taxon_name("rat")


def test_a_capitalised_taxon_reads_the_genes_as_the_lower_case_one_does():
    names = ["CD3E", "CD4", "MS4A1", "LYZ", "NKG7", "GNLY", "CD14", "FCGR3A", "PPBP", "CD8A"]
    assert read_gene_names(names, "Human").taxon == read_gene_names(names, "human").taxon == "human"
