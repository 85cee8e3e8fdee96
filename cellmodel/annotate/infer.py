"""What a run inferred about the file when the user did not say: its species and its tissue.

The species is read from the gene names (`knowledge.genes.read_gene_names`: human symbols, mouse
symbols, Ensembl prefixes) unless `--taxon` is given. The tissue is read from the candidates'
text scores averaged over the groups (the context prior, `score.context`: what the data as a
whole resemble): each tissue of `TISSUE_WORDS` is scored by the mean of the `TOP_TERMS` best
standardised context values among the CL terms whose label, synonyms or definition name one of
its words, and the best tissue is reported with its lead over the runner-up. Nothing here reads
a label. The context prior itself is what enters the calls (over the whole ontology); the tissue
is its summary in words, for the user to check and to pass as `--tissue` if they agree.
"""

from __future__ import annotations

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
TOP_TERMS = 5


@lru_cache(maxsize=1)
def _tissue_terms() -> dict[str, frozenset[str]]:
    """tissue -> the CL ids whose text names it."""
    out = {}
    for tissue, words in TISSUE_WORDS.items():
        ids: set[str] = set()
        for word in words:
            ids |= {c.cl_id for c in ontology.from_ontology(tissue=word) if c.cl_id}
        out[tissue] = frozenset(ids)
    return out


def tissue(context_row: np.ndarray, cl_ids: list[str | None]) -> dict[str, Any] | None:
    """The tissue the data resemble most, from one row of the context prior over the candidates;
    None where there is no prior (no candidate scored) or fewer than two tissues have terms."""
    row = np.asarray(context_row, dtype=float)
    ok = np.isfinite(row)
    if ok.sum() < 2:
        return None
    z = (row - row[ok].mean()) / (row[ok].std() or 1.0)
    where = {c: i for i, c in enumerate(cl_ids) if c}
    scores = {}
    for name, ids in _tissue_terms().items():
        vals = np.array([z[where[c]] for c in ids if c in where and ok[where[c]]])
        if len(vals):
            scores[name] = float(np.sort(vals)[::-1][:TOP_TERMS].mean())
    if len(scores) < 2:
        return None
    order = sorted(scores, key=lambda t: -scores[t])
    return {
        "tissue": order[0],
        "lead": round(scores[order[0]] - scores[order[1]], 3),
        "runner_up": order[1],
        "scores": {t: round(scores[t], 3) for t in order},
    }
