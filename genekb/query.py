"""Nearest genes by cosine similarity of their text vectors."""

from __future__ import annotations

from typing import Any

import numpy as np

from genekb.errors import GenekbError
from genekb.genemap import lookalike_note
from genekb.store.store import EmbeddingVersion


def similar(version: EmbeddingVersion, gene: str, k: int = 10) -> dict[str, Any]:
    """The `k` genes whose vectors are closest (cosine) to `gene`'s, excluding the gene itself.

    Fewer than `k` hits come back when the version holds fewer other genes.
    """
    if k < 1:
        raise GenekbError("k must be at least 1")
    query_row = int(version.rows_of([gene])[0])
    if query_row < 0:
        where = version.tag or version.id
        hint = lookalike_note([gene]) or "; build a store that holds it"
        raise GenekbError(f"gene {gene!r} is not in embedding {where}{hint}")
    ids, matrix = version.matrix()
    query_vec = matrix[query_row]
    norms = np.linalg.norm(matrix, axis=1) * max(float(np.linalg.norm(query_vec)), 1e-12)
    scores = matrix @ query_vec / np.maximum(norms, 1e-12)
    others = np.flatnonzero(np.arange(len(scores)) != query_row)
    top = others[np.argsort(-scores[others], kind="stable")[:k]]
    symbols = version.table(["symbol"]).column("symbol").to_pylist()
    return {
        "query": symbols[query_row],
        "embedding_id": version.id,
        "hits": [
            {"symbol": symbols[i], "gene_id": int(ids[i]), "score": round(float(scores[i]), 6)}
            for i in top
        ],
    }
