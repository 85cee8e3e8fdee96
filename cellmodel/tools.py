"""The steps of a run for a Python session (`cm.tl`, which loads this module when one of its
names is first used), in scanpy's shape: AnnData first, keywords
after, results where the command line writes them (obs / obsm / uns), in place or, with
`copy=True`, in a new AnnData that is returned.

Each function is a thin shell over the library call its command runs, with the command's
defaults read from the run dataclasses, their one home (`ClusterRun`, `AnnotateParams`,
`SemanticParams`, `ClassifyOptions`; the command line writes them out for a quick `--help` and
tests/test_cli_defaults.py holds it to them), and the same refusals come from the same checks.
A store is a genekb `Store` or its path; None opens the default root (`$GENEKB_HOME`, else
`./artifacts`), as the command line without `--root` does. Steps that take a while show a
progress bar unless `cm.settings.verbosity` is 0.
"""

from __future__ import annotations

import os
from typing import Any

from cellmodel._settings import CLUSTER_KEY, EXPLAIN_UNS_KEY, PREDICTION_KEY
from cellmodel.annotate.params import AnnotateParams
from cellmodel.arguments import check_flags, refuse_unknown_options
from cellmodel.classify.options import DEFAULT_K, ClassifyOptions
from cellmodel.cluster.options import ClusterRun
from cellmodel.embed import SemanticParams
from cellmodel.explain import DEFAULT_TOP_N
from genekb.errors import UsageError
from genekb.progress import notice, stage_bars
from genekb.store.store import Store

__all__ = ["annotate", "classify", "cluster", "embed", "explain"]

StoreLike = Store | str | os.PathLike[str] | None
# The command line's `--batch-key` unset: the column a registry dataset names, if any.
BATCH_KEY_DEFAULT = "auto"


def _store(store: StoreLike) -> Store:
    from genekb.api import open_store

    return open_store(store, create=True)


def _embed_options(build: bool = True) -> dict[str, Any]:
    return {"build_missing": build, "all_genes": False, "notify": notice}


def cluster(
    adata: Any,
    store: StoreLike = None,
    *,
    n_clusters: int | None = ClusterRun.n_clusters,
    use_semantic: bool = ClusterRun.use_semantic,
    model: str = ClusterRun.model,
    batch_key: str | None = BATCH_KEY_DEFAULT,
    label_key: str | None = ClusterRun.label_key,
    seed: int = ClusterRun.seed,
    device: str | None = ClusterRun.device,
    key_added: str = ClusterRun.key_added,
    copy: bool = False,
    **options: Any,
) -> Any:
    """Cluster the cells (`cellmodel cluster`): a graph encoder on the kNN graph of the
    expression's PCA, label-free checks after, and the semantic view for `explain`.

    Writes `obs["cellmodel_cluster"]` (categorical), `obsm["X_cellmodel"]`, `obsm["X_structure"]`,
    `obsm["X_pca_expr"]`, the semantic view (`obsm["X_semantic*"]`) and `uns["cellmodel"]`
    (parameters, provenance, gene match; `metrics` when `label_key` names reference labels, read
    only after the run to score it). `n_clusters=None` estimates k. `options`: any other field of
    `ClusterRun` (align_semantic, ensemble, batch_choice, merge_split, refine, gene_graph,
    gene_vectors, taxon, gene_key, layer, n_hvg, n_pcs, ...) or `ClusterOptions` (the fit's
    tunables), as `cellmodel cluster --option` takes them. The store is opened only when the
    genes carry names the semantic view can read. `key_added`: another obs column for the
    clusters, with the run's record in `uns[key_added]` and its latents in
    `obsm["X_" + key_added]` (`_structure`, `_pca_expr` beside it), so a second clustering keeps
    the first's (as sc.tl.leiden's key_added; the semantic view is shared).

    Examples
    --------
    >>> import cellmodel as cm
    >>> adata = cm.pp.read("pbmc68k-reduced")
    >>> cm.tl.cluster(adata, n_clusters=10, seed=0)
    >>> adata.obs["cellmodel_cluster"].cat.categories.size
    10
    """
    from cellmodel.cluster.inputs import names_genes
    from cellmodel.cluster.job import cluster as run_cluster
    from cellmodel.io import require_anndata

    require_anndata(adata)  # before its genes are read to decide whether the store is opened
    build = options.pop("build", True)
    check_flags(use_semantic=use_semantic, copy=copy, build=build)
    knowledge = options.get("refine") is not None and not str(
        options.get("gene_graph", ClusterRun.gene_graph)
    ).startswith("data")
    semantic = use_semantic and names_genes(adata, options.get("taxon"), options.get("gene_key"))
    opened = _store(store) if semantic or knowledge else None
    with stage_bars() as progress:
        out = run_cluster(
            adata, opened, n_clusters=n_clusters, use_semantic=use_semantic, model=model,
            batch_key=batch_key, label_key=label_key, seed=seed, device=device, copy=copy,
            key_added=key_added, progress=progress, embed_options=_embed_options(build),
            **options,
        )  # fmt: skip
    return out if copy else None


