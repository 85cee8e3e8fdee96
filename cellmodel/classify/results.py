"""What a classification run returns (per-method scores, the result of `classify` / `transfer`)
and the logistic-regression comparison it is scored beside."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


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
            # Columns, not a dict keyed by class: an .h5ad turns a "/" in a key ("CD4+/CD25
            # T Reg", "eL2/3") into nested groups. `by_class` gives the dict back.
            "per_class": {
                "class": [str(c) for c in self.per_class.index],
                **{
                    k: [int(v) if k == "support" else float(v) for v in self.per_class[k]]
                    for k in self.per_class.columns
                },
            },
        }


def _plain(value: Any) -> Any:
    """A value read back from an .h5ad (numpy scalar or array) as Python's own."""
    return value.tolist() if hasattr(value, "tolist") else value


def by_class(table: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A per-class table as classify stores it (`{"class": [names], column: [values], ...}`,
    e.g. `uns["cellmodel_classify"]["scores"]["per_class"]`) as a dict keyed by class name:
    `by_class(t)["CD4+/CD25 T Reg"]["recall"]`. Reads the table fresh or from an .h5ad."""
    names = [str(n) for n in _plain(table["class"])]
    columns = {k: _plain(v) for k, v in table.items() if k != "class"}
    return {n: {k: v[i] for k, v in columns.items()} for i, n in enumerate(names)}


def genes_by_class(top: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The marker record's `top` (`{"class": [...], "gene": [...]}`, a row per class and gene,
    strongest first) as {class name: [genes]}; a class without a marker gene is absent."""
    out: dict[str, list[Any]] = {}
    for name, gene in zip(_plain(top["class"]), _plain(top["gene"]), strict=True):
        out.setdefault(str(name), []).append(gene)
    return out


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
    # With `record_votes=True`: the query cells' kNN vote shares before the vote rule, under
    # "classes" (column order), "unrefined" and "refined" (before the blend). Not in `to_dict`.
    votes: dict[str, np.ndarray] | None = None

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


def logistic_scores(
    train_X: np.ndarray, train_y: np.ndarray, query_X: np.ndarray, seed: int
) -> np.ndarray:
    """Multinomial logistic regression (L2, C = 1) on the PCA as it is: standardizing the
    components would blow the low-variance, noisy ones up to the weight of the leading ones."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=2000, random_state=seed)
    model.fit(train_X, train_y.astype(str))
    return model.predict(query_X).astype(object)
