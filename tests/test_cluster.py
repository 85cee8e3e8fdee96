"""The clustering engine: kNN graph, sampler, losses, fit_clusters, k estimation, metrics."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from cellmodel.cluster.fit import NeighbourSampler, estimate_k, fit_clusters
from cellmodel.metrics import cluster_metrics, hungarian_mapping
from cellmodel.module.losses import info_nce, sinkhorn_target, split_for_empty, student_t
from cellmodel.pp.graph import (
    auto_n_pcs,
    combat,
    from_edge_index,
    knn_graph,
    parallel_analysis,
    principal_components,
    scale,
    structure_features,
)
from genekb.errors import GenekbError, UsageError
from tests.conftest import FAST_FIT, blobs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ----------------------------------------------------------------------------------------- metrics


def test_metrics_on_hand_made_labels() -> None:
    truth = [0, 0, 0, 1, 1, 1, 2, 2]
    pred = [1, 1, 0, 0, 0, 0, 2, 2]
    scores = cluster_metrics(truth, pred)
    # Matching 1→0 (2 cells), 0→1 (3), 2→2 (2): 7 of 8 cells.
    assert scores["acc"] == pytest.approx(7 / 8)
    # Per-class F1: 2·2/(3+2), 2·3/(3+4), 2·2/(2+2).
    assert scores["f1"] == pytest.approx((0.8 + 6 / 7 + 1.0) / 3)
    # ARI from pair counts: Σ C(n_ij,2) = 5, rows 8, columns 7, C(8,2) = 28 → (5−2)/(7.5−2).
    assert scores["ari"] == pytest.approx(3 / 5.5)
    # NMI (arithmetic mean normalization) from the same table.
    p_ij = np.array([2, 1, 3, 2]) / 8
    p_pred = np.array([2, 4, 4, 2]) / 8  # each cell's cluster share: 1→2/8, 0→4/8, 0→4/8, 2→2/8
    p_true = np.array([3, 3, 3, 2]) / 8
    mi = float(np.sum(p_ij * np.log(p_ij / (p_pred * p_true))))
    h_true = -(2 * (3 / 8) * math.log(3 / 8) + (2 / 8) * math.log(2 / 8))
    h_pred = -(2 * (2 / 8) * math.log(2 / 8) + (4 / 8) * math.log(4 / 8))
    assert scores["nmi"] == pytest.approx(mi / ((h_true + h_pred) / 2))


def test_metrics_perfect_under_renaming_and_hungarian_map() -> None:
    truth = ["a", "a", "b", "b", "c"]
    pred = [7, 7, 3, 3, 9]
    assert cluster_metrics(truth, pred) == pytest.approx(
        {"acc": 1.0, "nmi": 1.0, "ari": 1.0, "f1": 1.0}
    )
    assert hungarian_mapping(truth, pred) == {"7": "a", "3": "b", "9": "c"}
    # Four clusters for two classes: the two smaller clusters stay unmatched.
    mapping = hungarian_mapping(["x"] * 4 + ["y"] * 4, [0, 0, 0, 1, 2, 2, 2, 3])
    assert mapping == {"0": "x", "2": "y"}


def test_metrics_reject_length_mismatch() -> None:
    with pytest.raises(GenekbError, match="must match"):
        cluster_metrics([0, 1], [0])


# ------------------------------------------------------------------------------------------- graph


def test_knn_graph_hand_made_points() -> None:
    points = np.array([[0.0], [1.0], [2.1], [10.0], [11.0], [12.1]], dtype=np.float32)
    graph = knn_graph(points, n_neighbors=1)
    expected = {(0, 1), (1, 0), (2, 1), (1, 2), (3, 4), (4, 3), (5, 4), (4, 5)}
    coo = graph.adjacency.tocoo()
    assert set(zip(coo.row.tolist(), coo.col.tolist(), strict=True)) == expected
    assert graph.edge_index.shape == (2, len(expected))


@pytest.mark.parametrize("approximate", [False, True])
def test_knn_graph_symmetric_without_self_loops(approximate: bool) -> None:
    X, _ = blobs(40, dim=8)
    graph = knn_graph(X, n_neighbors=10, approximate=approximate)
    A = graph.adjacency
    assert (A != A.T).nnz == 0
    assert A.diagonal().sum() == 0
    assert np.diff(A.indptr).min() >= 10  # union of kNN: at least k per cell
    assert set(np.unique(A.data)) == {1.0}


def test_batch_balanced_graph_reaches_every_batch() -> None:
    X, _ = blobs(30, dim=6)
    batch = np.tile(["d1", "d2", "d3"], 30)
    graph = knn_graph(X, n_neighbors=6, batch=batch)
    A = graph.adjacency.tocsr()
    for cell in range(X.shape[0]):
        assert set(batch[A.indices[A.indptr[cell] : A.indptr[cell + 1]]]) == {"d1", "d2", "d3"}
    assert (A != A.T).nnz == 0 and A.diagonal().sum() == 0


def test_from_edge_index_symmetrizes_and_drops_loops() -> None:
    graph = from_edge_index(torch.tensor([[0, 1, 2, 2], [1, 2, 2, 0]]), 4)
    dense = graph.adjacency.toarray()
    assert np.array_equal(dense, dense.T)
    assert dense.trace() == 0 and dense.sum() == 6  # 0–1, 1–2, 2–0 both ways; 2–2 dropped


def test_structure_features_from_counts() -> None:
    rng = np.random.default_rng(0)
    counts = sp.csr_matrix(rng.poisson(1.0, size=(40, 30)).astype(np.float32))
    X_pca = structure_features(counts, n_pcs=5)
    assert X_pca.shape == (40, 5) and X_pca.dtype == np.float32
    assert np.allclose(X_pca.mean(axis=0), 0.0, atol=1e-4)


def test_parallel_analysis_keeps_the_components_that_planted_groups_make() -> None:
    rng = np.random.default_rng(0)
    noise = scale(rng.normal(size=(300, 120)))
    assert parallel_analysis(noise, seed=0) == 2  # nothing above noise: the floor
    for n_groups in (3, 6):
        centres = rng.normal(size=(n_groups, 120)) * 1.5
        X = centres[rng.integers(0, n_groups, 300)] + rng.normal(size=(300, 120))
        # n groups span n - 1 directions around their mean; nothing else stands above noise.
        assert parallel_analysis(scale(X), seed=0) == n_groups - 1
        assert parallel_analysis(scale(X), max_pcs=3, seed=0) == min(n_groups - 1, 3)
    counts = sp.csr_matrix(rng.poisson(1.0, (60, 40)).astype(np.float32))
    X_auto = structure_features(counts, n_pcs="auto")
    assert X_auto.shape == (60, 2) and X_auto.dtype == np.float32  # Poisson noise: the floor
    for wrong in ("many", 0, -3, True, 2.5):  # 0 was blamed on "too few cells or genes"
        says = f"n_pcs must be a whole number, at least 1, or 'auto', not {wrong!r}"
        with pytest.raises(UsageError, match=says):
            structure_features(np.ones((5, 4)), n_pcs=wrong)


def test_auto_keeps_at_most_one_component_per_ten_cells() -> None:
    # 12 planted groups among 60 cells: parallel analysis finds 11 directions above noise, but
    # 60 cells carry at most 6 components (`pca.CELLS_PER_PC`).
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(12, 200)) * 3.0
    X = scale(centres[np.arange(60) % 12] + rng.normal(size=(60, 200)))
    assert parallel_analysis(X, seed=0) > 6
    assert principal_components(X, "auto", seed=0).shape == (60, 6)
    assert auto_n_pcs(60, 11) == 6 and auto_n_pcs(600, 11) == 11 and auto_n_pcs(9, 5) == 2


def test_combat_removes_a_planted_shift_quietly_when_a_batch_lacks_a_gene() -> None:
    rng = np.random.default_rng(0)
    # 32 cells a batch: the mean of 32 equal values is exact, so batch b's variance of gene 0 is
    # exactly 0 (as for real genes a donor never expresses), not a rounding residue.
    X = rng.normal(2.0, 0.5, size=(64, 8)).astype(np.float32)
    batch = np.repeat(["a", "b"], 32)
    X[batch == "b"] += 1.5  # a planted batch shift
    X[batch == "b", 0] = 0.0  # gene 0 is never expressed in batch b: variance exactly 0 there
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scanpy's divide-by-zero RuntimeWarning fails the test
        corrected = combat(X, batch)
    assert np.isfinite(corrected).all()
    gap = np.abs(corrected[batch == "a", 1:].mean(0) - corrected[batch == "b", 1:].mean(0))
    assert gap.max() < 0.2  # the 1.5 shift is gone from the genes both batches express


# ----------------------------------------------------------------------------------------- sampler


def test_sampler_without_dropping_returns_the_graph_neighbourhood() -> None:
    X, _ = blobs(20, dim=5)
    graph = knn_graph(X, n_neighbors=4)
    sampler = NeighbourSampler(graph.adjacency, (1000, 1000), edge_drop=0.0)
    batch = np.array([0, 5, 30])
    nodes, edges, sizes = sampler.sample(batch, np.random.default_rng(0))
    assert sizes[0] == 3 and sizes[1] > 3
    assert np.array_equal(nodes[:3], batch)
    into_batch = {(int(nodes[s]), int(nodes[d])) for s, d in edges.T if d < 3}
    A = graph.adjacency
    expected = {(int(j), int(i)) for i in batch for j in A.indices[A.indptr[i] : A.indptr[i + 1]]}
    assert into_batch == expected


def test_sampler_caps_fanout() -> None:
    X, _ = blobs(30, dim=5)
    graph = knn_graph(X, n_neighbors=12)
    sampler = NeighbourSampler(graph.adjacency, (3, 2), edge_drop=0.2)
    nodes, edges, (n_batch, n_first) = sampler.sample(np.arange(10), np.random.default_rng(1))
    assert n_batch == 10 and np.all(edges[1] < n_first)  # only batch and first hop aggregate
    incoming = np.bincount(edges[1], minlength=nodes.size)
    assert incoming[:10].max() <= 3
    assert incoming[10:].max(initial=0) <= 2
    assert len(set(nodes.tolist())) == nodes.size


def test_sampler_marks_the_same_cells_as_a_sorted_unique() -> None:
    from cellmodel.cluster.sampling import _sorted_unique

    ids = np.random.default_rng(3).integers(0, 500, size=2_000)
    assert np.array_equal(_sorted_unique(ids, 500), np.unique(ids))
    assert _sorted_unique(np.array([], dtype=np.int64), 10).size == 0


def test_kmeans_restarts_on_a_sample_find_the_full_partition(monkeypatch) -> None:
    import cellmodel.cluster.fit as fit_module

    X, y = blobs(400, n_classes=4, dim=8, seed=2)
    full_centres, full = fit_module._kmeans(X.astype(np.float32), 4, 5, seed=0)
    monkeypatch.setattr(fit_module, "KMEANS_RESTART_CELLS", 300)  # 1,600 cells: the sampled path
    centres, labels = fit_module._kmeans(X.astype(np.float32), 4, 5, seed=0)
    again = fit_module._kmeans(X.astype(np.float32), 4, 5, seed=0)[1]
    assert cluster_metrics(y, labels)["ari"] > 0.99
    assert cluster_metrics(full, labels)["ari"] == pytest.approx(1.0)
    assert np.array_equal(labels, again) and centres.shape == full_centres.shape


# ------------------------------------------------------------------------------------------ losses


def test_sinkhorn_target_meets_both_marginals() -> None:
    q = torch.softmax(torch.randn(50, 4, generator=torch.Generator().manual_seed(0)), dim=1)
    mass = torch.tensor([0.4, 0.3, 0.2, 0.1])
    p = sinkhorn_target(q, mass, sharpen=2.0, n_iter=200)
    assert torch.allclose(p.sum(1), torch.ones(50), atol=1e-4)
    assert torch.allclose(p.sum(0), 50 * mass, atol=1e-2)


def test_sinkhorn_target_stops_only_at_a_fixed_point() -> None:
    # The early stop must give every one of the n_iter passes' result to the bit.
    q = torch.softmax(3 * torch.randn(2_000, 6, generator=torch.Generator().manual_seed(1)), dim=1)
    mass = torch.full((6,), 1 / 6)
    log_p, log_mass = 2.0 * torch.log(q), torch.log(mass) + math.log(2_000)
    for _ in range(50):
        log_p = log_p - torch.logsumexp(log_p, dim=0, keepdim=True) + log_mass
        log_p = log_p - torch.logsumexp(log_p, dim=1, keepdim=True)
    assert torch.equal(sinkhorn_target(q, mass, n_iter=50), log_p.exp())


def test_student_t_and_info_nce() -> None:
    z = torch.tensor([[0.0, 0.0], [4.0, 0.0]])
    centres = torch.tensor([[0.0, 0.0], [4.0, 0.0]])
    q = student_t(z, centres)
    assert torch.allclose(q.sum(1), torch.ones(2))
    assert q[0, 0] == pytest.approx(17 / 18)  # 1 vs 1/(1+16) before normalizing
    a = torch.eye(4)
    assert info_nce(a, a, 0.1) < info_nce(a, a.roll(1, dims=0), 0.1)


# ------------------------------------------------------------------------------------- fit_clusters


def test_blobs_cluster_perfectly() -> None:
    X, labels = blobs()
    result = fit_clusters(X, None, None, 3, seed=0, **FAST_FIT)
    assert cluster_metrics(labels, result.labels)["ari"] == 1.0
    assert result.n_clusters == 3 and not result.k_estimated
    assert result.latent.shape == (180, 32) and result.structure.shape == (180, 32)
    assert result.soft is not None and np.allclose(result.soft.sum(1), 1.0, atol=1e-5)
    assert {"graph", "pretrain", "kmeans", "refine", "total"} <= set(result.timings)
    assert any(row["phase"] == 1.0 for row in result.history)


def test_hand_made_graph_and_edge_index_inputs() -> None:
    X, labels = blobs(20, dim=10)
    # Ring inside each blob: a graph that encodes the grouping and nothing else.
    edges = [(g * 20 + i, g * 20 + (i + 1) % 20) for g in range(3) for i in range(20)]
    edge_index = torch.tensor(edges).T
    result = fit_clusters(X, edge_index, None, 3, seed=1, **FAST_FIT)
    assert cluster_metrics(labels, result.labels)["ari"] == 1.0
    assert result.params["graph_method"] == "given"


def test_same_seed_same_labels() -> None:
    X, _ = blobs(40, seed=3)
    X = X + np.random.default_rng(9).standard_normal(X.shape).astype(np.float32) * 3.0
    first = fit_clusters(X, None, None, 4, seed=7, **FAST_FIT)
    second = fit_clusters(X, None, None, 4, seed=7, **FAST_FIT)
    assert np.array_equal(first.labels, second.labels)
    assert np.array_equal(first.latent, second.latent)


def test_two_view_path_with_alignment() -> None:
    X, labels = blobs()
    semantic = X @ np.random.default_rng(2).standard_normal((X.shape[1], 16)).astype(np.float32)
    result = fit_clusters(X, None, semantic, 3, seed=0, **FAST_FIT)
    assert cluster_metrics(labels, result.labels)["ari"] == 1.0
    assert result.latent.shape == (180, 64)  # structure 32 + semantic 32
    assert all("alignment" in row for row in result.history if row["phase"] == 0.0)
    assert result.params["semantic_dim"] == 16


@pytest.mark.parametrize("conv", ["sage", "gat"])
def test_other_graph_encoders(conv: str) -> None:
    X, labels = blobs(30)
    result = fit_clusters(X, None, None, 3, seed=0, conv=conv, **FAST_FIT)
    assert cluster_metrics(labels, result.labels)["ari"] == 1.0


def test_estimate_k_on_blobs() -> None:
    X, _ = blobs()
    assert estimate_k(knn_graph(X), seed=0) == 3
    result = fit_clusters(X, None, None, None, seed=0, **FAST_FIT)
    assert result.n_clusters == 3 and result.k_estimated
    assert result.params["k_method"] == "leiden"


def test_split_for_empty_bisects_the_largest_cluster() -> None:
    # Cluster 0 holds two groups (around x = 0 and x = 10), cluster 1 one group, cluster 2 none.
    z = torch.tensor(
        [[0.0, 0.0], [0.0, 1.0], [0.0, -1.0], [10.0, 0.0], [10.0, 1.0], [20.0, 0.0], [20.0, 1.0]]
    )
    labels = torch.tensor([0, 0, 0, 0, 0, 1, 1])
    centres = torch.tensor([[4.0, 0.0], [20.0, 0.5], [50.0, 50.0]])
    new_centres, new_labels, count = split_for_empty(z, centres, labels)
    assert count == 1
    assert new_labels.tolist() == [0, 0, 0, 2, 2, 1, 1]
    assert torch.allclose(new_centres[0], torch.tensor([0.0, 0.0]))
    assert torch.allclose(new_centres[2], torch.tensor([10.0, 0.5]))
    assert torch.equal(new_centres[1], centres[1])
    _, same, none = split_for_empty(z, new_centres, new_labels)
    assert none == 0 and torch.equal(same, new_labels)


def test_refinement_never_returns_fewer_than_k_clusters() -> None:
    # Three cells of a fourth group sit apart: k-means gives them a centre, the graph encoder
    # pulls them toward their neighbours, and the refinement used to empty that cluster.
    # (GCN's plain self loop, self_share=None, is what pulls them in.)
    X, _ = blobs({"a": 60, "b": 60, "c": 60, "d": 3}, spread=1.0, seed=0)
    result = fit_clusters(X, None, None, 4, seed=0, self_share=None, **FAST_FIT)
    assert np.unique(result.labels).size == 4
    assert result.params["reseeded_clusters"] >= 1
    assert not any("ended empty" in note for note in result.notes)


def test_half_self_aggregation_keeps_a_three_cell_group_apart() -> None:
    from cellmodel.module.model import mean_adjacency

    # Cell 0 has neighbours 1 and 2; cell 3 has none and keeps all of itself.
    edges = torch.tensor([[1, 2], [0, 0]])
    plain = mean_adjacency(edges, 4, 4).to_dense()
    lazy = mean_adjacency(edges, 4, 4, self_share=0.5).to_dense()
    assert torch.allclose(plain[0], torch.tensor([1 / 3, 1 / 3, 1 / 3, 0.0]))
    assert torch.allclose(lazy[0], torch.tensor([0.5, 0.25, 0.25, 0.0]))
    assert lazy[3, 3] == 1.0 and torch.allclose(lazy.sum(dim=1), torch.ones(4))
    # The default keeps each cell half itself: the rare group is found without re-seeding.
    X, truth = blobs({"a": 60, "b": 60, "c": 60, "d": 3}, spread=1.0, seed=0)
    result = fit_clusters(X, None, None, 4, seed=0, **FAST_FIT)
    assert result.params["self_share"] == 0.5
    assert cluster_metrics(truth, result.labels)["ari"] == 1.0


@pytest.mark.parametrize("conv", ["gcn", "sage"])
def test_a_prebuilt_whole_graph_operator_gives_the_same_pass(conv: str) -> None:
    from cellmodel.module.model import GraphEncoder

    X, _ = blobs(40, dim=6)
    rows, cols = knn_graph(X, n_neighbors=5).adjacency.nonzero()
    edges = torch.from_numpy(np.vstack([cols, rows]).astype(np.int64))
    torch.manual_seed(0)
    encoder = GraphEncoder(6, 16, 4, conv=conv, self_share=0.5).eval()
    x = torch.from_numpy(X.astype(np.float32))
    operator = encoder.full_graph_operator(edges, x.shape[0])
    assert (operator is None) == (conv != "gcn")
    assert torch.equal(encoder(x, edges, operator=operator), encoder(x, edges))
    if operator is not None:
        with pytest.raises(ValueError, match="whole-graph"):
            encoder(x, edges, sizes=(3, 10), operator=operator)


def test_mean_adjacency_is_the_coalesced_matrix_on_the_cpu(monkeypatch) -> None:
    from cellmodel.module import model

    # Built by one sort, it must equal COO's coalesce and conversion to the last bit; a repeated
    # pair (which coalesce sums) takes that path itself.
    rng = np.random.default_rng(0)
    n_dst, n_src = 40, 90
    pairs = np.unique(rng.integers(0, n_dst, 300) * n_src + rng.integers(0, n_src, 300))
    pairs = rng.permutation(pairs[pairs // n_src != pairs % n_src])  # the loops are added
    edges = torch.from_numpy(np.vstack([pairs % n_src, pairs // n_src]))
    repeated = torch.cat([edges, edges[:, :3]], dim=1)
    cases = [(e, share) for e in (edges, repeated) for share in (None, 0.5)]
    fast = [model.mean_adjacency(e, n_dst, n_src, share) for e, share in cases]
    assert model.csr_by_sort(repeated[1], repeated[0], torch.ones(303), n_dst, n_src) is None
    monkeypatch.setattr(model, "csr_by_sort", lambda *args: None)
    for got, (e, share) in zip(fast, cases, strict=True):
        want = model.mean_adjacency(e, n_dst, n_src, share)
        assert got.layout == want.layout == torch.sparse_csr
        for part in ("crow_indices", "col_indices", "values"):
            assert torch.equal(getattr(got, part)(), getattr(want, part)())


def test_no_ot_gives_kmeans_labels() -> None:
    X, labels = blobs()
    result = fit_clusters(X, None, None, 3, seed=0, use_ot=False, **FAST_FIT)
    assert result.soft is None and result.params["refine_stop"].startswith("skipped")
    assert cluster_metrics(labels, result.labels)["ari"] == 1.0


def test_bad_inputs_raise_one_line_errors() -> None:
    X, _ = blobs(5)
    with pytest.raises(UsageError, match="between 1 and the number of cells"):
        fit_clusters(X, None, None, 16, seed=0)
    with pytest.raises(UsageError, match="unknown clustering option"):
        fit_clusters(X, None, None, 3, seed=0, not_an_option=1)
    with pytest.raises(GenekbError, match="at least 3 cells"):
        fit_clusters(X[:2], None, None, 1, seed=0)
    with pytest.raises(UsageError, match="one row per cell"):
        fit_clusters(X, None, X[:4], 3, seed=0)
    with pytest.raises(UsageError, match="graph has"):
        fit_clusters(X, knn_graph(X[:10]), None, 3, seed=0)
    if not torch.cuda.is_available():
        with pytest.raises(GenekbError, match="no GPU"):
            fit_clusters(X, None, None, 3, seed=0, device="cuda")


def test_batch_key_policy_lives_in_the_library() -> None:
    from cellmodel.cluster.batch_column import resolve_batch_key

    adata = blobs(10, dim=12, counts=True)
    adata.obs["donor"] = ["d1", "d2"] * 15
    assert resolve_batch_key(adata, None) == (None, [])
    assert resolve_batch_key(adata, "none") == (None, [])
    assert resolve_batch_key(adata, "donor") == ("donor", [])
    key, notes = resolve_batch_key(adata, "auto")  # no registry entry: no correction, said
    assert key is None and "no batch correction" in notes[0] and "'donor'" in notes[0]
    adata.uns["dataset"] = {"batch_key": "donor"}
    key, notes = resolve_batch_key(adata, "auto")
    assert key == "donor" and "'donor'" in notes[0]


def test_pipeline_scores_after_the_run_when_given_a_label_key() -> None:
    from cellmodel.cluster.job import cluster

    adata = blobs(40, dim=60, counts=True)
    small = {"pretrain_steps": 40, "min_pretrain_steps": 20, "cluster_steps": 20}
    with pytest.raises(GenekbError, match="'nope' is not an obs column"):
        cluster(adata, use_semantic=False, n_clusters=3, label_key="nope", **small)
    cluster(adata, use_semantic=False, n_clusters=3, label_key="group", **small)
    record = adata.uns["cellmodel"]
    assert record["label_key"] == "group" and record["metrics"]["ari"] > 0.9
    # The graph encoder's graph has 8 neighbours (issue 22), the Leiden baselines' 15.
    assert record["structure_params"]["n_neighbors"] == 8
    expected = knn_graph(adata.obsm["X_pca_expr"], 8, seed=0).n_edges
    assert record["cluster_params"]["graph_edges"] == expected


def test_the_fit_builds_its_own_graph_with_eight_neighbours() -> None:
    from cellmodel.cluster.options import ClusterOptions
    from cellmodel.pp.graph import DEFAULT_N_NEIGHBORS, FIT_N_NEIGHBORS

    assert ClusterOptions().n_neighbors == FIT_N_NEIGHBORS == 8 and DEFAULT_N_NEIGHBORS == 15
    X, _ = blobs(40)
    result = fit_clusters(X, None, None, 3, seed=0, **FAST_FIT)
    assert result.params["graph_edges"] == knn_graph(X, 8).n_edges


def test_nb_nll_is_the_negative_binomial_likelihood() -> None:
    from cellmodel.module.losses import nb_nll
    from cellmodel.module.model import Projection

    torch.manual_seed(0)
    decoder, log_theta = Projection(4, 8, 6), torch.randn(6)
    latent = torch.randn(5, 4)
    counts = torch.poisson(torch.rand(5, 6) * 3.0)
    counts[0] = 0.0  # a cell without counts: library clamped to 1, only the zero terms count
    library = counts.sum(1, keepdim=True).clamp_min(1.0)
    mu = library * torch.softmax(decoder(latent), dim=1)
    theta = log_theta.exp().expand(5, 6)
    # torch's NegativeBinomial(total_count=θ, logits=log(μ/θ)) has mean μ and variance μ + μ²/θ.
    reference = torch.distributions.NegativeBinomial(theta, logits=(mu / theta).log())
    expected = -reference.log_prob(counts).mean()
    assert float(nb_nll(counts.to_sparse(), latent, decoder, log_theta)) == pytest.approx(
        float(expected), rel=1e-5
    )


def test_count_reconstruction_runs_only_with_counts() -> None:
    X, labels = blobs()
    counts = sp.csr_matrix(np.random.default_rng(0).poisson(2.0, (X.shape[0], 30)))
    with_counts = fit_clusters(
        X, None, None, 3, seed=0, counts=counts, count_weight=1.0, **FAST_FIT
    )
    assert any("counts" in row for row in with_counts.history)
    assert cluster_metrics(labels, with_counts.labels)["ari"] == 1.0
    off = fit_clusters(X, None, None, 3, seed=0, counts=counts, count_weight=0.0, **FAST_FIT)
    plain = fit_clusters(X, None, None, 3, seed=0, **FAST_FIT)
    assert not any("counts" in row for row in off.history)
    assert np.array_equal(off.latent, plain.latent)  # weight 0: the fit without counts
    # With a batch, the count decoder also reads it (one-hot); the latent stays 32 wide.
    donors = np.repeat(["a", "b", "c"], X.shape[0] // 3)
    batched = fit_clusters(
        X, None, None, 3, seed=0, counts=counts, count_batch=donors, count_weight=1.0, **FAST_FIT
    )
    assert batched.net.count_decoder.net[0].in_features == 32 + 3
    assert batched.latent.shape[1] == 32
    with pytest.raises(UsageError, match="counts has 5 cells"):
        fit_clusters(X, None, None, 3, counts=counts[:5], count_weight=1.0, **FAST_FIT)


def test_pipeline_reconstructs_counts_only_where_the_input_holds_counts() -> None:
    from cellmodel.cluster.job import cluster

    small = {"pretrain_steps": 30, "min_pretrain_steps": 20, "cluster_steps": 20}
    counts = blobs(40, dim=60, counts=True)
    counts.obs["donor"] = np.tile(["a", "b"], counts.n_obs // 2)
    cluster(counts, use_semantic=False, n_clusters=3, batch_key="donor", count_weight=1.0, **small)
    assert counts.uns["cellmodel"]["cluster_params"]["count_genes"] == 60
    log = counts.copy()
    log.X = np.log1p(np.asarray(log.X.todense() if sp.issparse(log.X) else log.X) / 7.0)
    cluster(log, use_semantic=False, n_clusters=3, count_weight=1.0, **small)
    assert log.uns["cellmodel"]["cluster_params"].get("count_genes") is None
    cluster(counts, use_semantic=False, n_clusters=3, count_weight=0.0, **small)
    assert counts.uns["cellmodel"]["cluster_params"].get("count_genes") is None
