"""Over-representation of each group's markers in each candidate's reference gene set: the one
statistic the marker-table baseline and the GO-process channel share.

The score is −log10 of the hypergeometric upper tail P(X ≥ overlap), X ~ Hypergeom(universe,
reference size, markers drawn), with every set cut to the universe first.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.stats import hypergeom


def _incidence(sets: Sequence[Iterable[Hashable] | None], column: dict) -> sp.csr_matrix:
    rows, cols = [], []
    for i, genes in enumerate(sets):
        for g in genes or ():
            rows.append(i)
            cols.append(column[g])
    return sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(sets), len(column)))


def overrepresentation(
    drawn: Sequence[Sequence[Hashable]],
    refs: Sequence[set | None],
    universe: set,
) -> np.ndarray:
    """groups × candidates −log10 p of each group's `drawn` genes overlapping each candidate's
    reference set, all within `universe` (genes outside it are dropped first); nan where a
    candidate has no reference gene in the universe or a group draws none."""
    column = {g: i for i, g in enumerate(sorted(universe))}
    drawn_in = [[g for g in dict.fromkeys(genes) if g in column] for genes in drawn]
    refs_in = [{g for g in r if g in column} or None if r is not None else None for r in refs]
    M, R = _incidence(drawn_in, column), _incidence(refs_in, column)
    shared = np.asarray((M @ R.T).todense())  # groups × candidates: overlap counts
    n_drawn = np.asarray(M.sum(axis=1)).reshape(-1, 1)
    n_ref = np.asarray(R.sum(axis=1)).reshape(1, -1)
    p = hypergeom.sf(shared - 1, len(column), n_ref, n_drawn)
    scores = -np.log10(np.maximum(p, 1e-300))
    scores[:, [r is None for r in refs_in]] = np.nan
    scores[n_drawn[:, 0] == 0] = np.nan
    return scores
