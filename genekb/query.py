"""Nearest genes by cosine similarity of their text vectors."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from genekb.ensembl import foreign_prefixes, parse_ensembl
from genekb.errors import GenekbError, UsageError, check_whole, listed
from genekb.genemap import GeneIndex, lookalike_note
from genekb.store.store import EmbeddingVersion


def check_k(k: object) -> None:
    """`k` a whole number ≥ 1: a float failed deep inside NumPy ("slice indices must be
    integers")."""
    check_whole(k, "k")


def _check_gene(gene: object) -> None:
    """One gene name or GeneID: a list of names or None read as a gene "not in" the version."""
    if isinstance(gene, str):
        if not gene.strip():
            raise UsageError(
                f"give a gene name (symbol, alias, Ensembl or Entrez id), not {gene!r}"
            )
    elif isinstance(gene, bool) or not isinstance(gene, numbers.Integral):
        raise UsageError(
            f"gene={gene!r:.80} must be one gene name or GeneID; ask for each gene in its own call"
        )


def _not_found(version: EmbeddingVersion, gene: str | int) -> GenekbError:
    """Why `gene` has no row: a name several genes of the version share, or one it lacks."""
    where = version.tag or version.id
    if isinstance(gene, str):
        genes = version.text.table(["gene_id", "symbol", "aliases", "ensembl"]).to_pandas()
        index = GeneIndex.from_frame(genes)
        named = index.candidates(gene)
        if named:
            symbol = dict(zip(genes["gene_id"].tolist(), genes["symbol"].tolist(), strict=True))
            shown = listed((f"{symbol[g]} ({g})" for g in named), 5)
            return GenekbError(
                f"{gene!r} names {len(named)} genes of embedding {where}: {shown}; give one by its"
                " symbol or GeneID"
            )
        own = sorted({parsed.prefix for e in index.ensembl if (parsed := parse_ensembl(e))})
        if foreign_prefixes([gene], own):  # "build a store that holds it" would never help
            return GenekbError(
                f"gene {gene!r} is an Ensembl id of another species than embedding {where}'s"
                f" (taxon {version.taxon}, {', '.join(own)} ids); ask a version of its species"
                " (--ref, --taxon), or give this species' gene"
            )
    hint = lookalike_note([str(gene)[:80]]) or "; build a store that holds it"
    text = str(gene)
    shown = repr(gene) if len(text) <= 80 else f"{text[:60]!r}… ({len(text):,} characters)"
    return GenekbError(f"gene {shown} is not in embedding {where}{hint}")


def similar(version: EmbeddingVersion, gene: str | int, k: int = 10) -> dict[str, Any]:
    """The `k` genes whose vectors are closest (cosine) to `gene`'s, excluding the gene itself.

    Fewer than `k` hits come back when the version holds fewer other genes.
    """
    check_k(k)
    _check_gene(gene)
    gene = gene if isinstance(gene, str) else int(gene)
    query_row = int(version.rows_of([gene])[0])
    if query_row < 0:
        raise _not_found(version, gene)
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