def annotate(
    adata: Any,
    store: StoreLike = None,
    *,
    groupby: str | None = None,
    candidates: list[str] | None = None,
    ontology_subtree: str | None = None,
    tissue: str | None = None,
    method: str = AnnotateParams.method,
    model: str = AnnotateParams.model,
    gene_vectors: str = AnnotateParams.gene_vectors,
    seed: int = AnnotateParams.seed,
    per_cell: bool = False,
    key_added: str = AnnotateParams.key_added,
    copy: bool = False,
    **options: Any,
) -> Any:
    """Name each group of cells zero-shot from its marker genes' knowledge (`cellmodel annotate`).

    `groupby`: the obs column of the groups (default: `cellmodel_cluster`). `candidates`: cell-type
    labels (free text or CL ids); None takes Cell Ontology cell types, narrowed by
    `ontology_subtree` (a CL id, a label, or words naming one term: "T cells") and/or `tissue`
    (a word; a sample type such as "PBMC" reads as its cells' subtree, leukocyte). Writes
    `obs["cellmodel_annotation"]` and the report (every ranking, its margin, the evidence genes)
    in `uns["cellmodel"]["annotate"]`; `per_cell` also calls each cell. `key_added`: another obs
    column for the names (its `_confidence`, `_cell` columns beside it) and the report in
    `uns[key_added]`, so annotating a second grouping keeps the first's names. `options`: the
    other settings of `cellmodel.annotate.annotate` (markers, n_markers, top_k, hubness, ...;
    resamples=4 checks each lineage-first call on four draws of 4 in 5 cells).

    Examples
    --------
    >>> import cellmodel as cm
    >>> cm.tl.annotate(adata, ontology_subtree="CL:0000738")  # leukocyte types
    >>> adata.uns["cellmodel"]["annotate"]["params"]["method"]
    'combined'
    """
    from cellmodel.annotate import annotate as run_annotate

    refuse_unknown_options(options, annotate, run_annotate)
    check_flags(per_cell=per_cell, copy=copy)
    with stage_bars():  # the gene cards the store lacks are embedded under a bar
        out = run_annotate(
            adata, _store(store), groupby=groupby, candidates=candidates,
            ontology_subtree=ontology_subtree, tissue=tissue, method=method, model=model,
            gene_vectors=gene_vectors, seed=seed, per_cell=per_cell, key_added=key_added,
            copy=copy, **options,
        )  # fmt: skip
    return out if copy else None


def classify(
    adata: Any,
    label_key: str | None = None,
    *,
    train_fraction: float | None = None,
    per_class: int | None = None,
    train_mask: Any = None,
    view: str = "pca",
    store: StoreLike = None,
    model: str = "minilm",
    k: int = DEFAULT_K,
    refine: bool = True,
    seed: int = 0,
    device: str = "cpu",
    key_added: str = PREDICTION_KEY,
    copy: bool = False,
    **options: Any,
) -> Any:
    """Few-label classification (`cellmodel classify`): contrastive refinement of a cell view
    from the labelled cells, then a kNN vote, beside logistic-regression and unrefined-kNN
    baselines.

    `obs[label_key]` holds the labels; the training cells are `train_fraction` or `per_class`
    of each class (a stratified, seeded split) or `train_mask` (an obs column or booleans); the
    rest are predicted and scored. `view`: pca, semantic or fused (the semantic ones read the
    store). `options`: `ClassifyOptions` fields (vote, n_markers, marker_block, blend, ...) or
    `reference` / `reference_label_key` / `small_classes` / `gene_vectors` / `layer` /
    `gene_key` of `cellmodel.classify.classify_cells`. Writes `obs[key_added]`,
    `obs[key_added + "_confidence"]`, `obs[key_added + "_train"]`, `obsm["X_classify"]` (the
    refined view; with `refine=False` none, and the last run's is removed) and
    `uns["cellmodel_classify"]` (scores, baselines, parameters); another `key_added` writes its
    view and record to `obsm["X_" + key_added]` and `uns[key_added]`, so each run's survive the
    next under another key. Its per-class tables are
    columns beside a "class" column, so names with "/" survive an .h5ad;
    `cellmodel.classify.by_class(t)` keys one by class name (`genes_by_class` the markers).

    Examples
    --------
    >>> import cellmodel as cm
    >>> adata = cm.pp.read("pbmc68k-reduced")
    >>> cm.tl.classify(adata, "bulk_labels", per_class=10, small_classes="cap", seed=0)
    >>> sorted(adata.uns["cellmodel_classify"]["comparisons"])  # the baselines beside it
    ['knn', 'logreg-pca']
    """
    from cellmodel.classify import classify_cells, with_options
    from cellmodel.io import require_anndata

    names = set(ClassifyOptions.__dataclass_fields__)
    refuse_unknown_options(
        options, classify, classify_cells, extra=names, passed=("refine_view", "options")
    )
    tunables = {key: options.pop(key) for key in list(options) if key in names}
    settings = with_options(**tunables)
    require_anndata(adata)  # before the copy: a backed AnnData cannot even be copied
    check_flags(refine=refine, copy=copy)
    if view == "pca" and (store is not None or model != "minilm"):  # as the command line refuses
        raise UsageError(
            "store= and model= build the semantic view, which view='pca' leaves out: give"
            " view='semantic' (or 'fused'), or drop them"
        )
    opened = _store(store) if view != "pca" else None
    out = adata.copy() if copy else adata
    with stage_bars():  # the refinement's epochs, under a bar
        classify_cells(
            out, label_key=label_key, train_fraction=train_fraction, per_class=per_class,
            train_mask=train_mask, view=view, store=opened, model=model, k=k, refine_view=refine,
            seed=seed, device=device, options=settings, key_added=key_added, **options,
        )  # fmt: skip
    return out if copy else None


