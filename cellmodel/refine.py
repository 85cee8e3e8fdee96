"""`refine(adata, store)`: cell embeddings refined through cell–gene associations (after scRCL,
Peng et al. 2025, arXiv 2512.10640; the torch module is `cellmodel.module.refine`), with the
gene–gene graph from the data, from gene knowledge, or both (`cellmodel.gene_graph`).

Steps: the pipeline's structure input (log expression, highly variable genes, optional ComBat,
scaling, PCA by parallel analysis, the fit's kNN graph), gene features and the data graph from a
seeded sample of cells, the gene graph, then the refinement fit on mini-batches. Writes
obsm["X_refined"] and uns["refine"] (params, gene graph, steps, timings). `cluster_refined` is
`cluster --refine cell-gene`: k-means at k on the refined embedding, in place of the graph
encoder. The number of steps is fixed in advance with a label-free plateau rule on the training
loss; labels never enter.
"""

from __future__ import annotations

import time
from dataclasses import asdict, fields
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from cellmodel import gene_graph, graph, io
from cellmodel._settings import CLUSTER_KEY, DEFAULT_N_HVG, UNS_KEY
from cellmodel.module import refine as module
from genekb.errors import GenekbError, UsageError

REFINE_KEY = "refine"
REFINE_MODES = ("cell-gene",)
MAX_GENE_CELLS = 2000  # cells sampled for gene features and the correlation graph
GENE_RANK = 128  # width of the gene features (truncated SVD of that sample)


def structure_input(
    adata: ad.AnnData,
    *,
    layer: str | None,
    gene_key: str | None,
    batch: np.ndarray | None,
    n_hvg: int,
    n_neighbors: int,
    seed: int,
) -> tuple[np.ndarray, list[str], np.ndarray, graph.KnnGraph]:
    """Scaled HVG expression (cells × genes, dense float32), the HVG names, the PCA and the kNN
    graph: the same steps and defaults as the pipeline's `graph.structure_features`."""
    expr = io.expression(adata, layer=layer, gene_key=gene_key)
    X_log = graph.log_normalize(expr.X, "log")
    hvg = graph.highly_variable(X_log, n_hvg)
    X_hvg = X_log[:, hvg]
    if batch is not None:
        X_hvg = graph.combat(X_hvg, batch)
    X_scaled = graph.scale(X_hvg)
    X_pca = graph.principal_components(X_scaled, "auto", seed)
    knn = graph.knn_graph(X_pca, n_neighbors, seed=seed)
    genes = [g for g, keep in zip(expr.genes, hvg, strict=True) if keep]
    return X_scaled, genes, X_pca, knn


