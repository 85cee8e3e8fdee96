"""Clustering out of core (`cellmodel.chunked.cluster`): the PCA against the in-memory one, the
labels against the planted groups and the in-memory run, a Dask cluster against local threads,
interrupted runs, and the CLI."""

from __future__ import annotations

import hashlib
import json

import anndata as ad
import numpy as np
import pytest

from cellmodel.chunked import h5, h5_out
from tests.conftest import one_line_error, run_cellmodel

pytest.importorskip("dask")

N_CELLS, N_GENES, CHUNK, FIT = 2400, 400, 700, 1500  # the encoder sees a subsample
# Plumbing tests: a short, small fit (the quality test below runs the default one).
FAST = {
    "pretrain_steps": 20,
    "min_pretrain_steps": 10,
    "cluster_steps": 10,
    "kmeans_restarts": 2,
    "batch_size": 256,
    "hidden_dim": 32,
}


@pytest.fixture(scope="module")
def counts_file(tmp_path_factory):
    from cellmodel.datasets.synthetic import write_synthetic_h5ad

    path = tmp_path_factory.mktemp("chunked_cluster") / "cells.h5ad"
    return write_synthetic_h5ad(path, N_CELLS, n_genes=N_GENES, n_groups=5, seed=3)


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(path, out, **kwargs):
    from cellmodel.chunked.cluster import cluster_h5ad

    options = {"chunk_size": CHUNK, "fit_cells": FIT, "n_clusters": 5, "seed": 0, **FAST}
    return cluster_h5ad(path, output=out, **{**options, **kwargs})


def test_chunked_pca_equals_the_in_memory_pca(counts_file):
    from cellmodel.chunked.embed import gene_statistics
    from cellmodel.chunked.engine import DaskEngine
    from cellmodel.chunked.structure import structure_scores
    from cellmodel.pp import graph

    ref = h5.pick(counts_file, None)
    ranges = h5.chunk_ranges(N_CELLS, CHUNK)
    with DaskEngine(workers=2) as engine:
        stats = gene_statistics(engine, ref, "counts", ranges, None)
        scores, record = structure_scores(
            engine, ref, "counts", ranges, stats, n_hvg=200, n_pcs=10, seed=0
        )
    X = ad.read_h5ad(counts_file).X
    expected = graph.structure_features(X, kind="counts", n_hvg=200, n_pcs=10)
    assert scores.shape == expected.shape == (N_CELLS, 10) and record["n_hvg"] == 200
    # The same components up to sign: each pair of columns is perfectly correlated.
    corr = np.abs([np.corrcoef(scores[:, j], expected[:, j])[0, 1] for j in range(10)])
    assert corr.min() > 0.999, corr


@pytest.mark.slow
def test_chunked_cluster_finds_the_planted_groups_like_in_memory(tmp_path):
    """3,000 cells × 2,000 genes, 10 planted groups: the encoder fitted on 1,000 of them and
    applied to all scores within 0.05 ARI of (or above) the in-memory fit on every cell (both
    without the check after the fit, which the default run adds)."""
    from cellmodel.cluster.job import cluster
    from cellmodel.datasets.synthetic import write_synthetic_h5ad
    from cellmodel.metrics import cluster_metrics

    path = write_synthetic_h5ad(tmp_path / "cells.h5ad", 3000)
    out = tmp_path / "out.h5ad"
    from cellmodel.chunked.cluster import cluster_h5ad

    record = cluster_h5ad(path, output=out, chunk_size=1000, fit_cells=1000, label_key="group")
    result = ad.read_h5ad(out)
    labels = result.obs["cellmodel_cluster"]
    assert labels.notna().all() and len(labels) == 3000
    assert np.array_equal(result.obsm["X_structure"], result.obsm["X_cellmodel"])
    assert result.uns["cellmodel"]["chunked"]["fit_cells"] == 1000
    assert record["metrics"]["ari"] > 0.7
    assert "merges" in record["merge_split"]  # k was estimated
    found = record["diagnostics"]  # the unsure report, as in memory
    assert found["n_cells_read"] == 3000 and 0.0 <= found["stability"] <= 1.0
    assert found["unsure"] == bool(found["reasons"])
    assert result.uns["cellmodel"]["diagnostics"]["agreement"] == found["agreement"]
    fit_only = cluster_h5ad(
        path, output=tmp_path / "fit.h5ad", chunk_size=1000, fit_cells=1000, label_key="group",
        merge_split=False,
    )  # fmt: skip
    memory = ad.read_h5ad(path)
    cluster(memory, None, use_semantic=False, label_key="group", merge_split=False)
    in_memory = memory.uns["cellmodel"]["metrics"]["ari"]
    assert fit_only["metrics"]["ari"] >= in_memory - 0.05, (fit_only["metrics"], in_memory)
    assert cluster_metrics(labels, memory.obs["cellmodel_cluster"])["ari"] > 0.6


