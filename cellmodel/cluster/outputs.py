"""What a clustering writes into the AnnData, what it clears there first, and its scores against
reference labels.

A clustering run again in place (a notebook's second `cm.tl.cluster`, or `cellmodel cluster` on
a file clustered before) replaces the partition; whatever described the old one must go with it.
Left behind, the old run's metrics read as this run's scores, and the names and explanations of
the old clusters would be drawn beside the new ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from cellmodel._settings import ANNOTATION_KEY, CLUSTER_KEY, EXPLAIN_UNS_KEY, UNS_KEY
from cellmodel.arguments import check_obs_column
from cellmodel.metrics import cluster_metrics
from cellmodel.uns_record import (
    ANNOTATE_ENTRY,
    annotation_columns,
    forget_scanpy_results,
    h5ad_safe,
    is_annotation,
)

REFINE_OUTPUTS = ("refine", "X_refined")  # uns and obsm keys of `cluster --refine`'s fit
LATENTS = ("X_cellmodel", "X_structure", "X_pca_expr")  # obsm: each clustering writes them


def result_keys(key_added: str) -> tuple[str, tuple[str, str, str]]:
    """(uns key of the run's record, obsm keys of its latents): the default key_added's
    `uns["cellmodel"]` and `LATENTS`; any other's `uns[key_added]` and `obsm["X_" + key_added]`
    (`_structure`, `_pca_expr` beside it), as classify and scanpy name theirs, so a second
    clustering under another key keeps the first's."""
    if key_added == CLUSTER_KEY:
        return UNS_KEY, LATENTS
    latent = f"X_{key_added}"
    return key_added, (latent, f"{latent}_structure", f"{latent}_pca_expr")


def is_cluster_record(value: Any, key_added: str) -> bool:
    """Whether an uns entry is the record of a clustering under (another) `key_added`."""
    return isinstance(value, Mapping) and value.get("key_added") == key_added


def forget_previous_run(adata: ad.AnnData, key: str = CLUSTER_KEY) -> list[str]:
    """Clear what a previous clustering under `key` left: its record (`uns["cellmodel"]`, whose
    metrics, semantic record and settings describe that run; another key's `uns[key]`), its
    refined fit, and the names and explanations of its clusters (those of another obs column
    are kept). Returns a note for each result removed. The caller restores them if the run
    fails (`unchanged_on_failure`)."""
    shared = adata.uns.get(UNS_KEY)
    shared = shared if isinstance(shared, Mapping) else {}
    previous = shared if key == CLUSTER_KEY else adata.uns.get(key)
    if not isinstance(previous, Mapping):
        previous = {}
    notes = []
    annotation = shared.get(ANNOTATE_ENTRY)
    kept = isinstance(annotation, Mapping) and _groupby(annotation) != key
    named: list[str] = []
    # Assigned, not deleted: on a view, anndata drops a deletion from uns silently, while an
    # assignment makes the view an AnnData of its own first (as the run's other writes do).
    if key == CLUSTER_KEY:
        adata.uns[UNS_KEY] = {ANNOTATE_ENTRY: annotation} if kept else {}
    else:  # the default run's record stays; only the names of this key's clusters go
        if UNS_KEY in adata.uns:
            adata.uns[UNS_KEY] = {k: v for k, v in shared.items() if kept or k != ANNOTATE_ENTRY}
        adata.uns[key] = {}
    if annotation is not None and not kept:  # it named the clusters this run replaces
        named = [c for c in adata.obs.columns if _named_from_annotation(c)]
        adata.obs = adata.obs.drop(columns=named)
        notes.append(f"the names of the previous clusters were removed ({', '.join(named)})")
    notes += _forget_keyed_annotations(adata, key)
    gone = forget_scanpy_results(adata, [key, *map(str, named)])
    if gone:  # kept, scanpy's marker plots drew the old groups' markers under the new numbers
        notes.append(f"scanpy's results on the previous clusters were removed ({', '.join(gone)})")
    explained = adata.uns.get(EXPLAIN_UNS_KEY)
    if isinstance(explained, Mapping) and _cluster_key(explained) == key:
        del adata.uns[EXPLAIN_UNS_KEY]
        notes.append(f"the explanation of the previous clusters was removed ({EXPLAIN_UNS_KEY})")
    if previous.get("refine"):
        adata.uns.pop(REFINE_OUTPUTS[0], None)
        adata.obsm.pop(REFINE_OUTPUTS[1], None)
    return [f"{note}; run them again on the new clusters" for note in notes]


def _forget_keyed_annotations(adata: ad.AnnData, clusters: str) -> list[str]:
    """Annotations of the clusters stored under their own `key_added` (uns[key], obs[key]...)."""
    keys = [k for k, v in adata.uns.items() if is_annotation(v) and _groupby(v) == clusters]
    for key in keys:
        del adata.uns[key]
        adata.obs = adata.obs.drop(columns=[c for c in annotation_columns(key) if c in adata.obs])
    return [f"the names of the previous clusters were removed ({key})" for key in keys]


def _groupby(annotation: Mapping[str, Any]) -> Any:
    params = annotation.get("params")
    return params.get("groupby") if isinstance(params, Mapping) else None


def _cluster_key(explained: Mapping[str, Any]) -> Any:
    params = explained.get("params")
    return params.get("cluster_key") if isinstance(params, Mapping) else None


def _named_from_annotation(column: Any) -> bool:
    return column == ANNOTATION_KEY or str(column).startswith(f"{ANNOTATION_KEY}_")


def write_results(
    adata: ad.AnnData,
    labels: np.ndarray,
    result: Any,
    X_pca: np.ndarray,
    record: dict[str, Any],
    label_key: str | None,
    key: str = CLUSTER_KEY,
) -> None:
    """The partition into obs[key], the latents into obsm, the record (and the scores) into uns
    (`result_keys`), beside what `forget_previous_run` kept there."""
    n_labels = int(labels.max()) + 1  # Leiden at k can miss k by one when no resolution hits it
    adata.obs[key] = pd.Categorical(
        labels.astype(str), categories=[str(i) for i in range(max(result.n_clusters, n_labels))]
    )
    uns_key, latents = result_keys(key)
    gone = _forget_graphs_on(adata, latents)  # after the fit: obsp is not restored on failure
    if gone:
        record["notes"] = [
            *record.get("notes", []),
            f"scanpy's neighbour graph on the previous latent was removed ({', '.join(gone)});"
            " run sc.pp.neighbors again on the new one",
        ]
    for name, latent in zip(latents, (result.latent, result.structure, X_pca), strict=True):
        adata.obsm[name] = latent
    if label_key is not None:
        # Labels are read only here, after the run has ended.
        record.update(metrics=score(adata, label_key, key), label_key=label_key)
    if key != CLUSTER_KEY:
        record["key_added"] = key  # whose record (`is_cluster_record`)
    kept = adata.uns.get(uns_key)
    adata.uns[uns_key] = {**(kept if isinstance(kept, Mapping) else {}), **h5ad_safe(record)}


def _forget_graphs_on(adata: ad.AnnData, reps: tuple[str, ...]) -> list[str]:
    """Remove scanpy's neighbour graphs built on the latents a clustering replaces (uns[key]
    with params.use_rep among `reps`, and its obsp matrices): kept, sc.tl.leiden and sc.tl.umap
    read the old latent's graph as the new one's. Returns the uns keys removed."""
    gone = []
    for key, value in list(adata.uns.items()):
        params = value.get("params") if isinstance(value, Mapping) else None
        rep = params.get("use_rep") if isinstance(params, Mapping) else None
        if not isinstance(rep, str) or rep not in reps:
            continue
        for held in ("connectivities_key", "distances_key"):
            adata.obsp.pop(str(value.get(held)), None)
        del adata.uns[key]
        gone.append(key)
    return gone


def score(adata: ad.AnnData, label_key: str, cluster_key: str = CLUSTER_KEY) -> dict[str, float]:
    """ACC / NMI / ARI / macro-F1 of finished clusters against `obs[label_key]` (scoring only)."""
    check_obs_column(adata.obs, label_key, "label_key")
    return {
        k: round(v, 6)
        for k, v in cluster_metrics(adata.obs[label_key], adata.obs[cluster_key]).items()
    }
