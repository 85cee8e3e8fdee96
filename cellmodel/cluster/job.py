"""`cluster(adata, store)`: the main job, AnnData in and out (scanpy's shape; the torch module lives
in `cellmodel.module.model`, the fitting procedure in `cellmodel.cluster`).

Steps: read and normalize the expression (`cellmodel.io`), optional ComBat on a batch column, PCA
over highly variable genes and a sparse kNN graph (`cellmodel.pp.graph`), the semantic view from the
genekb store (`cellmodel.embed`), then the graph-encoder clustering
(`cellmodel.cluster.fit.fit_clusters`), with the semantic view aligned into it only on request.
Labels never enter: `score` compares the result with reference labels afterwards.
"""

from __future__ import annotations

import time
from dataclasses import fields, replace
from functools import partial
from typing import Any

import anndata as ad
import numpy as np
import scipy.sparse as sp

from cellmodel import io
from cellmodel._settings import CLUSTER_KEY, DEFAULT_N_PCS, UNS_KEY
from cellmodel.atomic import unchanged_on_failure
from cellmodel.cluster.batch_choice import choose_fit as choose_by_batch
from cellmodel.cluster.batch_column import batch_values, centre_per_batch, resolve_batch_key
from cellmodel.cluster.consensus import encoder_kmeans_consensus, ensemble_choice
from cellmodel.cluster.diagnostics import read_and_warn
from cellmodel.cluster.fit import ClusterResult, fit_clusters, relabel_by_size
from cellmodel.cluster.inputs import as_store, check_api_input, empty_cells_note, plain_numbers
from cellmodel.cluster.merge_split import check_partition
from cellmodel.cluster.options import ClusterOptions, ClusterRun
from cellmodel.cluster.outputs import forget_previous_run, write_results
from cellmodel.cluster.refine_fit import refined_fit
from cellmodel.embed import embed
from cellmodel.knowledge.genes import NEEDS_NAMES, NoGeneNamesWarning, read_gene_names, way_out
from cellmodel.matrix_checks import source_matrix
from cellmodel.pp import graph
from cellmodel.pp.pca import CELLS_PER_PC
from cellmodel.uns_record import h5ad_safe
from genekb.device import resolve_device
from genekb.encoders import registry
from genekb.errors import GenekbError, UsageError, warn
from genekb.progress import active_stage_hook
from genekb.store.store import Store


def cluster(
    adata: ad.AnnData,
    store: Store | None = None,
    *,
    n_clusters: int | None = ClusterRun.n_clusters,
    use_semantic: bool = ClusterRun.use_semantic,
    align_semantic: bool = ClusterRun.align_semantic,
    model: str = ClusterRun.model,
    gene_vectors: str = ClusterRun.gene_vectors,
    control_seed: int | None = ClusterRun.control_seed,
    taxon: str | None = ClusterRun.taxon,
    gene_key: str | None = ClusterRun.gene_key,
    layer: str | None = ClusterRun.layer,
    batch_key: str | None = ClusterRun.batch_key,
    n_hvg: int = ClusterRun.n_hvg,
    n_pcs: int | str = ClusterRun.n_pcs,
    n_neighbors: int = ClusterRun.n_neighbors,
    seed: int = ClusterRun.seed,
    device: str | None = ClusterRun.device,
    embed_options: dict[str, Any] | None = ClusterRun.embed_options,
    progress: Any = ClusterRun.progress,
    copy: bool = False,
    label_key: str | None = ClusterRun.label_key,
    ensemble: bool = ClusterRun.ensemble,
    batch_choice: bool = ClusterRun.batch_choice,
    merge_split: bool = ClusterRun.merge_split,
    consensus: bool = ClusterRun.consensus,
    refine: str | None = ClusterRun.refine,
    gene_graph: str = ClusterRun.gene_graph,
    key_added: str = ClusterRun.key_added,
    **cluster_options: Any,
) -> ad.AnnData:
    """Cluster `adata`'s cells; writes obs["cellmodel_cluster"], obsm["X_cellmodel"],
    obsm["X_structure"], obsm["X_pca_expr"], the semantic matrices and uns["cellmodel"]; under
    another `key_added`, obs[key_added], obsm["X_" + key_added] (and its `_structure`,
    `_pca_expr`) and uns[key_added] (`outputs.result_keys`).

    `store`: a `genekb.store.Store` or its path (needed when `use_semantic`). Every other
    argument is a field of `cellmodel.cluster.options.ClusterRun`, documented there;
    `cluster_options` override `cellmodel.cluster.fit.ClusterOptions` fields. Returns `adata`
    (or a copy).
    """
    given = locals()
    run = ClusterRun(**{f.name: given[f.name] for f in fields(ClusterRun)})
    check_api_input(adata, run)  # first: a backed AnnData cannot even be copied
    run = plain_numbers(run)
    if copy:
        adata = adata.copy()
    with unchanged_on_failure(adata):
        _run(adata, store, run)
    return adata


