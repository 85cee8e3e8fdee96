"""The link-reconstruction candidate and the batch-based choice between it and the default fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cellmodel.cluster.batch_choice import LINK_CANDIDATE, batch_ami, choose, leiden_candidate
from cellmodel.cluster.fit import fit_clusters
from cellmodel.cluster.options import parse_options
from cellmodel.metrics import cluster_metrics
from cellmodel.module.losses import link_loss
from genekb.errors import UsageError
from tests.conftest import FAST_FIT, blobs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_link_loss_rewards_near_neighbours_and_far_negatives() -> None:
    h = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    near, far = h + 0.1, h.flip(0)
    negatives = torch.tensor([[1], [0]])  # each cell's negative is the other cell's partner
    assert link_loss(h, near, negatives) < link_loss(h, far, negatives)
    # With the partner on the cell only the negatives count: squared distance 100, q = 1/101.
    expected = -np.log(100 / 101 + 1e-4)
    assert float(link_loss(h, h, negatives)) == pytest.approx(expected, rel=1e-4)
    h.requires_grad_(True)
    link_loss(h, far, negatives).backward()
    assert h.grad is not None and h.grad[0, 0] < 0  # descent moves cell 0 toward its partner


def test_link_fit_trains_on_graph_neighbours_in_pretraining_only() -> None:
    X, labels = blobs()
    result = fit_clusters(X, None, None, 3, seed=0, **FAST_FIT, **LINK_CANDIDATE)
    assert cluster_metrics(labels, result.labels)["ari"] == 1.0
    pretrain = [row for row in result.history if row["phase"] == 0.0]
    refine = [row for row in result.history if row["phase"] == 1.0]
    assert pretrain and all("link" in row for row in pretrain)
    assert refine and not any("link" in row for row in refine)
    assert result.params["link_weight"] == 1.0
    default = fit_clusters(X, None, None, 3, seed=0, **FAST_FIT)
    assert not any("link" in row for row in default.history)


def test_link_options_are_checked() -> None:
    with pytest.raises(UsageError, match="link_weight must be"):
        parse_options({"link_weight": -1.0})
    with pytest.raises(UsageError, match="link_negatives"):
        parse_options({"link_negatives": 0})


def test_choice_keeps_the_partition_that_cuts_across_batches() -> None:
    batch = np.repeat(["a", "b"], 50)
    types = np.tile(np.repeat([0, 1], 25), 2)  # two types, each in both batches
    assert abs(batch_ami(types, batch)) < 0.02  # independent: 0 up to the chance adjustment
    assert batch_ami(batch, batch) == pytest.approx(1.0)
    by_batch = (batch == "a").astype(int)
    picked = choose({"reconstruction": by_batch, "link": types}, batch)
    assert picked.chosen == "link" and picked.batch_ami["link"] < picked.batch_ami["reconstruction"]
    assert choose({"reconstruction": types, "link": by_batch}, batch).chosen == "reconstruction"
    assert (
        choose({"reconstruction": types, "link": types}, batch).chosen == "reconstruction"
    )  # ties
    # Of several alternatives the one least explained by the batch is kept.
    mixed = np.where(np.arange(100) % 5 == 0, by_batch, types)
    three = choose({"reconstruction": by_batch, "link": mixed, "leiden": types}, batch)
    assert three.chosen == "leiden" and set(three.partitions) == {
        "reconstruction",
        "link",
        "leiden",
    }
    # A lower AMI within chance is a tie: the alternative must win by > 2 permutation SDs.
    rng = np.random.default_rng(0)
    batch = rng.choice(["a", "b", "c"], 600)
    default = np.where(rng.random(600) < 0.2, (batch == "a").astype(int), rng.integers(0, 4, 600))
    link = default.copy()
    link[:3] = 3 - link[:3]
    close = choose({"reconstruction": default, "link": link}, batch)
    assert close.chosen == "reconstruction" and close.chance_sd > 0
    assert abs(close.batch_ami["link"] - close.batch_ami["reconstruction"]) < 2 * close.chance_sd
    record = picked.to_dict()
    assert record["chosen"] == "link" and record["link_options"] == LINK_CANDIDATE
    assert "partitions" not in record  # labels stay out of uns


def test_leiden_candidate_has_exactly_k_communities_or_none() -> None:
    import scipy.sparse as sp

    # Three 10-cell cliques joined in a chain by single edges.
    blocks = sp.block_diag([np.ones((10, 10)) - np.eye(10)] * 3).tolil()
    blocks[9, 10] = blocks[10, 9] = blocks[19, 20] = blocks[20, 19] = 1
    adjacency = blocks.tocsr()
    three = leiden_candidate(adjacency, 3, seed=0)
    assert three is not None and cluster_metrics(np.repeat([0, 1, 2], 10), three)["ari"] == 1.0
    cut = sp.block_diag([np.ones((10, 10)) - np.eye(10)] * 3).tocsr()  # three components
    assert leiden_candidate(cut, 2, seed=0) is None  # no resolution joins unlinked cells


def test_pipeline_fits_both_candidates_only_with_a_batch_column() -> None:
    from cellmodel.cluster.job import cluster

    adata = blobs(40, dim=60, counts=True)
    adata.obs["donor"] = ["d1", "d2"] * 60
    small = {"pretrain_steps": 40, "min_pretrain_steps": 20, "cluster_steps": 20}
    cluster(adata, use_semantic=False, n_clusters=3, batch_key="donor", **small)
    record = adata.uns["cellmodel"]
    choice = record["batch_choice"]
    assert choice["chosen"] in ("reconstruction", "link", "leiden")
    assert set(choice["batch_ami"]) == {"reconstruction", "link", "leiden"}
    assert "batch_choice" in record["pipeline_timings_s"]
    kept_link = record["cluster_params"]["link_weight"] == LINK_CANDIDATE["link_weight"]
    assert kept_link == (choice["chosen"] == "link")
    assert adata.obs["cellmodel_cluster"].nunique() == 3

    for extra in ({"batch_key": None}, {"batch_key": "donor", "batch_choice": False}):
        cluster(adata, use_semantic=False, n_clusters=3, **extra, **small)
        assert adata.uns["cellmodel"].get("batch_choice") is None
    # A caller who sets link_weight has chosen; no second fit.
    cluster(adata, use_semantic=False, n_clusters=3, batch_key="donor", link_weight=0.5, **small)
    assert adata.uns["cellmodel"].get("batch_choice") is None
    assert adata.uns["cellmodel"]["cluster_params"]["link_weight"] == 0.5


def test_chance_sd_equals_the_sd_of_the_ami_over_the_same_permutations() -> None:
    from cellmodel.cluster.batch_choice import PERMUTATIONS, chance_sd

    rng = np.random.default_rng(1)
    batch = rng.choice(["a", "b", "c", "d"], 500)
    labels = np.where(rng.random(500) < 0.3, batch, rng.choice(list("pqrstu"), 500))
    permuted = np.random.default_rng(7)
    direct = np.std([batch_ami(labels, permuted.permutation(batch)) for _ in range(PERMUTATIONS)])
    assert chance_sd(labels, batch, seed=7) == pytest.approx(direct, rel=1e-9)
    assert chance_sd(batch, batch) == 0.0  # AMI 1: nothing left to vary
