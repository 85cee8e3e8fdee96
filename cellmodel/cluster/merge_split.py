"""Merge-split check of a finished partition in the PCA it was computed from (k kept; merges alone
when k was estimated).

The graph encoder clusters cells after averaging each with its neighbours. On a small file with
one dominant type that averaging tightens every type and hides a few-cell type inside its
neighbours, so k is filled by cutting the dominant type into pieces, which the unaveraged PCA does
not support (docs/cluster_experiments.md, "Where k-means on the PCA still wins"). This check looks
at the partition in the PCA itself. One move merges the neighbouring pair of clusters (each
cluster's nearest by centroid) that adds least within-cluster variance (Ward's cost) among the
pairs whose cells show no density dip between the two centroids and that the kNN graph joins
(`connectivity`: at least `MIN_CONNECTIVITY` of the edges between them that chance would give),
and splits one other cluster in two by two-means. Every other cluster's cut is tried beside the
merge, and the move with the highest mean silhouette (Rousseeuw 1987) is kept when it raises the
silhouette; moves repeat until none does. The silhouette judges the move, so it also picks the
split: the cut that removes most variance often halves a large cluster along its spread, while
another cluster holds two groups the silhouette separates (`split_choice="variance"` tries that
cut alone). ISODATA would also ask the split to
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
from cellmodel.cluster.silhouette import Silhouette

# A union has "no dip" when the density between the two centroids never falls below this share
# of the lower of the two centroid densities (1 % leaves room for the kernel estimate's noise).
NO_DIP_SHARE = 0.99
MIN_SPLIT_CELLS = 6  # smaller clusters are not split; each half keeps at least half of this
SILHOUETTE_SAMPLE = 4000  # silhouettes above this many cells are estimated on a seeded sample
# A pair the kNN graph all but separates is two groups, however close their centroids: the PCA
# silhouette can still prefer the union of two large compact types (a small gap between them and
# a spread-out third group), which the graph, the encoder's own input, does not support.
MIN_CONNECTIVITY = 0.4
SPLIT_CHOICES = ("silhouette", "variance")


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


def lowest_density_between(values: np.ndarray, a: float, b: float) -> float:
    """Lowest density between a and b over the lower of the two end densities (1: no dip)."""
    if len(values) < 4 or np.std(values) == 0:
        return 1.0
    from scipy.stats import gaussian_kde

    lo, hi = sorted((a, b))
    density = gaussian_kde(values)(np.linspace(lo, hi, 41))
    return float(min(1.0, density.min() / min(density[0], density[-1])))


def connectivity(graph: tuple[Any, np.ndarray], labels: np.ndarray, a: int, b: int) -> float:
    """The edge weight between clusters a and b over what a random graph with the same degrees
    would put there (PAGA's connectivity, Wolf et al. 2019): 1 as joined as chance, 0 no edge.
    `graph`: (symmetric adjacency, CSR; each cell's degree) from `_graph`."""
    adjacency, degree = graph
    inside_a, inside_b = labels == a, labels == b
    between = adjacency[inside_a][:, inside_b].sum()
    expected = degree[inside_a].sum() * degree[inside_b].sum() / degree.sum()
    return float(between / expected) if expected > 0 else 0.0


def _graph(adjacency: Any) -> tuple[Any, np.ndarray]:
    import scipy.sparse as sp

    symmetric = sp.csr_matrix(adjacency)
    symmetric = symmetric + symmetric.T
    return symmetric, np.asarray(symmetric.sum(axis=1)).ravel()


def _merge(
    X: np.ndarray,
    labels: np.ndarray,
    k: int,
    graph: tuple[Any, np.ndarray] | None = None,
    min_connectivity: float = MIN_CONNECTIVITY,
) -> tuple[int, int, float] | None:
    """The no-dip neighbouring pair with the lowest Ward cost, as (a, b, cost); with `graph`,
    among the pairs it joins (`connectivity` ≥ `min_connectivity`)."""
    sizes = np.bincount(labels, minlength=k)
    centroids = np.stack([X[labels == c].mean(axis=0) for c in range(k)])
    distance = ((centroids[:, None] - centroids[None]) ** 2).sum(axis=-1)
    np.fill_diagonal(distance, np.inf)
    pairs = {tuple(sorted((a, int(distance[a].argmin())))) for a in range(k)}
    ward = sorted(
        (sizes[a] * sizes[b] / (sizes[a] + sizes[b]) * distance[a, b], a, b) for a, b in pairs
    )
    for cost, a, b in ward:
        if graph is not None and connectivity(graph, labels, a, b) < min_connectivity:
            continue
        axis = centroids[a] - centroids[b]
        length = np.linalg.norm(axis)
        if length == 0:  # the same centroid: nothing between them to dip
            return a, b, float(cost)
        axis /= length
        members = np.concatenate([X[labels == a], X[labels == b]]) @ axis
        dip = lowest_density_between(members, centroids[a] @ axis, centroids[b] @ axis)
        if dip >= NO_DIP_SHARE:
            return a, b, float(cost)
    return None


def _cut(members: np.ndarray, seed: int) -> tuple[np.ndarray, float] | None:
    """A cluster's two-means cut as (halves, variance removed); None if it may not be split."""
    from sklearn.cluster import KMeans

    if len(members) < MIN_SPLIT_CELLS:
        return None
    cut = KMeans(2, n_init=5, random_state=seed).fit(members)
    if np.bincount(cut.labels_, minlength=2).min() < MIN_SPLIT_CELLS // 2:
        return None
    return cut.labels_, float(((members - members.mean(axis=0)) ** 2).sum() - cut.inertia_)


def _splits(
    X: np.ndarray,
    labels: np.ndarray,
    k: int,
    skip: tuple[int, int],
    seed: int,
    cuts: dict[int, tuple[np.ndarray, float] | None],
) -> list[tuple[int, np.ndarray, float]]:
    """Every cluster's two-means cut as (cluster, halves, gain), most variance removed first.
    `cuts` keeps each cluster's cut between moves; a move invalidates the three it changes."""
    found = []
    for c in range(k):
        if c in skip:
            continue
        if c not in cuts:
            cuts[c] = _cut(X[labels == c], seed)
        if cuts[c] is not None:
            found.append((c, *cuts[c]))
    return sorted(found, key=lambda split: -split[2])


def _best_move(
    labels: np.ndarray,
    merge: tuple[int, int],
    splits: list[tuple[int, np.ndarray, float]],
    silhouette: Silhouette,
    score: float,
    batch: np.ndarray | None,
    batch_info: float | None,
) -> tuple[str, tuple[np.ndarray, int, float, float, float | None] | None]:
    """Of the moves that merge `merge` and make one of `splits`, the one `_judge` accepts with
    the highest silhouette, as (moved labels, split cluster, gain, silhouette, batch AMI); else
    the refusal of the split that removes most variance."""
    a, b = merge
    best, refusal = None, ""
    for c, halves, gain in splits:
        moved = labels.copy()
        moved[moved == b] = a
        moved[np.flatnonzero(labels == c)[halves == 1]] = b
        why, new_score, new_batch_info = _judge(silhouette(moved), score, moved, batch, batch_info)
        if why:
            refusal = refusal or why
        elif best is None or new_score > best[3]:
            best = (moved, c, gain, new_score, new_batch_info)
    return ("" if best else refusal), best


def _judge(
    new_score: float,
    score: float,
    moved: np.ndarray,
    batch: np.ndarray | None,
    batch_info: float | None,
    silhouette: bool = True,
) -> tuple[str, float, float | None]:
    """Why a moved partition (silhouette `new_score`) is refused ("" if it is not), its silhouette
    and its batch AMI."""
    if silhouette and new_score <= score:
        return "the silhouette would not rise", new_score, None
    new_batch_info = None if batch is None else batch_ami(moved, batch)
    if batch_info is not None and new_batch_info is not None and new_batch_info > batch_info:
        return "the clusters would carry more information about the batch", new_score, None
    return "", new_score, new_batch_info


def _readings(
    score: float, new_score: float, batch_info: float | None, new_batch_info: float | None
) -> dict[str, list[float]]:
    """A kept move's silhouette (and batch AMI) before and after, for its record."""
    out = {"silhouette": [round(score, 4), round(new_score, 4)]}
    if batch_info is not None and new_batch_info is not None:
        out["batch_ami"] = [round(batch_info, 4), round(new_batch_info, 4)]
    return out


def merge_split(
    X: np.ndarray,
    labels: np.ndarray,
    seed: int = 0,
    batch: np.ndarray | None = None,
    condition: Callable[[np.ndarray, np.ndarray], bool] | None = None,
    variance_rule: bool = False,
    adjacency: Any = None,
    min_connectivity: float = MIN_CONNECTIVITY,
    split_choice: str = "silhouette",
) -> MergeSplit:
    """Apply accepted merge-split moves to `labels` (ids 0..k-1) in the space `X` (the PCA);
    `batch`: a technical batch per cell, whose information in the clusters must not rise;
    `adjacency`: the kNN graph the partition was fitted on; a merged pair must be joined in it;
    `condition(current, moved)`: one more test a move must pass (e.g. a graph criterion);
    `variance_rule`: a move must also remove more variance than it adds (ISODATA's rule);
    `split_choice`: "silhouette" tries every cluster's cut beside the merge and keeps the move
    with the highest silhouette; "variance" tries only the cut that removes most variance."""
    if split_choice not in SPLIT_CHOICES:
        raise ValueError(f"split_choice must be one of {', '.join(SPLIT_CHOICES)}")
    labels = np.asarray(labels, dtype=np.int64).copy()
    k = int(labels.max()) + 1 if len(labels) else 0
    result = MergeSplit(labels)
    if k < 3 or len(np.unique(labels)) < k:
        result.stopped = "fewer than three non-empty clusters"
        return result
    if k >= len(labels):  # the silhouette needs one cluster of two cells or more
        result.stopped = "a cluster per cell"
        return result
    silhouette = Silhouette(X, seed, SILHOUETTE_SAMPLE)
    score = silhouette(labels)
    batch_info = None if batch is None else batch_ami(labels, batch)
    cuts: dict[int, tuple[np.ndarray, float] | None] = {}
    joined = None if adjacency is None else _graph(adjacency)
    for _ in range(k):
        merge = _merge(X, labels, k, joined, min_connectivity)
        if merge is None:
            result.stopped = "no neighbouring pair without a density dip" + (
                "" if joined is None else " that the kNN graph joins"
            )
            break
        a, b, cost = merge
        splits = _splits(X, labels, k, (a, b), seed, cuts)
        if not splits:
            result.stopped = "no cluster can be split"
            break
        splits = splits[:1] if split_choice == "variance" else splits
        if variance_rule:
            splits = [split for split in splits if split[2] > cost]
            if not splits:
                result.stopped = "no split removes more variance than the merge adds"
                break
        refusal, best = _best_move(labels, (a, b), splits, silhouette, score, batch, batch_info)
        if best is not None and condition is not None and not condition(labels, best[0]):
            refusal = "the move fails the given condition"
        if refusal or best is None:
            result.stopped = refusal
            break
        moved, c, gain, new_score, new_batch_info = best
        result.moves.append(
            {
                "merged": [a, b],
                "split": c,
                "splits_tried": len(splits),
                "variance_added": round(cost, 3),
                "variance_removed": round(gain, 3),
                **_readings(score, new_score, batch_info, new_batch_info),
                **({} if joined is None else {"connectivity": connectivity(joined, labels, a, b)}),
            }
        )
        labels, score, batch_info = moved, new_score, new_batch_info
        for changed in (a, b, c):
            cuts.pop(changed, None)
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
) -> MergeSplit:
    """For a k estimated from the data: merge the neighbouring pair without a density dip (the
    lowest Ward cost, as a merge-split move picks it) while the mean silhouette rises and the
    information about `batch` does not; ids stay 0..m-1. A Leiden count of communities grows with
    the cells, and a type cut into pieces shows no dip between them. `silhouette=False` merges
    every such pair: a rare type beside an abundant one shows no dip either (its density is a
    shoulder on its neighbour's), which the silhouette guards against. `start_silhouette`: the
    silhouette of `labels`, where the caller has it (the merge-split check's)."""
    labels = np.unique(np.asarray(labels, dtype=np.int64), return_inverse=True)[1]
    result = MergeSplit(labels)
    if labels.max(initial=0) < 2:
        result.stopped = "fewer than three clusters"
        return result
    scorer = Silhouette(X, seed, SILHOUETTE_SAMPLE)
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
        refusal, new_score, new_batch_info = _judge(
            scorer(moved), score, moved, batch, batch_info, silhouette=silhouette
        )
        if refusal:
            result.stopped = refusal
            break
        result.moves.append(
            {
                "merged": [a, b],
                "variance_added": round(cost, 3),
                **_readings(score, new_score, batch_info, new_batch_info),
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
    checked = merge_split(X, labels, seed, batch=batch, adjacency=adjacency)
    labels = relabel_by_size(checked.labels) if checked.moves else labels
    record = checked.to_dict()
    if k_estimated:
        merged = merge_pairs(X, labels, seed, batch=batch, start_silhouette=checked.silhouette)
        labels = relabel_by_size(merged.labels) if merged.moves else labels
        record["merges"] = merged.to_dict()
    return labels, record
