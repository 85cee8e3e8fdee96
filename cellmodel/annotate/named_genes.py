"""The genes a Cell Ontology label says its cells express.

Many CL labels name a gene their cells are positive for: "CD14-positive monocyte",
"CD34-positive, CD38-negative hematopoietic stem cell", "CD8-positive, alpha-beta T cell". Each
token before "-positive" is resolved to genes through the nomenclature's symbols and
digit-bearing aliases (`mentions.human_lexicon`, as the mentions channel reads text). A group's
expression of these genes (`signatures.group_scores`, under `GENE_PREFIX`) lets the lineage walk
drop a term whose defining claim the data contradict. No label of the data is read.
"""

from __future__ import annotations

import re
from functools import lru_cache

from cellmodel.annotate import ontology
from cellmodel.annotate.mentions import human_lexicon
from genekb.sources.bundled import load_bundled

GENE_PREFIX = "gene:"  # a group's entry for a gene a CL label names (`named_positive`)
_POSITIVE = re.compile(r"\b([A-Za-z0-9]+)-positive\b")


@lru_cache(maxsize=1)
def named_positive() -> dict[str, tuple[tuple[str, ...], ...]]:
    """CL id -> the genes its label says its cells express, one tuple of symbols per claim (an
    alias may name several genes: "CD16" is FCGR3A or FCGR3B); terms with no such claim are
    left out."""
    table = load_bundled("human").table.select(["gene_id", "symbol"]).to_pandas()
    symbol_of = dict(zip(table["gene_id"].astype(int), table["symbol"], strict=True))
    tokens = human_lexicon().tokens
    ids = ontology.live_ids()
    out = {}
    for cl_id, label in ontology.parser().map_term_labels(ids).items():
        claims = []
        for token in _POSITIVE.findall(label or ""):
            genes = tuple(symbol_of[g] for g in tokens.get(token, ()) if g in symbol_of)
            if genes:
                claims.append(genes)
        if claims:
            out[cl_id] = tuple(claims)
    return out


def named_genes() -> frozenset[str]:
    """Every gene some CL label names as expressed."""
    return frozenset(g for claims in named_positive().values() for c in claims for g in c)
