"""Figures of a run: a UMAP (clusters beside labels) and a Hungarian-ordered confusion matrix."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cellmodel.metrics import hungarian_mapping


def umap_coordinates(latent: np.ndarray, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """2-d UMAP of a latent (cells × d), seeded."""
    import umap

    reducer = umap.UMAP(
        n_neighbors=min(n_neighbors, max(len(latent) - 1, 2)), random_state=seed, n_jobs=1
    )
    with warnings.catch_warnings():
        # umap notes that a seed means one thread; that is the point of the seed here.
        warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
        return np.asarray(reducer.fit_transform(latent), dtype=np.float32)


def _scatter(ax: Any, xy: np.ndarray, labels: Sequence[Any], title: str) -> None:
    values = pd.Categorical(np.asarray(labels).astype(str))
    cmap = plt.get_cmap("tab20" if len(values.categories) > 10 else "tab10")
    for i, name in enumerate(values.categories):
        mask = np.asarray(values.codes == i)
        ax.scatter(xy[mask, 0], xy[mask, 1], s=4, color=cmap(i % cmap.N), label=name, linewidths=0)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(
        markerscale=3, fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False
    )


def plot_umap(
    xy: np.ndarray,
    clusters: Sequence[Any],
    labels: Sequence[Any] | None,
    path: Path,
    title: str = "",
) -> Path:
    """UMAP coloured by cluster, and by reference label beside it when labels are given."""
    panels = 2 if labels is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 5), squeeze=False)
    _scatter(axes[0, 0], xy, clusters, f"clusters {title}".strip())
    if labels is not None:
        _scatter(axes[0, 1], xy, labels, "reference labels (scoring only)")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def confusion_table(labels_true: Sequence[Any], clusters: Sequence[Any]) -> pd.DataFrame:
    """Counts of true classes (rows) by cluster (columns), columns ordered by the Hungarian match.

    Matched clusters come in the order of their classes; unmatched clusters follow.
    """
    table = pd.crosstab(
        pd.Series(np.asarray(labels_true).astype(str), name="label"),
        pd.Series(np.asarray(clusters).astype(str), name="cluster"),
    )
    mapping = hungarian_mapping(labels_true, clusters)
    class_order = list(table.index)
    matched = sorted(mapping, key=lambda c: class_order.index(mapping[c]))
    rest = [c for c in table.columns if c not in mapping]
    return table[matched + rest]


def plot_confusion(
    labels_true: Sequence[Any],
    clusters: Sequence[Any],
    path: Path,
    xlabel: str = "cluster (Hungarian order)",
) -> Path:
    """Row-normalized confusion heatmap (counts printed); `xlabel` names what the columns are
    (clusters, or a classifier's predicted labels)."""
    table = confusion_table(labels_true, clusters)
    share = table.div(table.sum(axis=1), axis=0).to_numpy()
    width = max(5.0, 3.0 + 0.45 * table.shape[1])
    fig, ax = plt.subplots(figsize=(width, 1.5 + 0.4 * table.shape[0]))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=90, fontsize=7)
    ax.set_yticks(range(table.shape[0]), table.index, fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("reference label")
    for (i, j), n in np.ndenumerate(table.to_numpy()):
        if n:
            colour = "white" if share[i, j] > 0.5 else "black"
            ax.text(j, i, str(n), ha="center", va="center", fontsize=6, color=colour)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
