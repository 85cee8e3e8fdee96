"""Few-label classification: supervised contrastive refinement of cell embeddings, then kNN.

The caller hands over a cells × d matrix (the semantic, structure or fused view) and labels for
some of the cells. The procedure:

1. Split. `split` draws a stratified training set (a fraction, or N cells per class) or checks a
   given mask. Only training labels reach the fitting code; held-out labels only score the result.
2. Refinement. A residual MLP projection (`RefineNet`: it starts as the identity on the unit
   sphere, so epoch 0 is the unrefined geometry) is trained with the supervised contrastive loss
   (SupCon, Khosla et al. 2020). Each step sees two augmented views of every cell in the batch
   (feature dropout + Gaussian noise); a cell's positives are its other view and every view of the
   other cells of its class. SupCon rather than triplet loss: it uses every positive and negative
   in the batch at once, so it needs no triplet mining (brittle when a class has one or two
   labelled cells), and the view-pair positive keeps a class with a single labelled cell in the
   loss. Anchors are weighted by 1 / class size so rare classes pull as hard as common ones.
   Self-training: unlabelled cells that the unrefined kNN assigns with a vote share of at least
   `pseudo_threshold` (0.5: more votes for that class than for all others together) can join the
   loss with that class, each anchor weighted by its vote margin (top share − runner-up, so a
   near-tie in a two-class problem barely counts). On views where the unrefined kNN is already
   good, the projection trained on a few labelled cells alone overfits them and the pseudo-labels
   give it the shape of the classes instead; where the unrefined geometry misleads, pseudo-labels
   copy its mistakes (docs/classify_experiments.md). So by default (`self_training="auto"`) the
   held-out training labels of step 3 decide between the two.
3. Stopping. With `epochs=None`, a stratified part of the *training* labels is held out (those
   cells become unlabelled for the search), the model is trained on the rest, and the epoch count
   (0 included: the residual net starts as the identity) with the best held-out kNN accuracy,
   ties going to the larger true-class vote share, is kept, together with the self-training mode
   that reached it; the model is then trained afresh on all training cells for that many epochs.
   The labels of the cells being classified never take part in any choice.
4. kNN. Distance-weighted kNN (k = 15 by default) in the refined space, with a Gaussian kernel on
   the cosine geometry (`knn_votes`); its vote shares are averaged with those of the same kNN on
   the unrefined view (`blend`, 0.5), and a cell's confidence is the share of its predicted class.
   Why: the projection learns the common classes from many labelled cells but cannot learn a
   class of one labelled cell, whose unlabelled cells the refined geometry moves toward their
   common neighbours; averaging the two votes was at least as good as the refined vote alone on
   every dataset and vote rule measured (docs/classify_experiments.md).
5. Vote rule. By default (`vote="auto"`: "mass" in `classify`, "frequency" in `transfer`) the
   blended shares are class-mass normalized (`mass_normalize`, Zhu et al. 2003): each class's
   total share over the cells being classified is matched to its share of the labelled cells
   before each cell takes its largest. A class of one labelled cell is outvoted by the common
   classes' labelled cells around its members, so the plain vote gives it far less mass than
   its share; matching masses lifts it by how much it is underpredicted (Baron macro-F1 0.875 →
   0.936, every dataset measured up). The same rule votes in the stopping search and chooses the
   pseudo-labels. It assumes the cells being classified hold the classes in about the labelled
   proportions, which a stratified or random split guarantees and a reference-to-query transfer
   does not (a class absent from the query draws false calls), hence frequency there.
   `vote="balanced"` divides each class's votes by its number of labelled cells (the rule for
   balanced accuracy: every class of one labelled cell weighs as much as one of sixty, which
   costs accuracy in false calls).

Before step 2, when the caller passes the expression (`classify(..., expression=...)`), a marker
block is appended to the view (`marker_view`): per class, the genes that set its *training* cells
apart (effect size against the other training cells), standardized over all cells, and by default
combined into one marker score per class (weighted by squared effect size). A type too rare
to own a principal component still owns its marker genes.

The same run scores two comparisons on the same held-out cells: the same kNN on the unrefined
input, and multinomial logistic regression on a PCA of the expression (`expression_pca`).
Everything is deterministic for a seed on the CPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from cellmodel.io import h5ad_safe
from cellmodel.model import deterministic
from genekb.errors import GenekbError, UsageError

DEFAULT_K = 15
DEFAULT_N_PCS = 50
SMALL_CLASSES = ("error", "cap")
KNN_WEIGHTINGS = ("gaussian", "inverse")
SELF_TRAINING = ("auto", "on", "off")
VOTES = ("frequency", "balanced", "mass")
# "auto": "mass" in `classify` (the labelled cells are a sample of the cells being classified, so
# their class proportions estimate those of the rest) and "frequency" in `transfer` (a query's
# composition is unknown; forcing the reference's proportions on it makes false calls).
VOTE_AUTO = {"classify": "mass", "transfer": "frequency"}
MARKER_BLOCKS = ("scores", "genes")
# Given a mask over the training cells, the (training, query) view built from those cells' labels.
ViewBuilder = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
SmallClasses = Literal["error", "cap"]
LabelsLike = Sequence[Any] | np.ndarray | pd.Series | pd.Categorical
# A zero distance would give an infinite weight; this floor keeps the vote finite (an exact
# duplicate of a training cell still outvotes everything else).
MIN_DISTANCE = 1e-8


@dataclass(frozen=True)
class ClassifyOptions:
    """Every tunable of the refinement and the kNN vote; the defaults are the same for every
    dataset."""

    hidden_dim: int = 256
    out_dim: int = 64  # only without `residual` (the residual output keeps the input's size)
    temperature: float = 0.1  # SupCon's default in Khosla et al.
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 512  # training cells per step (all of them when fewer)
    feature_dropout: float = 0.2  # augmentation: share of input features zeroed per view
    noise: float = 0.1  # augmentation: Gaussian noise, relative to the input's RMS
    max_epochs: int = 300  # upper bound for the early-stopping search
    eval_every: int = 10  # epochs between held-out checks
    patience: int = 5  # checks without improvement before the search stops
    holdout_fraction: float = 0.2  # share of each class's training cells held out for stopping
    search_repeats: int = 1  # searches on different held-out splits: median epoch, mean score
    fallback_epochs: int = 100  # used when too few training labels can be held out
    residual: bool = True  # see RefineNet
    balance: bool = True  # weigh anchors by 1 / class size
    self_training: str = "auto"  # pseudo-labels: "on", "off", or "auto" (held-out labels decide)
    pseudo_threshold: float = 0.5  # smallest kNN vote share that makes a pseudo-label
    pseudo_weight: float = 1.0  # a pseudo-labelled anchor's weight against a labelled cell's
    pseudo_margin: bool = True  # also scale it by the vote margin (top share − runner-up)
    knn_weighting: str = "gaussian"  # see knn_predict; the temperature above sets its width
    blend: float = 0.5  # weight of the unrefined kNN's vote shares in the refined kNN's (0: none)
    vote: str = "auto"  # "frequency", "balanced", "mass" (see knn_votes) or "auto" (VOTE_AUTO)
    n_markers: int = 100  # marker genes per class added to the view (needs `expression`; 0: none)
    marker_block: str = "scores"  # "scores" (a marker score per class) or "genes": marker_view

    def check(self) -> None:
        positive = {
            "hidden_dim": self.hidden_dim,
            "out_dim": self.out_dim,
            "temperature": self.temperature,
            "lr": self.lr,
            "batch_size": self.batch_size,
            "max_epochs": self.max_epochs,
            "eval_every": self.eval_every,
            "patience": self.patience,
            "fallback_epochs": self.fallback_epochs,
            "search_repeats": self.search_repeats,
        }
        for name, value in positive.items():
            if value <= 0:
                raise UsageError(f"{name} must be positive (got {value})")
        if not 0 <= self.feature_dropout < 1 or self.noise < 0 or self.weight_decay < 0:
            raise UsageError("feature_dropout must lie in [0, 1); noise and weight_decay >= 0")
        if not 0 < self.holdout_fraction < 1:
            raise UsageError(f"holdout_fraction must lie in (0, 1) (got {self.holdout_fraction})")
        if self.knn_weighting not in KNN_WEIGHTINGS:
            raise UsageError(
                f"unknown kNN weighting {self.knn_weighting!r}; choose one of gaussian, inverse"
            )
        if self.self_training not in SELF_TRAINING:
            raise UsageError(
                f"unknown self_training {self.self_training!r}; choose one of auto, on, off"
            )
        if self.vote not in (*VOTES, "auto"):
            choices = ", ".join((*VOTES, "auto"))
            raise UsageError(f"unknown vote {self.vote!r}; choose one of {choices}")
        if self.marker_block not in MARKER_BLOCKS:
            raise UsageError(
                f"unknown marker block {self.marker_block!r}; choose one of"
                f" {', '.join(MARKER_BLOCKS)}"
            )
        if self.n_markers < 0:
            raise UsageError(f"n_markers must be at least 0 (got {self.n_markers})")
        if not 0 <= self.blend <= 1:
            raise UsageError(f"blend must lie in [0, 1] (got {self.blend})")
        if not 0 <= self.pseudo_threshold <= 1 or self.pseudo_weight < 0:
            raise UsageError("pseudo_threshold must lie in [0, 1] and pseudo_weight be >= 0")


@dataclass
class MethodScores:
    """Scores of one method on the held-out cells."""

    method: str
    accuracy: float
    macro_f1: float
    per_class: pd.DataFrame  # index: class; columns precision, recall, f1, support
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "seconds": round(self.seconds, 3),
            "per_class": {
                str(c): {k: (int(v) if k == "support" else float(v)) for k, v in row.items()}
                for c, row in self.per_class.iterrows()
            },
        }


@dataclass
class ClassifyResult:
    """Predictions for the cells asked about, with scores where their labels are known.

    From `classify`: one entry per cell; labelled (training) cells keep their label with
    confidence 1. From `transfer`: one entry per query cell.
    """

    predictions: np.ndarray  # object array of class names
    confidence: np.ndarray  # float32: the predicted class's vote share, after the vote rule
    train_mask: np.ndarray  # bool; all False for `transfer` (no query cell is labelled)
    embedding: np.ndarray | None  # refined view of the same cells (None without refinement)
    scores: MethodScores | None  # None when no evaluated cell has a label
    comparisons: dict[str, MethodScores]
    params: dict[str, Any]
    refinement: dict[str, Any]  # what the stopping search saw and chose
    seconds: float
    n_scored: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float | None:
        return self.scores.accuracy if self.scores else None

    @property
    def macro_f1(self) -> float | None:
        return self.scores.macro_f1 if self.scores else None

    @property
    def per_class(self) -> pd.DataFrame | None:
        return self.scores.per_class if self.scores else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "n_train": int(self.params.get("n_train", 0)),
            "n_scored": self.n_scored,
            "scores": self.scores.to_dict() if self.scores else None,
            "comparisons": {k: v.to_dict() for k, v in self.comparisons.items()},
            "params": self.params,
            "refinement": self.refinement,
            "seconds": round(self.seconds, 3),
            "notes": list(self.notes),
        }


# ------------------------------------------------------------------------------------ labels, split


def label_array(labels: LabelsLike) -> np.ndarray:
    """Labels as an object array of strings, with None where a label is missing (NaN/None/'')."""
    series = pd.Series(
        np.asarray(labels, dtype=object)
        if not isinstance(labels, pd.Series)
        else labels.to_numpy(dtype=object)
    )
    missing = series.isna().to_numpy() | (series.astype(str).str.strip() == "").to_numpy()
    out = series.astype(str).to_numpy(dtype=object)
    out[missing] = None
    return out


def _class_sizes(values: np.ndarray) -> pd.Series:
    known = values[values != None]  # noqa: E711 (elementwise comparison on an object array)
    return pd.Series(known).value_counts().sort_index()


def split(
    labels: LabelsLike,
    *,
    train_fraction: float | None = None,
    per_class: int | None = None,
    train_mask: Sequence[bool] | np.ndarray | None = None,
    seed: int = 0,
    small_classes: SmallClasses = "error",
) -> np.ndarray:
    """A boolean training mask, stratified by class; cells without a label are never training.

    Give exactly one of `train_fraction` (each class contributes round(f × size) cells, at least
    1) or `per_class` (N cells from each class); each class keeps at least one held-out cell. Or
    pass `train_mask` to check and use a split of your own.
    `small_classes`: "error" rejects a class too small for the request; "cap" trains on all but
    one of its cells (a one-cell class then has no training cell and its cell counts as an error).
    """
    values = label_array(labels)
    sizes = _class_sizes(values)
    if len(sizes) < 2:
        found = f"only the class {sizes.index[0]!r}" if len(sizes) else "no labels"
        raise UsageError(f"the label key holds {found}; classification needs at least 2 classes")
    if small_classes not in SMALL_CLASSES:
        raise UsageError(f"unknown small_classes {small_classes!r}; choose one of error, cap")
    if train_mask is not None:
        if train_fraction is not None or per_class is not None:
            raise UsageError("give a train mask or a train fraction / per-class count, not both")
        return _checked_mask(values, train_mask)
    if (train_fraction is None) == (per_class is None):
        raise UsageError("give exactly one of a train fraction and a per-class count")
    if train_fraction is not None and not 0 < train_fraction < 1:
        raise UsageError(
            f"the train fraction must lie strictly between 0 and 1 (got {train_fraction})"
        )
    if per_class is not None and per_class < 1:
        raise UsageError(f"the per-class count must be at least 1 (got {per_class})")

    wanted = {
        c: per_class if per_class is not None else max(1, round(float(train_fraction) * n))
        for c, n in sizes.items()
    }
    short = {c: n for c, n in sizes.items() if n < wanted[c] + 1}
    if short and small_classes == "error":
        name, n = next(iter(sorted(short.items(), key=lambda item: item[1])))
        need = wanted[name] + 1
        more = f" (and {len(short) - 1} more)" if len(short) > 1 else ""
        raise GenekbError(
            f"class {name!r} has {n} cell(s) but {need} are needed ({need - 1} to train, 1 to"
            f" test){more}; label more cells, merge or drop small classes, or cap them"
        )
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(values), dtype=bool)
    for name, n in sizes.items():
        members = np.flatnonzero(values == name)
        take = min(wanted[name], n - 1)
        mask[rng.permutation(members)[:take]] = True
    return mask


def _checked_mask(values: np.ndarray, train_mask: Sequence[bool] | np.ndarray) -> np.ndarray:
    mask = np.asarray(train_mask)
    if mask.dtype != bool:
        if not np.isin(mask, [0, 1]).all():
            raise UsageError("the train mask must hold booleans (True for training cells)")
        mask = mask.astype(bool)
    if mask.shape != values.shape:
        raise UsageError(
            f"the train mask has {mask.size} entries but there are {len(values)} cells"
        )
    unlabelled = int((mask & (values == None)).sum())  # noqa: E711
    if unlabelled:
        raise GenekbError(f"{unlabelled} training cell(s) have no label; label them or unmask them")
    trained = _class_sizes(values[mask])
    if len(trained) < 2:
        raise GenekbError("the training cells cover fewer than 2 classes; nothing to learn")
    return mask.copy()


# --------------------------------------------------------------------------------------- helpers


def resolve_device(device: str) -> torch.device:
    """The torch device for a name: "cpu", "cuda", "cuda:N", "mps", or "auto" (a GPU if any)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError:
        raise UsageError(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise GenekbError("device cuda was asked for but torch sees no GPU; use --device cpu")
    return chosen


def _as_matrix(X: Any, what: str) -> np.ndarray:
    if hasattr(X, "toarray"):
        X = X.toarray()
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise UsageError(f"{what} must be a non-empty cells × features matrix (got {X.shape})")
    if not np.isfinite(X).all():
        raise GenekbError(f"{what} holds NaN or infinite values; fix or drop those cells first")
    return X


@dataclass
class _Scaler:
    """Centre the columns and divide by the overall RMS (fitted on training cells): inputs of order
    1 whatever the view, with the relative scale of the features kept."""

    mean: np.ndarray
    rms: float

    @classmethod
    def fit(cls, X: np.ndarray) -> _Scaler:
        mean = X.mean(axis=0, keepdims=True)
        rms = float(np.sqrt(np.mean((X - mean) ** 2)))
        return cls(mean=mean, rms=rms if rms > 0 else 1.0)

    def apply(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / self.rms).astype(np.float32)


def _unit(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return (X / np.maximum(norms, MIN_DISTANCE)).astype(np.float32)


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
    k = min(k, len(train_X))
    if weighting == "gaussian":
        train_X, query_X = _unit(train_X), _unit(query_X)
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
    winner = shares.argmax(axis=1)  # ties go to the first class in sorted order: deterministic
    return classes[winner], shares[np.arange(len(query_X)), winner].astype(np.float32)


def _shares(
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


def _decide(classes: np.ndarray, shares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The class with the largest share (ties: first in sorted order) and that share."""
    winner = shares.argmax(axis=1)
    return classes[winner], shares[np.arange(len(shares)), winner].astype(np.float32)


def _raw_shares(
    train_X: np.ndarray, train_y: np.ndarray, query_X: np.ndarray, k: int, opts: ClassifyOptions
) -> tuple[np.ndarray, np.ndarray]:
    """Vote shares of the unrefined kNN on the view as given (scaled on the training cells)."""
    scaler = _Scaler.fit(train_X)
    return _shares(scaler.apply(train_X), train_y, scaler.apply(query_X), k, opts)


def score(
    method: str, truth: np.ndarray, predicted: np.ndarray, seconds: float = 0.0
) -> MethodScores:
    """Accuracy, macro-F1 and a per-class table over the classes seen in truth or prediction."""
    from sklearn.metrics import precision_recall_fscore_support

    truth = truth.astype(str)
    predicted = predicted.astype(str)
    classes = np.union1d(truth, predicted)
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=classes, zero_division=0
    )
    table = pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(int)},
        index=pd.Index(classes, name="class"),
    )
    return MethodScores(
        method=method,
        accuracy=float(np.mean(truth == predicted)),
        macro_f1=float(f1.mean()),
        per_class=table,
        seconds=seconds,
    )


def expression_pca(
    adata: Any,
    *,
    layer: str | None = None,
    gene_key: str | None = None,
    n_pcs: int = DEFAULT_N_PCS,
    seed: int = 0,
) -> np.ndarray:
    """PCA of the expression (log-normalize, highly variable genes, scale, PCA): the comparison's
    input and the plain structure view. Fitted on all cells; labels play no part."""
    from cellmodel import graph
    from cellmodel.io import expression

    expr = expression(adata, layer=layer, gene_key=gene_key)
    hvg = graph.highly_variable(expr.X)
    return graph.pca(graph.scale(expr.X[:, hvg]), n_pcs, seed)


def fused_view(*views: np.ndarray) -> np.ndarray:
    """Several views of the same cells side by side (e.g. the expression PCA and the semantic
    view), each centred over all cells and L2-normalized per cell, so each weighs alike in the
    cosine kNN whatever its dimension or scale. Label-free."""
    if not views:
        raise UsageError("fused_view needs at least one view")
    parts = [_as_matrix(v, "a view to fuse") for v in views]
    if len({p.shape[0] for p in parts}) != 1:
        raise UsageError(f"views to fuse differ in cells: {[p.shape[0] for p in parts]}")
    return np.hstack([_unit(p - p.mean(axis=0, keepdims=True)) for p in parts])


def shared_expression(
    reference: Any, query: Any, *, layer: str | None = None, gene_key: str | None = None
) -> tuple[Any, Any, list[str]]:
    """Both files' log expression over the genes they share (matched by name, reference order)."""
    from cellmodel.io import expression

    ref = expression(reference, layer=layer, gene_key=gene_key)
    qry = expression(query, layer=layer, gene_key=gene_key)
    shared = pd.Index(ref.genes).intersection(pd.Index(qry.genes), sort=False)
    if len(shared) < 2:
        raise GenekbError(
            f"reference and query share {len(shared)} gene name(s); check --gene-key on both"
        )
    ref_cols = pd.Index(ref.genes).get_indexer(shared)
    qry_cols = pd.Index(qry.genes).get_indexer(shared)
    return ref.X[:, ref_cols], qry.X[:, qry_cols], [str(g) for g in shared]


def joint_expression_pca(
    reference: Any,
    query: Any,
    *,
    layer: str | None = None,
    gene_key: str | None = None,
    n_pcs: int = DEFAULT_N_PCS,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """PCA fitted on the reference over the genes both files share, applied to both.

    Genes are matched by name; highly variable genes, scaling and components come from the
    reference alone, so the query is projected into the reference's space.
    """
    from sklearn.decomposition import PCA

    from cellmodel import graph

    ref_X, qry_X, _ = shared_expression(reference, query, layer=layer, gene_key=gene_key)
    hvg = graph.highly_variable(ref_X)
    ref_dense = _as_matrix(ref_X[:, hvg], "reference expression")
    qry_dense = _as_matrix(qry_X[:, hvg], "query expression")
    mean = ref_dense.mean(axis=0, keepdims=True)
    std = ref_dense.std(axis=0, keepdims=True)
    std[std == 0] = 1.0
    clip = graph.SCALE_CLIP
    ref_scaled = np.clip((ref_dense - mean) / std, -clip, clip)
    qry_scaled = np.clip((qry_dense - mean) / std, -clip, clip)
    n_pcs = min(n_pcs, ref_scaled.shape[0] - 1, ref_scaled.shape[1])
    model = PCA(n_components=n_pcs, random_state=seed).fit(ref_scaled)
    return (
        model.transform(ref_scaled).astype(np.float32),
        model.transform(qry_scaled).astype(np.float32),
    )


# ------------------------------------------------------------------------------------- refinement


class RefineNet(nn.Module):
    """Linear–LayerNorm–ELU–Linear projection with an L2-normalized output.

    Residual (the default): the output is normalize(x / |x| + MLP(x)) with the MLP's last layer
    starting at zero, so training starts from the input's own cosine geometry (epoch 0 is the
    unrefined kNN) and moves away only as far as the labels pull it. The output then has the
    input's dimension. Without it, the MLP maps to `out_dim` from a random start.
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, residual: bool = True) -> None:
        super().__init__()
        self.residual = residual
        last = nn.Linear(hidden_dim, in_dim if residual else out_dim)
        if residual:
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.LayerNorm(hidden_dim), nn.ELU(), last
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.residual:
            out = F.normalize(x, dim=1) + out
        return F.normalize(out, dim=1)


def supcon_loss(
    z: torch.Tensor, groups: torch.Tensor, weights: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020, L_out) over 2B normalized views.

    `groups` gives each view's class (the two views of a cell share it); `weights` weighs each
    anchor. Every anchor has at least its twin as positive.
    """
    n = z.shape[0]
    logits = z @ z.T / temperature
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positive = (groups[:, None] == groups[None, :]) & ~self_mask
    mean_log_prob = (log_prob.masked_fill(~positive, 0.0)).sum(1) / positive.sum(1)
    return -(weights * mean_log_prob).sum() / weights.sum()


@dataclass
class _TrainData:
    X: torch.Tensor  # labelled (and pseudo-labelled) cells, scaled
    codes: torch.Tensor  # class codes 0..C-1
    cell_weights: torch.Tensor  # 1 for labelled cells, `pseudo_weight` for pseudo-labelled ones


def _training_data(
    X: np.ndarray, codes: np.ndarray, pool: np.ndarray, k: int, opts: ClassifyOptions
) -> tuple[_TrainData, int]:
    """The labelled cells, plus the unlabelled cells of `pool` that the unrefined kNN assigns
    with a vote share of at least `pseudo_threshold` (self-training); also their number."""
    Xs, cs, ws = [X], [codes], [np.ones(len(X), dtype=np.float32)]
    n_pseudo = 0
    if opts.self_training != "off" and len(pool):
        classes, shares = knn_votes(
            X,
            codes,
            pool,
            k,
            weighting=opts.knn_weighting,
            temperature=opts.temperature,
            vote=opts.vote,
        )
        ordered = np.sort(shares, axis=1)
        share = ordered[:, -1]
        margin = share - (ordered[:, -2] if shares.shape[1] > 1 else 0.0)
        sure = share >= opts.pseudo_threshold
        n_pseudo = int(sure.sum())
        Xs.append(pool[sure])
        cs.append(classes[shares.argmax(axis=1)][sure].astype(np.int64))
        weight = margin[sure] if opts.pseudo_margin else np.ones(n_pseudo)
        ws.append((opts.pseudo_weight * weight).astype(np.float32))
    data = _TrainData(
        X=torch.from_numpy(np.concatenate(Xs)),
        codes=torch.from_numpy(np.concatenate(cs)),
        cell_weights=torch.from_numpy(np.concatenate(ws)),
    )
    return data, n_pseudo


def _augment(x: torch.Tensor, opts: ClassifyOptions, generator: torch.Generator) -> torch.Tensor:
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= opts.feature_dropout
    noise = torch.randn(x.shape, generator=generator, device=x.device) * opts.noise
    return x * keep + noise


def _batches(n: int, size: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    return list(order.split(size)) if n > size else [order]


def _train(
    data: _TrainData,
    epochs: int,
    opts: ClassifyOptions,
    seed: int,
    device: torch.device,
    check: Any = None,
) -> tuple[RefineNet, list[tuple[int, float]]]:
    """Train a fresh net for `epochs`; `check(net)` (if given) is called every `eval_every` epochs
    and returns (score, stop)."""
    torch.manual_seed(seed)
    net = RefineNet(data.X.shape[1], opts.hidden_dim, opts.out_dim, opts.residual).to(device)
    optimiser = torch.optim.AdamW(net.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    n_classes = int(data.codes.max()) + 1
    history: list[tuple[int, float]] = []
    if check is not None:
        value, _ = check(net, 0)
        history.append((0, value))
    for epoch in range(1, epochs + 1):
        net.train()
        for batch in _batches(data.X.shape[0], opts.batch_size, generator):
            x = data.X[batch]
            codes = data.codes[batch]
            counts = torch.bincount(codes, minlength=n_classes).float()
            weights = 1.0 / counts[codes] if opts.balance else torch.ones(len(codes))
            weights = weights * data.cell_weights[batch]
            views = torch.cat([_augment(x, opts, generator), _augment(x, opts, generator)])
            loss = supcon_loss(
                net(views.to(device)),
                torch.cat([codes, codes]).to(device),
                torch.cat([weights, weights]).to(device),
                opts.temperature,
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        if check is not None and epoch % opts.eval_every == 0:
            value, stop = check(net, epoch)
            history.append((epoch, value))
            if stop:
                break
    return net, history


def _embed(net: RefineNet, X: np.ndarray, device: torch.device) -> np.ndarray:
    net.eval()
    out = []
    with torch.no_grad():
        for chunk in np.array_split(X, max(1, len(X) // 8192 + 1)):
            out.append(net(torch.from_numpy(chunk).to(device)).cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def _stopping_split(codes: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Mask of training cells held out for stopping: floor(fraction × size) per class."""
    rng = np.random.default_rng(seed + 1)
    held = np.zeros(len(codes), dtype=bool)
    for c in np.unique(codes):
        members = np.flatnonzero(codes == c)
        take = int(np.floor(fraction * len(members)))
        held[rng.permutation(members)[:take]] = True
    return held


def _search(
    X: np.ndarray,
    codes: np.ndarray,
    unlabelled: np.ndarray,
    k: int,
    opts: ClassifyOptions,
    seed: int,
    device: torch.device,
    fixed_epochs: int | None,
    repeat: int = 0,
    rebuild: ViewBuilder | None = None,
) -> dict[str, Any] | None:
    """Train on part of the training cells and score kNN on the held-out rest.

    Scores every `eval_every` epochs (and epoch 0) and stops after `patience` checks without
    improvement, keeping the best epoch; with `fixed_epochs`, scores that epoch only. A score is
    (accuracy, mean vote share of the true class): ties in accuracy, common with a few dozen
    held-out cells, go to the same answers given with a clearer margin. None when too few labels
    can be held out. Every class keeps a fitting cell (floor(fraction × size) < size), so the
    codes of the fitting cells are those of all training cells.
    `rebuild(fit)`: the view rebuilt from the fitting cells' labels alone (the marker block);
    without it, held-out cells whose own labels chose the markers would judge the search (on
    wu2020-200 that made every held-out check perfect while the test cells scored 0.25).
    """
    held = _stopping_split(codes, opts.holdout_fraction, seed + 1000 * repeat)
    fit = ~held
    if held.sum() < 2:
        return None
    if rebuild is not None:
        train_view, query_view = rebuild(fit)
        scaler = _Scaler.fit(train_view)
        X, unlabelled = scaler.apply(train_view), scaler.apply(query_view)
    # Held-out training cells are unlabelled during the search, as the test cells will be.
    data, _ = _training_data(X[fit], codes[fit], np.concatenate([unlabelled, X[held]]), k, opts)
    best: dict[str, Any] = {"epoch": 0, "value": (-1.0, -1.0), "since": 0}
    truth = codes[held].astype(str)

    def check(net: RefineNet, epoch: int) -> tuple[float, bool]:
        if fixed_epochs is not None and epoch != fixed_epochs:
            return float("nan"), False
        classes, shares = knn_votes(
            _embed(net, X[fit], device),
            codes[fit],
            _embed(net, X[held], device),
            k,
            weighting=opts.knn_weighting,
            temperature=opts.temperature,
            vote=opts.vote,
        )
        accuracy = float(np.mean(classes[shares.argmax(axis=1)] == truth))
        column = {c: i for i, c in enumerate(classes)}
        true_share = np.array(
            [shares[i, column[t]] if t in column else 0.0 for i, t in enumerate(truth)]
        )
        value = (accuracy, float(true_share.mean()))
        if value > best["value"]:
            best.update(epoch=epoch, value=value, since=0)
        else:
            best["since"] += 1
        return accuracy, best["since"] >= opts.patience

    if fixed_epochs is None:
        _, history = _train(data, opts.max_epochs, opts, seed, device, check)
    else:
        # One check, after the last epoch.
        search_opts = replace(opts, eval_every=max(fixed_epochs, 1))
        _, history = _train(data, fixed_epochs, search_opts, seed, device, check)
    return {
        "epochs": int(best["epoch"]),
        "n_held_out": int(held.sum()),
        "value": best["value"],
        "history": [[e, round(v, 4)] for e, v in history if v == v],  # drop unscored (NaN)
    }


def _repeated_search(
    search: Callable[[int], dict[str, Any] | None], repeats: int
) -> dict[str, Any] | None:
    """`search(repeat)` (a `_search` on held-out split number `repeat`) for each of `repeats`
    splits: the median of their best epochs and the mean of their best scores (one held-out split
    of a few dozen cells is a noisy judge)."""
    found = [result for repeat in range(repeats) if (result := search(repeat))]
    if len(found) <= 1:
        return found[0] if found else None
    return {
        "epochs": int(np.median([r["epochs"] for r in found])),
        "n_held_out": found[0]["n_held_out"],
        "value": tuple(float(v) for v in np.mean([r["value"] for r in found], axis=0)),
        "history": found[0]["history"],
        "repeat_epochs": [r["epochs"] for r in found],
    }


def _choose_mode(values: dict[str, tuple[float, float]]) -> str:
    """The self-training mode whose search scored best: held-out accuracy decides, a tie goes to
    "on". The true-class share (the second value) breaks ties between epochs of one mode only: a
    net fitted to the labelled cells alone votes more sharply for them, so its share is not
    comparable with the pseudo-labelled net's."""
    return max(values, key=lambda mode: (values[mode][0], mode == "on"))


def refine(
    train_X: np.ndarray,
    train_labels: np.ndarray,
    query_X: np.ndarray,
    *,
    k: int = DEFAULT_K,
    epochs: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    options: ClassifyOptions | None = None,
    rebuild: ViewBuilder | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Train the projection on the labelled cells; return (refined train, refined query, record).

    `epochs=None` picks the epoch count on held-out training labels; an integer fixes it. With
    `self_training="auto"`, the same held-out cells decide whether pseudo-labels are used.
    `rebuild`: when the view itself was built from the training labels (the marker block), a
    function that rebuilds it from a subset of them (a mask over the training cells), so the
    held-out cells of the search never chose its features.
    """
    opts = resolve_vote(options or ClassifyOptions(), "classify")
    opts.check()
    if epochs is not None and epochs < 0:
        raise UsageError(f"epochs must be at least 0 (got {epochs})")
    chosen_device = resolve_device(device)
    scaler = _Scaler.fit(train_X)
    Xs, Qs = scaler.apply(train_X), scaler.apply(query_X)
    codes = np.unique(train_labels.astype(str), return_inverse=True)[1].astype(np.int64)
    modes = ["on", "off"] if opts.self_training == "auto" else [opts.self_training]
    record: dict[str, Any] = {"self_training": opts.self_training}
    with deterministic(seed):
        if epochs is not None and len(modes) == 1:
            chosen, record["epochs"], record["rule"] = modes[0], epochs, "given"
        else:
            searches = {
                mode: _repeated_search(
                    partial(
                        _search,
                        Xs,
                        codes,
                        Qs,
                        k,
                        replace(opts, self_training=mode),
                        seed,
                        chosen_device,
                        epochs,
                        rebuild=rebuild,
                    ),
                    opts.search_repeats,
                )
                for mode in modes
            }
            found = {mode: found for mode, found in searches.items() if found is not None}
            if not found:
                # Too few labels to hold any out: no pseudo-labels from so weak a kNN.
                chosen, record["rule"] = "off", "fallback (too few labels to hold out)"
                record["epochs"] = opts.fallback_epochs if epochs is None else epochs
            else:
                chosen = _choose_mode({mode: result["value"] for mode, result in found.items()})
                record["epochs"] = found[chosen]["epochs"]
                record["rule"] = "best held-out kNN on training labels"
                record["search"] = {
                    mode: {
                        "epochs": result["epochs"],
                        "held_out_accuracy": round(result["value"][0], 4),
                        "held_out_true_share": round(result["value"][1], 4),
                        "n_held_out": result["n_held_out"],
                        "history": result["history"],
                        **{key: result[key] for key in ("repeat_epochs",) if key in result},
                    }
                    for mode, result in found.items()
                }
        final = replace(opts, self_training=chosen)
        data, n_pseudo = _training_data(Xs, codes, Qs, k, final)
        net, _ = _train(data, record["epochs"], final, seed, chosen_device)
        refined_train = _embed(net, Xs, chosen_device)
        refined_query = _embed(net, Qs, chosen_device)
    record.update(self_training_used=chosen, n_pseudo_labelled=n_pseudo, device=str(chosen_device))
    return refined_train, refined_query, record


# ---------------------------------------------------------------------------------- marker block


def marker_block(
    expression: Any,
    labels: np.ndarray,
    train_mask: np.ndarray,
    n_per_class: int,
    kind: str = "scores",
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """The marker block of `marker_view` before its per-cell normalization (cells × classes for
    "scores", cells × marker genes for "genes"), the training classes (sorted) and each class's
    marker genes (column indices of `expression`, strongest first)."""
    import scipy.sparse as sp

    from cellmodel.markers import group_stats, top_markers

    if kind not in MARKER_BLOCKS:
        raise UsageError(f"unknown marker block {kind!r}; choose one of {', '.join(MARKER_BLOCKS)}")
    classes, codes = np.unique(labels[train_mask].astype(str), return_inverse=True)
    train_expr = expression[np.flatnonzero(train_mask)]
    stats = group_stats(train_expr, codes, len(classes))
    per_class = top_markers(stats, n_per_class)
    genes = np.unique(np.concatenate(per_class))
    block = expression[:, genes]
    block = block.toarray() if sp.issparse(block) else np.asarray(block)
    block = block.astype(np.float64)
    block = (block - block.mean(axis=0)) / np.maximum(block.std(axis=0), 1e-6)
    if kind == "genes":
        return block, classes, per_class
    effect = stats.effect_size()
    column = {g: i for i, g in enumerate(genes)}
    scores = np.zeros((len(block), len(per_class)))
    for c, p in enumerate(per_class):
        # A class with no gene above the rest (all-zero cells) keeps a score of 0.
        if p.size:
            weight = effect[c, p] ** 2
            scores[:, c] = block[:, [column[g] for g in p]] @ (weight / weight.sum())
    return scores, classes, per_class


def marker_view(
    X: np.ndarray,
    expression: Any,
    labels: np.ndarray,
    train_mask: np.ndarray,
    n_per_class: int,
    gene_names: Sequence[str] | None = None,
    kind: str = "scores",
) -> tuple[np.ndarray, dict[str, Any]]:
    """The view with a block of marker-gene expression appended, and a record of the markers.

    Markers are the `n_per_class` genes of each class with the largest effect size (mean
    difference over pooled SD, `cellmodel.markers`) against the other *training* cells; only
    training labels choose them. Each marker gene's log expression is standardized over all
    cells (label-free). `kind="scores"`: the block is one column per class, the cell's mean over
    that class's markers weighted by their squared effect size (a marker score, compact: the
    refinement's cost stays that of the view; the weights let the one gene that marks a class of
    a few cells, such as ghrelin, outweigh the 99 that one labelled cell's noise ranked next);
    `kind="genes"`: one column per marker gene (their union). View and block are each
    L2-normalized per cell (the view centred on the training cells first), so they weigh alike
    in the cosine kNN.
    Why: a 50-component PCA of the whole data keeps the axes of common types; a type of three
    cells (Baron's epsilon cells, marked by ghrelin) has no axis of its own there, but its
    markers, found from even one labelled cell, separate it.
    """
    if expression.shape[0] != X.shape[0]:
        raise UsageError(f"the expression has {expression.shape[0]} cells but X has {X.shape[0]}")
    block, classes, per_class = marker_block(expression, labels, train_mask, n_per_class, kind)
    genes = np.unique(np.concatenate(per_class))
    centred = X - X[train_mask].mean(axis=0, keepdims=True)
    view = np.hstack([_unit(centred), _unit(block.astype(np.float32))])
    names = np.asarray(gene_names, dtype=object) if gene_names is not None else None
    record = {
        "n_per_class": n_per_class,
        "block": kind,
        "n_genes": len(genes),
        "top": {
            str(c): [str(names[g]) if names is not None else int(g) for g in per_class[i][:10]]
            for i, c in enumerate(classes)
        },
    }
    return view.astype(np.float32), record


# ------------------------------------------------------------------------------------ classifying


def _logistic(
    train_X: np.ndarray, train_y: np.ndarray, query_X: np.ndarray, seed: int
) -> np.ndarray:
    """Multinomial logistic regression (L2, C = 1) on the PCA as it is: standardizing the
    components would blow the low-variance, noisy ones up to the weight of the leading ones."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=2000, random_state=seed)
    model.fit(train_X, train_y.astype(str))
    return model.predict(query_X).astype(object)


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
        _, shares = _shares(refined_train, train_y, refined_query, k, component)
        # Both geometries vote: the refined one knows the common classes' shapes, the raw one
        # keeps what a class of one labelled cell cannot teach the projection.
        shares = (1.0 - opts.blend) * shares + opts.blend * raw_shares
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
    )


def classify(
    X: Any,
    labels: LabelsLike,
    train_mask: Sequence[bool] | np.ndarray,
    *,
    k: int = DEFAULT_K,
    refine: bool = True,
    seed: int = 0,
    device: str = "cpu",
    epochs: int | None = None,
    options: ClassifyOptions | None = None,
    pca: np.ndarray | None = None,
    compare: bool = True,
    expression: Any = None,
    gene_names: Sequence[str] | None = None,
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
    """
    began = time.perf_counter()
    X = _as_matrix(X, "the cell embedding")
    values = label_array(labels)
    if len(values) != X.shape[0]:
        raise UsageError(f"{len(values)} labels for {X.shape[0]} cells; they must match")
    mask = _checked_mask(values, train_mask)
    if mask.all():
        raise UsageError("every cell is in the training set; leave some cells to classify")
    pca_matrix = None
    if pca is not None:
        pca_matrix = _as_matrix(pca, "the expression PCA")
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
        refine_view=refine,
        seed=seed,
        device=device,
        epochs=epochs,
        options=opts,
        pca_train=None if pca_matrix is None else pca_matrix[mask],
        pca_query=None if pca_matrix is None else pca_matrix[query],
        compare=compare,
        rebuild=rebuild,
    )
    all_predictions = values.copy()
    all_predictions[query] = outcome.predictions
    all_confidence = np.ones(len(values), dtype=np.float32)
    all_confidence[query] = outcome.confidence
    refined = None
    if outcome.refined is not None:
        refined = np.zeros((len(values), outcome.refined[0].shape[1]), dtype=np.float32)
        refined[mask], refined[query] = outcome.refined
    params = _params(k, refine, seed, device, epochs, opts, pca is not None)
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
        notes=_unseen_notes(values[mask], values[query]),
    )


def transfer(
    ref_X: Any,
    ref_labels: LabelsLike,
    query_X: Any,
    *,
    query_labels: LabelsLike | None = None,
    k: int = DEFAULT_K,
    refine: bool = True,
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
) -> ClassifyResult:
    """Train on every labelled reference cell and predict each query cell.

    Both matrices must be the same view built the same way (same store, same gene mapping).
    `query_labels` (optional) only score the result. `ref_pca`/`query_pca`: a shared PCA of both
    expressions (see `joint_expression_pca`) for the logistic regression comparison.
    `ref_expression`/`query_expression`: both files' log expression over the same genes, in the
    same column order (`shared_expression`), for the marker block (`marker_view`): markers come
    from the reference labels, each gene is standardized over the cells of both files.
    """
    began = time.perf_counter()
    ref = _as_matrix(ref_X, "the reference embedding")
    qry = _as_matrix(query_X, "the query embedding")
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
        pca_train = _as_matrix(ref_pca, "the reference PCA")[labelled]
        pca_query = _as_matrix(query_pca, "the query PCA")
    outcome = _run(
        ref[labelled],
        ref_values[labelled],
        qry,
        qry_values,
        k=k,
        refine_view=refine,
        seed=seed,
        device=device,
        epochs=epochs,
        options=opts,
        pca_train=pca_train,
        pca_query=pca_query,
        compare=compare,
        rebuild=rebuild,
    )
    params = _params(k, refine, seed, device, epochs, opts, ref_pca is not None)
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


def _unseen_notes(train: np.ndarray, evaluated: np.ndarray) -> list[str]:
    """Classes among the scored cells that no training cell has: they can never be predicted."""
    unseen = sorted(set(_class_sizes(evaluated).index) - set(_class_sizes(train).index))
    if not unseen:
        return []
    shown = ", ".join(unseen[:5]) + (" …" if len(unseen) > 5 else "")
    return [f"{len(unseen)} class(es) have no training cell and cannot be predicted: {shown}"]


def resolve_vote(
    options: ClassifyOptions, mode: Literal["classify", "transfer"]
) -> ClassifyOptions:
    """`options` with `vote="auto"` replaced by the rule for `mode` (`VOTE_AUTO`)."""
    return replace(options, vote=VOTE_AUTO[mode]) if options.vote == "auto" else options


def with_options(options: ClassifyOptions | None = None, **changes: Any) -> ClassifyOptions:
    """Default (or given) options with some fields changed; unknown names are a usage error."""
    base = options or ClassifyOptions()
    unknown = set(changes) - set(asdict(base))
    if unknown:
        raise UsageError(f"unknown refinement option(s): {', '.join(sorted(unknown))}")
    return replace(base, **changes)


def annotate(adata: Any, result: ClassifyResult, *, key: str = "cellmodel_pred") -> None:
    """Write a `classify` result into `adata` scanpy-style: `obs[key]` (categorical),
    `obs[key + "_confidence"]`, `obs[key + "_train"]`, `obsm["X_classify"]` (refined view) and
    `uns["cellmodel_classify"]` (scores, comparisons, parameters, stopping record)."""
    if len(result.predictions) != adata.n_obs:
        raise UsageError(
            f"the result covers {len(result.predictions)} cells but the AnnData has {adata.n_obs}"
        )
    adata.obs[key] = pd.Categorical(result.predictions.astype(str))
    adata.obs[f"{key}_confidence"] = result.confidence
    adata.obs[f"{key}_train"] = result.train_mask
    if result.embedding is not None:
        adata.obsm["X_classify"] = result.embedding
    adata.uns["cellmodel_classify"] = h5ad_safe(result.to_dict())