def _config(seed: int, options: dict[str, Any]) -> module.RefineConfig:
    names = {f.name for f in fields(module.RefineConfig)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise UsageError(f"unknown refine option(s) {', '.join(unknown)}; known: {sorted(names)}")
    return module.RefineConfig(**{**options, "seed": seed})


def _gene_graph(
    store: Any,
    X_sample: np.ndarray,
    genes: list[str],
    source: str,
    control: str,
    *,
    model: str,
    taxon: str | None,
    k: int,
    seed: int,
) -> tuple[Any, dict[str, Any]]:
    vectors = matched = None
    record: dict[str, Any] = {"source": source, "control": control, "k": k}
    if source not in gene_graph.SOURCES:
        raise UsageError(f"--gene-graph {source!r}: choose one of {', '.join(gene_graph.SOURCES)}")
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


def refine(
    adata: ad.AnnData,
    store: Any = None,
    *,
    gene_graph_source: str = "data",
    control: str = "real",
    model: str = "minilm",
    taxon: str | None = None,
    gene_key: str | None = None,
    layer: str | None = None,
    batch_key: str | None = None,
    n_hvg: int = DEFAULT_N_HVG,
    n_neighbors: int = graph.FIT_N_NEIGHBORS,
    gene_neighbors: int = gene_graph.DEFAULT_GENE_NEIGHBORS,
    seed: int = 0,
    copy: bool = False,
    **options: Any,
) -> ad.AnnData:
    """Refine `adata`'s cells through cell–gene associations; writes obsm["X_refined"],
    obsm["X_pca_expr"] and uns["refine"]. `gene_graph_source`: data | knowledge | both
    (knowledge needs `store` and gene names); `control`: real, or a control of that source
    (`gene_graph.CONTROLS`). `options` override `module.RefineConfig` fields."""
    from cellmodel.pipeline import batch_values, resolve_batch_key

    if copy:
        adata = adata.copy()
    if adata.n_obs < 3:
        raise GenekbError(f"the data has {adata.n_obs} cell(s); refinement needs at least 3")
    config = _config(seed, options)
    timings: dict[str, float] = {}
    tick = time.perf_counter()
    batch_key, _ = resolve_batch_key(adata, batch_key)
    batch = batch_values(adata, batch_key)
    X, genes, X_pca, knn = structure_input(
        adata,
        layer=layer,
        gene_key=gene_key,
        batch=batch,
        n_hvg=n_hvg,
        n_neighbors=n_neighbors,
        seed=seed,
    )
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(X.shape[0], min(X.shape[0], MAX_GENE_CELLS), replace=False))
    timings["structure_input"] = time.perf_counter() - tick
    tick = time.perf_counter()
    adjacency, record = _gene_graph(
        store,
        X[sample],
        genes,
        gene_graph_source,
        control,
        model=model,
        taxon=taxon,
        k=gene_neighbors,
        seed=seed,
    )
    features = module.gene_features(X[sample], GENE_RANK, seed)
    timings["gene_graph"] = time.perf_counter() - tick
    tick = time.perf_counter()
    fit = module.fit(
        X, module.propagate(X, knn.adjacency), knn.adjacency, features, adjacency, config
    )
    timings["fit"] = time.perf_counter() - tick
    adata.obsm["X_refined"] = fit.embedding
    adata.obsm["X_pca_expr"] = X_pca
    params = {
        **asdict(config),
        "n_hvg": len(genes),
        "n_neighbors": n_neighbors,
        "max_gene_cells": MAX_GENE_CELLS,
        "gene_rank": GENE_RANK,
        "batch_key": batch_key,
    }
    adata.uns[REFINE_KEY] = io.h5ad_safe(
        {
            "params": params,
            "gene_graph": record,
            "steps": fit.steps,
            "stopped": fit.stopped,
            "final_loss": round(float(fit.history[-1]), 6) if fit.history else None,
            "timings_s": {k: round(v, 3) for k, v in timings.items()},
        }
    )
    return adata


def cluster_refined(
    adata: ad.AnnData,
    store: Any = None,
    *,
    n_clusters: int | None = None,
    seed: int = 0,
    **refine_options: Any,
) -> ad.AnnData:
    """`cluster --refine cell-gene`: `refine`, then k-means (10 restarts) at `n_clusters` on
    X_refined; k is estimated label-free (Leiden on the refined kNN graph) when not given.
    Writes obs["cellmodel_cluster"] and uns["cellmodel"] beside `refine`'s outputs."""
    from sklearn.cluster import KMeans

    if n_clusters is not None and not 1 <= n_clusters <= adata.n_obs:
        raise UsageError(f"n_clusters={n_clusters} must be between 1 and the {adata.n_obs} cells")
    refine(adata, store, seed=seed, **refine_options)
    Z = adata.obsm["X_refined"]
    k = n_clusters
    if k is None:
        k = graph.estimate_k(graph.knn_graph(Z, graph.FIT_N_NEIGHBORS, seed=seed), seed=seed)
    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(Z)
    adata.obs[CLUSTER_KEY] = pd.Categorical(labels.astype(str), [str(i) for i in range(k)])
    adata.uns[UNS_KEY] = io.h5ad_safe(
        {
            "n_clusters": int(k),
            "k_estimated": n_clusters is None,
            "refine": "cell-gene",
            "gene_graph": adata.uns[REFINE_KEY]["gene_graph"]["source"],
        }
    )
    return adata
