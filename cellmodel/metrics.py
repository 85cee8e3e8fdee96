"""Clustering scores against reference labels: ACC and macro-F1 after Hungarian matching, NMI, ARI.

Labels only ever score a finished result; nothing in the fitting code imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from cellmodel.arguments import unlabelled, warn_unlabelled
from genekb.errors import GenekbError, UsageError


def _codes(labels: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes 0..n-1 and the sorted distinct values they stand for."""
    values, codes = np.unique(np.asarray(labels).astype(str), return_inverse=True)
    return codes.ravel(), values


def contingency(true_codes: np.ndarray, pred_codes: np.ndarray) -> np.ndarray:
    """Counts of cells per (predicted cluster, true class): n_pred × n_true."""
    table = np.zeros((pred_codes.max() + 1, true_codes.max() + 1), dtype=np.int64)
    np.add.at(table, (pred_codes, true_codes), 1)
    return table


def paired_labels(labels_true: Sequence[Any], labels_pred: Sequence[Any]) -> None:
    """Refuse two label lists that do not pair cell by cell, or pair no cell."""
    for name, labels in (("labels_true", labels_true), ("labels_pred", labels_pred)):
        # a string or a scalar had pandas' or Python's TypeError (len() of None) from below
        if not pd.api.types.is_list_like(labels):
            raise UsageError(
                f"{name} must be a list of labels, one per cell (got {type(labels).__name__})"
            )
    if len(labels_true) != len(labels_pred):
        raise GenekbError(
            f"{len(labels_true)} reference labels but {len(labels_pred)} predicted; they must match"
        )
    if len(labels_true) == 0:
        raise GenekbError("no cells to score")


def hungarian_mapping(
    labels_true: Sequence[Any] | np.ndarray, labels_pred: Sequence[Any] | np.ndarray
) -> dict[str, str]:
    """One-to-one map from predicted clusters to true classes that maximizes matched cells.

    Clusters left without a partner (more clusters than classes) are absent from the map.
    """
    paired_labels(labels_true, labels_pred)
    true_codes, true_values = _codes(labels_true)
    pred_codes, pred_values = _codes(labels_pred)
    table = contingency(true_codes, pred_codes)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return {str(pred_values[r]): str(true_values[c]) for r, c in zip(rows, cols, strict=True)}


def labelled_cells(column: pd.Series, label_key: str) -> np.ndarray:
    """The mask of the cells that `column` (an obs column of reference labels) labels; refused in
    one line when it labels none."""
    mask = ~unlabelled(column)  # a blank label, or "NA", is no class either
    if not len(mask):  # no cells at all: "every value is missing" would send the user astray
        raise GenekbError("the data holds no cells; give a file with cells to score")
    if not mask.any():
        raise GenekbError(
            f"label key {label_key!r} holds no labels (every value is missing or blank); choose"
            " another label_key="
        )
    return mask


def check_labels(column: pd.Series, label_key: str) -> np.ndarray:
    """The mask of labelled cells; refused when no cell is labelled or all share one class (a
    score against one class says nothing of the clusters: bench and cluster refuse it first)."""
    mask = labelled_cells(column, label_key)
    warn_unlabelled(column, label_key, "the scores")
    classes = pd.unique(column[mask].astype(str))
    if len(classes) < 2:
        raise GenekbError(
            f"label key {label_key!r} holds a single class ({classes[0]!r}); scoring needs"
            " reference labels of two classes or more: choose another label_key="
        )
    n_labelled = int(np.count_nonzero(mask))
    if len(classes) > n_labelled / 2:
        # About a class per cell: an id or a measurement, not a cell type; k would be the cells.
        raise GenekbError(
            f"label key {label_key!r} holds {len(classes)} classes for {n_labelled} labelled"
            " cells (a cell id or a continuous value?); scoring needs reference classes of"
            " several cells each: choose another label_key="
        )
    return mask


def labelled_pairs(labels_true: Any, labels_pred: Any) -> tuple[Any, Any]:
    """The cells with a reference label: a missing or blank one is no class of its own."""
    known = ~unlabelled(labels_true)
    if known.all():
        return labels_true, labels_pred
    if not known.any():
        raise GenekbError("no cell has a reference label to score against (every label is missing)")
    return np.asarray(labels_true, dtype=object)[known], np.asarray(labels_pred)[known]


def cluster_metrics(
    labels_true: Sequence[Any] | np.ndarray, labels_pred: Sequence[Any] | np.ndarray
) -> dict[str, float]:
    """acc (Hungarian), nmi (arithmetic), ari, f1 (macro over true classes after matching).

    A true class with no matched cluster scores F1 = 0; labels are compared as strings.
    """
    paired_labels(labels_true, labels_pred)
    labels_true, labels_pred = labelled_pairs(labels_true, labels_pred)
    true_codes, _ = _codes(labels_true)
    pred_codes, _ = _codes(labels_pred)
    table = contingency(true_codes, pred_codes)
    rows, cols = linear_sum_assignment(table, maximize=True)
    n = len(true_codes)
    acc = float(table[rows, cols].sum()) / n
    # Macro F1 over true classes: each class is scored against the cluster matched to it.
    matched = dict(zip(cols, rows, strict=True))
    class_sizes = table.sum(axis=0)
    cluster_sizes = table.sum(axis=1)
    f1_scores = []
    for c in range(table.shape[1]):
        r = matched.get(c)
        hits = table[r, c] if r is not None else 0
        f1_scores.append(0.0 if hits == 0 else 2.0 * hits / (class_sizes[c] + cluster_sizes[r]))
    return {
        "acc": acc,
        "nmi": float(normalized_mutual_info_score(true_codes, pred_codes)),
        "ari": float(adjusted_rand_score(true_codes, pred_codes)),
        "f1": float(np.mean(f1_scores)),
    }
