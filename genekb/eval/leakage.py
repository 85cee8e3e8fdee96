"""Leakage made visible: how often a task's label words occur in each class's texts, and which
words of the texts go most with the label.

This only describes the texts after the fact; nothing here feeds the probe.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.feature_selection import chi2

TOP_WORDS = 10


def label_terms(declared: Sequence[str], classes: Sequence[str]) -> list[str]:
    """The task's declared terms plus the words of its class names (4 letters or more)."""
    words = [w for c in classes for w in re.findall(r"[a-z][a-z-]{3,}", str(c).lower())]
    return list(dict.fromkeys([t.lower() for t in declared] + words))


def term_rates(texts: Sequence[str], labels: np.ndarray, terms: Sequence[str]) -> list[dict]:
    """Per term: the share of each class's texts that contain it (case-insensitive substring)."""
    lowered = [t.lower() for t in texts]
    classes = sorted(set(labels.tolist()))
    rows = []
    for term in terms:
        hit = np.array([term in t for t in lowered])
        rows.append(
            {
                "term": term,
                "share_by_class": {c: round(float(hit[labels == c].mean()), 4) for c in classes},
            }
        )
    return rows


def top_words(texts: Sequence[str], labels: np.ndarray, k: int = TOP_WORDS) -> list[dict]:
    """The `k` words whose presence depends most on the label (chi-squared), with class shares."""
    vectorizer = CountVectorizer(
        binary=True, min_df=5, token_pattern=r"(?u)\b[A-Za-z][A-Za-z0-9-]+\b"
    )
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError:  # no word in five texts: nothing to report
        return []
    stat, _ = chi2(counts, labels)
    stat = np.nan_to_num(stat)
    vocab = vectorizer.get_feature_names_out()
    classes = sorted(set(labels.tolist()))
    present = counts.toarray().astype(bool) if counts.shape[1] < 20000 else None
    out = []
    for j in np.argsort(-stat)[:k]:
        column = present[:, j] if present is not None else counts[:, j].toarray().ravel() > 0
        out.append(
            {
                "word": str(vocab[j]),
                "chi2": round(float(stat[j]), 2),
                "share_by_class": {c: round(float(column[labels == c].mean()), 4) for c in classes},
            }
        )
    return out


def leakage_report(
    texts: Sequence[str], labels: np.ndarray, declared: Sequence[str]
) -> dict[str, Any]:
    classes = sorted(set(labels.tolist()))
    return {
        "label_terms": term_rates(texts, labels, label_terms(declared, classes)),
        "top_words": top_words(texts, labels),
    }
