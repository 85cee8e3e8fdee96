"""`cluster(adata, store)`: the main job, AnnData in and out (scanpy's shape; the torch module lives
in `cellmodel.model`, the fitting procedure in `cellmodel.cluster`).

Steps: read and normalize the expression (`cellmodel.io`), optional ComBat on a batch column, PCA
over highly variable genes and a sparse kNN graph (`cellmodel.graph`), the semantic view from the
genekb store (`cellmodel.embed`), then the graph-encoder clustering
(`cellmodel.cluster.fit_clusters`), with the semantic view aligned into it only on request.
Labels never enter: `score` compares the result with reference labels afterwards.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from cellmodel import graph, io
from cellmodel._settings import CLUSTER_KEY, DEFAULT_N_HVG, DEFAULT_N_PCS, UNS_KEY
from cellmodel.batch_choice import choose_fit as choose_by_batch
from cellmodel.cluster import ClusterResult, fit_clusters, relabel_by_size
from cellmodel.consensus import encoder_kmeans_consensus, ensemble_choice
from cellmodel.genes import NEEDS_NAMES, NoGeneNamesWarning, read_gene_names
from cellmodel.merge_split import merge_split as check_in_pca
from genekb.device import resolve_device
from genekb.errors import GenekbError, UsageError


def cluster(
    adata: ad.AnnData,
    store: Any = None,
    *,
    n_clusters: int | None = None,
    use_semantic: bool = True,
    align_semantic: bool = False,
    model: str = "minilm",
    gene_vectors: str = "real",
    control_seed: int | None = None,
    taxon: str | None = None,
    gene_key: str | None = None,
    layer: str | None = None,
    batch_key: str | None = None,
    n_hvg: int = DEFAULT_N_HVG,
    n_pcs: int | str = "auto",
    n_neighbors: int = graph.FIT_N_NEIGHBORS,
    seed: int = 0,
    device: str | None = None,
    embed_options: dict[str, Any] | None = None,
    progress: Any = None,
    copy: bool = False,
    label_key: str | None = None,
    ensemble: bool = False,
    batch_choice: bool = True,
    merge_split: bool = True,
    consensus: bool = False,
    refine: str | None = None,
    gene_graph: str = "data",
    **cluster_options: Any,
) -> ad.AnnData:
    """Cluster `adata`'s cells; writes obs["cellmodel_cluster"], obsm["X_cellmodel"],
    obsm["X_structure"], obsm["X_pca_expr"], the semantic matrices and uns["cellmodel"].

    `store`: a `genekb.store.Store` (needed when `use_semantic`). `use_semantic` computes the
    semantic view (obsm, and what `cellmodel explain` decomposes); `align_semantic` also feeds it
    to the fit (contrastive alignment + fused latent). Measured on pbmc68k-reduced and Baron, the
    aligned fit scores lower than the structure fit with real, shuffled or random gene vectors
    alike (docs/cluster_experiments.md), so it is off by default and the semantic view then skips
    the sentence path (explanations use the weighted path). `control_seed`: the seed of the
    shuffled/random gene-vector controls (default: `seed`). `n_clusters=None` estimates k
    label-free. `batch_key`: an obs column of a technical covariate (donor, run; never the labels)
    removed by ComBat before the PCA and by per-batch centring of the semantic view; "auto": the
    column the dataset registry names for these data (`uns["dataset"]["batch_key"]`), if any.
    `label_key`: an obs column of reference labels, read only after the run has ended to score
    it (`score`; recorded in `uns["cellmodel"]["metrics"]`).
    `ensemble`: keep, of the graph encoder's partition, a k-means consensus on the PCA and
    Leiden at k, the one that agrees best with the ensemble (`cellmodel.consensus`); off by
    default, as it measured below the graph encoder alone on the registry datasets
    (docs/cluster_experiments.md, "Robustness").
    `batch_choice` (with a batch column, unless `link_weight` is given): also fit the
    link-reconstruction candidate, find Leiden's communities at the same k, and keep the
    partition least explained by the batch (`cellmodel.batch_choice`); on batched data that is a
    second fit plus the Leiden runs, more than twice the fit time.
    `merge_split`: check the finished partition in the PCA and keep the merge-split moves that
    remove variance, raise the silhouette and, with a batch column, do not raise the clusters'
    information about the batch (`cellmodel.merge_split`; k is kept).
    `consensus`: at the end, merge the partition with a consensus of k-means runs on the PCA
    into one (`cellmodel.consensus.encoder_kmeans_consensus`; k is kept).
    `n_pcs`: principal components of the structure input; "auto" keeps those above noise by
    parallel analysis (`graph.parallel_analysis`, at most `DEFAULT_N_PCS`).
    `cluster_options` override `cellmodel.cluster.ClusterOptions` fields.
    `refine="cell-gene"` over `gene_graph`: `cellmodel.refine_fit.refined_fit` replaces the encoder.
    Gene names are optional: when they name no species (`cellmodel.genes.read_gene_names`: feature
    ids, numbers, another species' genes) and no `taxon` is given, the semantic view is skipped
    with one `NoGeneNamesWarning` and the default fit, which reads the expression alone, runs.
    """
    if copy:
        adata = adata.copy()
    n_cells = adata.n_obs
    if n_cells < 3:
        raise GenekbError(f"the data has {n_cells} cell(s); clustering needs at least 3")
    if n_clusters is not None and not 1 <= n_clusters <= n_cells:
        raise UsageError(f"n_clusters={n_clusters} must be between 1 and the {n_cells} cells")
    if label_key is not None and label_key not in adata.obs:
        raise GenekbError(
            f"label key {label_key!r} is not an obs column; choose from {list(adata.obs.columns)}"
        )
    device = resolve_device(device)
    batch_key, batch_note = resolve_batch_key(adata, batch_key)
    batch = batch_values(adata, batch_key)
    timings: dict[str, float] = {}
    start = time.perf_counter()

    tick = time.perf_counter()
    expr = io.expression(adata, layer=layer, gene_key=gene_key)
    totals = np.asarray(expr.X.sum(axis=1)).ravel()
    empty = int((totals == 0).sum())
    if empty == n_cells:
        raise GenekbError("every cell has zero expression; check the layer or the input file")
    notes = list(expr.notes) + batch_note
    if empty:
        notes.append(f"{empty} cell(s) have no expression at all; they are clustered by graph only")
    use_semantic, taxon, gene_names = _read_names(
        expr.genes, taxon, model, use_semantic, align_semantic
    )
    X_pca = graph.structure_features(
        expr.X, kind="log", n_hvg=n_hvg, n_pcs=n_pcs, batch=batch, seed=seed
    )
    knn = graph.knn_graph(X_pca, n_neighbors, seed=seed)
    timings["structure_input"] = time.perf_counter() - tick

    if align_semantic and not use_semantic:
        raise UsageError("align_semantic needs the semantic view (use_semantic=True)")
    semantic, record = None, {}
    if use_semantic:
        tick = time.perf_counter()
        options = dict(embed_options or {})
        if not align_semantic:
            options.setdefault("sentence_top_n", 0)
        control = seed if control_seed is None else control_seed
        semantic = _semantic_view(
            adata, store, batch, model=model, taxon=taxon, gene_key=gene_key, layer=layer,
            gene_vectors=gene_vectors, seed=control, progress=progress, options=options,
        )  # fmt: skip
        record = dict(adata.uns[UNS_KEY])
        timings["semantic"] = time.perf_counter() - tick

    def fit(**options: Any) -> ClusterResult:
        fit_semantic = semantic if align_semantic else None
        return fit_clusters(
            X_pca, knn, fit_semantic, n_clusters, seed=seed, device=device, **options
        )

    tick = time.perf_counter()
    if refine is not None:
        result = _refined(adata, store, expr, batch, knn, n_clusters, refine, gene_graph, model,
                          taxon, n_hvg, seed)  # fmt: skip
    else:
        result = fit(**cluster_options)
    timings["fit"] = time.perf_counter() - tick
    with_batch = batch_choice and "link_weight" not in cluster_options and refine is None
    labels, result, checks = _checks(
        result, lambda **link: fit(**cluster_options, **link), X_pca, knn.adjacency, batch, seed,
        batch_choice=with_batch, ensemble=ensemble, merge_split=merge_split, consensus=consensus,
        timings=timings,
    )  # fmt: skip
    timings["total"] = time.perf_counter() - start
    n_labels = int(labels.max()) + 1  # Leiden at k can miss k by one when no resolution hits it

    adata.obs[CLUSTER_KEY] = pd.Categorical(
        labels.astype(str), categories=[str(i) for i in range(max(result.n_clusters, n_labels))]
    )
    adata.obsm["X_cellmodel"] = result.latent
    adata.obsm["X_structure"] = result.structure
    adata.obsm["X_pca_expr"] = X_pca
    record.update(checks)
    record.update(
        {
            "n_clusters": int(result.n_clusters),
            "k_estimated": bool(result.k_estimated),
            "use_semantic": use_semantic,
            "gene_names": gene_names,
            "align_semantic": bool(use_semantic and align_semantic),
            "batch_key": batch_key,
            "consensus": bool(consensus),
            "refine": refine,
            "gene_vectors": gene_vectors if use_semantic else None,
            "input": expr.to_dict(),
            "cluster_params": io.h5ad_safe(result.params),
            "structure_params": _structure_params(n_hvg, X_pca, n_pcs, n_neighbors),
            "fit_timings_s": {k: round(float(v), 3) for k, v in result.timings.items()},
            "pipeline_timings_s": {k: round(v, 3) for k, v in timings.items()},
            "notes": notes + list(result.notes),
        }
    )
    if label_key is not None:
        # Labels are read only here, after the run has ended.
        record.update(metrics=score(adata, label_key), label_key=label_key)
    adata.uns[UNS_KEY] = io.h5ad_safe(record)
    return adata


def _refined(
    adata: ad.AnnData, store: Any, expr: Any, batch: np.ndarray | None, knn: Any,
    n_clusters: int | None, refine: str, gene_graph: str, model: str, taxon: str | None,
    n_hvg: int, seed: int,
) -> ClusterResult:  # fmt: skip
    from cellmodel.refine_fit import REFINE_MODES, refined_fit

    if refine not in REFINE_MODES:
        raise UsageError(f"refine={refine!r}: choose one of {', '.join(REFINE_MODES)}")
    return refined_fit(adata, store, expr, batch, knn, n_clusters, n_hvg=n_hvg, seed=seed,
                       gene_graph_spec=gene_graph, model=model, taxon=taxon)  # fmt: skip


def _semantic_view(
    adata: ad.AnnData,
    store: Any,
    batch: np.ndarray | None,
    *,
    options: dict[str, Any],
    **embed_keywords: Any,
) -> np.ndarray:
    """The semantic view written into `adata` (`cellmodel.embed`), centred per batch when a batch
    column is given."""
    if store is None:
        raise UsageError("the semantic view needs a genekb store (or pass use_semantic=False)")
    from cellmodel.embed import embed

    embed(adata, store, **embed_keywords, **options)
    semantic = adata.obsm["X_semantic"]
    return centre_per_batch(semantic, batch) if batch is not None else semantic


def _checks(
    result: ClusterResult,
    refit: Any,
    X_pca: np.ndarray,
    adjacency: Any,
    batch: np.ndarray | None,
    seed: int,
    *,
    batch_choice: bool,
    ensemble: bool,
    merge_split: bool,
    consensus: bool,
    timings: dict[str, float],
) -> tuple[np.ndarray, ClusterResult, dict[str, Any]]:
    """The label-free steps after the fit, in order: the batch choice (`refit(**link)` fits the
    link-reconstruction candidate), the ensemble choice, the merge-split check and the k-means
    consensus. Returns the labels, the result they rest on, and each step's record."""
    labels, by_batch, choice, checked = result.labels, None, None, None
    if batch is not None and batch_choice:
        tick = time.perf_counter()
        labels, result, by_batch = choose_by_batch(result, refit, adjacency, batch, seed)
        timings["batch_choice"] = time.perf_counter() - tick
    if ensemble and result.n_clusters > 1:
        tick = time.perf_counter()
        choice = ensemble_choice(X_pca, adjacency, labels, result.n_clusters, seed)
        labels = relabel_by_size(choice.labels)
        timings["ensemble"] = time.perf_counter() - tick
    if merge_split:
        tick = time.perf_counter()
        checked = check_in_pca(X_pca, labels, seed, batch=batch)
        if checked.moves:
            labels = relabel_by_size(checked.labels)
        timings["merge_split"] = time.perf_counter() - tick
    if consensus and result.n_clusters > 1:
        tick = time.perf_counter()
        merged = encoder_kmeans_consensus(X_pca, labels, result.n_clusters, seed)
        labels = relabel_by_size(merged)
        timings["consensus"] = time.perf_counter() - tick
    records = {
        "ensemble": None if choice is None else choice.to_dict(),
        "batch_choice": None if by_batch is None else by_batch.to_dict(),
        "merge_split": None if checked is None else checked.to_dict(),
    }
    return labels, result, records


def _structure_params(
    n_hvg: int, X_pca: np.ndarray, n_pcs: int | str, n_neighbors: int
) -> dict[str, Any]:
    rule = f"parallel analysis, at most {DEFAULT_N_PCS}" if n_pcs == "auto" else "given"
    return {
        "n_hvg": n_hvg,
        "n_pcs": int(X_pca.shape[1]),
        "n_pcs_rule": rule,
        "n_neighbors": n_neighbors,
    }


def _is_encoder(model: str) -> bool:
    """Whether `model` names an encoder (matched against the bundled snapshot) rather than a
    store version, whose own genes are the reference."""
    from genekb.encoders import registry

    try:
        registry.resolve(model)
    except UsageError:
        return False
    return True


def _read_names(
    genes: list[str], taxon: str | None, model: str, use_semantic: bool, align_semantic: bool
) -> tuple[bool, str | None, dict[str, Any]]:
    """Whether the semantic view can run on these gene names, the species they name, and how
    the names read (for `uns`). Unnamed genes (no species, or names that are not genes) turn the
    view off with one warning: the default fit reads the expression alone. A store version
    given as `model` is matched on its own genes, so its names are not checked here."""
    if not use_semantic or not _is_encoder(model):
        return use_semantic, taxon, {"checked": False}
    names = read_gene_names(genes, taxon)
    record = {"checked": True, "named": names.named, "taxon": names.taxon, "note": names.note}
    if names.named:
        return True, names.taxon, record
    if align_semantic:
        raise UsageError(f"{names.note}; align_semantic needs gene names ({NEEDS_NAMES})")
    message = f"{names.note}: clustered on the expression alone; {NEEDS_NAMES}"
    warnings.warn(message, NoGeneNamesWarning, stacklevel=3)
    return False, None, record


def resolve_batch_key(adata: ad.AnnData, batch_key: str | None) -> tuple[str | None, list[str]]:
    """The batch column to correct for, and a note when it was chosen for the caller: "auto" is
    the column the dataset registry names for these data (recorded in `uns["dataset"]`), if
    present; "none" (any case) or None is no correction."""
    if batch_key is None or batch_key.lower() == "none":
        return None, []
    if batch_key != "auto":
        return batch_key, []
    entry = adata.uns.get("dataset", {})
    key = entry.get("batch_key") if isinstance(entry, dict) else None
    if key and key in adata.obs:
        return str(key), [f"corrected for the dataset's batch column {key!r} (batch_key='auto')"]
    return None, []


def batch_values(adata: ad.AnnData, batch_key: str | None) -> np.ndarray | None:
    """The batch column's values as strings, checked (None when no key is given)."""
    if batch_key is None:
        return None
    if batch_key not in adata.obs:
        raise GenekbError(
            f"batch key {batch_key!r} is not an obs column; choose from"
            f" {list(adata.obs.columns)}, or batch_key=None for no correction"
        )
    values = adata.obs[batch_key].astype(str).to_numpy()
    counts = pd.Series(values).value_counts()
    if counts.size < 2:
        raise GenekbError(
            f"batch key {batch_key!r} has a single value; there is nothing to correct"
            " (batch_key=None for no correction)"
        )
    if counts.min() < 2:
        raise GenekbError(
            f"batch {counts.idxmin()!r} of {batch_key!r} holds one cell; batch correction needs"
            " at least 2 cells per batch (merge it, or batch_key=None for no correction)"
        )
    return values


def centre_per_batch(X: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """Each batch's mean moved onto the overall mean (a location-only batch correction)."""
    out = np.array(X, dtype=np.float32, copy=True)
    overall = out.mean(axis=0)
    for value in np.unique(batch):
        rows = batch == value
        out[rows] += overall - out[rows].mean(axis=0)
    return out


def score(adata: ad.AnnData, label_key: str, cluster_key: str = CLUSTER_KEY) -> dict[str, float]:
    """ACC / NMI / ARI / macro-F1 of finished clusters against `obs[label_key]` (scoring only)."""
    from cellmodel.metrics import cluster_metrics

    if label_key not in adata.obs:
        raise GenekbError(
            f"label key {label_key!r} is not an obs column; choose from {list(adata.obs.columns)}"
        )
    return {
        k: round(v, 6)
        for k, v in cluster_metrics(adata.obs[label_key], adata.obs[cluster_key]).items()
    }
