"""`explain(adata, store)`: each cluster in biological words.

Two readings per cluster, both label-free:

- **Semantic contributors.** The weighted semantic path is linear in the expression: a cell's raw
  vector is Σ_g w_g x_cg v_g (w: the gene weights, v: the post-processed gene text vectors). So a
  cluster's shift from the mean cell, d_c = Σ_g w_g (x̄_cg − x̄_g) v_g, splits exactly into one term
  per gene; each gene's score is its term's projection on d_c, and the scores sum to ‖d_c‖. The
  top genes are the ones whose *text* moves the cluster where it sits in the semantic space.
- **Markers.** Genes with the largest Welch t statistic of log expression in the cluster against
  all other cells (up-regulated only), as `scanpy.tl.rank_genes_groups(method="t-test")` ranks.

Descriptions come from the store's gene records: full name, then the NCBI summary's first sentence
where the source has one, else the leading GO biological-process terms.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellmodel._settings import CLUSTER_KEY
from cellmodel.arguments import check_count, check_obs_column
from cellmodel.explain_inputs import RunInputs, rebuild
from cellmodel.io import require_anndata
from cellmodel.markdown import md_text
from cellmodel.markers import GroupStats, cell_groups, group_stats
from cellmodel.uns_record import run_record
from genekb.errors import GenekbError
from genekb.store.store import Store
from genekb.store.store_root import refuse_non_path_root

DEFAULT_TOP_N = 10
DESCRIPTION_CHARS = 160


def cluster_shifts(
    X: Any, codes: np.ndarray, k: int, scale: np.ndarray, *, average: bool = False
) -> np.ndarray:
    """Per cluster and gene, a_cg = scale_g (x̄_cg − x̄_g): the gene's part of the cluster's
    shift in the raw weighted semantic path (divided by each cell's weighted total when
    `average`). Its sign says whether the gene is higher or lower in the cluster."""
    if average:
        totals = np.asarray(X @ scale).ravel()
        inverse = 1.0 / np.where(totals > 0, totals, 1.0)
        X = sp.diags(inverse) @ X if sp.issparse(X) else np.asarray(X) * inverse[:, None]
    stats = group_stats(X, codes, k)
    means, sizes = stats.means, stats.sizes
    overall = sizes @ means / sizes.sum()
    return (means - overall) * scale


def contributions(shift: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores (k × genes) and ‖d_c‖ per cluster from `cluster_shifts` (see `gene_contributions`)."""
    directions = shift @ vectors  # k × dim: d_c
    norms = np.linalg.norm(directions, axis=1)
    unit = directions / np.where(norms > 0, norms, 1.0)[:, None]
    return shift * (unit @ vectors.T), norms


