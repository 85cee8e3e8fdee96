"""The moves of the merge-split check (`cellmodel.cluster.merge_split`): the pairs to merge, the
cuts to split, how a move is judged, and `MoveSearch`, which finds the next accepted move."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cellmodel.cluster.batch_choice import batch_ami
from cellmodel.cluster.silhouette import Silhouette

# A union has "no dip" when the density between the two centroids never falls below this share
# of the lower of the two centroid densities (1 % leaves room for the kernel estimate's noise).
NO_DIP_SHARE = 0.99
MIN_SPLIT_CELLS = 6  # smaller clusters are not split; each half keeps at least half of this


def lowest_density_between(values: np.ndarray, a: float, b: float) -> float:
    """Lowest density between a and b over the lower of the two end densities (1: no dip)."""
    # Equal values: np.std of float32 can still come out above 0 (the mean's round-off), and
    # the kernel estimate then fails on a singular covariance (e.g. data of a single gene).
    if len(values) < 4 or np.ptp(values) == 0:
        return 1.0
    from scipy.stats import gaussian_kde

    lo, hi = sorted((a, b))
    try:
        density = gaussian_kde(values)(np.linspace(lo, hi, 41))
    except np.linalg.LinAlgError:  # values all but equal: no spread, so no dip to measure
        return 1.0
    return float(min(1.0, density.min() / min(density[0], density[-1])))


def connectivity(graph: tuple[Any, np.ndarray], labels: np.ndarray, a: int, b: int) -> float:
    """The edge weight between clusters a and b over what a random graph with the same degrees
    would put there (PAGA's connectivity, Wolf et al. 2019): 1 as joined as chance, 0 no edge.
    `graph`: (symmetric adjacency, CSR; each cell's degree) from `graph_of`."""
    adjacency, degree = graph
    inside_a, inside_b = labels == a, labels == b
    between = adjacency[inside_a][:, inside_b].sum()
    expected = degree[inside_a].sum() * degree[inside_b].sum() / degree.sum()
    return float(between / expected) if expected > 0 else 0.0


def graph_of(adjacency: Any) -> tuple[Any, np.ndarray]:
    """The kNN graph as `connectivity` reads it: symmetric, CSR, with each cell's degree."""
    import scipy.sparse as sp

    symmetric = sp.csr_matrix(adjacency)
    symmetric = symmetric + symmetric.T
    return symmetric, np.asarray(symmetric.sum(axis=1)).ravel()


def candidate_merges(
    X: np.ndarray,
    labels: np.ndarray,
    k: int,
    graph: tuple[Any, np.ndarray] | None,
    min_connectivity: float,
) -> Iterator[tuple[int, int, float]]:
    """The no-dip neighbouring pairs (that `graph` joins) as (a, b, cost), lowest Ward cost
    first; each is tested only when asked for."""
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
            yield a, b, float(cost)
            continue
        axis /= length
        members = np.concatenate([X[labels == a], X[labels == b]]) @ axis
        dip = lowest_density_between(members, centroids[a] @ axis, centroids[b] @ axis)
        if dip >= NO_DIP_SHARE:
            yield a, b, float(cost)


def cut(members: np.ndarray, seed: int) -> tuple[np.ndarray, float] | None:
    """A cluster's two-means cut as (halves, variance removed); None if it may not be split."""
    from sklearn.cluster import KMeans

    if len(members) < MIN_SPLIT_CELLS:
        return None
    two = KMeans(2, n_init=5, random_state=seed).fit(members)
    if np.bincount(two.labels_, minlength=2).min() < MIN_SPLIT_CELLS // 2:
        return None
    return two.labels_, float(((members - members.mean(axis=0)) ** 2).sum() - two.inertia_)


def candidate_splits(
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
            cuts[c] = cut(X[labels == c], seed)
        if cuts[c] is not None:
            found.append((c, *cuts[c]))
    return sorted(found, key=lambda split: -split[2])


def best_move(
    labels: np.ndarray,
    merge: tuple[int, int],
    splits: list[tuple[int, np.ndarray, float]],
    silhouette: Silhouette,
    score: float,
    batch: np.ndarray | None,
    batch_info: float | None,
) -> tuple[str, tuple[np.ndarray, int, float, float, float | None] | None]:
    """Of the moves that merge `merge` and make one of `splits`, the one `judge` accepts with
    the highest silhouette, as (moved labels, split cluster, gain, silhouette, batch AMI); else
    the refusal of the split that removes most variance."""
    a, b = merge
    best, refusal = None, ""
    for c, halves, gain in splits:
        moved = labels.copy()
        moved[moved == b] = a
        moved[np.flatnonzero(labels == c)[halves == 1]] = b
        why, new_score, new_batch_info = judge(silhouette(moved), score, moved, batch, batch_info)
        if why:
            refusal = refusal or why
        elif best is None or new_score > best[3]:
            best = (moved, c, gain, new_score, new_batch_info)
    return ("" if best else refusal), best


def judge(
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


def readings(
    score: float, new_score: float, batch_info: float | None, new_batch_info: float | None
) -> dict[str, list[float]]:
    """A kept move's silhouette (and batch AMI) before and after, for its record."""
    out = {"silhouette": [round(score, 4), round(new_score, 4)]}
    if batch_info is not None and new_batch_info is not None:
        out["batch_ami"] = [round(batch_info, 4), round(new_batch_info, 4)]
    return out


@dataclass
class Move:
    labels: np.ndarray
    merged: tuple[int, int]
    split: int
    record: dict[str, Any]  # for `MergeSplit.moves`
    score: float
    batch_info: float | None


@dataclass
class MoveSearch:
    """What finds the next move: the data, the rules, and the scorers shared by every move."""

    X: np.ndarray
    seed: int
    batch: np.ndarray | None
    joined: tuple[Any, np.ndarray] | None
    min_connectivity: float
    search: str
    variance_rule: bool
    condition: Callable[[np.ndarray, np.ndarray], bool] | None
    silhouette: Silhouette
    cuts: dict[int, tuple[np.ndarray, float] | None] = field(default_factory=dict)

    def next(self, labels: np.ndarray, score: float, batch_info: float | None) -> Move | str:
        """The next accepted move, or why there is none."""
        k = int(labels.max()) + 1
        refusal = "no neighbouring pair without a density dip" + (
            "" if self.joined is None else " that the kNN graph joins"
        )
        pairs = candidate_merges(self.X, labels, k, self.joined, self.min_connectivity)
        for tried, merge in enumerate(pairs):
            move = self._with_split(labels, k, merge, score, batch_info)
            if isinstance(move, Move):
                return move
            refusal = move if tried == 0 else refusal
            if self.search != "moves":
                break
        return refusal

    def _with_split(
        self, labels: np.ndarray, k: int, merge: tuple[int, int, float], score: float,
        batch_info: float | None,
    ) -> Move | str:  # fmt: skip
        a, b, cost = merge
        splits = candidate_splits(self.X, labels, k, (a, b), self.seed, self.cuts)
        if not splits:
            return "no cluster can be split"
        splits = splits[:1] if self.search == "variance" else splits
        if self.variance_rule:
            splits = [split for split in splits if split[2] > cost]
            if not splits:
                return "no split removes more variance than the merge adds"
        refusal, best = best_move(
            labels, (a, b), splits, self.silhouette, score, self.batch, batch_info
        )
        if best is None:
            return refusal
        moved, c, gain, new_score, new_batch_info = best
        if self.condition is not None and not self.condition(labels, moved):
            return "the move fails the given condition"
        record = {
            "merged": [a, b],
            "split": c,
            "splits_tried": len(splits),
            "variance_added": round(cost, 3),
            "variance_removed": round(gain, 3),
            **readings(score, new_score, batch_info, new_batch_info),
        }
        if self.joined is not None:
            record["connectivity"] = connectivity(self.joined, labels, a, b)
        return Move(moved, (a, b), c, record, new_score, new_batch_info)
