"""Gene–gene graphs for the cell–gene refinement (`cellmodel.refine`): from the data (expression
correlation), from gene knowledge (nearest genes by their store vectors), or both; and the
controls that test them (knowledge from shuffled or random vectors, a degree-preserving rewiring
of the data graph). Every graph is a symmetric 0/1 CSR matrix over the data's genes, no self
loops; no torch here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from cellmodel.knowledge.genes import match_genes, require_gene_names
from cellmodel.knowledge.vectors import reference_table, vectors_for
from cellmodel.semantic import control_vectors, fit_isotropy, gene_matrix
from genekb.errors import GenekbError, UsageError
from genekb.store.store import Store
from genekb.templates import DEFAULT_TEMPLATE

SOURCES = ("data", "knowledge", "both")
# source:control pairs a run may ask for; "real" is no control.
CONTROLS = {
    "data": ("real", "rewired"),
    "knowledge": ("real", "shuffled", "random"),
    "both": ("real", "shuffled", "random", "rewired"),
}
DEFAULT_GENE_NEIGHBORS = 10


def _symmetric(rows: np.ndarray, cols: np.ndarray, n: int) -> sp.csr_matrix:
    keep = rows != cols
    m = sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (rows[keep], cols[keep])), (n, n))
    m.data[:] = 1.0
    out = m.maximum(m.T).tocsr()
    out.eliminate_zeros()
    return out


def top_k_graph(
    similarity: np.ndarray, k: int, eligible: np.ndarray | None = None
) -> sp.csr_matrix:
    """Each eligible gene linked to its `k` most similar eligible genes (union, symmetric)."""
    n = similarity.shape[0]
    idx = np.arange(n) if eligible is None else np.flatnonzero(eligible)
    if len(idx) < 2:
        return sp.csr_matrix((n, n), dtype=np.float32)
    sim = np.array(similarity[np.ix_(idx, idx)], dtype=np.float32)
    np.fill_diagonal(sim, -np.inf)
    k = min(k, len(idx) - 1)
    top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    return _symmetric(np.repeat(idx, k), idx[top.ravel()], n)


def correlation_graph(X: Any, k: int = DEFAULT_GENE_NEIGHBORS) -> sp.csr_matrix:
    """`data`: each gene's `k` most positively correlated genes over the cells of `X` (a sample
    of cells × genes; constant genes get no edges)."""
    X = np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float32)
    X = X - X.mean(axis=0)
    norm = np.linalg.norm(X, axis=0)
    varies = norm > 0
    Z = X / np.where(varies, norm, 1.0)
    return top_k_graph(Z.T @ Z, k, varies)


def vector_graph(
    vectors: np.ndarray, matched: np.ndarray, k: int = DEFAULT_GENE_NEIGHBORS
) -> sp.csr_matrix:
    """`knowledge`: each matched gene's `k` nearest matched genes by cosine of its vector
    (unmatched genes get no edges)."""
    V = np.asarray(vectors, dtype=np.float32)
    V = V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)
    return top_k_graph(V @ V.T, k, matched)


def rewire(graph: sp.spmatrix, seed: int, swaps_per_edge: int = 10) -> sp.csr_matrix:
    """A degree-preserving rewiring (double-edge swaps, Maslov & Sneppen 2002): every gene keeps
    its degree, who it links to is randomised."""
    import networkx as nx

    g = nx.from_scipy_sparse_array(sp.triu(graph, k=1).tocsr())
    n_edges = g.number_of_edges()
    if n_edges >= 2:
        nx.double_edge_swap(
            g, nswap=swaps_per_edge * n_edges, max_tries=100 * swaps_per_edge * n_edges, seed=seed
        )
    out = nx.to_scipy_sparse_array(g, nodelist=range(graph.shape[0]), format="csr")
    out.data[:] = 1.0
    return sp.csr_matrix(out, dtype=np.float32)


def knowledge_vectors(
    store: Store | None,
    genes: list[str],
    *,
    model: str = "minilm",
    taxon: str | None = None,
    build_missing: bool = True,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The store's vectors for the data's genes (zero rows for unmatched ones), the matched mask
    and the match report. Names that are not genes of a species raise a `UsageError` saying so."""
    if store is None:
        raise UsageError("the knowledge gene graph needs a genekb store (--store / GENEKB_HOME)")
    fix = "use gene_graph=data, or give symbols (gene_key=COLUMN) or taxon=human|mouse"
    taxon = require_gene_names(genes, taxon, "the knowledge gene graph", fix)
    _, table = reference_table(genes, taxon)
    reference = table.table.select(["gene_id", "symbol", "aliases", "ensembl"]).to_pandas()
    match = match_genes(genes, reference, store_taxon=table.snapshot.taxon, data_taxon=taxon)
    needed = sorted({int(g) for g in match.gene_ids[match.matched]})
    ev, _ = vectors_for(
        store, table, needed, model=model, template=_template(), build_missing=build_missing
    )
    vectors = gene_matrix(*ev.matrix(), match.gene_ids)
    matched = match.matched & (np.abs(vectors).sum(axis=1) > 0)
    if matched.sum() < 2:
        raise GenekbError(
            "fewer than 2 of the data's genes have store vectors; use gene_graph=data"
        )
    # The common direction of sentence vectors would make every gene near every other.
    vectors[matched] = fit_isotropy(vectors[matched]).apply(vectors[matched])
    return vectors, matched, match.report.to_dict()


def _template() -> str:
    return DEFAULT_TEMPLATE


def build(
    source: str,
    control: str,
    *,
    X_sample: Any,
    vectors: np.ndarray | None = None,
    matched: np.ndarray | None = None,
    k: int = DEFAULT_GENE_NEIGHBORS,
    seed: int = 0,
) -> sp.csr_matrix:
    """The gene graph of `source` under `control` ("real", "shuffled"/"random" for the knowledge
    vectors, "rewired" for the data graph). `X_sample`: cells × genes for the correlation;
    `vectors`/`matched`: from `knowledge_vectors` (knowledge and both)."""
    if source not in SOURCES:
        raise UsageError(f"gene graph {source!r} is not one of {', '.join(SOURCES)}")
    if control not in CONTROLS[source]:
        raise UsageError(
            f"control {control!r} does not apply to the {source} graph; choose one of"
            f" {', '.join(CONTROLS[source])}"
        )
    parts = []
    if source in ("data", "both"):
        data = correlation_graph(X_sample, k)
        parts.append(rewire(data, seed) if control == "rewired" else data)
    if source in ("knowledge", "both"):
        if vectors is None or matched is None:
            raise UsageError("the knowledge gene graph needs the store's gene vectors")
        mode = control if control in ("shuffled", "random") else "real"
        parts.append(vector_graph(control_vectors(vectors, matched, mode, seed), matched, k))
    out = parts[0] if len(parts) == 1 else parts[0].maximum(parts[1]).tocsr()
    return sp.csr_matrix(out, dtype=np.float32)