def _run(adata: ad.AnnData, store: Store | str | None, run: ClusterRun) -> None:
    """The pipeline on `adata` in place: the structure input, the semantic view where used, the
    fit and its check, the unsure report, then every result written."""
    store = as_store(store)
    device = resolve_device(run.device)
    batch_key, batch_note = resolve_batch_key(adata, run.batch_key)
    batch = batch_values(adata, batch_key)
    timings: dict[str, float] = {}
    start = tick = time.perf_counter()
    expr = io.expression(adata, layer=run.layer, gene_key=run.gene_key)
    # Before the semantic view: it writes its record beside the one of the previous run.
    notes = _expression_notes(expr, adata.n_obs, batch_note)
    notes += forget_previous_run(adata, run.key_added)
    use_semantic, taxon, gene_names = _read_names(
        expr.genes, run.taxon, run.model, run.use_semantic, run.align_semantic
    )
    X_pca = graph.structure_features(
        expr.X,
        kind="log",
        n_hvg=run.n_hvg,
        n_pcs=run.n_pcs,
        batch=batch,
        seed=run.seed,
        genes=expr.genes,
    )
    knn = graph.knn_graph(X_pca, run.n_neighbors, seed=run.seed)
    timings["structure_input"] = time.perf_counter() - tick

    semantic, record = _semantic_step(adata, store, batch, run, taxon, use_semantic, timings)
    if run.refine is not None:
        fit = partial(_refined_fit, adata, store, expr, batch, knn, run, taxon)
    else:
        fit_semantic = semantic if run.align_semantic else None
        fit = partial(fit_clusters, X_pca, knn, fit_semantic, run.n_clusters, seed=run.seed,
                      device=device, counts=_fit_counts(adata, expr, run),
                      count_batch=batch)  # fmt: skip
    labels, result, checks = _fit_and_check(fit, run, X_pca, knn.adjacency, batch, timings)
    checks["diagnostics"] = _diagnose(labels, result, X_pca, knn.adjacency, run.seed, timings)
    timings["total"] = time.perf_counter() - start
    record.update(checks)
    record.update(
        _run_record(run, result, expr, X_pca, timings, notes, use_semantic, gene_names, batch_key)
    )
    write_results(adata, labels, result, X_pca, record, run.label_key, run.key_added)


def _refined_fit(
    adata: ad.AnnData, store: Store | None, expr: io.Expression, batch: np.ndarray | None, knn: Any,
    run: ClusterRun, taxon: str | None, **_options: Any,
) -> ClusterResult:  # fmt: skip
    """The cell–gene refinement in the encoder's place (`ClusterOptions` do not apply to it)."""
    return refined_fit(
        adata, store, expr, batch, knn, run.n_clusters, n_hvg=run.n_hvg, seed=run.seed,
        gene_graph_spec=run.gene_graph, model=run.model, taxon=taxon,
    )  # fmt: skip


def _fit_counts(adata: ad.AnnData, expr: io.Expression, run: ClusterRun) -> Any:
    """The raw counts of the HVGs for the fit's count reconstruction, where it is on and the
    input holds counts; otherwise None."""
    weight = run.cluster_options.get("count_weight", ClusterOptions.count_weight)
    if weight <= 0 or expr.kind != "counts":
        return None
    hvg = graph.hvg_columns(graph.highly_variable(expr.X, run.n_hvg), expr.genes)
    return sp.csr_matrix(source_matrix(adata, expr.source))[:, hvg]


