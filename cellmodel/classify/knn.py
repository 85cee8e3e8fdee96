"""The kNN vote: scaling, distance-weighted votes, class-mass normalization, the decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cellmodel.classify.options import (
    DEFAULT_K,
    KNN_WEIGHTINGS,
    MIN_DISTANCE,
    VOTES,
    ClassifyOptions,
)
from genekb.errors import GenekbError, UsageError, warn
from genekb.linalg import l2_normalize


def as_matrix(X: Any, what: str) -> np.ndarray:
    if hasattr(X, "toarray"):
        X = X.toarray()
    try:
        X = np.asarray(X, dtype=np.float32)
    except (TypeError, ValueError) as exc:  # text in an obsm array: numpy's own words named none
        raise UsageError(f"{what} must be a cells × features matrix of numbers ({exc})") from None
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise UsageError(f"{what} must be a non-empty cells × features matrix (got {X.shape})")
    if not np.isfinite(X).all():
        raise GenekbError(f"{what} holds NaN or infinite values; fix or drop those cells first")
    return X


@dataclass
class Scaler:
    """Centre the columns and divide by the overall RMS (fitted on training cells): inputs of order
    1 whatever the view, with the relative scale of the features kept."""

    mean: np.ndarray
    rms: float

    @classmethod
    def fit(cls, X: np.ndarray) -> Scaler:
        mean = X.mean(axis=0, keepdims=True)
        rms = float(np.sqrt(np.mean((X - mean) ** 2)))
        return cls(mean=mean, rms=rms if rms > 0 else 1.0)

    def apply(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / self.rms).astype(np.float32)


def neighbours_used(k: int, n_train: int) -> int:
    """The neighbours a vote can have: k, or every training cell where there are fewer."""
    return min(k, n_train)


def neighbours_said(k: int, n_train: int) -> int:
    """`neighbours_used`, with a warning where a k the user chose is more than the training
    cells (the default k is capped quietly: few labels are the usual case)."""
    used = neighbours_used(k, n_train)
    if used < k and k != DEFAULT_K:
        warn(f"k={k} neighbours asked, but only {n_train} training cells: every vote uses all"
             f" {n_train}; give k ≤ {n_train} or more labelled cells")  # fmt: skip
    return used


def knn_votes(
    train_X: np.ndarray,
    train_y: np.ndarray,
    query_X: np.ndarray,
    k: int = DEFAULT_K,
    *,
    weighting: str = "gaussian",
    temperature: float = 0.1,
    vote: str = "frequency",
) -> tuple[np.ndarray, np.ndarray]:
    """Distance-weighted kNN votes: the sorted classes and each query cell's vote shares.

    "gaussian": rows are L2-normalized (cosine geometry, where SupCon works) and a neighbour at
    distance d weighs exp(-d² / (2 × temperature)) = exp(cos / temperature) up to a constant: the
    similarity softmax the contrastive loss was trained with, so a class whose one labelled cell
    lies much closer than the rest is not outvoted by k − 1 farther cells of common classes.
    "inverse": Euclidean distance on the rows as given, weight 1/d.
    `vote="balanced"` divides each class's votes by its number of training cells before the
    shares are taken: the kNN estimate of p(class | cell) becomes one of p(cell | class), the
    rule that maximizes balanced accuracy, so a class with 2 labelled cells is not outvoted by a
    class with 200 merely for having fewer cells to be near.
    `vote="mass"`: the frequency shares, then `mass_normalize` over the query cells with the
    training cells' class proportions as the prior. It needs the query cells together (it is
    transductive) and assumes they hold the classes in about the training proportions.
    """
    from sklearn.neighbors import NearestNeighbors

    if weighting not in KNN_WEIGHTINGS:
        raise UsageError(f"unknown kNN weighting {weighting!r}; choose one of gaussian, inverse")
    k = neighbours_used(k, len(train_X))
    if weighting == "gaussian":
        train_X = l2_normalize(train_X, eps=MIN_DISTANCE)
        query_X = l2_normalize(query_X, eps=MIN_DISTANCE)
    distances, neighbours = NearestNeighbors(n_neighbors=k).fit(train_X).kneighbors(query_X)
    classes, codes = np.unique(train_y.astype(str), return_inverse=True)
    if weighting == "gaussian":
        # Relative to the nearest neighbour, so the exponent never underflows to all zeros.
        squared = distances**2
        weights = np.exp(-(squared - squared[:, :1]) / (2.0 * temperature))
    else:
        weights = 1.0 / np.maximum(distances, MIN_DISTANCE)
    votes = np.zeros((len(query_X), len(classes)), dtype=np.float64)
    rows = np.repeat(np.arange(len(query_X)), k)
    np.add.at(votes, (rows, codes[neighbours].ravel()), weights.ravel())
    counts = np.bincount(codes, minlength=len(classes))
    if vote == "balanced":
        votes /= counts[None, :]
    elif vote not in ("frequency", "mass"):
        raise UsageError(f"unknown vote {vote!r}; choose one of {', '.join(VOTES)}")
    shares = votes / votes.sum(axis=1, keepdims=True)
    if vote == "mass":
        shares = mass_normalize(shares, counts)
    return classes.astype(object), shares


def mass_normalize(shares: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Class-mass normalization (Zhu, Ghahramani & Lafferty, ICML 2003, section 5).

    `shares`: query cells × classes (rows sum to 1); `prior`: each class's expected share of the
    query cells (any positive scale; here the training cells per class). Column c is scaled by
    prior_c / (its total share over the query cells), so the classes' vote masses match the prior
    before each row takes its argmax; rows are renormalized. Why: the kNN vote of p(class | cell)
    gives a class of one labelled cell less mass than its share of the cells, because its cells'
    neighbourhoods are mostly other classes' labelled cells; the balanced vote overcorrects
    (every class of one cell weighs as much as one of 60), which costs accuracy in false calls.
    Matching masses corrects by how much each class is actually underpredicted. Label-free: the
    prior comes from the training labels, the masses from the query cells' votes.
    """
    prior = np.asarray(prior, dtype=np.float64)
    prior = prior / prior.sum()
    mass = shares.sum(axis=0) / max(len(shares), 1)
    # A class that no query cell votes for keeps a zero column instead of a 0/0.
    scale = np.divide(prior, mass, out=np.zeros_like(mass), where=mass > 0)
    scaled = shares * scale[None, :]
    total = scaled.sum(axis=1, keepdims=True)
    return np.divide(scaled, total, out=np.array(shares, dtype=np.float64), where=total > 0)


