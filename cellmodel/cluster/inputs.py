"""Checks of a clustering run's input that need the cells but none of the work: `cellmodel
cluster` calls `check_run_input` right after reading the file, so a k as large as the data or an
unusable label or batch column is refused before anything is computed, in one line;
`cellmodel.cluster.job.cluster` calls `check_api_input` first, for what a Python caller may pass
that the command line's parser already refuses."""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

import anndata as ad

from cellmodel._settings import (
    ANNOTATION_KEY,
    CLASSIFY_UNS_KEY,
    CLUSTER_KEY,
    EXPLAIN_UNS_KEY,
    PREDICTION_KEY,
    UNS_KEY,
)
from cellmodel.arguments import (
    check_column_name,
    check_count,
    check_flags,
    check_obs_column,
    check_seed,
    is_whole,
)
from cellmodel.cluster.batch_column import check_confounded, refuse_missing
from cellmodel.cluster.options import parse_options
from cellmodel.cluster.outputs import is_cluster_record, result_keys
from cellmodel.cluster.refine_fit import REFINE_MODES, parse_gene_graph
from cellmodel.io import require_anndata, require_cells_named_once
from cellmodel.metrics import check_labels
from cellmodel.pp.pca import check_n_pcs
from cellmodel.uns_record import annotation_columns, index_clash
from genekb.errors import GenekbError, UsageError
from genekb.store.store import Store

if TYPE_CHECKING:
    from cellmodel.cluster.options import ClusterRun


def check_run_input(
    adata: ad.AnnData, *, n_clusters: int | None, label_key: str | None, batch_key: str | None
) -> None:
    """Refuse k = the number of cells, a label column without labels or of one class and a batch
    column with missing values or of the previous clusters (`batch_key` "auto", "none" or None
    is not checked here)."""
    if adata.n_obs >= 3:  # fewer cells, and a larger k, the run itself refuses
        refuse_cluster_per_cell(n_clusters, adata.n_obs)
    check_column_name(label_key, "label_key")  # a list of values failed in `in` as unhashable
    check_column_name(batch_key, "batch_key")
    if label_key is not None and label_key in adata.obs:
        check_labels(adata.obs[label_key], label_key)
    if batch_key == CLUSTER_KEY:  # a previous run's clusters: the correction removes them
        raise UsageError(
            f"batch key {CLUSTER_KEY!r} holds a previous run's clusters, which this run replaces;"
            " correcting for them would remove the structure it looks for: give a technical"
            " batch column (donor, run) as batch_key=, or batch_key=none"
        )
    if batch_key is not None and str(batch_key).lower() not in ("auto", "none"):
        _check_batch_column(adata, batch_key)


def refuse_cluster_per_cell(n_clusters: int | None, n_cells: int) -> None:
    """Refuse k = the number of cells: a cluster per cell is no clustering, and would be known
    only after the whole fit."""
    if n_clusters == n_cells:
        raise UsageError(
            f"n_clusters={n_clusters} equals the {n_cells} cells: each cell would be a cluster of"
            f" its own; give a k below {n_cells}"
        )


def check_k(n_clusters: int | None, n_cells: int) -> None:
    """Refuse a whole `n_clusters` outside 1 .. `n_cells` - 1 (None: k is estimated)."""
    if n_clusters is not None and not 1 <= n_clusters <= n_cells:
        raise UsageError(f"n_clusters={n_clusters} must be between 1 and the {n_cells} cells")
    refuse_cluster_per_cell(n_clusters, n_cells)


def check_api_input(adata: ad.AnnData, run: ClusterRun) -> None:
    """Refuse what is not an AnnData, too few or repeated cells, an impossible k or seed and a
    label column that is not there: what the command line refuses, the API refuses alike."""
    require_anndata(adata)
    n_cells = adata.n_obs
    if n_cells < 3:
        raise GenekbError(f"the data has {n_cells} cell(s); clustering needs at least 3")
    require_cells_named_once(adata)
    n_clusters = run.n_clusters
    if n_clusters is not None and not is_whole(n_clusters):
        raise UsageError(f"n_clusters={n_clusters!r} must be a whole number, or None to estimate k")
    check_k(n_clusters, n_cells)
    check_seed(run.seed)
    if run.control_seed is not None:  # read only by the controls: refused before any run
        check_seed(run.control_seed, "control_seed")
    _check_run_settings(run)
    refuse_cluster_key_as_labels(run.label_key, run.key_added)
    check_key_added(adata, run.key_added, run.batch_key)
    if run.label_key is not None:
        check_obs_column(adata.obs, run.label_key, "label_key")
    # The command line's checks of the columns (one class of labels, a batch column with gaps,
    # which would become a batch named "nan"), so that a Python caller is refused alike.
    check_run_input(adata, n_clusters=n_clusters, label_key=run.label_key, batch_key=run.batch_key)
    if run.batch_key is not None and str(run.batch_key).lower() not in ("auto", "none"):
        # here, not in check_run_input, which the command line also calls: one warning a run
        check_confounded(adata.obs, run.batch_key, run.label_key)


def empty_cells_note(empty: int) -> str:
    """The note on cells without any expression, in memory and out of core alike."""
    return f"{empty} cell(s) have no expression at all; they are clustered by graph only"


def refuse_cluster_key_as_labels(label_key: object, key: str = CLUSTER_KEY) -> None:
    """The column a run writes its clusters to, as the labels that score them: in memory they
    would be scored against themselves, out of core against the old run's clusters."""
    if label_key == key:
        raise UsageError(
            f"label key {key!r} is the column this run writes its clusters to: they would"
            " be scored against themselves; copy the reference labels under another name"
        )