def _expression_notes(expr: io.Expression, n_cells: int, batch_note: list[str]) -> list[str]:
    """The reader's notes, the batch column's, and one on cells with no expression (all of them:
    an error)."""
    totals = np.asarray(expr.X.sum(axis=1)).ravel()
    empty = int((totals == 0).sum())
    if empty == n_cells:
        raise GenekbError("every cell has zero expression; check the layer or the input file")
    notes = list(expr.notes) + batch_note
    if empty:
        notes.append(empty_cells_note(empty))
    return notes


def _semantic_step(
    adata: ad.AnnData, store: Store | None, batch: np.ndarray | None, run: ClusterRun,
    taxon: str | None, use_semantic: bool, timings: dict[str, float],
) -> tuple[np.ndarray | None, dict[str, Any]]:  # fmt: skip
    """The semantic view when the run uses it (timed), and the record it left in uns."""
    if run.align_semantic and not use_semantic:
        raise UsageError("align_semantic needs the semantic view (use_semantic=True)")
    if not use_semantic:
        return None, {}
    tick = time.perf_counter()
    # The view's record alone for a run under another key: written on a clean entry, then
    # merged back, so the default run's record (its metrics) does not pass for this one's.
    shared = adata.uns.get(UNS_KEY) if run.key_added != CLUSTER_KEY else None
    if shared is not None:
        adata.uns[UNS_KEY] = {}
    semantic = _semantic_of_run(adata, store, batch, run, taxon)
    timings["semantic"] = time.perf_counter() - tick
    record = dict(adata.uns[UNS_KEY])
    if shared is not None:
        adata.uns[UNS_KEY] = {**shared, **record}
    return semantic, record


def _semantic_of_run(
    adata: ad.AnnData,
    store: Store | None,
    batch: np.ndarray | None,
    run: ClusterRun,
    taxon: str | None,
) -> np.ndarray:
    """The semantic view for this run: without the sentence path unless it feeds the fit, the
    controls seeded by `control_seed` (default: the run's seed)."""
    options = dict(run.embed_options or {})
    if not run.align_semantic:
        options.setdefault("sentence_top_n", 0)
    control = run.seed if run.control_seed is None else run.control_seed
    return _semantic_view(
        adata, store, batch, model=run.model, taxon=taxon, gene_key=run.gene_key,
        layer=run.layer, gene_vectors=run.gene_vectors, seed=control, progress=run.progress,
        options=options,
    )  # fmt: skip


def _fit_and_check(
    fit: Any,
    run: ClusterRun,
    X_pca: np.ndarray,
    adjacency: Any,
    batch: np.ndarray | None,
    timings: dict[str, float],
) -> tuple[np.ndarray, ClusterResult, dict[str, Any]]:
    """The fit with the run's options, then the label-free checks (`_checks`)."""
    options = run.cluster_options
    tick = time.perf_counter()
    result = fit(**options)
    timings["fit"] = time.perf_counter() - tick
    with_batch = run.batch_choice and "link_weight" not in options and run.refine is None
    return _checks(
        result, lambda **link: fit(**options, **link), X_pca, adjacency, batch, run.seed,
        batch_choice=with_batch, ensemble=run.ensemble, merge_split=run.merge_split,
        consensus=run.consensus, timings=timings,
    )  # fmt: skip


def _diagnose(
    labels: np.ndarray, result: ClusterResult, X_pca: np.ndarray, adjacency: Any, seed: int,
    timings: dict[str, float],
) -> dict[str, Any]:  # fmt: skip
    """The partition's label-free readings (`cellmodel.cluster.diagnostics`); an unsure one
    warns (the CLI prints it as one line on stderr)."""
    tick = time.perf_counter()
    found = read_and_warn(labels, result.latent, X_pca, adjacency, seed)
    timings["diagnostics"] = time.perf_counter() - tick
    return found


