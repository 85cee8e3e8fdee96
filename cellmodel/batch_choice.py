"""A label-free choice, on data with a batch column, between two graph-encoder fits.

The default fit (feature reconstruction) keeps the geometry of the PCA, which is right when the
batches are donors of one technology: k-means in its latent finds compact types. Where the batches
are studies or technologies, a type can sit in several places of that geometry, one per batch, and
the fit then cuts along batches instead of types. The second candidate adds link reconstruction
(`ClusterOptions.link_weight`): its latent keeps the kNN graph's communities, as Leiden does, which
carries types across such batches but splits large types on donor data.

The batch column says which one the data need without any label: batches are meant to share cell
types, so the partition whose clusters carry less information about the batch (lower adjusted
mutual information between cluster and batch; Vinh, Epps & Bailey 2010, JMLR 11:2837) is the one
that cut along types. The link candidate must win by more than chance: its AMI has to be lower by
over `MARGIN_SIGMAS` standard deviations of the AMI between each partition and `PERMUTATIONS`
random permutations of the batch column; closer calls keep the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# The second candidate's options (over the caller's); everything else stays as given.
LINK_CANDIDATE: dict[str, Any] = {"link_weight": 1.0}
PERMUTATIONS = 20
MARGIN_SIGMAS = 2.0


@dataclass
class BatchChoice:
    """Which candidate was kept, and each candidate's AMI with the batch."""

    chosen: str
    batch_ami: dict[str, float]
    chance_sd: float  # the AMI's spread under permuted batches (the larger of the two partitions')

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "batch_ami": {k: round(v, 6) for k, v in self.batch_ami.items()},
            "chance_sd": round(self.chance_sd, 6),
            "rule": f"link if its AMI with the batch is lower by > {MARGIN_SIGMAS:g} chance SDs",
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


def choose(default: np.ndarray, link: np.ndarray, batch: np.ndarray, seed: int = 0) -> BatchChoice:
    """Keep the partition whose clusters are less explained by the batch; the link candidate
    only when it is so by more than chance (otherwise `default`)."""
    partitions = {"reconstruction": default, "link": link}
    scores = {name: batch_ami(labels, batch) for name, labels in partitions.items()}
    spread = max(chance_sd(partitions[name], batch, seed, scores[name]) for name in partitions)
    better = scores["reconstruction"] - scores["link"] > MARGIN_SIGMAS * spread
    return BatchChoice(
        chosen="link" if better else "reconstruction", batch_ami=scores, chance_sd=spread
    )
