"""Writing a classification into AnnData, scanpy-style (`annotate`), and the check that its
columns overwrite neither the run's inputs nor another step's results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cellmodel._settings import (
    ANNOTATION_KEY,
    CLASSIFY_OBSM_KEY,
    CLASSIFY_UNS_KEY,
    CLUSTER_KEY,
    PREDICTION_KEY,
)
from cellmodel.classify.labels import ordered_classes
from cellmodel.classify.results import ClassifyResult
from cellmodel.uns_record import (
    annotation_columns,
    forget_scanpy_results,
    h5ad_safe,
    index_clash,
)
from genekb.errors import UsageError


def result_keys(key_added: str) -> tuple[str, str]:
    """(uns key, obsm key) of a run's record and refined view: the default key_added's
    `uns["cellmodel_classify"]` and `obsm["X_classify"]`; any other's `uns[key_added]` and
    `obsm["X_" + key_added]` (scanpy's shape): a second run under another key keeps the first's."""
    if key_added == PREDICTION_KEY:
        return CLASSIFY_UNS_KEY, CLASSIFY_OBSM_KEY
    return key_added, f"X_{key_added}"


def is_classify_record(value: Any, key_added: str) -> bool:
    """Whether an uns entry is the record a classify run under `key_added` wrote."""
    params = value.get("params") if isinstance(value, Mapping) else None
    return isinstance(params, Mapping) and params.get("key_added") == key_added


def annotate(
    adata: Any,
    result: ClassifyResult,
    *,
    key: str = PREDICTION_KEY,
    classes: list[str] | None = None,
) -> None:
    """Write a `classify` result into `adata` scanpy-style: `obs[key]` (categorical, its classes
    in the order of `classes`, the label column's: `class_order`), `obs[key + "_confidence"]`,
    `obs[key + "_train"]`, `obsm["X_classify"]` (refined view) and `uns["cellmodel_classify"]`
    (scores, comparisons, parameters with `key_added`, stopping record); under another `key`,
    `obsm["X_" + key]` and `uns[key]` (`result_keys`)."""
    if len(result.predictions) != adata.n_obs:
        raise UsageError(
            f"the result covers {len(result.predictions)} cells but the AnnData has {adata.n_obs}"
        )
    forget_scanpy_results(adata, [key, f"{key}_confidence", f"{key}_train"])  # the last run's
    adata.obs[key] = ordered_classes(result.predictions, classes)
    adata.obs[f"{key}_confidence"] = result.confidence
    adata.obs[f"{key}_train"] = result.train_mask
    uns_key, obsm_key = result_keys(key)
    if result.embedding is not None:
        adata.obsm[obsm_key] = result.embedding
    else:  # a run without refinement: the last run's refined view passed for this one's
        adata.obsm.pop(obsm_key, None)
    record = result.to_dict()
    record["params"] = {**(record.get("params") or {}), "key_added": key}  # which columns
    adata.uns[uns_key] = h5ad_safe(record)


def refuse_overwriting_inputs(
    adata: Any, key_added: str, label_key: str | None, train_mask: Any
) -> None:
    """Refuse a `key_added` whose columns (`annotate`) would overwrite the labels or the train
    mask the run reads: the result would replace the input it is scored against."""
    if not isinstance(key_added, str) or not key_added.strip() or "/" in key_added:
        # An int would become an obs column h5ad cannot write; "" a column named ""; a "/" a
        # path inside the file (anndata warns of it now, and will refuse it).
        raise UsageError(
            f"key_added={key_added!r} must name the obs column of the predictions (no '/'),"
            f" e.g. {PREDICTION_KEY!r}"
        )
    written = {key_added, f"{key_added}_confidence", f"{key_added}_train"}
    clash = index_clash(sorted(written), adata.obs.index.name)
    if clash is not None:  # the .h5ad of the result could not be written, after the whole run
        raise UsageError(
            f"key_added={key_added!r} would write obs[{clash!r}], the name under which the file"
            " keeps the cell names; choose another name"
        )
    # As annotate refuses them: predictions there silently replaced the clusters or their names.
    taken = sorted(written & {CLUSTER_KEY, *annotation_columns(ANNOTATION_KEY)})
    if taken:
        raise UsageError(
            f"key_added={key_added!r} would write obs[{taken[0]!r}], where another cellmodel step"
            f" writes its results; choose another name, e.g. {PREDICTION_KEY!r}"
        )
    for role, column in (("label", label_key), ("train mask", train_mask)):
        if isinstance(column, str) and column in written and column in adata.obs:
            raise UsageError(
                f"the results go to obs[{key_added!r}] and would overwrite the {role} column"
                f" obs[{column!r}]; copy that column under another name (in Python: or pass"
                " another key_added=)"
            )
    _refuse_replacing_own_columns(adata.obs.columns, key_added, sorted(written))
    _refuse_replacing_other_results(adata, key_added)


def _refuse_replacing_other_results(adata: Any, key: str) -> None:
    """Refuse a key_added whose uns entry (or obsm view) holds what no classify run under it
    wrote: key_added="neighbors" would replace scanpy's graph record, "umap" its X_umap."""
    uns_key, obsm_key = result_keys(key)
    uns = getattr(adata, "uns", {})
    if uns_key == CLASSIFY_UNS_KEY or is_classify_record(uns.get(uns_key), key):
        return
    taken = [f"uns[{uns_key!r}]"] if uns_key in uns else []
    taken += [f"obsm[{obsm_key!r}]"] if obsm_key in getattr(adata, "obsm", {}) else []
    if taken:
        raise UsageError(
            f"key_added={key!r} would overwrite {taken[0]}, which no classify run under that key"
            " wrote; give another key_added"
        )


def _refuse_replacing_own_columns(columns: Any, key: str, written: list[str]) -> None:
    """Refuse a key_added whose columns hold something no classify run wrote: key_added="leiden"
    replaced the clustering, key_added="qc" a column "qc_train", without a word (annotate
    refuses the same). A run's own columns (obs[key] beside obs[key + "_confidence"], as in
    memory and out of core both write them) are replaced, as a second run should."""
    present = set(map(str, columns))
    if {key, f"{key}_confidence"} <= present:
        return
    clash = next((c for c in written if c in present), None)
    if clash is not None:
        raise UsageError(
            f"the results would overwrite obs[{clash!r}], which no classify run wrote; rename or"
            " drop that column first (in Python: or pass another key_added=)"
        )
