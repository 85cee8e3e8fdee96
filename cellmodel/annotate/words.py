"""The bag-of-words control: the same gene cards and candidate texts, compared as words, no model.

`gene_vectors="bag-of-words"` replaces both sides of the text method's space with TF-IDF vectors
(`genekb.eval.probe.tfidf`, the settings `genekb eval` uses for its bag-of-words control),
with vocabulary and IDF from the gene cards at hand (the markers' and the background's texts from
the store version; a candidate's words no card uses cannot match and are left out).
Everything after (hubness correction, pooling, across-group standardisation) is unchanged, so the
control asks how many groups the shared words alone name, and what the encoder adds beyond them.

Only words that occur on both sides can contribute to a gene–candidate cosine, so the vectors keep
just those columns, plus one column per side holding the rest of each row's norm: cosines stay
those of the full TF-IDF vectors while the arrays stay small over the whole Cell Ontology.
"""

from __future__ import annotations

import numpy as np

from genekb.eval.probe import tfidf


def bag_of_words(
    gene_texts: list[str], candidate_texts: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(gene vectors, candidate vectors): unit rows whose dot products are the TF-IDF cosines."""
    # Every word counts: a hormone's name may be on one card among the few thousand at hand.
    vectorizer = tfidf(min_df=1).fit(gene_texts)
    genes = vectorizer.transform(gene_texts).tocsc()
    cands = vectorizer.transform(candidate_texts).tocsc()
    shared = np.flatnonzero((np.diff(genes.indptr) > 0) & (np.diff(cands.indptr) > 0))
    g = genes[:, shared].toarray()
    c = cands[:, shared].toarray()
    return _with_rest(g, side=0), _with_rest(c, side=1)


def _with_rest(rows: np.ndarray, side: int) -> np.ndarray:
    """Append two columns; the one of this side holds what the dropped words carried of each
    row's unit norm, so rows stay unit length and the two sides never meet there."""
    rest = np.sqrt(np.clip(1.0 - (rows**2).sum(axis=1), 0.0, None))
    extra = np.zeros((len(rows), 2))
    extra[:, side] = rest
    return np.hstack([rows, extra])
