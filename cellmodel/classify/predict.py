"""The shared core of `classify` and `transfer`: the kNN vote on the view, the refinement and the
blend of the two votes, and the comparisons, for training cells and the cells to predict."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from cellmodel.classify.knn import decide_class, mass_normalize, raw_vote_shares, vote_shares
from cellmodel.classify.options import ClassifyOptions, ViewBuilder
from cellmodel.classify.results import MethodScores, logistic_scores, score
from cellmodel.classify.training import refine
from genekb.errors import UsageError


@dataclass
class Outcome:
    """What `predict` found for the query cells."""

    predictions: np.ndarray
    confidence: np.ndarray
    refined: tuple[np.ndarray, np.ndarray] | None  # refined training and query cells
    scores: MethodScores | None
    comparisons: dict[str, MethodScores]
    refinement: dict[str, Any]
    n_scored: int
    votes: dict[str, np.ndarray] | None = None  # see `classify(record_votes=True)`


@dataclass(frozen=True)
class Fit:
    """A run's fitting settings, as `classify` and `transfer` take them: what `predict` uses and
    what the run's record (`params`) reports."""

    k: int
    refine_view: bool
    seed: int
    device: str
    epochs: int | None
    options: ClassifyOptions
    compare: bool = True
    record_votes: bool = False

    def params(self, has_pca: bool) -> dict[str, Any]:
        """The settings as the result's `params` record them."""
        return {
            "k": self.k,
            "refine": self.refine_view,
            "seed": self.seed,
            "device": self.device,
            "epochs": self.epochs,
            "loss": "supcon",
            "knn_weighting": self.options.knn_weighting,
            "logreg_input": "expression PCA" if has_pca else "the given view",
            "options": asdict(self.options),
        }


def predict(
    train_X: np.ndarray,
    train_y: np.ndarray,
    query_X: np.ndarray,
    query_y: np.ndarray | None,
    fit: Fit,
    *,
    pca_train: np.ndarray | None = None,
    pca_query: np.ndarray | None = None,
    rebuild: ViewBuilder | None = None,
) -> Outcome:
    """Shared core of `classify` and `transfer`: predictions for the query cells and scores."""
    k, refine_view, seed, device, epochs = fit.k, fit.refine_view, fit.seed, fit.device, fit.epochs
    if k < 1:
        raise UsageError(f"k must be at least 1 (got {k})")
    scored = (
        np.zeros(len(query_X), dtype=bool)
        if query_y is None
        else np.asarray([y is not None for y in query_y])
    )
    opts = fit.options
    opts.check()
    began = time.perf_counter()
    vote = _Vote.unrefined(train_X, train_y, query_X, k, opts)
    raw_seconds = time.perf_counter() - began
    refinement: dict[str, Any] = {}
    embedding = refined_shares = None
    if refine_view:
        refined_train, refined_query, refinement = refine(
            train_X, train_y, query_X, k=k, epochs=epochs, seed=seed, device=device,
            options=opts, rebuild=rebuild,
        )  # fmt: skip
        _, refined_shares = vote_shares(refined_train, train_y, refined_query, k, vote.component)
        embedding = (refined_train, refined_query)
    predictions, confidence = vote.decide(refined_shares)
    main = None
    if query_y is not None and scored.any():
        method, seconds = "refined-knn" if refine_view else "knn", time.perf_counter() - began
        main = score(method, query_y[scored].astype(str), predictions[scored], seconds)
    comparisons: dict[str, MethodScores] = {}
    if fit.compare and query_y is not None and scored.any():
        if refine_view:
            raw, _ = vote.decide(None)
            comparisons["knn"] = score("knn", query_y[scored], raw[scored], raw_seconds)
        comparisons.update(
            _logistic_comparison(
                train_X, train_y, query_X, query_y, scored, pca_train, pca_query, seed
            )
        )
    votes = {"classes": vote.classes, "unrefined": vote.raw_shares}
    if refined_shares is not None:
        votes["refined"] = refined_shares
    return Outcome(
        predictions=predictions,
        confidence=confidence,
        refined=embedding,
        scores=main,
        comparisons=comparisons,
        refinement=refinement,
        n_scored=int(scored.sum()),
        votes=votes if fit.record_votes else None,
    )


@dataclass
class _Vote:
    """The kNN vote on the view as given, and how a final vote is decided from it."""

    classes: np.ndarray
    raw_shares: np.ndarray
    counts: np.ndarray  # training cells per class, in the order of `classes`
    component: ClassifyOptions  # the options each geometry votes with
    opts: ClassifyOptions

    @classmethod
    def unrefined(
        cls, train_X: np.ndarray, train_y: np.ndarray, query_X: np.ndarray, k: int,
        opts: ClassifyOptions,
    ) -> _Vote:  # fmt: skip
        # "mass" rescales the final vote: each geometry votes by frequency, and the masses are
        # matched once, on the blend (matching each half first measured lower on all four
        # datasets).
        component = replace(opts, vote="frequency") if opts.vote == "mass" else opts
        # The unrefined vote: the answer without refinement, half of the blend, and the comparison.
        classes, raw_shares = raw_vote_shares(train_X, train_y, query_X, k, component)
        counts = np.unique(train_y.astype(str), return_counts=True)[1]
        return cls(classes, raw_shares, counts, component, opts)

    def decide(self, refined_shares: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Predictions and confidence: the unrefined vote alone, or blended with the refined one.

        Both geometries vote: the refined one knows the common classes' shapes, the raw one keeps
        what a class of one labelled cell cannot teach the projection."""
        shares = self.raw_shares
        if refined_shares is not None:
            shares = (1.0 - self.opts.blend) * refined_shares + self.opts.blend * self.raw_shares
        if self.opts.vote == "mass":
            shares = mass_normalize(shares, self.counts)
        return decide_class(self.classes, shares)


def _logistic_comparison(
    train_X: np.ndarray,
    train_y: np.ndarray,
    query_X: np.ndarray,
    query_y: np.ndarray,
    scored: np.ndarray,
    pca_train: np.ndarray | None,
    pca_query: np.ndarray | None,
    seed: int,
) -> dict[str, MethodScores]:
    """The logistic regression on the expression PCA (or, without one, on the view)."""
    began = time.perf_counter()
    lr_train = pca_train if pca_train is not None else train_X
    lr_query = pca_query if pca_query is not None else query_X
    name = "logreg-pca" if pca_train is not None else "logreg"
    lr = logistic_scores(lr_train, train_y, lr_query, seed)
    return {name: score(name, query_y[scored], lr[scored], time.perf_counter() - began)}
