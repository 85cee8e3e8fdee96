"""The batch column of a cluster run: which obs column (`"auto"`: the one the dataset registry
names), its values checked, and a location-only correction of a matrix by batch."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from cellmodel.arguments import check_obs_column
from genekb.errors import GenekbError


def resolve_batch_key(adata: ad.AnnData, batch_key: str | None) -> tuple[str | None, list[str]]:
    """The batch column to correct for, and a note when it was chosen for the caller: "auto" is
    the column the dataset registry names for these data (recorded in `uns["dataset"]`), if
    present; "none" (any case) or None is no correction."""
    if batch_key is None or str(batch_key).lower() == "none":  # a name, or a column named 3
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
    check_obs_column(adata.obs, batch_key, "batch_key", other="batch_key=None for no correction")
    return checked_batches(adata.obs[batch_key], batch_key)


def checked_batches(
    column: pd.Series, batch_key: str, no_correction: str = "batch_key=None"
) -> np.ndarray:
    """A batch column's values as strings, refused when a cell has none (`refuse_missing`), when
    there is nothing to correct (one value) or a batch of one cell; `no_correction` says how the
    caller turns the correction off."""
    refuse_missing(column, batch_key, no_correction)
    values = column.astype(str).to_numpy()
    counts = pd.Series(values).value_counts()
    if counts.size < 2:
        raise GenekbError(
            f"batch key {batch_key!r} has a single value; there is nothing to correct"
            f" ({no_correction} for no correction)"
        )
    if counts.min() < 2:
        raise GenekbError(
            f"batch {counts.idxmin()!r} of {batch_key!r} holds one cell; batch correction needs"
            f" at least 2 cells per batch (merge it, or {no_correction} for no correction)"
        )
    return values


def refuse_missing(
    column: pd.Series, batch_key: str, no_correction: str = "batch_key=none"
) -> None:
    """Every cell needs a batch: those without one would be corrected as one batch named 'nan'."""
    missing = int(pd.isna(column).sum())
    if missing:
        raise GenekbError(
            f"batch key {batch_key!r} has no value for {missing} of {column.size} cells; fill"
            f" them in (e.g. 'unknown'), or {no_correction} for no correction"
        )


def centre_per_batch(X: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """Each batch's mean moved onto the overall mean (a location-only batch correction)."""
    out = np.array(X, dtype=np.float32, copy=True)
    overall = out.mean(axis=0)
    for value in np.unique(batch):
        rows = batch == value
        out[rows] += overall - out[rows].mean(axis=0)
    return out
