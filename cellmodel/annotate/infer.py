"""What a run inferred about the file when the user did not say: its species and its tissue.

The species is read from the gene names (`knowledge.genes.read_gene_names`: human symbols, mouse
symbols, Ensembl prefixes) unless `--taxon` is given. The tissue is read from the groups' best
candidates: each tissue of `TISSUE_WORDS` is scored by how many of each group's `TOP_TERMS` best
CL terms name one of its words (label, synonyms or definition), averaged over the groups, and
the best is reported with its lead over the runner-up. Nothing here reads a label. The lineage
walk then favours, among near-equal terms, those naming that tissue (`lineage.TISSUE_BONUS`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import numpy as np

from cellmodel.annotate import ontology

# tissue -> the word stems that name it in CL text (matched at a word start, as `--tissue` is)
TISSUE_WORDS: dict[str, tuple[str, ...]] = {
    "blood": ("blood", "peripheral blood"),
    "bone marrow": ("bone marrow",),
    "pancreas": ("pancrea",),
    "lung": ("lung", "pulmonary", "alveol", "bronch"),
    "brain": ("brain", "cerebral", "cortex", "hippocamp"),
    "kidney": ("kidney", "renal", "nephron"),
    "gut": ("intestin", "colon", "gut"),
    "liver": ("liver", "hepat"),
    "skin": ("skin", "epiderm"),
    "heart": ("heart", "cardiac"),
    "retina": ("retina",),
    "thymus": ("thymus", "thymic"),
}
TOP_TERMS = 10


@lru_cache(maxsize=1)
def _tissue_terms() -> dict[str, frozenset[str]]:
    """tissue -> the CL ids whose label, synonyms or definition name it (one pass over the
    ontology's text; the words match at a word start, as `--tissue` does)."""
    p = ontology.parser()
    ids = ontology.live_ids()
    labels, defs, syns = (
        p.map_term_labels(ids),
        p.map_term_descriptions(ids),
        p.map_term_synonyms(ids),
    )
    texts = {
        i: " | ".join([labels.get(i) or "", defs.get(i) or "", *(syns.get(i) or [])]) for i in ids
    }
    out = {}
    for tissue, words in TISSUE_WORDS.items():
        pattern = re.compile("|".join(rf"\b{re.escape(w)}" for w in words), re.IGNORECASE)
        out[tissue] = frozenset(i for i, text in texts.items() if pattern.search(text))
    return out


def tissue(matrix: np.ndarray, cl_ids: list[str | None]) -> dict[str, Any] | None:
    """The tissue the groups' best candidates name most often: per group its `TOP_TERMS` best
    candidates under `matrix` (groups × candidates, the ranking that calls), each tissue scored
    by the share of those terms whose text names it, averaged over the groups; None where no
    tissue is named at all."""
    terms = _tissue_terms()
    counts = dict.fromkeys(terms, 0.0)
    n_rows = 0
    for row in np.asarray(matrix, dtype=float):
        ok = np.isfinite(row)
        if not ok.any():
            continue
        n_rows += 1
        top = np.argsort(-np.where(ok, row, -np.inf), kind="stable")[:TOP_TERMS]
        for name, ids in terms.items():
            counts[name] += sum(cl_ids[i] in ids for i in top) / TOP_TERMS
    if not n_rows or max(counts.values()) <= 0:
        return None
    scores = {t: c / n_rows for t, c in counts.items()}
    order = sorted(scores, key=lambda t: -scores[t])
    return {
        "tissue": order[0],
        "lead": round(scores[order[0]] - scores[order[1]], 3),
        "runner_up": order[1],
        "scores": {t: round(scores[t], 3) for t in order if scores[t] > 0},
    }


def tissue_terms(found: dict[str, Any] | str | None) -> frozenset[str] | None:
    """The CL ids naming an inferred tissue (`tissue`'s result) or a tissue word the user gave."""
    if not found:
        return None
    if isinstance(found, dict):
        return _tissue_terms().get(found["tissue"])
    return frozenset(c.cl_id for c in ontology.from_ontology(tissue=found) if c.cl_id)
