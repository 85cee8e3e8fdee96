"""The genes a Cell Ontology label says its cells express.

Many CL labels name a gene their cells are positive for: "CD14-positive monocyte",
"CD34-positive, CD38-negative hematopoietic stem cell", "CD8-positive, alpha-beta T cell". Each
token before "-positive" is resolved to genes through the nomenclature's official symbols and
its digit-bearing aliases (the rule `mentions.Lexicon` reads text by; an official symbol
outranks another gene's alias), looked up for those tokens only, as building the whole
lexicon would cost a warm run seconds. A group's
expression of these genes (`signatures.group_scores`, under `GENE_PREFIX`) lets the lineage walk
drop a term whose defining claim the data contradict. No label of the data is read.
"""

from __future__ import annotations

import re
from functools import lru_cache

from cellmodel.annotate import ontology
from cellmodel.annotate.mentions import readable_alias
from genekb.sources.bundled import load_bundled

GENE_PREFIX = "gene:"  # a group's entry for a gene a CL label names (`named_positive`)
_POSITIVE = re.compile(r"\b([A-Za-z0-9]+)-positive\b")


def _genes_of(tokens: set[str]) -> dict[str, tuple[str, ...]]:
    """token -> the genes it names: its official symbol, else the genes listing it as an alias
    (`mentions.readable_alias`)."""
    table = load_bundled("human").table.select(["symbol", "aliases"]).to_pandas()
    symbols = set(table["symbol"])
    out = {t: (t,) for t in tokens if t in symbols}
    wanted = {t for t in tokens - set(out) if readable_alias(t)}
    by_alias: dict[str, set[str]] = {}
    for symbol, aliases in zip(table["symbol"], table["aliases"], strict=True):
        for alias in aliases if aliases is not None else ():
            if alias in wanted:
                by_alias.setdefault(alias, set()).add(symbol)
    out.update({t: tuple(sorted(g)) for t, g in by_alias.items()})
    return out


@lru_cache(maxsize=1)
def named_positive() -> dict[str, tuple[tuple[str, ...], ...]]:
    """CL id -> the genes its label says its cells express, one tuple of symbols per claim (an
    alias may name several genes: "CD16" is FCGR3A or FCGR3B); terms with no such claim are
    left out."""
    labels = ontology.live_labels()
    found = {cl_id: _POSITIVE.findall(label or "") for cl_id, label in labels.items()}
    genes = _genes_of({t for tokens in found.values() for t in tokens})
    out = {}
    for cl_id, tokens in found.items():
        claims = tuple(genes[t] for t in tokens if t in genes)
        if claims:
            out[cl_id] = claims
    return out


def named_genes() -> frozenset[str]:
    """Every gene some CL label names as expressed."""
    return frozenset(g for claims in named_positive().values() for c in claims for g in c)
