"""The fit behind `cluster(..., refine="cell-gene")` and `cellmodel.refine.refine`: the gene
graph (`cellmodel.knowledge.gene_graph`), gene features from a seeded sample of cells, and the
cell–gene refinement (`cellmodel.module.refine`) on the pipeline's HVG matrix and kNN graph.
Kept apart from the AnnData verb so the pipeline can call it without importing the verb's batch
handling.
"""

from __future__ import annotations

import time
from dataclasses import asdict, fields
from typing import Any

import anndata as ad
import numpy as np
from sklearn.cluster import KMeans

from cellmodel.cluster.fit import ClusterResult, relabel_by_size
from cellmodel.knowledge import gene_graph
from cellmodel.module import refine as module
from cellmodel.pp import graph
from cellmodel.uns_record import h5ad_safe
from genekb.errors import UsageError
from genekb.store.store import Store

REFINE_KEY = "refine"
REFINE_MODES = ("cell-gene",)
MAX_GENE_CELLS = 2000  # cells sampled for gene features and the correlation graph
GENE_RANK = 128  # width of the gene features (truncated SVD of that sample)


def parse_gene_graph(spec: str) -> tuple[str, str]:
    """The (source, control) of a gene-graph spec: "data", "knowledge", "both", or one of them
    with a control, e.g. "knowledge:shuffled", "knowledge:random", "data:rewired"."""
    source, _, control = spec.partition(":")
    if source not in gene_graph.SOURCES:
        raise UsageError(f"gene_graph={spec!r}: choose one of {', '.join(gene_graph.SOURCES)}")
    control = control or "real"
    if control not in gene_graph.CONTROLS[source]:
        controls = [c for c in gene_graph.CONTROLS[source] if c != "real"]
        raise UsageError(f"gene_graph={spec!r}: the {source} graph's controls are {controls}")
    return source, control


def scaled_hvg(
    X_log: Any, genes: list[str], batch: np.ndarray | None, n_hvg: int
) -> tuple[np.ndarray, list[str]]:
    """The pipeline's HVG matrix before its PCA (HVG, optional ComBat, scaling): cells × genes,
    dense float32, and those genes' names."""
    hvg = graph.hvg_columns(graph.highly_variable(X_log, n_hvg), genes)
    X_hvg = X_log[:, hvg]
    if batch is not None:
        X_hvg = graph.combat(X_hvg, batch)
    return graph.scale(X_hvg), [genes[c] for c in hvg]


def _config(seed: int, options: dict[str, Any]) -> module.RefineConfig:
    names = {f.name for f in fields(module.RefineConfig)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise UsageError(f"unknown refine option(s) {', '.join(unknown)}; known: {sorted(names)}")
    return module.RefineConfig(**{**options, "seed": seed})


def _gene_graph(
    store: Store | None, X_sample: np.ndarray, genes: list[str], spec: str, *, model: str,
    taxon: str | None, k: int, seed: int,
) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    source, control = parse_gene_graph(spec)
    vectors = matched = None
    record: dict[str, Any] = {"source": source, "control": control, "k": k}
    if source in ("knowledge", "both"):
        vectors, matched, report = gene_graph.knowledge_vectors(
            store, genes, model=model, taxon=taxon
        )
        record.update(n_matched=int(matched.sum()), match_rate=report.get("match_rate"))
    adjacency = gene_graph.build(
        source, control, X_sample=X_sample, vectors=vectors, matched=matched, k=k, seed=seed
    )
    degree = np.diff(adjacency.indptr)
    record.update(n_edges=int(adjacency.nnz // 2), isolated=int((degree == 0).sum()))
    return adjacency, record


def refine_scaled(
    X: np.ndarray, genes: list[str], knn: graph.KnnGraph, store: Store | None = None, *,
    gene_graph_spec: str = "data", model: str = "minilm", taxon: str | None = None,
    gene_neighbors: int = gene_graph.DEFAULT_GENE_NEIGHBORS, seed: int = 0, **options: Any,
) -> tuple[np.ndarray, dict[str, Any]]:  # fmt: skip
    """The refined embedding of the cells of `X` (scaled HVG expression, `genes` its names) over
    the kNN graph `knn`, and the uns["refine"] record."""
    config = _config(seed, options)
    timings: dict[str, float] = {}
    tick = time.perf_counter()
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(X.shape[0], min(X.shape[0], MAX_GENE_CELLS), replace=False))
    adjacency, record = _gene_graph(
        store, X[sample], genes, gene_graph_spec, model=model, taxon=taxon, k=gene_neighbors,
        seed=seed,
    )  # fmt: skip
    features = module.gene_features(X[sample], GENE_RANK, seed)
    timings["gene_graph"] = time.perf_counter() - tick
    tick = time.perf_counter()
    X_prop = module.propagate(X, knn.adjacency)
    fit = module.fit(X, X_prop, knn.adjacency, features, adjacency, config)
    timings["fit"] = time.perf_counter() - tick
    params = {**asdict(config), "n_hvg": len(genes), "n_neighbors": knn.n_neighbors,
              "max_gene_cells": MAX_GENE_CELLS, "gene_rank": GENE_RANK}  # fmt: skip
    return fit.embedding, {
        "params": params, "gene_graph": record, "steps": fit.steps, "stopped": fit.stopped,
        "final_loss": round(float(fit.history[-1]), 6) if fit.history else None,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }  # fmt: skip


def refined_fit(
    adata: ad.AnnData, store: Store | None, expr: Any, batch: np.ndarray | None,
    knn: graph.KnnGraph, n_clusters: int | None, *, n_hvg: int, seed: int, **options: Any,
) -> Any:  # fmt: skip
    """`cluster --refine cell-gene`'s fit: the refined embedding of the pipeline's own input
    (`expr`, `batch`, its kNN graph), k-means (10 restarts) at `n_clusters` on it, or at k
    estimated label-free (Leiden on the refined kNN graph). Writes obsm["X_refined"] and
    uns["refine"]; returns a `ClusterResult` the pipeline's post-fit checks take as the
    encoder's."""
    tick = time.perf_counter()
    X, genes = scaled_hvg(expr.X, expr.genes, batch, n_hvg)
    Z, record = refine_scaled(X, genes, knn, store, seed=seed, **options)
    k = n_clusters
    if k is None:
        k = graph.estimate_k(graph.knn_graph(Z, graph.FIT_N_NEIGHBORS, seed=seed), seed=seed)
    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(Z)
    adata.obsm["X_refined"] = Z
    adata.uns[REFINE_KEY] = h5ad_safe(record)
    timings = {**record["timings_s"], "total": time.perf_counter() - tick}
    return ClusterResult(
        labels=relabel_by_size(labels), latent=Z, structure=Z, n_clusters=int(k),
        k_estimated=n_clusters is None, timings=timings, history=[],
        params={"refine": "cell-gene", **record["params"]},
        notes=[f"refined through cell-gene associations ({record['gene_graph']['source']} gene"
               f" graph, {record['gene_graph']['control']}); k-means on X_refined"],
    )  # fmt: skip
