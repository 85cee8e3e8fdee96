"""A cross-validated linear probe: stratified k-fold × seeds, L2 logistic regression.

The probe's one setting, the inverse L2 strength C, is fixed (C = 1 on features scaled to about
unit row norm), or with `tune` chosen by an inner cross-validation on each outer training fold.

Every feature set is built inside the fold by a transformer that receives row indices: TF-IDF
vocabularies and standardisation are fitted on the training genes alone, so nothing about the
held-out genes (their labels nor their texts) shapes the model that scores them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

DEFAULT_C = 1.0
# Inverse L2 strengths searched in each training fold with `tune` (features at unit row norm).
C_GRID = (0.1, 1.0, 10.0, 100.0, 1000.0)
INNER_FOLDS = 3


def tfidf(min_df: int = 2) -> TfidfVectorizer:
    """The bag-of-words features of every text control: sublinear TF-IDF over words that start
    with a letter (symbols and hyphenated names such as CD3-epsilon stay whole)."""
    return TfidfVectorizer(
        sublinear_tf=True, min_df=min_df, token_pattern=r"(?u)\b[A-Za-z][A-Za-z0-9-]+\b"
    )


class Features(BaseEstimator, TransformerMixin):
    """Row indices in, features out: standardised vectors and/or TF-IDF of texts, fitted on the
    training rows only. Blocks are scaled to about unit row norm so one C serves both."""

    def __init__(
        self, vectors: np.ndarray | None = None, texts: Sequence[str] | None = None
    ) -> None:
        self.vectors = vectors
        self.texts = texts

    def fit(self, X: np.ndarray, y: Any = None) -> Features:
        idx = X[:, 0]
        if self.vectors is not None:
            block = self.vectors[idx]
            self.mean_ = block.mean(axis=0)
            scale = block.std(axis=0)
            self.scale_ = np.where(scale > 1e-8, scale, 1.0) * np.sqrt(block.shape[1])
        if self.texts is not None:
            self.tfidf_ = tfidf().fit([self.texts[i] for i in idx])
        return self

    def transform(self, X: np.ndarray) -> Any:
        idx = X[:, 0]
        blocks = []
        if self.vectors is not None:
            blocks.append(sp.csr_matrix((self.vectors[idx] - self.mean_) / self.scale_))
        if self.texts is not None:
            blocks.append(self.tfidf_.transform([self.texts[i] for i in idx]))
        if self.texts is None:
            return blocks[0].toarray()
        return sp.hstack(blocks).tocsr()


def make_probe(
    vectors: np.ndarray | None = None,
    texts: Sequence[str] | None = None,
    *,
    binary: bool,
    seed: int,
    tune: bool = False,
) -> Pipeline:
    """Features of the training rows, then logistic regression (balanced class weights)."""
    model: LogisticRegression | LogisticRegressionCV
    if tune:
        model = LogisticRegressionCV(
            Cs=list(C_GRID),
            cv=StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=seed),
            scoring="roc_auc" if binary else "f1_macro",
            max_iter=2000,
            class_weight="balanced",
        )
    else:
        model = LogisticRegression(C=DEFAULT_C, max_iter=2000, class_weight="balanced")
    return Pipeline([("features", Features(vectors, texts)), ("lr", model)])


@dataclass
class ProbeResult:
    metric: str
    scores: np.ndarray  # shape (seeds, folds)
    chosen_c: list[float]

    @property
    def mean(self) -> float:
        return float(self.scores.mean())

    @property
    def std(self) -> float:
        """Spread over all (seed, fold) scores."""
        return float(self.scores.std(ddof=1)) if self.scores.size > 1 else 0.0

    @property
    def seed_std(self) -> float:
        """Spread of the per-seed means (how much the split alone moves the figure)."""
        means = self.scores.mean(axis=1)
        return float(means.std(ddof=1)) if len(means) > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "mean": round(self.mean, 4),
            "std": round(self.std, 4),
            "seed_std": round(self.seed_std, 4),
            "scores": np.round(self.scores, 4).tolist(),
            "chosen_c": sorted({float(c) for c in self.chosen_c}),
        }


def cross_validate(
    build: Callable[[int], Pipeline],
    labels: np.ndarray,
    *,
    positive: str | None,
    seeds: Sequence[int] = (0, 1, 2),
    folds: int = 5,
    on_fold: Callable[[], None] | None = None,
) -> ProbeResult:
    """Score the probe `build(seed)` by stratified `folds`-fold CV, repeated over `seeds`.

    Binary tasks report ROC-AUC of `positive` against the rest; others macro-F1. `on_fold` is
    called after each fit (progress).
    """
    classes = sorted(set(labels.tolist()))
    binary = len(classes) == 2
    y = (labels == positive).astype(int) if binary else labels
    X = np.arange(len(labels))[:, None]
    scores = np.zeros((len(seeds), folds))
    chosen: list[float] = []
    for s, seed in enumerate(seeds):
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
        for f, (train, test) in enumerate(splitter.split(X, y)):
            model = build(seed)
            with warnings.catch_warnings():
                # sklearn's notices about LogisticRegressionCV's future defaults, not our data
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X[train], y[train])
            lr = model.named_steps["lr"]
            chosen.append(float(np.ravel(lr.C_ if hasattr(lr, "C_") else lr.C)[0]))
            if binary:
                scores[s, f] = roc_auc_score(y[test], model.predict_proba(X[test])[:, 1])
            else:
                scores[s, f] = f1_score(y[test], model.predict(X[test]), average="macro")
            if on_fold is not None:
                on_fold()
    return ProbeResult("roc_auc" if binary else "macro_f1", scores, chosen)
