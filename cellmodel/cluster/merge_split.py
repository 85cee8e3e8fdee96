"""Merge-split check of a finished partition in the PCA it was computed from (k kept; merges alone
when k was estimated).

The graph encoder clusters cells after averaging each with its neighbours. On a small file with
one dominant type that averaging tightens every type and hides a few-cell type inside its
neighbours, so k is filled by cutting the dominant type into pieces, which the unaveraged PCA does
not support (docs/cluster_experiments.md, "Where k-means on the PCA still wins"). This check looks
at the partition in the PCA itself. One move merges a neighbouring pair of clusters (each
cluster's nearest by centroid) whose cells show no density dip between the two centroids and
that the kNN graph joins (`connectivity`: at least `MIN_CONNECTIVITY` of the edges between them
that chance would give), and splits one other cluster in two by two-means. The pairs are tried
in order of the within-cluster variance their union adds (Ward's cost), each beside every other
cluster's cut; the first pair with a move that raises the mean silhouette (Rousseeuw 1987) makes
its move of highest silhouette, and moves repeat until no pair has one. The silhouette judges a
move, so it also picks it: the cut that removes most variance often halves a large cluster along
its spread while another cluster holds two groups the silhouette separates, and the cheapest
pair can have no accepted move while the next has one (`search` in `merge_split` keeps the
narrower searches). ISODATA would also ask the split to
remove more variance than the merge adds (`variance_rule=True`), but Ward's cost grows with the
sizes of the pair, so that rule never rejoins a large type cut in two when the cluster to split
is small: it keeps the very partitions of unbalanced files that the check is for. With a batch
column a move must also not raise the partition's adjusted mutual information with the batch:
batches are meant to share cell types, the rule the batch choice keeps a partition by
(`cellmodel.cluster.batch_choice`). It is the split-and-merge step of ISODATA (Ball & Hall 1965)
with a density test for the merge, as G-means tests a split (Hamerly & Elkan 2003).

When k was estimated (Leiden's community count, which grows with the cells), the check then
merges alone (`merge_pairs`): the same no-dip pair, while the silhouette rises and the batch
information does not, so k falls where a type was cut into pieces without a gap between them.
No label is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cellmodel.cluster.batch_choice import batch_ami
from cellmodel.cluster.fit import relabel_by_size
from cellmodel.cluster.moves import (
    NO_DIP_SHARE,
    MoveSearch,
    candidate_merges,
    connectivity,
    graph_of,
    judge,
    lowest_density_between,
    readings,
)
from cellmodel.cluster.silhouette import Silhouette

__all__ = [
    "MIN_CONNECTIVITY",
    "NO_DIP_SHARE",
    "SEARCHES",
    "SILHOUETTE_SAMPLE",
    "MergeSplit",
    "check_partition",
    "connectivity",
    "lowest_density_between",
    "merge_pairs",
    "merge_split",
]

SILHOUETTE_SAMPLE = 4000  # silhouettes above this many cells are estimated on a seeded sample
# A pair the kNN graph all but separates is two groups, however close their centroids: the PCA
# silhouette can still prefer the union of two large compact types (a small gap between them and
# a spread-out third group), which the graph, the encoder's own input, does not support.
MIN_CONNECTIVITY = 0.4
SEARCHES = ("moves", "split", "variance")  # see `merge_split`


@dataclass
class MergeSplit:
    labels: np.ndarray
    moves: list[dict[str, Any]] = field(default_factory=list)
    stopped: str = ""
    silhouette: float | None = None  # of the returned labels, where the check computed it

    def to_dict(self) -> dict[str, Any]:
        # Keyed by move number: h5ad `uns` cannot hold a list of mappings.
        moves = {str(i + 1): move for i, move in enumerate(self.moves)}
        return {"n_moves": len(self.moves), "moves": moves, "stopped": self.stopped}


def _merge(
    X: np.ndarray,
    labels: np.ndarray,
    k: int,
    graph: tuple[Any, np.ndarray] | None = None,
    min_connectivity: float = MIN_CONNECTIVITY,
) -> tuple[int, int, float] | None:
    """The no-dip neighbouring pair with the lowest Ward cost, as (a, b, cost); with `graph`,
    among the pairs it joins (`connectivity` ≥ `min_connectivity`)."""
    return next(candidate_merges(X, labels, k, graph, min_connectivity), None)


def merge_split(
    X: np.ndarray,
    labels: np.ndarray,
    seed: int = 0,
    batch: np.ndarray | None = None,
    condition: Callable[[np.ndarray, np.ndarray], bool] | None = None,
    variance_rule: bool = False,
    adjacency: Any = None,
    min_connectivity: float = MIN_CONNECTIVITY,
    search: str = "moves",
    scorer: Silhouette | None = None,
) -> MergeSplit:
    """Apply accepted merge-split moves to `labels` (ids 0..k-1) in the space `X` (the PCA);
    `batch`: a technical batch per cell, whose information in the clusters must not rise;
    `adjacency`: the kNN graph the partition was fitted on; a merged pair must be joined in it;
    `condition(current, moved)`: one more test a move must pass (e.g. a graph criterion);
    `variance_rule`: a move must also remove more variance than it adds (ISODATA's rule);
    `search`: "moves" tries the pairs to merge in order of Ward cost, each beside every other
    cluster's cut, and makes the move of highest silhouette of the first pair that has an
    accepted one; "split" tries the first pair alone; "variance" the first pair beside the cut
    that removes most variance alone. `scorer`: the silhouette of `X`, where the caller has one."""
    if search not in SEARCHES:
        raise ValueError(f"search must be one of {', '.join(SEARCHES)}")
    labels = np.asarray(labels, dtype=np.int64).copy()
    k = int(labels.max()) + 1 if len(labels) else 0
    result = MergeSplit(labels)
    if k < 3 or len(np.unique(labels)) < k:
        result.stopped = "fewer than three non-empty clusters"
        return result
    if k >= len(labels):  # the silhouette needs one cluster of two cells or more
        result.stopped = "a cluster per cell"
        return result
    joined = None if adjacency is None else graph_of(adjacency)
    state = MoveSearch(
        X, seed, batch, joined, min_connectivity, search, variance_rule, condition,
        scorer or Silhouette(X, seed, SILHOUETTE_SAMPLE),
    )  # fmt: skip
    score = state.silhouette(labels)
    batch_info = None if batch is None else batch_ami(labels, batch)
    for _ in range(k):
        move = state.next(labels, score, batch_info)
        if isinstance(move, str):
            result.stopped = move
            break
        result.moves.append(move.record)
        labels, score, batch_info = move.labels, move.score, move.batch_info
        for changed in (*move.merged, move.split):
            state.cuts.pop(changed, None)
    else:
        result.stopped = "k moves made"
    result.labels, result.silhouette = labels, score
    return result


def merge_pairs(
    X: np.ndarray,
    labels: np.ndarray,
    seed: int = 0,
    batch: np.ndarray | None = None,
    silhouette: bool = True,
    start_silhouette: float | None = None,
    scorer: Silhouette | None = None,
) -> MergeSplit:
    """For a k estimated from the data: merge the neighbouring pair without a density dip (the
    lowest Ward cost, the first pair a merge-split move tries) while the mean silhouette rises and
    the information about `batch` does not; ids stay 0..m-1. A Leiden count of communities grows
    with the cells, and a type cut into pieces shows no dip between them. `silhouette=False` merges
    every such pair: a rare type beside an abundant one shows no dip either (its density is a
    shoulder on its neighbour's), which the silhouette guards against. `start_silhouette`: the
    silhouette of `labels`, and `scorer` the silhouette of `X`, where the caller has them (the
    merge-split check's)."""
    labels = np.unique(np.asarray(labels, dtype=np.int64), return_inverse=True)[1]
    result = MergeSplit(labels)
    if labels.max(initial=0) < 2:
        result.stopped = "fewer than three clusters"
        return result
    scorer = scorer or Silhouette(X, seed, SILHOUETTE_SAMPLE)
    score = scorer(labels) if start_silhouette is None else start_silhouette
    batch_info = None if batch is None else batch_ami(labels, batch)
    while True:
        k = int(labels.max()) + 1
        if k < 3:
            result.stopped = "fewer than three clusters"
            break
        merge = _merge(X, labels, k)
        if merge is None:
            result.stopped = "no neighbouring pair without a density dip"
            break
        a, b, cost = merge
        moved = labels.copy()
        moved[moved == b] = a
        moved = np.unique(moved, return_inverse=True)[1]
        refusal, new_score, new_batch_info = judge(
            scorer(moved), score, moved, batch, batch_info, silhouette=silhouette
        )
        if refusal:
            result.stopped = refusal
            break
        result.moves.append(
            {
                "merged": [a, b],
                "variance_added": round(cost, 3),
                **readings(score, new_score, batch_info, new_batch_info),
            }
        )
        labels, score, batch_info = moved, new_score, new_batch_info
    result.labels, result.silhouette = labels, score
    return result


def check_partition(
    X: np.ndarray,
    labels: np.ndarray,
    seed: int = 0,
    batch: np.ndarray | None = None,
    k_estimated: bool = False,
    adjacency: Any = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The pipeline's check of a finished partition: the merge-split moves (k kept; with
    `adjacency`, the kNN graph of the fit, merging only pairs it joins), then, when k was
    estimated, the merges (`merge_pairs`). Returns the labels, numbered by size, and the record
    of both for `uns`."""
    scorer = Silhouette(X, seed, SILHOUETTE_SAMPLE)  # one distance matrix for both steps
    checked = merge_split(X, labels, seed, batch=batch, adjacency=adjacency, scorer=scorer)
    labels = relabel_by_size(checked.labels) if checked.moves else labels
    record = checked.to_dict()
    if k_estimated:
        merged = merge_pairs(
            X, labels, seed, batch=batch, start_silhouette=checked.silhouette, scorer=scorer
        )
        labels = relabel_by_size(merged.labels) if merged.moves else labels
        record["merges"] = merged.to_dict()
    return labels, record