# Where the other steps write: a clustering under one of these names would replace their results.
_OTHER_KEYS = (
    UNS_KEY, CLASSIFY_UNS_KEY, EXPLAIN_UNS_KEY, PREDICTION_KEY, *annotation_columns(ANNOTATION_KEY),
)  # fmt: skip


def check_key_added(adata: ad.AnnData, key: object, batch_key: object) -> None:
    """Refuse a key_added that is no obs column name, is another step's (or the batch column),
    or whose obs column, uns entry or latents hold what no clustering under it wrote: as
    classify and annotate refuse theirs (key_added="umap" would replace obsm["X_umap"])."""
    if not isinstance(key, str) or not key.strip() or "/" in key:
        raise UsageError(
            f"key_added={key!r} must name the obs column of the clusters (no '/'), e.g."
            f" {CLUSTER_KEY!r}"
        )
    if key == CLUSTER_KEY:
        return
    clash = index_clash([key], adata.obs.index.name)
    if key in _OTHER_KEYS or key == batch_key or clash is not None:
        raise UsageError(
            f"key_added={key!r} is where the cell names, the batch column or another cellmodel"
            " step's results are kept; choose another name"
        )
    uns_key, latents = result_keys(key)
    if is_cluster_record(adata.uns.get(uns_key), key):
        return  # a run under this key before: replaced, as a second run should
    taken = [f"obs[{key!r}]"] if key in adata.obs else []
    taken += [f"uns[{uns_key!r}]"] if uns_key in adata.uns else []
    taken += [f"obsm[{name!r}]" for name in latents if name in adata.obsm]
    if taken:
        raise UsageError(
            f"key_added={key!r} would overwrite {taken[0]}, which no clustering under that key"
            " wrote; give another key_added"
        )


# ClusterRun's switches: a string such as "no" is truthy and would have turned one on.
_SWITCHES = (
    "use_semantic", "align_semantic", "ensemble", "batch_choice", "merge_split", "consensus",
)  # fmt: skip


def _check_run_settings(run: ClusterRun) -> None:
    """The run's numbers and the fit's options, refused before any work: the semantic view is
    written into the AnnData before the fit reads its options, and scanpy's or the PCA's own
    errors would not name the argument."""
    check_flags(**{f: getattr(run, f) for f in _SWITCHES})
    check_count(run.n_hvg, "n_hvg")
    check_n_pcs(run.n_pcs)
    check_count(run.n_neighbors, "n_neighbors")
    if run.refine is not None and run.refine not in REFINE_MODES:
        raise UsageError(f"refine={run.refine!r}: choose one of {', '.join(REFINE_MODES)}")
    if run.refine is not None:
        parse_gene_graph(run.gene_graph)
    parse_options(dict(run.cluster_options))


def plain_numbers(run: ClusterRun) -> ClusterRun:
    """The run with numpy's integers, which the checks accept, as Python's: torch's generator
    takes no other seed."""
    names = ("n_clusters", "seed", "control_seed", "n_hvg", "n_pcs", "n_neighbors")
    whole = {name: int(value) for name in names if is_whole(value := getattr(run, name))}
    return dataclasses.replace(run, **whole)


def as_store(store: Store | str | os.PathLike[str] | None) -> Store | None:
    """A store given by its path is opened; anything else but a Store or None is refused."""
    if store is None or isinstance(store, Store):
        return store
    if isinstance(store, str | os.PathLike):
        return Store.open(store)
    raise UsageError(f"store must be a genekb Store or its path, not {type(store).__name__}")


def _check_batch_column(adata: ad.AnnData, batch_key: str) -> None:
    if batch_key not in adata.obs:
        return  # the run names the columns there are
    refuse_missing(adata.obs[batch_key], batch_key)


def names_genes(adata: ad.AnnData, taxon: str | None, gene_key: str | None) -> bool:
    """Whether the semantic view can run: a file whose genes carry no names is clustered on the
    expression alone and needs no store, so an unusable store root must not stop it."""
    from cellmodel.knowledge.genes import read_gene_names

    if gene_key is not None:
        return True  # the job reads the column and says what is wrong with it
    return read_gene_names(list(map(str, adata.var_names)), taxon).named


# `cellmodel.cluster.job.cluster`'s keywords that run in memory only: out of core they were
# refused as "unknown clustering option(s)", which read as a misspelling.
IN_MEMORY_ONLY = (
    "batch_key", "batch_choice", "use_semantic", "align_semantic", "ensemble", "refine",
    "gene_graph", "store", "model", "gene_vectors", "taxon", "gene_key",
)  # fmt: skip


def check_out_of_core_args(
    options: dict[str, object], *, n_clusters: object, seed: object, merge_split: object,
    counts: dict[str, object],
) -> None:  # fmt: skip
    """`cluster_h5ad`'s arguments refused as `check_api_input` refuses them in memory: a k of
    2.5 had run as 2, merge_split="no" as on, a seed or chunk size of the wrong type failed
    deep inside numpy; `counts`: whole numbers of at least 1 (chunk_size, n_hvg, ...)."""
    given = [name for name in IN_MEMORY_ONLY if name in options]
    if given:
        raise UsageError(
            f"{', '.join(given)}: not out of core (the structure view only, no batch correction);"
            " cluster in memory with cellmodel.cluster.job.cluster for them"
        )
    if n_clusters is not None and not is_whole(n_clusters):
        raise UsageError(f"n_clusters={n_clusters!r} must be a whole number, or None to estimate k")
    check_seed(seed)
    check_flags(merge_split=merge_split)
    for name, value in counts.items():
        check_count(value, name)
