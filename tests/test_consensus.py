"""The label-free choice between partition families (cellmodel.cluster.consensus) and its
pipeline use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

from cellmodel.cluster import consensus
from cellmodel.pp import graph
from tests.conftest import blobs


def _noisy_copy(labels: np.ndarray, rng: np.random.Generator, flip: float) -> np.ndarray:
    """The same partition under new cluster names, with a share of cells moved at random."""
    names = rng.permutation(labels.max() + 1)
    out = names[labels]
    moved = rng.random(labels.size) < flip
    out[moved] = rng.integers(0, labels.max() + 1, moved.sum())
    return out


def test_spectral_consensus_recovers_the_shared_partition() -> None:
    truth = np.repeat(np.arange(4), 50)
    rng = np.random.default_rng(0)
    runs = [_noisy_copy(truth, rng, 0.15) for _ in range(15)]
    assert max(adjusted_rand_score(truth, r) for r in runs) < 0.9
    merged = consensus.spectral_consensus(runs, 4, seed=0)
    assert adjusted_rand_score(truth, merged) == 1.0


def test_spectral_consensus_of_partitions_that_stopped_arpack() -> None:
    """Three 11-cluster partitions of 301 cells (Pollen, seed 2) on which ARPACK's svds raised
    error 3: the dense eigenproblem gives k clusters that agree with the three."""
    runs = list(np.load(Path(__file__).parent / "data/consensus/arpack_error3_pollen_seed2.npy"))
    merged = consensus.spectral_consensus(runs, 11, seed=2)
    assert len(np.unique(merged)) == 11
    assert min(adjusted_rand_score(r, merged) for r in runs) > 0.7


def test_choose_keeps_the_candidate_the_ensemble_agrees_with() -> None:
    truth = np.repeat(np.arange(3), 40)
    rng = np.random.default_rng(1)
    runs = [_noisy_copy(truth, rng, 0.1) for _ in range(8)]
    candidates = {
        "graph-encoder": rng.integers(0, 3, truth.size),  # unrelated to the runs
        "kmeans-consensus": _noisy_copy(truth, rng, 0.02),
        "leiden-k": rng.integers(0, 3, truth.size),
    }
    choice = consensus.choose(candidates, runs)
    assert choice.chosen == "kmeans-consensus"
    assert np.array_equal(choice.labels, candidates["kmeans-consensus"])
    assert choice.agreement["kmeans-consensus"] > 0.5 > choice.agreement["graph-encoder"]
    # A tie goes to the first candidate.
    same = {"a": truth, "b": truth.copy()}
    assert consensus.choose(same, []).chosen == "a"


def test_ensemble_choice_on_separated_groups() -> None:
    X, labels = blobs(40, n_classes=4, dim=10)
    knn = graph.knn_graph(X, 10, seed=0)
    wrong = np.zeros(X.shape[0], dtype=np.int64)  # a degenerate "graph encoder" partition
    choice = consensus.ensemble_choice(X, knn.adjacency, wrong, 4, seed=0, n_runs=5)
    assert set(choice.agreement) == set(consensus.CANDIDATES)
    assert choice.chosen != "graph-encoder"
    assert adjusted_rand_score(labels, choice.labels) == 1.0
    assert choice.to_dict()["chosen"] == choice.chosen


def test_leiden_to_k_reaches_k() -> None:
    X, _ = blobs(30, n_classes=5, dim=10)
    adjacency = graph.knn_graph(X, 10, seed=0).adjacency
    labels, resolution, calls = consensus.leiden_to_k(adjacency, 5, seed=0)
    assert len(np.unique(labels)) == 5 and resolution > 0 and calls >= 1


def test_pipeline_records_the_choice_on_request_and_keeps_the_encoder_by_default() -> None:
    from cellmodel.cluster.job import cluster

    adata = blobs(40, n_classes=3, dim=30, counts=True)
    out = cluster(
        adata, None, n_clusters=3, use_semantic=False, copy=True, pretrain_steps=20, ensemble=True
    )
    record = out.uns["cellmodel"]["ensemble"]
    assert record["chosen"] in consensus.CANDIDATES
    assert set(record["agreement"]) == set(consensus.CANDIDATES)
    assert out.obs["cellmodel_cluster"].cat.categories.size == 3
    alone = cluster(adata, None, n_clusters=3, use_semantic=False, copy=True, pretrain_steps=20)
    assert alone.uns["cellmodel"].get("ensemble") is None


def test_encoder_kmeans_consensus_repairs_a_merge_the_pca_separates() -> None:
    """An encoder partition that merged two of four groups is split again by the k-means side,
    and a partition the k-means side agrees with is kept as it is."""
    X, labels = blobs(40, n_classes=4, dim=10)
    merged = np.where(labels == 3, 2, labels)  # groups 2 and 3 fused, one cluster left empty
    out = consensus.encoder_kmeans_consensus(X, merged, 4, seed=0, n_runs=5)
    assert out.shape == labels.shape and len(np.unique(out)) == 4
    assert adjusted_rand_score(labels, out) > adjusted_rand_score(labels, merged)
    kept = consensus.encoder_kmeans_consensus(X, labels, 4, seed=0, n_runs=5)
    assert adjusted_rand_score(labels, kept) == 1.0


def test_pipeline_consensus_is_off_by_default_and_recorded_on_request() -> None:
    from cellmodel.cluster.job import cluster

    adata = blobs(40, n_classes=3, dim=30, counts=True)
    out = cluster(
        adata, None, n_clusters=3, use_semantic=False, copy=True, pretrain_steps=20, consensus=True
    )
    record = out.uns["cellmodel"]
    assert record["consensus"] is True and "consensus" in record["pipeline_timings_s"]
    assert out.obs["cellmodel_cluster"].cat.categories.size == 3
    alone = cluster(adata, None, n_clusters=3, use_semantic=False, copy=True, pretrain_steps=20)
    assert alone.uns["cellmodel"]["consensus"] is False