def test_dask_cluster_of_two_workers_gives_the_labels_of_local_threads(counts_file, tmp_path):
    distributed = pytest.importorskip("distributed")
    threads = tmp_path / "threads.h5ad"
    _run(counts_file, threads, workers=2, merge_split=False)
    remote = tmp_path / "remote.h5ad"
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as local:
        record = _run(counts_file, remote, dask_address=local.scheduler_address, merge_split=False)
    assert record["chunked"]["scheduler"].startswith("distributed")
    a, b = ad.read_h5ad(threads), ad.read_h5ad(remote)
    assert np.array_equal(a.obs["cellmodel_cluster"], b.obs["cellmodel_cluster"])
    assert np.array_equal(a.obsm["X_pca_expr"], b.obsm["X_pca_expr"])


@pytest.mark.parametrize("where", ["scores", "fit", "write"])
def test_an_interrupted_run_leaves_the_input_and_no_output(
    counts_file, tmp_path, monkeypatch, where
):
    before = _digest(counts_file)
    out = tmp_path / "out.h5ad"

    def stop(*_args, **_kwargs):
        raise KeyboardInterrupt

    progress = None
    if where == "scores":
        progress = lambda stage, done, total: stop() if stage == "scores" and done == 2 else None  # noqa: E731
    elif where == "fit":  # Ctrl-C while the encoder trains, after every pass over the file
        monkeypatch.setattr("cellmodel.chunked.cluster.fit_clusters", stop)
    else:
        monkeypatch.setattr(h5_out.ObsmWriter, "merge_uns", stop)
    with pytest.raises(KeyboardInterrupt):
        _run(counts_file, out, progress=progress, merge_split=False)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert _digest(counts_file) == before


def test_cuda_without_a_gpu_is_one_line_before_any_pass(counts_file, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "out.h5ad"
    line = one_line_error(
        run_cellmodel("cluster", str(counts_file), "-o", str(out), "--chunk-size", "1000",
                      "--device", "cuda", "--no-semantic")
    )  # fmt: skip
    assert "no GPU" in line and "cpu" in line
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_clusters_out_of_core(counts_file, tmp_path):
    out = tmp_path / "cli.h5ad"
    options = [f"--option={k}={v}" for k, v in FAST.items()]
    result = run_cellmodel(
        "cluster", str(counts_file), "-o", str(out), "--chunk-size", "1000", "-k", "5",
        "--label-key", "group", "--no-semantic", "--json", *options,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_cells"] == N_CELLS and report["chunked"]["n_chunks"] == 3
    assert set(report["metrics"]) >= {"ari", "nmi"}
    assert report["diagnostics"]["n_cells_read"] == N_CELLS
    assert ad.read_h5ad(out).obs["cellmodel_cluster"].notna().all()
    plain = run_cellmodel(
        "cluster", str(counts_file), "-o", str(out), "--chunk-size", "1000", "-k", "5",
        "--label-key", "group", "--no-semantic", "--force", *options,
    )  # fmt: skip
    assert plain.exit_code == 0, plain.output
    assert f"5 clusters of {N_CELLS} cells in" in plain.stderr and "{" not in plain.stderr
    assert "3/3 (100%)" in plain.stderr and "chunks/s" in plain.stderr  # not "texts/s"
    assert "diagnostics: agreement with Leiden at k" in plain.stderr
    line = one_line_error(
        run_cellmodel("cluster", str(counts_file), "--chunk-size", "100", "--batch-key", "b"),
        code=2,
    )
    assert "in memory only" in line
    line = one_line_error(run_cellmodel("cluster", str(counts_file), "--chunk-size", "100"), code=2)
    assert "-o" in line


def test_bench_out_of_core_goes_with_scale():
    line = one_line_error(run_cellmodel("bench", "--out-of-core"), code=2)
    assert "--scale" in line


@pytest.mark.slow  # two fits and a whole-file structure input: about 30 s unloaded
def test_stage_comparison_reports_every_stage(counts_file):
    from cellmodel.bench.outofcore_stages import compare_stages

    report = compare_stages(str(counts_file), 0, n_clusters=5, chunk_size=CHUNK, fit_cells=FIT,
                            **FAST)  # fmt: skip
    assert report["hvg_overlap"] == report["n_hvg"] == N_GENES  # fewer genes than 2,000: all
    assert report["max_principal_angle_deg"] < 1.0 and report["knn"]["recall"] == 1.0  # exact
    fit = report["fit"]
    assert fit["all_cells"]["fit_cells"] == N_CELLS and fit["subsample"]["fit_cells"] == FIT
    assert 0.0 <= fit["agreement_ari"] <= 1.0 and -1.0 <= fit["subsample"]["ari_all_cells"] <= 1.0
