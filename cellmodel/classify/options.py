"""The classifier's constants and options: one frozen dataclass holds every tunable."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from genekb.errors import UsageError

DEFAULT_K = 15
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
