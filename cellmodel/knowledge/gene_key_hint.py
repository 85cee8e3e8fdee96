"""A hint for a file whose var_names are Ensembl ids while a var column holds symbols (CELLxGENE:
var_names the ids, `feature_name` the symbols): ids a snapshot lacks (retired or versioned ones)
go unmatched, the symbols of the same genes match, and the calls rest on fewer genes. The
column is named, never switched to silently: the user's `gene_key` says which names are read."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import pandas as pd

from cellmodel.knowledge.genes import match_genes
from cellmodel.knowledge.name_forms import name_form
from genekb.errors import GenekbWarning, warn

# A column matching this share more genes than var_names do is named; fewer is noise.
CLEARLY_MORE = 0.03
# A column of names naming this share of the genes once, or more, names genes (not a biotype).
NAMES_UNIQUE = 0.9


class GeneKeyHintWarning(GenekbWarning):
    """A var column of symbols matches clearly more genes than the var_names (Ensembl ids)."""


def symbol_columns(var: pd.DataFrame) -> dict[str, list[str]]:
    """The var columns of text whose values are mostly symbols, each naming most genes once."""
    found = {}
    for column in var.columns:
        values = var[column]
        if not (
            pd.api.types.is_string_dtype(values) or isinstance(values.dtype, pd.CategoricalDtype)
        ):
            continue
        names = ["" if pd.isna(v) else str(v) for v in values.to_numpy()]
        if len(set(names)) < NAMES_UNIQUE * len(names) or name_form(names) != "symbols":
            continue
        found[str(column)] = names
    return found


def gene_key_note(
    var: pd.DataFrame, genes: Sequence[str], gene_key: str | None, taxon: str | None
) -> str | None:
    """The line saying which var column of symbols matches clearly more genes than `genes` (the
    var_names, read where `gene_key` is None), or None; warned once as `GeneKeyHintWarning`."""
    if gene_key is not None or not len(genes) or name_form(list(genes)) != "Ensembl ids":
        return None
    columns = symbol_columns(var)
    if not columns:
        return None
    from cellmodel.knowledge.vectors import reference_table

    ref_taxon, table = reference_table(list(genes), taxon)
    reference = table.table.select(["gene_id", "symbol", "aliases", "ensembl"]).to_pandas()

    def matched(names: Sequence[str]) -> int:
        with warnings.catch_warnings():  # the run's own match warns of what it finds
            warnings.simplefilter("ignore")
            found = match_genes(names, reference, store_taxon=ref_taxon, strict=False)
        return found.report.n_matched

    by_ids = matched(genes)
    counts = {column: matched(names) for column, names in columns.items()}
    best = max(counts, key=lambda c: counts[c])
    if counts[best] <= by_ids * (1 + CLEARLY_MORE):
        return None
    note = (
        f"the var_names are Ensembl ids, of which {by_ids:,} of {len(genes):,} match known genes;"
        f" the var column {best!r} holds symbols, of which {counts[best]:,} match: to read those,"
        f" pass --gene-key {best} (gene_key={best!r})"
    )
    warn(note, GeneKeyHintWarning)
    return note


def hint_notes(
    var: pd.DataFrame | None, genes: Sequence[str], gene_key: str | None, taxon: str | None
) -> list[str]:
    """`gene_key_note` as a list of notes (none where `var` is not known)."""
    note = None if var is None else gene_key_note(var, genes, gene_key, taxon)
    return [note] if note else []
