"""`classify` (one file, a training mask) and `transfer` (reference → query) on matrices."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import scipy.sparse as sp

from cellmodel.classify.knn import as_matrix, neighbours_said
from cellmodel.classify.labels import (
    check_reference_labels,
    checked_mask,
    class_sizes,
    label_array,
    unseen_notes,
)
from cellmodel.classify.options import (
    DEFAULT_K,
    ClassifyOptions,
    LabelsLike,
    ViewBuilder,
    resolve_vote,
)
from cellmodel.classify.predict import Fit, Outcome, predict
from cellmodel.classify.results import ClassifyResult
from cellmodel.classify.views import marker_view
from genekb.errors import UsageError


def classify(
    X: Any,
    labels: LabelsLike,
    train_mask: Sequence[bool] | np.ndarray,
    *,
    k: int = DEFAULT_K,
    refine_view: bool = True,
    seed: int = 0,
    device: str = "cpu",
    epochs: int | None = None,
    options: ClassifyOptions | None = None,
    pca: np.ndarray | None = None,
    compare: bool = True,
    expression: Any = None,
    gene_names: Sequence[str] | None = None,
    record_votes: bool = False,
) -> ClassifyResult:
    """Classify the cells outside `train_mask` from the labelled cells inside it.

    `X`: cells × d view (semantic, structure or fused). `labels`: one per cell; only the training
    cells' labels are used for fitting, the others (where present) only score the result.
    `pca`: a PCA of the expression (cells × n_pcs, see `expression_pca`) for the logistic
    regression comparison; without it the comparison runs on `X`. `epochs=None`: chosen on
    held-out training labels. `compare=False` skips the comparisons.
    `expression`: log-scale expression (cells × genes, sparse or dense) for the marker block
    (`marker_view`, `options.n_markers` genes per class; names from `gene_names`); without it
    the view is used as given. The unrefined kNN comparison sees the same view.
    `refine_view=False`: the kNN on the view as given, without the contrastive refinement.
    `record_votes=True`: keep the held-out cells' vote shares in `ClassifyResult.votes`.
    """
    began = time.perf_counter()
    X, values, mask, pca_matrix = _classify_inputs(X, labels, train_mask, pca)
    opts = resolve_vote(options or ClassifyOptions(), "classify")
    opts.check()
    markers: dict[str, Any] | None = None
    query = ~mask
    rebuild: ViewBuilder | None = None
    if expression is not None and opts.n_markers > 0:
        X, markers, rebuild = _with_markers(
            X, expression, values, np.flatnonzero(mask), query, opts, gene_names
        )
    fit = Fit(k, refine_view, seed, device, epochs, opts, compare, record_votes)
    outcome = predict(
        X[mask],
        values[mask],
        X[query],
        values[query],
        fit,
        pca_train=None if pca_matrix is None else pca_matrix[mask],
        pca_query=None if pca_matrix is None else pca_matrix[query],
        rebuild=rebuild,
    )
    params = fit.params(pca is not None)
    params.update(
        n_cells=len(values),
        n_train=int(mask.sum()),
        k_used=neighbours_said(k, int(mask.sum())),
        n_classes_train=len(class_sizes(values[mask])),
        markers=markers,
    )
    return _whole_file_result(outcome, values, mask, params, began)


def _classify_inputs(
    X: Any, labels: LabelsLike, train_mask: Sequence[bool] | np.ndarray, pca: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """`classify`'s inputs checked: the view, the labels, the training mask and the PCA."""
    X = as_matrix(X, "the cell embedding")
    values = label_array(labels)
    if len(values) != X.shape[0]:
        raise UsageError(f"{len(values)} labels for {X.shape[0]} cells; they must match")
    mask = checked_mask(values, train_mask)
    if mask.all():
        raise UsageError("every cell is in the training set; leave some cells to classify")
    pca_matrix = None
    if pca is not None:
        pca_matrix = as_matrix(pca, "the expression PCA")
        if pca_matrix.shape[0] != X.shape[0]:
            raise UsageError(f"the PCA has {pca_matrix.shape[0]} cells but X has {X.shape[0]}")
    return X, values, mask, pca_matrix


