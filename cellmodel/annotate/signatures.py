"""Lineage signatures: whether a group expresses the genes typical of a kind of cell at all.

A group's markers are relative to the other groups of the file: in a file of T cells only, no
group's markers say "T cell", and a lineage call read from them alone can land anywhere. The
signature reads the group's own expression instead.

A kind's signature (one per kind of `kinds.LEVELS`) comes from the CellConsensus marker table
(`markerdb`): for each gene, the share of the kind's table terms (CL terms in its subtree) that
list it among their `markerdb.DB_TOP_K` best genes, minus its largest share among the kind's
siblings (the other kinds refining the same parent). The kind's `N_SIGNATURE` genes of the
largest such lead (at least `MIN_LEAD`) over the whole table are its signature, and the file
scores those of them it measures (a gene no cell of the file expresses is not measured); a kind
with fewer than `MIN_MEASURED` of them measured gets none. The signature is the kind's, not the
file's: a file measuring a few hundred genes does not get, in its place, the next genes down the
list (on such a panel, housekeeping genes). A group's score for a kind is the mean percentile of
the signature genes' mean expression among all the group's measured genes, mapped to [-1, 1] (0:
as expressed as a typical gene). No label is read.

**Named genes.** Many CL labels say which genes their cells express ("CD14-positive monocyte",
"CD34-positive, CD38-negative hematopoietic stem cell", "CD8-positive, alpha-beta T cell").
`named_genes.named_positive` reads those claims from the labels (a token before "-positive",
resolved to genes through the nomenclature's symbols and digit-bearing aliases), and
`group_scores` adds each such gene's percentile score to the group's entry under
`GENE_PREFIX` + symbol, so the walk can drop a term whose named gene the group does not express.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from cellmodel.annotate import markerdb
from cellmodel.annotate.kinds import LEVELS, kinds_of
from cellmodel.annotate.named_genes import GENE_PREFIX, named_genes
from genekb.errors import GenekbWarning

N_SIGNATURE = 20
MIN_LEAD = 0.1
MIN_MEASURED = 5  # a kind with fewer signature genes measured gets no signature


@lru_cache(maxsize=2)
def _shares(cache_dir: str | None) -> pd.DataFrame:
    """kinds × genes: the share of each kind's table terms listing the gene in their top genes."""
    table = markerdb.load_table(cache_dir)
    top = table.sort_values(["cl_id", "score", "gene"], ascending=[True, False, True])
    top = top.groupby("cl_id", sort=False).head(markerdb.DB_TOP_K)
    rows = []
    for cl_id, genes in top.groupby("cl_id")["gene"]:
        for level in range(len(LEVELS)):
            for kind in kinds_of(str(cl_id), level):
                rows.append((kind, set(genes)))
    shares: dict[str, pd.Series] = {}
    for kind in {k for k, _ in rows}:
        sets = [g for k, g in rows if k == kind]
        counts = pd.Series([x for s in sets for x in s]).value_counts()
        shares[kind] = counts / len(sets)
    return pd.DataFrame(shares).fillna(0.0).T


def signatures(data_symbols: list[str], cache_dir: str | None = None) -> dict[str, list[str]]:
    """kind -> its signature genes among `data_symbols` (module docstring)."""
    shares = _shares(cache_dir)
    measured = set(data_symbols)
    out: dict[str, list[str]] = {}
    for level in LEVELS:
        for kind, (parent, _) in level.items():
            if kind not in shares.index:
                continue
            siblings = [k for k, (p, _) in level.items() if p == parent and k != kind]
            siblings = [k for k in siblings if k in shares.index]
            rival = shares.loc[siblings].max(axis=0) if siblings else 0.0
            lead = (shares.loc[kind] - rival).sort_values(ascending=False, kind="stable")
            top = lead[lead >= MIN_LEAD].index[:N_SIGNATURE]
            chosen = [g for g in top if g in measured]
            if len(chosen) >= MIN_MEASURED:
                out[kind] = list(chosen)
    return out


class UncheckedLineageWarning(GenekbWarning):
    """Some tissue lineages have no signature in this file: calls there had no expression check."""


def unsigned_lineages(scores: list[dict[str, float]], candidates: list[str | None]) -> list[str]:
    """The tissue lineages (`LEVELS[0]`) of the candidates whose every lineage lacks a signature
    in this file (fewer than `MIN_MEASURED` of its genes measured): a call of such a candidate
    has no expression check of its lineage (a microglial cell, hematopoietic and neural, is
    still checked as hematopoietic). `scores`: `group_scores`' output (a kind is scored where it
    has a signature); `candidates`: their CL ids."""
    if not scores:
        return []
    unchecked: set[str] = set()
    for cl_id in candidates:
        lineages = kinds_of(cl_id, 0)
        if not any(kind in scores[0] for kind in lineages):
            unchecked |= lineages
    return [kind for kind in LEVELS[0] if kind in unchecked]


def lineage_checked(cl_id: str | None, scores: dict[str, float]) -> bool | None:
    """Whether a term's tissue lineage can be checked from a group's expression (one of its
    lineages has a signature in `scores`, the group's `group_scores` entry); None for a term
    of no lineage."""
    lineages = kinds_of(cl_id, 0)
    if not lineages:
        return None
    return any(kind in scores for kind in lineages)


def group_scores(
    means: np.ndarray, data_symbols: list[str], signature: dict[str, list[str]]
) -> list[dict[str, float]]:
    """Per group, each kind's signature score in [-1, 1] from its genes' mean expression
    (`means`: groups × the data's matched genes, columns named by `data_symbols`), and each
    measured gene a CL label names (`named_genes`) scored alone, under `GENE_PREFIX`."""
    # Percentile of each gene's mean within its group (ties share their mean rank).
    ranks = pd.DataFrame(means.T).rank(axis=0, pct=True).to_numpy().T
    col, ranks = _per_symbol(data_symbols, ranks)
    named = sorted(named_genes() & set(col))
    out = []
    for g in range(means.shape[0]):
        scores = {}
        for kind, genes in signature.items():
            cols = [col[x] for x in genes if x in col]
            if cols:
                scores[kind] = float(2 * ranks[g, cols].mean() - 1)
        for gene in named:
            scores[GENE_PREFIX + gene] = float(2 * ranks[g, col[gene]] - 1)
        out.append(scores)
    return out


def _per_symbol(data_symbols: list[str], ranks: np.ndarray) -> tuple[dict[str, int], np.ndarray]:
    """Each symbol's column, and `ranks` (groups × data genes) with one column per symbol: where
    several data genes read as one symbol (a mouse gene's paralogs, an alias beside its symbol),
    the group's best of them, the first of them only had made the score hang on the file's gene
    order."""
    columns: dict[str, list[int]] = {}
    for i, g in enumerate(data_symbols):
        columns.setdefault(g, []).append(i)
    if len(columns) == len(data_symbols):
        return {g: c[0] for g, c in columns.items()}, ranks
    merged = np.column_stack([ranks[:, c].max(axis=1) for c in columns.values()])
    return {g: i for i, g in enumerate(columns)}, merged.reshape(ranks.shape[0], len(columns))