def gene_contributions(
    X: Any,
    codes: np.ndarray,
    k: int,
    scale: np.ndarray,
    vectors: np.ndarray,
    *,
    average: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Each gene's share of each cluster's shift in the raw weighted semantic path.

    The path is x_c ↦ Σ_g scale_g x_cg v_g (divided by Σ_g scale_g x_cg when `average`), so a
    cluster's mean minus the overall mean, d_c, is Σ_g a_cg v_g with a_cg = scale_g (x̄_cg − x̄_g).
    Returns (scores k × genes, ‖d_c‖ per cluster); score_cg = a_cg v_g · d_c / ‖d_c‖, and each row
    of scores sums to ‖d_c‖.
    """
    return contributions(cluster_shifts(X, codes, k, scale, average=average), vectors)


def describe_clusters(records: pd.DataFrame | None, gene_id: int) -> str:
    if records is None or gene_id not in records.index:
        return ""
    row = records.loc[gene_id]
    parts = [str(row["name"])] if isinstance(row.get("name"), str) and row["name"] else []
    summary = row.get("summary")
    if isinstance(summary, str) and summary.strip():
        parts.append(summary.split(". ")[0].strip().rstrip(".") + ".")
    else:
        go = row.get("go_bp")
        terms = list(go) if go is not None else []
        if len(terms):
            parts.append("GO: " + "; ".join(str(t) for t in terms[:3]))
    text = " — ".join(parts)
    return text if len(text) <= DESCRIPTION_CHARS else text[: DESCRIPTION_CHARS - 1] + "…"


def _name(inputs: RunInputs, g: int) -> str:
    return inputs.symbols[g] or inputs.genes[g]


def _ranked(values: np.ndarray, inputs: RunInputs) -> np.ndarray:
    """Gene indices, highest value first; tied values in the order of the genes' names, not of
    the columns, so the same file with its genes in another order lists the same genes."""
    names = np.unique(np.asarray(inputs.genes, dtype=str), return_inverse=True)[1]
    return np.lexsort((names.ravel(), -values))


def store_of(
    adata: ad.AnnData, store: Store | str | os.PathLike[str] | None = None
) -> Store | None:
    """The store to explain `adata` with: None when it has no semantic view (markers only), else
    `store` (a Store or path) or the one it was clustered with (`uns["cellmodel"]["store_root"]`),
    refused when that is gone."""
    require_anndata(adata)
    if not isinstance(store, Store):
        refuse_non_path_root(store)  # refused even where no store is read, not ignored
    record = run_record(adata)
    if not record.get("embedding_id"):
        return None
    if isinstance(store, Store):
        return store
    if store is not None:  # the caller's root, refused as such (a URL, no store there): it
        return Store.open(store)  # was called "the store this file was clustered with"
    root = record.get("store_root")
    refuse_non_path_root(root)  # an edited record's root: Path() below would raise a TypeError
    if root is not None and not Path(root).exists():
        raise GenekbError(
            f"the store {root} this file was clustered with is gone; pass its new place"
            " (--root on the command line, store= in Python)"
        )
    return Store.open(root)


def _markers_of(
    c: int, stats: GroupStats, t_all: np.ndarray, inputs: RunInputs, top_n: int
) -> dict[str, Any]:
    """Cluster `c`'s markers (its top genes by Welch's t that are higher in it), or a note that
    says why it has none."""
    size = int(stats.sizes[c])
    if size < 2:
        return {"note": "one cell: no markers (Welch's t needs two cells or more)"}
    if not stats.means[c].any():  # the markers list was empty without a word
        return {
            "note": f"its {size} cells hold no counts in the genes read (empty droplets, or"
            " another layer): no markers"
        }
    if stats.sizes.sum() == size:
        return {}
    t = t_all[c]
    diff = stats.means[c] - stats.rest_means[c]
    order = [g for g in _ranked(t, inputs) if diff[g] > 0][:top_n]
    markers = [
        {
            "gene": _name(inputs, g),
            "log_fold_change": round(float(diff[g]), 4),
            "t": round(float(t[g]), 2),
            "description": describe_clusters(inputs.records, int(inputs.gene_ids[g])),
        }
        for g in order
    ]
    if not markers:  # every gene as high or higher elsewhere: the list was empty without a word
        return {"markers": [], "note": "no gene is higher in these cells than in the rest"}
    return {"markers": markers}


def explain(
    adata: ad.AnnData,
    store: Store | None = None,
    *,
    cluster_key: str = "cellmodel_cluster",
    top_n: int = DEFAULT_TOP_N,
) -> dict[str, Any]:
    """Per cluster: its size, top semantic contributor genes and marker genes, with descriptions.

    `store`: the genekb store the file was clustered with (None: markers only,
    described from the bundled snapshot where the file has no semantic view).
    """
    require_anndata(adata)
    if cluster_key == CLUSTER_KEY and cluster_key not in adata.obs:  # the file was not clustered
        columns = ", ".join(map(str, adata.obs.columns)) or "none"
        raise GenekbError(
            f"no obs[{cluster_key!r}] in this file; run cm.tl.cluster(adata) first, or name"
            f" the column of the clusters with cluster_key= (columns: {columns})"
        )
    check_obs_column(adata.obs, cluster_key, "cluster_key")
    check_count(top_n, "top_n")  # a usage error, as every step's counts are
    clusters = cell_groups(adata.obs[cluster_key], cluster_key, noun="cluster")
    codes = np.asarray(clusters.codes)
    k = len(clusters.categories)
    inputs = rebuild(adata, store)
    X = (
        sp.csr_matrix(inputs.X, dtype=np.float64)
        if sp.issparse(inputs.X)
        else np.asarray(inputs.X, np.float64)
    )
    stats = group_stats(X, codes, k)
    t_all = stats.welch_t()

    scores = norms = shift = None
    if inputs.vectors is not None and inputs.scale is not None:
        shift = cluster_shifts(X, codes, k, inputs.scale, average=inputs.average)
        scores, norms = contributions(shift, inputs.vectors)
    out: list[dict[str, Any]] = []
    for c in range(k):
        size = int(stats.sizes[c])
        entry: dict[str, Any] = {"cluster": str(clusters.categories[c]), "n_cells": size}
        entry |= _markers_of(c, stats, t_all, inputs, top_n)
        if scores is not None and norms is not None and shift is not None and norms[c] > 0:
            order = [g for g in _ranked(scores[c], inputs)[:top_n] if scores[c, g] > 0]
            # A gene lower in the cluster moves it too (away from its text): said, or a
            # cluster's contributors read as its genes (both halves of a split listed one set).
            entry["semantic_genes"] = [
                {
                    "gene": _name(inputs, g),
                    "score": round(float(scores[c, g]), 5),
                    "share": round(float(scores[c, g] / norms[c]), 4),
                    "direction": "higher" if shift[c, g] > 0 else "lower",
                    "description": describe_clusters(inputs.records, int(inputs.gene_ids[g])),
                }
                for g in order
            ]
        out.append(entry)
    record = run_record(adata)
    return {
        "cluster_key": cluster_key,
        "n_cells": len(codes),
        "n_clusters": k,
        "embedding_id": record.get("embedding_id"),
        # The view's own parameters: a later embed (a control) changes them, not the top-level
        # entry a clustering wrote, which then called shuffled vectors real.
        "gene_vectors": (record.get("params") or {}).get("gene_vectors")
        or record.get("gene_vectors"),
        "clusters": out,
    }


def to_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: one section per cluster, two small tables each."""
    lines = [
        f"# {report['n_clusters']} clusters of {report['n_cells']} cells",
        "",
    ]
    if report.get("gene_vectors") not in (None, "real"):
        lines += [
            f"> The semantic view used **{report['gene_vectors']}** control vectors: its"
            " contributor genes carry no gene knowledge.",
            "",
        ]
    for entry in report["clusters"]:
        lines += [f"## Cluster {md_text(entry['cluster'])} ({entry['n_cells']} cells)", ""]
        lines += [f"_{entry['note']}_", ""] if entry.get("note") else []
        lines += _table(
            "Semantic contributors (share of the cluster's semantic shift; the gene higher or"
            " lower in the cluster than in the rest):",
            ["gene", "share", "in cluster", "description"],
            [
                [g["gene"], f"{g['share']:.1%}", g.get("direction", ""), g["description"]]
                for g in entry.get("semantic_genes") or []
            ],
        )
        lines += _table(
            "Markers (Welch t, log expression vs all other cells):",
            ["gene", "log FC", "t", "description"],
            [
                [g["gene"], f"{g['log_fold_change']:.2f}", f"{g['t']:.1f}", g["description"]]
                for g in entry.get("markers") or []
            ],
        )
    return "\n".join(lines)


def _table(title: str, header: list[str], rows: list[list[Any]]) -> list[str]:
    """A titled Markdown table and a blank line after it; nothing when there are no rows."""
    if not rows:
        return []
    lines = [title, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return [*lines, *("| " + " | ".join(md_text(c) for c in row) + " |" for row in rows), ""]
