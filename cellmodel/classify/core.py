"""`classify` (one file, a training mask) and `transfer` (reference → query) on matrices."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from cellmodel.classify.knn import _decide, _raw_shares, _shares, as_matrix, mass_normalize
from cellmodel.classify.labels import _checked_mask, _class_sizes, _unseen_notes, label_array
from cellmodel.classify.options import (
    DEFAULT_K,
    ClassifyOptions,
    LabelsLike,
    ViewBuilder,
    resolve_vote,
)
from cellmodel.classify.results import ClassifyResult, MethodScores, _logistic, score
from cellmodel.classify.training import refine
from cellmodel.classify.views import marker_view
from genekb.errors import UsageError


@dataclass
class _Outcome:
    """What `_run` found for the query cells."""

    predictions: np.ndarray
    confidence: np.ndarray
    refined: tuple[np.ndarray, np.ndarray] | None  # refined training and query cells
    scores: MethodScores | None
    comparisons: dict[str, MethodScores]
    refinement: dict[str, Any]
    n_scored: int
    votes: dict[str, np.ndarray] | None = None  # see `classify(record_votes=True)`


def _run(
    train_X: np.ndarray,
    train_y: np.ndarray,
    query_X: np.ndarray,
    query_y: np.ndarray | None,
    *,
    k: int,
    refine_view: bool,
    seed: int,
    device: str,
    epochs: int | None,
    options: ClassifyOptions | None,
    pca_train: np.ndarray | None,
    pca_query: np.ndarray | None,
    compare: bool,
    rebuild: ViewBuilder | None = None,
    record_votes: bool = False,
) -> _Outcome:
    """Shared core of `classify` and `transfer`: predictions for the query cells and scores."""
    if k < 1:
        raise UsageError(f"k must be at least 1 (got {k})")
    scored = (
        np.zeros(len(query_X), dtype=bool)
        if query_y is None
        else np.asarray([y is not None for y in query_y])
    )

    def scored_on(method: str, predicted: np.ndarray, seconds: float) -> MethodScores | None:
        if query_y is None or not scored.any():
            return None
        return score(method, query_y[scored].astype(str), predicted[scored], seconds)

    opts = options or ClassifyOptions()
    opts.check()
    began = time.perf_counter()
    # "mass" rescales the final vote: each geometry votes by frequency, and the masses are
    # matched once, on the blend (matching each half first measured lower on all four datasets).
    component = replace(opts, vote="frequency") if opts.vote == "mass" else opts
    # The unrefined vote: the answer without refinement, half of the blend, and the comparison.
    classes, raw_shares = _raw_shares(train_X, train_y, query_X, k, component)
    counts = np.unique(train_y.astype(str), return_counts=True)[1]  # in the order of `classes`

    def final(shares: np.ndarray) -> np.ndarray:
        return mass_normalize(shares, counts) if opts.vote == "mass" else shares

    raw_seconds = time.perf_counter() - began
    embedding = None
    refinement: dict[str, Any] = {}
    if refine_view:
        refined_train, refined_query, refinement = refine(
            train_X,
            train_y,
            query_X,
            k=k,
            epochs=epochs,
            seed=seed,
            device=device,
            options=opts,
            rebuild=rebuild,
        )
        _, refined_shares = _shares(refined_train, train_y, refined_query, k, component)
        # Both geometries vote: the refined one knows the common classes' shapes, the raw one
        # keeps what a class of one labelled cell cannot teach the projection.
        shares = (1.0 - opts.blend) * refined_shares + opts.blend * raw_shares
        predictions, confidence = _decide(classes, final(shares))
        embedding = (refined_train, refined_query)
    else:
        predictions, confidence = _decide(classes, final(raw_shares))
    main = scored_on(
        "refined-knn" if refine_view else "knn", predictions, time.perf_counter() - began
    )

    comparisons: dict[str, MethodScores] = {}
    if compare and query_y is not None and scored.any():
        if refine_view:
            raw, _ = _decide(classes, final(raw_shares))
            comparisons["knn"] = score("knn", query_y[scored], raw[scored], raw_seconds)
        began = time.perf_counter()
        lr_train = pca_train if pca_train is not None else train_X
        lr_query = pca_query if pca_query is not None else query_X
        name = "logreg-pca" if pca_train is not None else "logreg"
        lr = _logistic(lr_train, train_y, lr_query, seed)
        comparisons[name] = score(name, query_y[scored], lr[scored], time.perf_counter() - began)
    return _Outcome(
        predictions=predictions,
        confidence=confidence,
        refined=embedding,
        scores=main,
        comparisons=comparisons,
        refinement=refinement,
        n_scored=int(scored.sum()),
        votes=(
            {"classes": classes, "unrefined": raw_shares}
            | ({"refined": refined_shares} if refine_view else {})
            if record_votes
            else None
        ),
    )


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
    X = as_matrix(X, "the cell embedding")
    values = label_array(labels)
    if len(values) != X.shape[0]:
        raise UsageError(f"{len(values)} labels for {X.shape[0]} cells; they must match")
    mask = _checked_mask(values, train_mask)
    if mask.all():
        raise UsageError("every cell is in the training set; leave some cells to classify")
    pca_matrix = None
    if pca is not None:
        pca_matrix = as_matrix(pca, "the expression PCA")
        if pca_matrix.shape[0] != X.shape[0]:
            raise UsageError(f"the PCA has {pca_matrix.shape[0]} cells but X has {X.shape[0]}")
    opts = resolve_vote(options or ClassifyOptions(), "classify")
    opts.check()
    markers: dict[str, Any] | None = None
    query = ~mask
    rebuild: ViewBuilder | None = None
    if expression is not None and opts.n_markers > 0:
        base, train_cells = X, np.flatnonzero(mask)

        def view_from(subset: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
            return marker_view(
                base, expression, values, subset, opts.n_markers, gene_names, opts.marker_block
            )

        def rebuild(fit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            subset = np.zeros(len(values), dtype=bool)
            subset[train_cells[fit]] = True
            view, _ = view_from(subset)
            return view[mask], view[query]

        X, markers = view_from(mask)
    outcome = _run(
        X[mask],
        values[mask],
        X[query],
        values[query],
        k=k,
        refine_view=refine_view,
        seed=seed,
        device=device,
        epochs=epochs,
        options=opts,
        pca_train=None if pca_matrix is None else pca_matrix[mask],
        pca_query=None if pca_matrix is None else pca_matrix[query],
        compare=compare,
        rebuild=rebuild,
        record_votes=record_votes,
    )
    all_predictions = values.copy()
    all_predictions[query] = outcome.predictions
    all_confidence = np.ones(len(values), dtype=np.float32)
    all_confidence[query] = outcome.confidence
    refined = None
    if outcome.refined is not None:
        refined = np.zeros((len(values), outcome.refined[0].shape[1]), dtype=np.float32)
        refined[mask], refined[query] = outcome.refined
    params = _params(k, refine_view, seed, device, epochs, opts, pca is not None)
    params.update(
        n_cells=len(values),
        n_train=int(mask.sum()),
        n_classes_train=len(_class_sizes(values[mask])),
        markers=markers,
    )
    return ClassifyResult(
        predictions=all_predictions,
        confidence=all_confidence,
        train_mask=mask,
        embedding=refined,
        scores=outcome.scores,
        comparisons=outcome.comparisons,
        params=params,
        refinement=outcome.refinement,
        seconds=time.perf_counter() - began,
        n_scored=outcome.n_scored,
        votes=outcome.votes,
        notes=_unseen_notes(values[mask], values[query]),
    )


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
    labelled = ref_values != None  # noqa: E711
    _checked_mask(ref_values, labelled)
    qry_values = None
    if query_labels is not None:
        qry_values = label_array(query_labels)
        if len(qry_values) != qry.shape[0]:
            raise UsageError(f"{len(qry_values)} query labels for {qry.shape[0]} cells")
    if (ref_pca is None) != (query_pca is None):
        raise UsageError("give both ref_pca and query_pca, or neither")
    opts = resolve_vote(options or ClassifyOptions(), "transfer")
    opts.check()
    markers: dict[str, Any] | None = None
    rebuild: ViewBuilder | None = None
    if (ref_expression is None) != (query_expression is None):
        raise UsageError("give both ref_expression and query_expression, or neither")
    if ref_expression is not None and opts.n_markers > 0:
        import scipy.sparse as sp

        stack = sp.vstack if sp.issparse(ref_expression) else np.vstack
        if ref_expression.shape[1] != query_expression.shape[1]:
            raise UsageError(
                "the two expression matrices have different genes; align them with"
                " shared_expression"
            )
        both = np.vstack([ref, qry])
        names = np.concatenate([ref_values, np.full(len(qry), None, dtype=object)])
        is_ref = np.arange(len(both)) < len(ref)
        expression = stack([ref_expression, query_expression])
        train_cells = np.flatnonzero(labelled)  # reference rows = the first rows of `both`

        def view_from(subset: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
            return marker_view(
                both, expression, names, subset, opts.n_markers, gene_names, opts.marker_block
            )

        def rebuild(fit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            subset = np.zeros(len(both), dtype=bool)
            subset[train_cells[fit]] = True
            view, _ = view_from(subset)
            return view[train_cells], view[~is_ref]

        viewed, markers = view_from(is_ref & np.concatenate([labelled, np.zeros(len(qry), bool)]))
        ref, qry = viewed[is_ref], viewed[~is_ref]
    pca_train = pca_query = None
    if ref_pca is not None and query_pca is not None:
        pca_train = as_matrix(ref_pca, "the reference PCA")[labelled]
        pca_query = as_matrix(query_pca, "the query PCA")
    outcome = _run(
        ref[labelled],
        ref_values[labelled],
        qry,
        qry_values,
        k=k,
        refine_view=refine_view,
        seed=seed,
        device=device,
        epochs=epochs,
        options=opts,
        pca_train=pca_train,
        pca_query=pca_query,
        compare=compare,
        rebuild=rebuild,
        record_votes=record_votes,
    )
    params = _params(k, refine_view, seed, device, epochs, opts, ref_pca is not None)
    params.update(
        n_reference=int(ref.shape[0]),
        n_train=int(labelled.sum()),
        n_query=int(qry.shape[0]),
        markers=markers,
    )
    return ClassifyResult(
        predictions=outcome.predictions,
        confidence=outcome.confidence,
        train_mask=np.zeros(len(qry), dtype=bool),
        embedding=None if outcome.refined is None else outcome.refined[1],
        scores=outcome.scores,
        comparisons=outcome.comparisons,
        params=params,
        refinement=outcome.refinement,
        seconds=time.perf_counter() - began,
        n_scored=outcome.n_scored,
        votes=outcome.votes,
        notes=[] if qry_values is None else _unseen_notes(ref_values[labelled], qry_values),
    )


def _params(
    k: int,
    refine_view: bool,
    seed: int,
    device: str,
    epochs: int | None,
    options: ClassifyOptions | None,
    has_pca: bool,
) -> dict[str, Any]:
    opts = options or ClassifyOptions()
    return {
        "k": k,
        "refine": refine_view,
        "seed": seed,
        "device": device,
        "epochs": epochs,
        "loss": "supcon",
        "knn_weighting": opts.knn_weighting,
        "logreg_input": "expression PCA" if has_pca else "the given view",
        "options": asdict(opts),
    }
