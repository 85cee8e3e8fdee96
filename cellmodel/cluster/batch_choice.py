"""A label-free choice, on data with a batch column, among three partitions of the same cells.

The default fit (feature reconstruction) keeps the geometry of the PCA, which is right when the
batches are donors of one technology: k-means in its latent finds compact types. Where the batches
are studies or technologies, a type can sit in several places of that geometry, one per batch, and
the fit then cuts along batches instead of types. Two candidates follow the kNN graph's
communities instead, which carry types across such batches but split large types on donor data:
a second fit with link reconstruction (`ClusterOptions.link_weight`), whose latent keeps the
graph's communities, and those communities themselves (Leiden on the fit's kNN graph with its
resolution bisected to the fit's k; Traag, Waltman & van Eck 2019). No family wins across
seeds: on the same data either of the two may cut across the batches more cleanly.

The batch column says which one the data need without any label: batches are meant to share cell
types, so the partition whose clusters carry less information about the batch (lower adjusted
mutual information between cluster and batch; Vinh, Epps & Bailey 2010, JMLR 11:2837) is the one
that cut along types. The lowest of the alternatives must beat the default by more than chance:
its AMI has to be lower by over `MARGIN_SIGMAS` standard deviations of the AMI between each
partition and `PERMUTATIONS` random permutations of the batch column; closer calls keep the
default. Leiden enters only where a resolution gives exactly k communities (k asked is k
returned).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from cellmodel.cluster.consensus import leiden_to_k
from cellmodel.cluster.fit import relabel_by_size

if TYPE_CHECKING:
    from cellmodel.cluster.options import ClusterResult

# The second candidate's options (over the caller's); everything else stays as given.
LINK_CANDIDATE: dict[str, Any] = {"link_weight": 1.0}
DEFAULT = "reconstruction"
PERMUTATIONS = 20
MARGIN_SIGMAS = 2.0


@dataclass
class BatchChoice:
    """Which candidate was kept, and each candidate's AMI with the batch."""

    chosen: str
    batch_ami: dict[str, float]
    chance_sd: float  # the AMI's spread under permuted batches (default's or the runner's, larger)
    partitions: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # not recorded

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "batch_ami": {k: round(v, 6) for k, v in self.batch_ami.items()},
            "chance_sd": round(self.chance_sd, 6),
            "rule": f"the alternative with the lowest AMI with the batch if it is below the"
            f" default's by > {MARGIN_SIGMAS:g} chance SDs",
            "link_options": dict(LINK_CANDIDATE),
        }


def batch_ami(labels: np.ndarray, batch: np.ndarray) -> float:
    """Adjusted mutual information between a partition and the batch (0: independent)."""
    from sklearn.metrics import adjusted_mutual_info_score

    return float(adjusted_mutual_info_score(np.asarray(batch), np.asarray(labels)))


def chance_sd(
    labels: np.ndarray, batch: np.ndarray, seed: int = 0, ami: float | None = None
) -> float:
    """Standard deviation of the AMI between `labels` and randomly permuted batch values
    (`ami`: their AMI, when the caller has it already).

    A permutation keeps both marginals, so the AMI's expected-MI term and its normalizer stay
    fixed and only the mutual information varies: the SD of the (cheap) MI over permutations,
    divided by the normalizer, is the AMI's SD without recomputing the expected MI each time.
    """
    from sklearn.metrics import mutual_info_score

    rng = np.random.default_rng(seed)
    labels, batch = np.asarray(labels), np.asarray(batch)
    mi = mutual_info_score(batch, labels)
    ami = batch_ami(labels, batch) if ami is None else ami
    mean_entropy = 0.5 * (_entropy(labels) + _entropy(batch))  # sklearn's "arithmetic" average
    if ami >= 1.0 or mean_entropy == 0.0:
        return 0.0
    expected_mi = (mi - ami * mean_entropy) / (1.0 - ami)
    spread = np.std(
        [mutual_info_score(rng.permutation(batch), labels) for _ in range(PERMUTATIONS)]
    )
    return float(spread / (mean_entropy - expected_mi))


def _entropy(values: np.ndarray) -> float:
    p = np.unique(values, return_counts=True)[1] / values.size
    return float(-(p * np.log(p)).sum())


def choose(partitions: dict[str, np.ndarray], batch: np.ndarray, seed: int = 0) -> BatchChoice:
    """Keep the partition whose clusters are less explained by the batch: of the alternatives to
    `partitions[DEFAULT]`, the one with the lowest AMI, when it is lower by more than chance
    (otherwise the default)."""
    scores = {name: batch_ami(labels, batch) for name, labels in partitions.items()}
    runner = min((n for n in scores if n != DEFAULT), key=scores.get, default=None)
    if runner is None:
        return BatchChoice(DEFAULT, scores, 0.0, partitions)
    spread = max(chance_sd(partitions[n], batch, seed, scores[n]) for n in (DEFAULT, runner))
    better = scores[DEFAULT] - scores[runner] > MARGIN_SIGMAS * spread
    return BatchChoice(runner if better else DEFAULT, scores, spread, partitions)


def leiden_candidate(adjacency: Any, k: int, seed: int) -> np.ndarray | None:
    """Leiden communities of the fit's graph at the resolution that gives k of them; None where
    no resolution does."""
    labels = leiden_to_k(adjacency, k, seed)[0]
    return labels if len(np.unique(labels)) == k else None


def choose_fit(
    default: ClusterResult,
    fit: Callable[..., ClusterResult],
    adjacency: Any,
    batch: np.ndarray,
    seed: int = 0,
) -> tuple[np.ndarray, ClusterResult, BatchChoice]:
    """Fit the link candidate (`fit(**LINK_CANDIDATE)`), build the Leiden one on `adjacency`, and
    choose; returns the kept labels, the fit whose latent goes with them (the default's for
    Leiden, which has none) and the choice (with every candidate's labels)."""
    link = fit(**LINK_CANDIDATE)
    partitions = {DEFAULT: default.labels, "link": link.labels}
    leiden = leiden_candidate(adjacency, default.n_clusters, seed)
    if leiden is not None:
        partitions["leiden"] = leiden
    choice = choose(partitions, batch, seed)
    kept = relabel_by_size(partitions[choice.chosen])  # cluster 0 the largest, as fits give
    return kept, link if choice.chosen == "link" else default, choice