def _run_record(
    run: ClusterRun,
    result: ClusterResult,
    expr: io.Expression,
    X_pca: np.ndarray,
    timings: dict[str, float],
    notes: list[str],
    use_semantic: bool,
    gene_names: dict[str, Any],
    batch_key: str | None,
) -> dict[str, Any]:
    """What `uns["cellmodel"]` keeps of the run besides the semantic view's record and the
    checks' records."""
    return {
        "n_clusters": int(result.n_clusters),
        "k_estimated": bool(result.k_estimated),
        "use_semantic": use_semantic,
        "gene_names": gene_names,
        "align_semantic": bool(use_semantic and run.align_semantic),
        "batch_key": batch_key,
        "consensus": bool(run.consensus),
        "refine": run.refine,
        "gene_vectors": run.gene_vectors if use_semantic else None,
        "input": expr.to_dict(),
        "cluster_params": h5ad_safe(result.params),
        "structure_params": _structure_params(run.n_hvg, X_pca, run.n_pcs, run.n_neighbors),
        "fit_timings_s": {k: round(float(v), 3) for k, v in result.timings.items()},
        "pipeline_timings_s": {k: round(v, 3) for k, v in timings.items()},
        "notes": notes + list(result.notes),
    }


def _semantic_view(
    adata: ad.AnnData,
    store: Store | None,
    batch: np.ndarray | None,
    *,
    options: dict[str, Any],
    **embed_keywords: Any,
) -> np.ndarray:
    """The semantic view written into `adata` (`cellmodel.embed`), centred per batch when a batch
    column is given."""
    if store is None:
        raise UsageError("the semantic view needs a genekb store (or pass use_semantic=False)")

    embed(adata, store, **embed_keywords, **options)
    semantic = adata.obsm["X_semantic"]
    return centre_per_batch(semantic, batch) if batch is not None else semantic


def _step(name: str) -> None:
    """Name a one-off step to the active progress hook (bars in Python, lines on the command
    line), so a step that takes a while is not mistaken for the one before it. Only after the
    fit: a step named before an input is refused would cost the refusal its one line."""
    hook = active_stage_hook()
    if hook is not None:
        hook(name, 0, 1)


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
    _step("checks: the label-free checks of the partition")
    labels, by_batch, choice, checked = result.labels, None, None, None
    # One cluster: every candidate is the same single cluster (the two extra fits, more than
    # twice the fit's time, compared AMIs of 0), as the ensemble and consensus skip it.
    if batch is not None and batch_choice and result.n_clusters > 1:
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
        labels, checked = check_partition(
            X_pca, labels, seed, batch=batch, k_estimated=result.k_estimated, adjacency=adjacency
        )
        if result.k_estimated:
            result = replace(result, n_clusters=int(labels.max()) + 1)
        timings["merge_split"] = time.perf_counter() - tick
    if consensus and result.n_clusters > 1:
        tick = time.perf_counter()
        merged = encoder_kmeans_consensus(X_pca, labels, result.n_clusters, seed)
        labels = relabel_by_size(merged)
        timings["consensus"] = time.perf_counter() - tick
    records = {
        "ensemble": None if choice is None else choice.to_dict(),
        "batch_choice": None if by_batch is None else by_batch.to_dict(),
        "merge_split": checked,
    }
    return labels, result, records


def _structure_params(
    n_hvg: int, X_pca: np.ndarray, n_pcs: int | str, n_neighbors: int
) -> dict[str, Any]:
    rule = (
        f"parallel analysis, at most {DEFAULT_N_PCS} and one per {CELLS_PER_PC} cells"
        if n_pcs == "auto"
        else "given"
    )
    return {
        "n_hvg": n_hvg,
        "n_pcs": int(X_pca.shape[1]),
        "n_pcs_rule": rule,
        "n_neighbors": n_neighbors,
    }


def _is_encoder(model: str) -> bool:
    """Whether `model` names an encoder (matched against the bundled snapshot) rather than a
    store version, whose own genes are the reference."""
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
        names.warn()
        return True, names.taxon, record
    needs = f"{NEEDS_NAMES}: {way_out(names, taxon)}"
    if align_semantic:
        raise UsageError(f"{names.note}; align_semantic needs gene names ({needs})")
    message = f"{names.note}: clustered on the expression alone; {needs}"
    warn(message, NoGeneNamesWarning)
    return False, None, record
