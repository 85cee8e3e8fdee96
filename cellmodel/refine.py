"""`refine(adata, store)`: cell embeddings refined through cell–gene associations (after scRCL,
Peng et al. 2025, arXiv 2512.10640; the torch module is `cellmodel.module.refine`), with the
gene–gene graph from the data, from gene knowledge, or both (`cellmodel.knowledge.gene_graph`).

Steps: the pipeline's structure input (log expression, highly variable genes, optional ComBat,
scaling, PCA by parallel analysis, the fit's kNN graph), gene features and the data graph from a
seeded sample of cells, the gene graph, then the refinement fit on mini-batches. Writes
obsm["X_refined"] and uns["refine"] (params, gene graph, steps, timings).
`cellmodel.cluster.refine_fit.refined_fit` is what `cluster --refine cell-gene` runs in place of
the graph encoder: k-means at k on the refined embedding (the pipeline's post-fit checks follow
as for the default). The number of steps is fixed in advance with a label-free plateau rule on
the training loss; labels never enter.
"""

from __future__ import annotations

from typing import Any

import anndata as ad

from cellmodel import io
from cellmodel._settings import DEFAULT_N_HVG
from cellmodel.arguments import check_count, check_flags, check_seed
from cellmodel.cluster.batch_column import batch_values, resolve_batch_key
from cellmodel.cluster.refine_fit import (
    GENE_RANK,
    MAX_GENE_CELLS,
    REFINE_KEY,
    REFINE_MODES,
    parse_gene_graph,
    refine_scaled,
    scaled_hvg,
)
from cellmodel.pp import graph
from cellmodel.uns_record import h5ad_safe
from genekb.errors import GenekbError
from genekb.store.store import Store

__all__ = [
    "GENE_RANK",
    "MAX_GENE_CELLS",
    "REFINE_KEY",
    "REFINE_MODES",
    "parse_gene_graph",
    "refine",
    "refine_scaled",
    "scaled_hvg",
]


def refine(
    adata: ad.AnnData, store: Store | None = None, *, gene_graph_spec: str = "data",
    gene_key: str | None = None, layer: str | None = None, batch_key: str | None = None,
    n_hvg: int = DEFAULT_N_HVG, n_neighbors: int = graph.FIT_N_NEIGHBORS, seed: int = 0,
    copy: bool = False, **options: Any,
) -> ad.AnnData:  # fmt: skip
    """Refine `adata`'s cells through cell–gene associations; writes obsm["X_refined"],
    obsm["X_pca_expr"] and uns["refine"]. `gene_graph_spec`: data | knowledge | both, optionally
    with a control ("knowledge:shuffled", see `parse_gene_graph`); knowledge needs `store` and
    gene names. `options`: `refine_scaled`'s keywords and `module.RefineConfig` fields."""
    # as cluster refuses them: a backed AnnData or a list failed inside anndata, seed=-1 inside
    # scikit-learn, copy="no" copied and n_hvg=0 ran on every gene
    io.require_anndata(adata)
    io.require_cells_named_once(adata)  # as cluster, embed, classify and annotate refuse them
    check_flags(copy=copy)
    check_seed(seed)
    check_count(n_hvg, "n_hvg")
    check_count(n_neighbors, "n_neighbors")
    if copy:
        adata = adata.copy()
    if adata.n_obs < 3:
        raise GenekbError(f"the data has {adata.n_obs} cell(s); refinement needs at least 3")
    parse_gene_graph(gene_graph_spec)
    batch = batch_values(adata, resolve_batch_key(adata, batch_key)[0])
    expr = io.expression(adata, layer=layer, gene_key=gene_key)
    X, genes = scaled_hvg(expr.X, expr.genes, batch, n_hvg)
    X_pca = graph.principal_components(X, "auto", seed)
    knn = graph.knn_graph(X_pca, n_neighbors, seed=seed)
    embedding, record = refine_scaled(
        X, genes, knn, store, gene_graph_spec=gene_graph_spec, seed=seed, **options
    )
    adata.obsm["X_refined"] = embedding
    adata.obsm["X_pca_expr"] = X_pca
    adata.uns[REFINE_KEY] = h5ad_safe(record)
    return adata
