"""The merge-split check of a finished partition in the PCA (`cellmodel.cluster.merge_split`)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from cellmodel.cluster.merge_split import MIN_CONNECTIVITY, connectivity, merge_split
from cellmodel.metrics import cluster_metrics
from cellmodel.pp.graph import knn_graph


def _types(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A dominant type of 200 cells and three distinct 30-cell types, far apart in 10 dims."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((4, 10))
    centres[1, 0], centres[2, 1], centres[3, 2] = 12.0, 12.0, -12.0
    sizes = [200, 30, 30, 30]
    truth = np.repeat(np.arange(4), sizes)
    return centres[truth] + rng.normal(size=(len(truth), 10)), truth


def test_a_cut_dominant_type_is_merged_and_a_hidden_type_split_off() -> None:
    X, truth = _types()
    # The failure the check is for: the dominant type cut in two along its own spread, two
    # distinct types in one cluster.
    cut = truth.copy()
    cut[(truth == 0) & (X[:, 3] > 0)] = 3
    cut[truth == 3] = 2
    assert cluster_metrics(truth, cut)["ari"] < 0.7
    checked = merge_split(X, cut, seed=0)
    assert cluster_metrics(truth, checked.labels)["ari"] == pytest.approx(1.0)
    assert len(checked.moves) == 1 and sorted(checked.moves[0]["merged"]) == [0, 3]
    before, after = checked.moves[0]["silhouette"]
    assert after > before
    record = checked.to_dict()
    assert record["n_moves"] == 1 and set(record["moves"]) == {"1"} and record["stopped"]


def _kept_within(adjacency, labels: np.ndarray):
    """`adjacency` with every edge between two different clusters removed."""
    coo = adjacency.tocoo()
    same = labels[coo.row] == labels[coo.col]
    return sp.csr_matrix((coo.data[same], (coo.row[same], coo.col[same])), shape=coo.shape)


def test_connectivity_reads_the_graph_between_two_clusters() -> None:
    X, truth = _types()
    adjacency = knn_graph(X, 8, seed=0).adjacency
    apart = _kept_within(adjacency, truth)
    graph = (sp.csr_matrix(apart + apart.T), np.asarray((apart + apart.T).sum(axis=1)).ravel())
    assert connectivity(graph, truth, 0, 1) == 0.0
    # Cells of one blob split at random are joined as a random graph joins them: about 1.
    rng = np.random.default_rng(0)
    halves = np.where(truth == 0, rng.integers(0, 2, len(truth)), truth + 1)
    full = (sp.csr_matrix(adjacency + adjacency.T),
            np.asarray((adjacency + adjacency.T).sum(axis=1)).ravel())  # fmt: skip
    assert 0.6 < connectivity(full, halves, 0, 1) < 1.5


def test_a_pair_the_graph_separates_is_not_merged() -> None:
    X, truth = _types()
    cut = truth.copy()
    cut[(truth == 0) & (X[:, 3] > 0)] = 3
    cut[truth == 3] = 2
    adjacency = knn_graph(X, 8, seed=0).adjacency
    # The graph joins the two halves of the dominant type: the move is made as without it.
    joined = merge_split(X, cut, seed=0, adjacency=adjacency)
    assert cluster_metrics(truth, joined.labels)["ari"] == pytest.approx(1.0)
    assert joined.moves[0]["connectivity"] >= MIN_CONNECTIVITY
    assert MIN_CONNECTIVITY > 0
    # A graph with no edge between the halves: they are two groups, and no pair is merged.
    apart = merge_split(X, cut, seed=0, adjacency=_kept_within(adjacency, cut))
    assert np.array_equal(apart.labels, cut) and apart.moves == []
    assert apart.stopped == "no neighbouring pair without a density dip that the kNN graph joins"


def test_a_move_that_would_cut_along_the_batch_is_refused() -> None:
    X, truth = _types()
    cut = truth.copy()
    cut[(truth == 0) & (X[:, 3] > 0)] = 3
    cut[truth == 3] = 2
    # The hidden type is exactly one batch: splitting it off makes the clusters carry the batch.
    batch = np.where(truth == 3, "run2", "run1")
    checked = merge_split(X, cut, seed=0, batch=batch)
    assert np.array_equal(checked.labels, cut) and checked.moves == []
    assert "batch" in checked.stopped
    # A batch that the move does not align with leaves it free.
    mixed = np.where(np.arange(len(truth)) % 2 == 0, "run1", "run2")
    moved = merge_split(X, cut, seed=0, batch=mixed)
    assert cluster_metrics(truth, moved.labels)["ari"] == pytest.approx(1.0)
    assert len(moved.moves[0]["batch_ami"]) == 2


def test_a_right_partition_is_left_alone_and_the_check_is_deterministic() -> None:
    X, truth = _types(1)
    checked = merge_split(X, truth, seed=3)
    assert np.array_equal(checked.labels, truth) and checked.moves == []
    # Two distinct types never count as one: no merge candidate at all.
    assert checked.stopped == "no neighbouring pair without a density dip"
    cut = truth.copy()
    cut[(truth == 0) & (X[:, 3] > 0)] = 3
    cut[truth == 3] = 2
    first, second = merge_split(X, cut, seed=5), merge_split(X, cut, seed=5)
    assert np.array_equal(first.labels, second.labels)


def test_two_clusters_are_returned_as_they_are() -> None:
    X, truth = _types()
    two = (truth > 0).astype(np.int64)
    checked = merge_split(X, two)
    assert np.array_equal(checked.labels, two) and checked.stopped.startswith("fewer than three")


def test_the_pipeline_records_the_check_and_can_skip_it() -> None:
    from cellmodel.cluster.job import cluster
    from tests.conftest import blobs

    small = {"pretrain_steps": 40, "min_pretrain_steps": 20, "cluster_steps": 20}
    adata = blobs(40, dim=60, counts=True)
    cluster(adata, use_semantic=False, n_clusters=3, **small)
    record = adata.uns["cellmodel"]
    assert "merge_split" in record["pipeline_timings_s"]
    assert record["merge_split"]["n_moves"] == 0
    cluster(adata, use_semantic=False, n_clusters=3, merge_split=False, **small)
    assert adata.uns["cellmodel"].get("merge_split") is None


def test_two_clusters_with_one_centroid_are_merged() -> None:
    rng = np.random.default_rng(2)
    blob = rng.normal(size=(40, 5))
    far = rng.normal(size=(60, 5)) + np.repeat([[15.0, 0, 0, 0, 0], [15.0, 15.0, 0, 0, 0]], 30, 0)
    X = np.concatenate([blob, blob, far])
    labels = np.repeat([0, 1, 2], [40, 40, 60])
    checked = merge_split(X, labels, seed=0)
    assert sorted(checked.moves[0]["merged"]) == [0, 1]
    assert len(np.unique(checked.labels[80:])) == 2 and len(np.unique(checked.labels[:80])) == 1


def test_a_given_condition_can_refuse_a_move() -> None:
    X, truth = _types()
    cut = truth.copy()
    cut[(truth == 0) & (X[:, 3] > 0)] = 3
    cut[truth == 3] = 2
    seen: list[tuple[np.ndarray, np.ndarray]] = []

    def refuse(current: np.ndarray, moved: np.ndarray) -> bool:
        seen.append((current, moved))
        return False

    refused = merge_split(X, cut, seed=0, condition=refuse)
    assert np.array_equal(refused.labels, cut) and refused.moves == []
    assert refused.stopped == "the move fails the given condition"
    # It was asked about the move the check would make, from the partition it was given.
    assert len(seen) == 1 and np.array_equal(seen[0][0], cut)
    assert cluster_metrics(truth, seen[0][1])["ari"] == pytest.approx(1.0)
    allowed = merge_split(X, cut, seed=0, condition=lambda current, moved: True)
    assert np.array_equal(allowed.labels, merge_split(X, cut, seed=0).labels)


def test_the_variance_rule_refuses_a_small_split_against_a_large_merge() -> None:
    """A dominant type of 400 cells cut in two, two distinct 15-cell types in one cluster: the
    merge adds more variance (Ward's cost grows with the sizes) than splitting the small cluster
    removes, so the variance rule refuses what the silhouette accepts."""
    rng = np.random.default_rng(0)
    centres = np.zeros((3, 5))
    centres[1, 0], centres[2, :2] = 10.0, (10.0, 4.0)
    truth = np.repeat(np.arange(3), [400, 15, 15])
    X = centres[truth] + rng.normal(scale=np.where(truth == 0, 1.0, 0.3)[:, None], size=(430, 5))
    cut = truth.copy()
    cut[(truth == 0) & (X[:, 1] > 0)] = 1
    cut[truth == 2] = 2
    cut[truth == 1] = 2
    with_rule = merge_split(X, cut, seed=0, variance_rule=True)
    assert with_rule.moves == [] and "variance" in with_rule.stopped
    without = merge_split(X, cut, seed=0, variance_rule=False)
    assert cluster_metrics(truth, without.labels)["ari"] == pytest.approx(1.0)
    move = without.moves[0]
    assert move["variance_removed"] < move["variance_added"]
    assert move["silhouette"][1] > move["silhouette"][0]


def _over_split(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The four types of `_types` with the dominant one cut into three slabs along its own
    spread, as a Leiden count that grows with the cells leaves it."""
    X, truth = _types(seed)
    pieces = truth.copy()
    pieces[(truth == 0) & (X[:, 3] > 0.5)] = 4
    pieces[(truth == 0) & (X[:, 3] < -0.5)] = 5
    return X, truth, pieces


def test_with_k_estimated_the_pieces_of_a_type_are_merged_and_distinct_types_kept() -> None:
    from cellmodel.cluster.merge_split import merge_pairs

    X, truth, pieces = _over_split()
    merged = merge_pairs(X, pieces, seed=0)
    assert cluster_metrics(truth, merged.labels)["ari"] == pytest.approx(1.0)
    assert len(merged.moves) == 2 and merged.stopped
    assert set(np.unique(merged.labels)) == {0, 1, 2, 3}  # ids stay 0..m-1
    for move in merged.moves:
        before, after = move["silhouette"]
        assert after > before
    # A right partition has no pair without a dip: nothing is merged.
    kept = merge_pairs(X, truth, seed=0)
    assert np.array_equal(kept.labels, truth) and kept.moves == []
    # The first pair to merge is one batch, the rest the other: joining them would make the
    # clusters carry more information about the batch, so it is refused.
    batch = np.where(np.isin(pieces, [0, 4]), "run2", "run1")
    refused = merge_pairs(X, pieces, seed=0, batch=batch)
    assert refused.moves == [] and "batch" in refused.stopped


def test_the_check_merges_only_when_k_was_estimated() -> None:
    from cellmodel.cluster.merge_split import check_partition

    X, truth, pieces = _over_split()
    given, record = check_partition(X, pieces, seed=0)
    assert len(np.unique(given)) == 6 and "merges" not in record
    estimated, record = check_partition(X, pieces, seed=0, k_estimated=True)
    assert cluster_metrics(truth, estimated)["ari"] == pytest.approx(1.0)
    assert record["merges"]["n_moves"] == 2
    assert np.bincount(estimated)[0] == 200  # numbered by size


def test_the_pipeline_reports_the_k_left_after_its_merges() -> None:
    from cellmodel.cluster.job import cluster
    from tests.conftest import blobs

    small = {"pretrain_steps": 40, "min_pretrain_steps": 20, "cluster_steps": 20}
    adata = blobs(40, dim=60, counts=True)
    cluster(adata, use_semantic=False, n_clusters=None, **small)
    record = adata.uns["cellmodel"]
    merges = record["merge_split"]["merges"]
    assert merges["stopped"]
    found = adata.obs["cellmodel_cluster"]
    assert record["n_clusters"] == len(found.cat.categories) == found.nunique()


def _spread_and_hidden(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """In 2-d: a dominant blob cut in two (clusters 0, 3), a long bar (1) and two tight 30-cell
    groups side by side in one cluster (2). Cutting the bar removes the most variance."""
    rng = np.random.default_rng(seed)
    bar = np.column_stack([rng.uniform(-10, 10, 200), rng.normal(scale=0.5, size=200)])
    bar[:, 0] += 30
    pair = rng.normal(scale=0.3, size=(60, 2))
    pair[:, 1] += 30
    pair[30:, 0] += 3
    X = np.concatenate([rng.normal(size=(200, 2)), bar, pair])
    truth = np.repeat([0, 1, 2, 3], [200, 200, 30, 30])
    cut = np.minimum(truth, 2)
    cut[(truth == 0) & (X[:, 0] > 0)] = 3
    return X, truth, cut


@pytest.mark.parametrize("seed", [1, 2])
def test_the_split_beside_a_merge_is_the_one_the_silhouette_prefers(seed: int) -> None:
    X, truth, cut = _spread_and_hidden(seed)
    by_variance = merge_split(X, cut, seed=0, search="variance")
    assert [move["split"] for move in by_variance.moves] == [1]  # the bar, cut along its spread
    checked = merge_split(X, cut, seed=0)
    assert [move["split"] for move in checked.moves] == [2]
    assert checked.moves[0]["splits_tried"] == 2
    assert cluster_metrics(truth, checked.labels)["ari"] == pytest.approx(1.0)
    assert cluster_metrics(truth, by_variance.labels)["ari"] < 0.8
    with pytest.raises(ValueError, match="search"):
        merge_split(X, cut, search="gain")


def test_a_cluster_per_cell_is_left_as_it_is() -> None:
    X, _ = _types()
    each = np.arange(len(X))
    checked = merge_split(X, each, seed=0)
    assert checked.stopped == "a cluster per cell" and (checked.labels == each).all()


def _joins(current: np.ndarray, moved: np.ndarray, pair: list[int]) -> bool:
    """Whether the move from `current` to `moved` puts the clusters of `pair` together."""
    a, b = (current == pair[0]), (current == pair[1])
    return len(np.unique(moved[a | b])) == 1


def test_when_the_cheapest_pair_has_no_accepted_move_the_next_pair_is_tried() -> None:
    X, truth = _types()
    # Two types cut in two (0 | 3 and 1 | 4), two types in one cluster (2).
    cut = truth.copy()
    cut[(truth == 0) & (X[:, 3] > 0)] = 3
    cut[truth == 3] = 2
    cut[(truth == 1) & (X[:, 4] > 0)] = 4
    first = merge_split(X, cut, seed=0, search="split").moves[0]["merged"]
    refuse_first = lambda current, moved: not _joins(current, moved, first)  # noqa: E731
    narrow = merge_split(X, cut, seed=0, search="split", condition=refuse_first)
    assert narrow.moves == [] and narrow.stopped == "the move fails the given condition"
    wide = merge_split(X, cut, seed=0, condition=refuse_first)
    assert wide.moves and sorted(wide.moves[0]["merged"]) != sorted(first)
    assert wide.moves[0]["silhouette"][1] > wide.moves[0]["silhouette"][0]