def _whole_file_result(
    outcome: Outcome, values: np.ndarray, mask: np.ndarray, params: dict[str, Any], began: float
) -> ClassifyResult:
    """`classify`'s result over every cell: the query cells' result, with the training cells
    keeping their labels (confidence 1)."""
    query = ~mask
    all_predictions = values.copy()
    all_predictions[query] = outcome.predictions
    all_confidence = np.ones(len(values), dtype=np.float32)
    all_confidence[query] = outcome.confidence
    refined = None
    if outcome.refined is not None:
        refined = np.zeros((len(values), outcome.refined[0].shape[1]), dtype=np.float32)
        refined[mask], refined[query] = outcome.refined
    notes = unseen_notes(values[mask], values[query])
    return replace(
        _query_result(outcome, params, notes, began),
        predictions=all_predictions,
        confidence=all_confidence,
        train_mask=mask,
        embedding=refined,
    )


def _with_markers(
    base: np.ndarray,
    expression: Any,
    names: np.ndarray,
    train_cells: np.ndarray,
    query_rows: np.ndarray,
    opts: ClassifyOptions,
    gene_names: Sequence[str] | None,
) -> tuple[np.ndarray, dict[str, Any], ViewBuilder]:
    """The view with its marker block (markers chosen on the rows `train_cells`), the record of
    the markers, and the builder refinement calls to choose them again on part of the training
    cells (its rows: training cells, then the `query_rows`)."""

    def view_from(cells: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        subset = np.zeros(len(base), dtype=bool)
        subset[cells] = True
        return marker_view(
            base, expression, names, subset, opts.n_markers, gene_names, opts.marker_block
        )

    def rebuild(fit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        view, _ = view_from(train_cells[fit])
        return view[train_cells], view[query_rows]

    view, markers = view_from(train_cells)
    return view, markers, rebuild


def transfer(
    ref_X: Any,
    ref_labels: LabelsLike,
    query_X: Any,
    *,
    query_labels: LabelsLike | None = None,
    k: int = DEFAULT_K,
    refine_view: bool = True,
    seed: int = 0,
    device: str = "cpu",
    epochs: int | None = None,
    options: ClassifyOptions | None = None,
    ref_pca: np.ndarray | None = None,
    query_pca: np.ndarray | None = None,
    compare: bool = True,
    ref_expression: Any = None,
    query_expression: Any = None,
    gene_names: Sequence[str] | None = None,
    record_votes: bool = False,
) -> ClassifyResult:
    """Train on every labelled reference cell and predict each query cell.

    Both matrices must be the same view built the same way (same store, same gene mapping).
    `query_labels` (optional) only score the result. `ref_pca`/`query_pca`: a shared PCA of both
    expressions (see `joint_expression_pca`) for the logistic regression comparison.
    `ref_expression`/`query_expression`: both files' log expression over the same genes, in the
    same column order (`shared_expression`), for the marker block (`marker_view`): markers come
    from the reference labels, each gene is standardized over the cells of both files.
       `refine_view` and `record_votes` as in `classify`.
    """
    began = time.perf_counter()
    ref, qry, ref_values, qry_values = _transfer_inputs(ref_X, ref_labels, query_X, query_labels)
    check_reference_labels(ref_values)
    labelled = ref_values != None  # noqa: E711
    checked_mask(ref_values, labelled)
    if (ref_pca is None) != (query_pca is None):
        raise UsageError("give both ref_pca and query_pca, or neither")
    opts = resolve_vote(options or ClassifyOptions(), "transfer")
    opts.check()
    ref, qry, markers, rebuild = _transfer_markers(
        ref, qry, ref_values, labelled, ref_expression, query_expression, opts, gene_names
    )
    pca_train = pca_query = None
    if ref_pca is not None and query_pca is not None:
        pca_train = as_matrix(ref_pca, "the reference PCA")[labelled]
        pca_query = as_matrix(query_pca, "the query PCA")
    fit = Fit(k, refine_view, seed, device, epochs, opts, compare, record_votes)
    outcome = predict(
        ref[labelled], ref_values[labelled], qry, qry_values, fit,
        pca_train=pca_train, pca_query=pca_query, rebuild=rebuild,
    )  # fmt: skip
    params = fit.params(ref_pca is not None)
    params.update(
        n_reference=int(ref.shape[0]),
        n_train=int(labelled.sum()),
        k_used=neighbours_said(k, int(labelled.sum())),
        n_query=int(qry.shape[0]),
        markers=markers,
    )
    notes = [] if qry_values is None else unseen_notes(ref_values[labelled], qry_values)
    return _query_result(outcome, params, notes, began)


def _query_result(
    outcome: Outcome, params: dict[str, Any], notes: list[str], began: float
) -> ClassifyResult:
    """The result over the query cells alone, none of them a training cell: `transfer`'s (and
    what `classify` widens to every cell)."""
    return ClassifyResult(
        predictions=outcome.predictions,
        confidence=outcome.confidence,
        train_mask=np.zeros(len(outcome.predictions), dtype=bool),
        embedding=None if outcome.refined is None else outcome.refined[1],
        scores=outcome.scores,
        comparisons=outcome.comparisons,
        params=params,
        refinement=outcome.refinement,
        seconds=time.perf_counter() - began,
        n_scored=outcome.n_scored,
        votes=outcome.votes,
        notes=notes,
    )


def _transfer_markers(
    ref: np.ndarray,
    qry: np.ndarray,
    ref_values: np.ndarray,
    labelled: np.ndarray,
    ref_expression: Any,
    query_expression: Any,
    opts: ClassifyOptions,
    gene_names: Sequence[str] | None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any] | None, ViewBuilder | None]:
    """Both views with the marker block (markers from the labelled reference cells, each gene
    standardized over both files), the record of the markers and refinement's view builder; the
    views as given when there is no expression or no marker is asked for."""
    if (ref_expression is None) != (query_expression is None):
        raise UsageError("give both ref_expression and query_expression, or neither")
    if ref_expression is None or opts.n_markers <= 0:
        return ref, qry, None, None
    if ref_expression.shape[1] != query_expression.shape[1]:
        raise UsageError(
            "the two expression matrices have different genes; align them with shared_expression"
        )
    # Either file may be sparse alone (a dense reference, a CSR or CSC query): one sparse stack.
    mixed = sp.issparse(ref_expression) or sp.issparse(query_expression)
    stack = partial(sp.vstack, format="csr") if mixed else np.vstack
    is_ref = np.arange(len(ref) + len(qry)) < len(ref)
    # reference rows are the first rows of the stacked view, so their indices carry over
    viewed, markers, rebuild = _with_markers(
        np.vstack([ref, qry]),
        stack([ref_expression, query_expression]),
        np.concatenate([ref_values, np.full(len(qry), None, dtype=object)]),
        np.flatnonzero(labelled),
        ~is_ref,
        opts,
        gene_names,
    )
    return viewed[is_ref], viewed[~is_ref], markers, rebuild


def _transfer_inputs(
    ref_X: Any, ref_labels: LabelsLike, query_X: Any, query_labels: LabelsLike | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """`transfer`'s views and labels checked against each other."""
    ref = as_matrix(ref_X, "the reference embedding")
    qry = as_matrix(query_X, "the query embedding")
    if ref.shape[1] != qry.shape[1]:
        raise UsageError(
            f"the reference has {ref.shape[1]} features and the query {qry.shape[1]}; build both"
            " views from the same store and options"
        )
    ref_values = label_array(ref_labels)
    if len(ref_values) != ref.shape[0]:
        raise UsageError(f"{len(ref_values)} reference labels for {ref.shape[0]} cells")
    qry_values = None
    if query_labels is not None:
        qry_values = label_array(query_labels)
        if len(qry_values) != qry.shape[0]:
            raise UsageError(f"{len(qry_values)} query labels for {qry.shape[0]} cells")
    return ref, qry, ref_values, qry_values