def knn_predict(
    train_X: np.ndarray,
    train_y: np.ndarray,
    query_X: np.ndarray,
    k: int = DEFAULT_K,
    *,
    weighting: str = "gaussian",
    temperature: float = 0.1,
    vote: str = "frequency",
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted class of each query cell and its vote share (the confidence); see `knn_votes`."""
    classes, shares = knn_votes(
        train_X, train_y, query_X, k, weighting=weighting, temperature=temperature, vote=vote
    )
    return decide_class(classes, shares)


def vote_shares(
    train_X: np.ndarray, train_y: np.ndarray, query_X: np.ndarray, k: int, opts: ClassifyOptions
) -> tuple[np.ndarray, np.ndarray]:
    return knn_votes(
        train_X,
        train_y,
        query_X,
        k,
        weighting=opts.knn_weighting,
        temperature=opts.temperature,
        vote=opts.vote,
    )


def decide_class(classes: np.ndarray, shares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The class with the largest share and that share; ties go to the first class in sorted
    order, so the decision is deterministic."""
    winner = shares.argmax(axis=1)
    return classes[winner], shares[np.arange(len(shares)), winner].astype(np.float32)


def raw_vote_shares(
    train_X: np.ndarray, train_y: np.ndarray, query_X: np.ndarray, k: int, opts: ClassifyOptions
) -> tuple[np.ndarray, np.ndarray]:
    """Vote shares of the unrefined kNN on the view as given (scaled on the training cells)."""
    scaler = Scaler.fit(train_X)
    return vote_shares(scaler.apply(train_X), train_y, scaler.apply(query_X), k, opts)
