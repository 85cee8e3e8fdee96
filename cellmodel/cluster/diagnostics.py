"""How sure the finished partition is, read without labels and without refitting the pipeline.

Two readings, written to `uns["cellmodel"]["diagnostics"]` by every `cluster` run, in memory
and out of core:

- `agreement`: the ARI between the partition and Leiden at the same k (`consensus.leiden_to_k`)
  on the pipeline's own kNN graph of the PCA. Two methods that share nothing but the PCA and
  still agree are evidence that the k groups are in the data.
- `stability`: the mean ARI between every two of a few k-means partitions of the final embedding
  (`obsm["X_cellmodel"]`), each the best of `DRAW_STARTS` k-means++ starts of its own seed on
  its own random share of the cells, compared on the cells two draws share. When the embedding
  holds k separated groups every draw finds them; when it does not, the draws disagree and the
  pipeline's partition is one of several it could have returned. This is not the stability
  across whole-pipeline seeds (which needs several fits); `scripts/exp_unsure.py` sets the two
  side by side.

Per cluster, `cluster_jaccard` is the mean over those draws of the cluster's best Jaccard overlap
with a k-means cluster (Hennig 2007's clusterwise stability); a cluster below `CLUSTER_FLOOR`
(Hennig's "dissolved") is listed in `unsure_clusters`. The run is `unsure` when agreement <
`AGREEMENT_FLOOR` or stability < `STABILITY_FLOOR`: round values written down before any file was
read for them (docs/cluster_design_set.md, "A label-free safety net"), never tuned on labels.
Above `SAMPLE_CELLS` cells both readings use a seeded sample of that many cells (Leiden on a kNN
graph rebuilt over the sample), so the cost stays bounded.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from genekb.errors import GenekbWarning, warn

AGREEMENT_FLOOR = 0.5
STABILITY_FLOOR = 0.8
CLUSTER_FLOOR = 0.5
N_DRAWS = 5
DRAW_SHARE = 0.9  # each k-means draw sees this share of the cells
# k-means++ starts per draw (the lowest inertia wins): one start alone lands in a poor local
# optimum now and then even on well-separated groups, which would read as instability.
DRAW_STARTS = 3
SAMPLE_CELLS = 5_000
# Two Leiden iterations per resolution (igraph's flavour's default) rather than leidenalg's run
# to convergence: each call of the bisection costs a fraction, and the reading only compares
# partitions (the cost: docs/cluster_design_set.md, "The unsure report").
LEIDEN_ITERATIONS = 2


class UnsurePartitionWarning(GenekbWarning):
    """The partition's own readings say it is unsure (`Diagnostics.message` says which)."""


@dataclass
class Diagnostics:
    """The readings of one partition, the thresholds they were judged by, and the verdict."""

    agreement: float
    stability: float
    cluster_jaccard: dict[str, float]
    unsure_clusters: list[str]
    unsure: bool
    reasons: list[str]
    n_cells_read: int
    leiden_k: int
    seconds: float
    thresholds: dict[str, float] = field(
        default_factory=lambda: {
            "agreement": AGREEMENT_FLOOR,
            "stability": STABILITY_FLOOR,
            "cluster_jaccard": CLUSTER_FLOOR,
        }
    )
    method: dict[str, Any] = field(
        default_factory=lambda: {
            "agreement": "ARI with Leiden at the same k on the pipeline's kNN graph "
            f"({LEIDEN_ITERATIONS} Leiden iterations per resolution)",
            "stability": f"mean pairwise ARI of {N_DRAWS} k-means draws (best of "
            f"{DRAW_STARTS} starts, {DRAW_SHARE:.0%} of the cells each) on obsm['X_cellmodel']",
        }
    )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def message(self) -> str:
        """The one line a run prints when it is unsure: the reading and what to do."""
        flagged = ", ".join(self.unsure_clusters) if self.unsure_clusters else "none singled out"
        return (
            f"unsure partition: {'; '.join(self.reasons)}. Compare it with Leiden at this k and "
            f"with another seed=, or try another k; least stable clusters: {flagged} "
            f"(uns['cellmodel']['diagnostics'])"
        )


