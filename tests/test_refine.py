"""Gene graphs (data, knowledge, controls) and the AnnData-level refinement."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from cellmodel.cluster.job import cluster
from cellmodel.datasets.synthetic import synthetic_counts
from cellmodel.knowledge import gene_graph
from cellmodel.refine import refine
from genekb.errors import UsageError


def _expression(n: int = 300, n_genes: int = 80, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    modules = rng.integers(0, 4, n_genes)
    activity = rng.normal(0, 1, (n, 4))
    return (activity[:, modules] + 0.5 * rng.normal(0, 1, (n, n_genes))).astype(np.float32)


def test_correlation_graph_links_co_expressed_genes():
    X = _expression()
    g = gene_graph.correlation_graph(X, k=5)
    assert (g != g.T).nnz == 0 and g.diagonal().sum() == 0
    corr = np.corrcoef(X.T)
    linked = corr[g.nonzero()]
    assert linked.mean() > corr[np.triu_indices_from(corr, 1)].mean() + 0.3


def test_rewired_graph_keeps_degrees_and_changes_edges():
    g = gene_graph.correlation_graph(_expression(), k=5)
    r = gene_graph.rewire(g, seed=0)
    assert np.array_equal(np.diff(g.indptr), np.diff(r.tocsr().indptr))
    shared = g.multiply(r).nnz / g.nnz
    assert shared < 0.5


def test_shuffled_and_random_knowledge_change_the_graph():
    rng = np.random.default_rng(1)
    vectors = rng.normal(0, 1, (60, 16)).astype(np.float32)
    matched = np.ones(60, dtype=bool)
    matched[:5] = False
    X = _expression(n_genes=60)
    graphs = {
        c: gene_graph.build("knowledge", c, X_sample=X, vectors=vectors, matched=matched, k=4)
        for c in ("real", "shuffled", "random")
    }
    real = graphs["real"]
    assert np.diff(real.indptr)[:5].sum() == 0  # unmatched genes get no knowledge edges
    for control in ("shuffled", "random"):
        assert real.multiply(graphs[control]).nnz / real.nnz < 0.5
    both = gene_graph.build("both", "real", X_sample=X, vectors=vectors, matched=matched, k=4)
    assert both.nnz >= real.nnz


def test_control_must_fit_the_source():
    with pytest.raises(UsageError, match="does not apply"):
        gene_graph.build("data", "shuffled", X_sample=_expression())


def test_unnamed_genes_are_refused_for_the_knowledge_graph():
    names = [f"g{i}" for i in range(50)]
    with pytest.raises(UsageError, match="gene names"):
        gene_graph.knowledge_vectors(object(), names)
    with pytest.raises(UsageError, match="store"):
        gene_graph.knowledge_vectors(None, names)


def test_refine_writes_embedding_and_params():
    adata = synthetic_counts(240, n_genes=120, n_groups=3, seed=0)
    refine(adata, gene_graph_spec="data", seed=0, max_steps=30, min_steps=30, batch_size=64)
    assert adata.obsm["X_refined"].shape == (240, 32)
    record = adata.uns["refine"]
    assert record["params"]["seed"] == 0 and record["steps"] == 30
    assert record["gene_graph"]["source"] == "data" and record["gene_graph"]["n_edges"] > 0


def _short_fit(monkeypatch) -> None:
    from cellmodel.cluster import refine_fit as verb
    from cellmodel.module.refine import RefineConfig

    short = RefineConfig(max_steps=20, min_steps=20, batch_size=64)
    monkeypatch.setattr(verb, "_config", lambda seed, options: short)


def test_cluster_with_refine_gives_k_labels(monkeypatch):
    _short_fit(monkeypatch)
    adata = synthetic_counts(200, n_genes=100, n_groups=3, seed=1)
    cluster(adata, None, n_clusters=3, use_semantic=False, refine="cell-gene",
            gene_graph="data:rewired", seed=0)  # fmt: skip
    assert adata.obs["cellmodel_cluster"].nunique() == 3
    assert adata.uns["cellmodel"]["refine"] == "cell-gene"
    assert adata.uns["refine"]["gene_graph"]["control"] == "rewired"
    assert adata.obsm["X_refined"].shape[0] == 200 and sp.issparse(adata.X)


def test_bad_refine_options_are_refused():
    adata = synthetic_counts(60, n_genes=50, n_groups=2, seed=1)
    with pytest.raises(UsageError, match="unknown refine option"):
        refine(adata, learning_speed=3)
    with pytest.raises(UsageError, match="gene_graph="):
        refine(adata, gene_graph_spec="text")
    with pytest.raises(UsageError, match="controls are"):
        refine(adata, gene_graph_spec="data:shuffled")
    with pytest.raises(UsageError, match="refine="):
        cluster(adata, None, n_clusters=2, use_semantic=False, refine="cell-cell")


def test_bench_methods_are_registered_and_run(monkeypatch):
    from cellmodel.bench import MethodInput, get_method

    _short_fit(monkeypatch)

    names = ["cellmodel-refine", "cellmodel-refine-knowledge", "cellmodel-refine-data-rewired",
             "cellmodel-refine-knowledge-shuffled", "cellmodel-refine-knowledge-random",
             "cellmodel-refine-both"]  # fmt: skip
    assert all(get_method(n).needs_store == ("knowledge" in n or "both" in n) for n in names)
    adata = synthetic_counts(200, n_genes=100, n_groups=3, seed=2)
    out = get_method("cellmodel-refine-data-rewired").run(MethodInput(adata, 3, 0))
    assert out.labels.shape == (200,) and out.extras["steps"] > 0


def test_cli_cluster_refine(tmp_path, monkeypatch):
    import json

    from tests.conftest import blobs, one_line_error
    from tests.conftest import run_cellmodel as run

    _short_fit(monkeypatch)
    path = tmp_path / "blobs.h5ad"
    data = blobs(40, dim=60, counts=True)
    data.var_names = [f"feature{i}" for i in range(data.n_vars)]  # names of no species
    data.write_h5ad(path)
    args = ["cluster", str(path), "--no-semantic", "-k", "3"]
    result = run(*args, "--refine", "cell-gene", "--label-key", "group", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_clusters"] == 3
    assert "--refine cell-gene" in one_line_error(run(*args, "--gene-graph", "knowledge"), 2)
    root = ["--root", str(tmp_path / "store")]
    bad = one_line_error(run(*args, *root, "--refine", "cell-gene", "--gene-graph", "knowledge"), 2)
    assert "gene names" in bad
