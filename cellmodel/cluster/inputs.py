"""Checks of a clustering run's input that need the cells but none of the work: `cellmodel
cluster` calls `check_run_input` right after reading the file, so a k as large as the data or an
unusable label or batch column is refused before anything is computed, in one line."""

from __future__ import annotations

import anndata as ad
import pandas as pd

from cellmodel.metrics import check_labels
from genekb.errors import GenekbError, UsageError


def check_run_input(
    adata: ad.AnnData, *, n_clusters: int | None, label_key: str | None, batch_key: str | None
) -> None:
    """Refuse k = the number of cells, a label column without labels or of one class and a batch
    column with missing values (`batch_key` "auto", "none" or None is not checked here)."""
    if adata.n_obs >= 3:  # fewer cells, and a larger k, the run itself refuses
        refuse_cluster_per_cell(n_clusters, adata.n_obs)
    if label_key is not None and label_key in adata.obs:
        check_labels(adata.obs[label_key], label_key)
    if batch_key is not None and batch_key.lower() not in ("auto", "none"):
        _check_batch_column(adata, batch_key)


def refuse_cluster_per_cell(n_clusters: int | None, n_cells: int) -> None:
    """Refuse k = the number of cells: a cluster per cell is no clustering, and would be known
    only after the whole fit."""
    if n_clusters == n_cells:
        raise UsageError(
            f"n_clusters={n_clusters} equals the {n_cells} cells: each cell would be a cluster of"
            f" its own; give a k below {n_cells}"
        )


def _check_batch_column(adata: ad.AnnData, batch_key: str) -> None:
    if batch_key not in adata.obs:
        return  # the run names the columns there are
    column: pd.Series = adata.obs[batch_key]
    missing = int(column.isna().sum())
    if missing:
        raise GenekbError(
            f"batch key {batch_key!r} has no value for {missing} of {column.size} cells; fill"
            " them in (e.g. 'unknown') or pass batch_key=none for no correction"
        )