def explain(
    adata: Any,
    store: StoreLike = None,
    *,
    cluster_key: str = CLUSTER_KEY,
    top_n: int = DEFAULT_TOP_N,
    copy: bool = False,
) -> Any:
    """Explain each cluster (`cellmodel explain`): the genes whose text moves its semantic
    centroid most, its marker genes, and their descriptions from the store.

    `store`: None reads the store the file was clustered with (`uns["cellmodel"]["store_root"]`);
    a file clustered without the semantic view is explained by its markers alone, described from
    the bundled gene snapshot. Writes the report into `uns["cellmodel_explain"]`: tables
    `markers` and `semantic_genes` (a row per cluster × rank: gene, score, description; a
    contributor's `direction` says whether it is higher or lower in the cluster) and the whole
    report as `json`.

    Examples
    --------
    >>> import cellmodel as cm
    >>> cm.tl.explain(adata, top_n=5)
    >>> adata.uns["cellmodel_explain"]["markers"].query("rank == 1")[["cluster", "gene"]].head(2)
    """
    from cellmodel.explain import explain as run_explain
    from cellmodel.explain import store_of

    check_flags(copy=copy)
    report = run_explain(adata, store_of(adata, store), cluster_key=cluster_key, top_n=top_n)
    out = adata.copy() if copy else adata
    out.uns[EXPLAIN_UNS_KEY] = explain_record(report)
    return out if copy else None


def explain_record(report: dict[str, Any]) -> dict[str, Any]:
    """What `explain` keeps in uns (h5ad-safe): one table per list, a row per cluster × rank,
    and the whole report as JSON (`json.loads` gives back what `cellmodel explain --json`
    prints)."""
    import json

    import pandas as pd

    tables = {}
    for kind in ("markers", "semantic_genes"):
        rows = [
            {"cluster": entry["cluster"], "rank": rank, **gene}
            for entry in report["clusters"]
            for rank, gene in enumerate(entry.get(kind, []), 1)
        ]
        tables[kind] = pd.DataFrame(rows).astype({"cluster": str}) if rows else pd.DataFrame()
    params = {"cluster_key": report["cluster_key"], "n_clusters": report["n_clusters"]}
    return {"params": params, **tables, "json": json.dumps(report)}


def embed(
    adata: Any,
    store: StoreLike = None,
    *,
    model: str = "minilm",
    gene_vectors: str = SemanticParams.gene_vectors,
    seed: int = SemanticParams.seed,
    copy: bool = False,
    **options: Any,
) -> Any:
    """The dual-path semantic view of each cell (`cellmodel embed`): its genes' text vectors
    weighted by its expression (`obsm["X_semantic_w"]`), the sentence of its top genes embedded
    (`obsm["X_semantic_s"]`), and the two fused (`obsm["X_semantic"]`); provenance and the gene
    match in `uns["cellmodel"]`. Vectors the store lacks are built (a bar shows the encoder at
    work); `build=False` refuses instead. `options`: `SemanticParams` fields (weighting,
    sentence_top_n, fusion, ...), taxon, gene_key, layer, all_genes.

    Examples
    --------
    >>> import cellmodel as cm
    >>> cm.tl.embed(adata, sentence_top_n=0)  # the weighted path only
    >>> adata.obsm["X_semantic_w"].shape
    (700, 384)
    """
    from cellmodel.embed import embed as run_embed

    build = options.pop("build", True)
    check_flags(build=build, copy=copy)
    refuse_unknown_options(
        options, embed, run_embed, passed=("store_or_ev", "build_missing", "progress", "notify")
    )
    with stage_bars() as progress:
        out = run_embed(
            adata, _store(store), model=model, gene_vectors=gene_vectors, seed=seed,
            build_missing=build, progress=progress, notify=notice, copy=copy, **options,
        )  # fmt: skip
    return out if copy else None
