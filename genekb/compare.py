"""How much two encoders agree: overlap of each gene's nearest neighbours in their vector spaces."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from genekb.errors import GenekbError, UsageError
from genekb.linalg import l2_normalize
from genekb.query import check_k
from genekb.store.readers import check_one_taxon
from genekb.store.store import EmbeddingVersion


def _neighbours(matrix: np.ndarray, k: int) -> np.ndarray:
    """Each row's k nearest rows by cosine (itself excluded), in blocks to bound memory."""
    unit = l2_normalize(matrix)
    out = np.empty((len(unit), k), dtype=np.int64)
    for start in range(0, len(unit), 2048):
        sims = unit[start : start + 2048] @ unit.T
        rows = np.arange(sims.shape[0])
        sims[rows, rows + start] = -np.inf
        out[start : start + 2048] = np.argpartition(-sims, k, axis=1)[:, :k]
    return out


def neighbourhood_agreement(
    a: EmbeddingVersion, b: EmbeddingVersion, k: int = 10
) -> dict[str, Any]:
    """Mean share of the k nearest genes two versions have in common, over their shared genes."""
    ids_a, mat_a = a.matrix()
    ids_b, mat_b = b.matrix()
    shared = np.intersect1d(ids_a, ids_b)
    if not len(shared):
        raise GenekbError(
            f"{a.id} and {b.id} share no gene (other genes or another species); compare"
            " versions built over the same genes"
        )
    if len(shared) < 2:  # no k works: a gene has no neighbour ("give a k below 1" said so)
        raise GenekbError(
            f"{a.id} and {b.id} share 1 gene, which has no neighbours to compare; compare"
            " versions built over more of the same genes"
        )
    if len(shared) <= k:
        raise GenekbError(
            f"{a.id} and {b.id} share {len(shared)} genes; need more than k={k}: give a k"
            f" below {len(shared)} (-k)"
        )
    pos_a = {g: i for i, g in enumerate(ids_a)}
    pos_b = {g: i for i, g in enumerate(ids_b)}
    sub_a = mat_a[[pos_a[g] for g in shared]]
    sub_b = mat_b[[pos_b[g] for g in shared]]
    nn_a, nn_b = _neighbours(sub_a, k), _neighbours(sub_b, k)
    overlap = np.array([len(set(x) & set(y)) / k for x, y in zip(nn_a, nn_b, strict=True)])
    # What two unrelated spaces would share by chance: k / (n - 1).
    return {
        "a": a.id,
        "b": b.id,
        "model_a": a.spec.name,
        "model_b": b.spec.name,
        "n_genes": len(shared),
        "k": k,
        "mean_overlap": round(float(overlap.mean()), 4),
        "median_overlap": round(float(np.median(overlap)), 4),
        "chance_overlap": round(k / (len(shared) - 1), 4),
    }


def compare(versions: list[EmbeddingVersion], k: int = 10) -> list[dict[str, Any]]:
    if len(versions) < 2:
        raise UsageError("compare needs at least two embedding versions (ids or tags)")
    check_k(k)
    check_one_taxon(versions, "compare")
    return [neighbourhood_agreement(a, b, k) for a, b in combinations(versions, 2)]
