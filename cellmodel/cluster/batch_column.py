"""The batch column of a cluster run: which obs column (`"auto"`: the one the dataset registry
names), its values checked, and a location-only correction of a matrix by batch."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from cellmodel.arguments import UNLABELLED, check_obs_column, missing_names, unlabelled
from genekb.errors import GenekbError, GenekbWarning, UsageError, warn

# Values that say a cell has no batch: `UNLABELLED` less "unknown", which a user may fill in.
MISSING_SAID = UNLABELLED - {"Unknown", "unknown"}


# obs columns that often hold a technical batch, named when "auto" corrects for none of them.
BATCH_LIKE = frozenset(
    {"batch", "donor", "donor_id", "sample", "sample_id", "patient", "individual", "subject",
     "run", "lane", "library", "plate", "orig.ident", "batch_id", "replicate"}
)  # fmt: skip


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
    likely = [str(c) for c in adata.obs.columns if str(c).lower() in BATCH_LIKE]
    if not likely:
        return None, []
    shown = ", ".join(map(repr, likely))
    return None, [
        f"no batch correction: batch_key='auto' reads only a registry dataset's batch column;"
        f" obs has {shown}: name one as batch_key= to correct for it, or batch_key=none"
    ]


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
    """Every cell needs a batch: those without one would be corrected as one batch named 'nan'.
    A blank value, or a missing one as R and exports write it ("NA", "nan"), is none either."""
    values = column.to_numpy(dtype=object)
    said = pd.Series(values).astype(str).str.strip().isin(MISSING_SAID).to_numpy()
    gaps = missing_names(values) | said
    missing = int(gaps.sum())
    if missing:
        shown = sorted({"NaN" if pd.isna(v) else repr(str(v)) for v in values[gaps]})[:3]
        raise GenekbError(
            f"batch key {batch_key!r} has no value for {missing} of {column.size} cells"
            f" ({', '.join(shown)}); fill them in (e.g. 'unknown'), or {no_correction} for no"
            " correction"
        )


def centre_per_batch(X: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """Each batch's mean moved onto the overall mean (a location-only batch correction)."""
    out = np.array(X, dtype=np.float32, copy=True)
    overall = out.mean(axis=0)
    for value in np.unique(batch):
        rows = batch == value
        out[rows] += overall - out[rows].mean(axis=0)
    return out


class ConfoundedBatchWarning(GenekbWarning):
    """Each batch holds one reference label: correcting for the batch removes the types."""


def check_confounded(obs: pd.DataFrame, batch_key: str, label_key: str | None) -> None:
    """Refuse the label column as the batch, and warn when every batch holds a single label:
    the correction then removes the very differences the labels score (silently, ARI ~0)."""
    if label_key is None or batch_key not in obs or label_key not in obs:
        return
    if batch_key == label_key:
        raise UsageError(
            f"batch key and label key name the same column {batch_key!r}: correcting for it"
            " would remove the differences the labels score; give a technical batch column"
            " (donor, run) as batch_key=, or batch_key=none"
        )
    labelled = ~unlabelled(obs[label_key].to_numpy())
    pairs = pd.DataFrame(
        {"b": obs[batch_key].astype(str).to_numpy(), "l": obs[label_key].astype(str).to_numpy()}
    )[labelled]
    if pairs["l"].nunique() < 2 or pairs.groupby("b")["l"].nunique().max() > 1:
        return
    warn(
        f"every batch of {batch_key!r} holds a single label of {label_key!r}: the batch is"
        " confounded with the cell types, and correcting for it removes their differences;"
        " give a technical batch column that cuts across the types, or batch_key=none",
        ConfoundedBatchWarning,
    )