def diagnose(
    labels: np.ndarray,
    latent: np.ndarray,
    X_pca: np.ndarray,
    adjacency: Any,
    seed: int,
) -> Diagnostics:
    """The readings of `labels` (0..k-1) given the final embedding `latent`, the PCA and its kNN
    `adjacency` (cells × cells; None builds one over the PCA); see the module doc."""
    started = time.perf_counter()
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    cells = _sample(labels.size, rng)
    k = int(np.unique(labels).size)
    if cells is not None:
        labels, latent, X_pca = labels[cells], latent[cells], X_pca[cells]
        adjacency = None
    agreement, leiden_k = _agreement(labels, X_pca, adjacency, k, seed)
    stability, jaccard = _stability(labels, np.asarray(latent, dtype=np.float32), k, rng)
    reasons = []
    if agreement < AGREEMENT_FLOOR:
        reasons.append(f"agreement with Leiden at k {agreement:.2f} < {AGREEMENT_FLOOR}")
    if stability < STABILITY_FLOOR:
        reasons.append(f"stability over k-means draws {stability:.2f} < {STABILITY_FLOOR}")
    unsure_clusters = [c for c, value in jaccard.items() if value < CLUSTER_FLOOR]
    return Diagnostics(
        agreement=round(agreement, 4),
        stability=round(stability, 4),
        cluster_jaccard={c: round(v, 4) for c, v in jaccard.items()},
        unsure_clusters=unsure_clusters,
        unsure=bool(reasons),
        reasons=reasons,
        n_cells_read=int(labels.size),
        leiden_k=leiden_k,
        seconds=round(time.perf_counter() - started, 3),
    )


def read_and_warn(
    labels: np.ndarray, latent: np.ndarray, X_pca: np.ndarray, adjacency: Any, seed: int
) -> dict[str, Any]:
    """`diagnose`, as a run records it: the readings as a dict for `uns`, and an
    `UnsurePartitionWarning` when they say unsure (the CLI prints it as one line)."""
    found = diagnose(labels, latent, X_pca, adjacency, seed)
    if found.unsure:
        warn(found.message(), UnsurePartitionWarning)
    return found.to_dict()


def _sample(n: int, rng: np.random.Generator) -> np.ndarray | None:
    """A sorted seeded sample of `SAMPLE_CELLS` cells above that size, else None (all cells)."""
    if n <= SAMPLE_CELLS:
        return None
    return np.sort(rng.choice(n, SAMPLE_CELLS, replace=False))


def _agreement(
    labels: np.ndarray, X_pca: np.ndarray, adjacency: Any, k: int, seed: int
) -> tuple[float, int]:
    """ARI with Leiden at k (and the community count Leiden reached); the graph is rebuilt over
    the PCA when the cells were sampled (`adjacency` None)."""
    from sklearn.metrics import adjusted_rand_score

    from cellmodel.cluster.consensus import leiden_to_k
    from cellmodel.pp.graph import DEFAULT_N_NEIGHBORS, knn_graph

    if k < 2:
        return 1.0, k
    if adjacency is None:
        adjacency = knn_graph(X_pca, DEFAULT_N_NEIGHBORS, seed=seed).adjacency
    leiden, _, _ = leiden_to_k(adjacency, k, seed, n_iterations=LEIDEN_ITERATIONS)
    return float(adjusted_rand_score(labels, leiden)), int(np.unique(leiden).size)


def _stability(
    labels: np.ndarray, latent: np.ndarray, k: int, rng: np.random.Generator
) -> tuple[float, dict[str, float]]:
    """Mean pairwise ARI of the k-means draws on shared cells, and each cluster's mean best
    Jaccard with the draws' clusters."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    n = labels.size
    if k < 2 or n < 2 * k:
        return 1.0, {str(c): 1.0 for c in np.unique(labels)}
    size = max(k, round(DRAW_SHARE * n))
    draws = []
    for _ in range(N_DRAWS):
        cells = np.sort(rng.choice(n, size, replace=False))
        start = int(rng.integers(2**31 - 1))
        model = KMeans(n_clusters=k, n_init=DRAW_STARTS, random_state=start)
        fitted = model.fit_predict(latent[cells])
        full = np.full(n, -1, dtype=np.int64)
        full[cells] = fitted
        draws.append(full)
    pairs = []
    for a, b in itertools.combinations(draws, 2):
        both = (a >= 0) & (b >= 0)
        pairs.append(adjusted_rand_score(a[both], b[both]))
    return float(np.mean(pairs)), _cluster_jaccard(labels, draws)


def _cluster_jaccard(labels: np.ndarray, draws: list[np.ndarray]) -> dict[str, float]:
    """Each cluster's best Jaccard with a draw's cluster (on the cells the draw saw), averaged."""
    result = {}
    for c in np.unique(labels):
        scores = []
        for draw in draws:
            seen = draw >= 0
            mine = (labels == c) & seen
            if not mine.any():
                continue
            found = draw[mine]
            best = 0.0
            for other in np.unique(found):
                theirs = draw == other
                best = max(best, (mine & theirs).sum() / (mine | theirs).sum())
            scores.append(best)
        result[str(c)] = float(np.mean(scores)) if scores else 1.0
    return result
