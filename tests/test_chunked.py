"""Cells out of core: chunked statistics, the chunked weighted view against the in-memory one,
the chunk-written synthetic file, and the chunked CLI path."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

from cellmodel.chunked.stats import chunk_stats, seurat_hvg
from cellmodel.io import normalize
from genekb.errors import GenekbError
from tests.conftest import one_line_error, run_cellmodel
from tests.fakes import FakeEmbedding

pytest.importorskip("dask")

N_CELLS, N_GENES, CHUNK = 3001, 300, 700  # the chunk size does not divide the cells


@pytest.fixture(scope="module")
def counts_file(tmp_path_factory):
    from cellmodel.datasets.synthetic import write_synthetic_h5ad

    path = tmp_path_factory.mktemp("chunked") / "cells.h5ad"
    return write_synthetic_h5ad(path, N_CELLS, n_genes=N_GENES)


def test_synthetic_file_equals_in_memory_generator(tmp_path):
    from cellmodel.bench.data import synthetic_counts
    from cellmodel.datasets.synthetic import write_synthetic_h5ad

    n = 5100  # two generator chunks, the second partial
    written = ad.read_h5ad(write_synthetic_h5ad(tmp_path / "s.h5ad", n, n_genes=120))
    expected = synthetic_counts(n, n_genes=120)
    assert sp.issparse(written.X) and written.shape == (n, 120)
    assert (written.X != expected.X).nnz == 0
    assert list(written.var_names) == list(expected.var_names)
    assert (written.obs["group"].astype(str) == expected.obs["group"].astype(str)).all()


def test_seurat_hvg_from_sums_matches_scanpy(counts_file):
    from cellmodel.pp.graph import highly_variable

    X = normalize(ad.read_h5ad(counts_file).X, "counts")
    candidates = np.ones(N_GENES, dtype=bool)
    candidates[::7] = False
    stats = chunk_stats(X[:1000], X[:1000]) + chunk_stats(X[1000:], X[1000:])
    mask = seurat_hvg(stats, 80, candidates)
    assert mask.sum() == 80 and not mask[~candidates].any()
    assert np.array_equal(mask, highly_variable(X, 80, candidates=candidates))


@pytest.mark.parametrize("weighting", ["hvg-scaled", "mean"])
def test_chunked_view_equals_in_memory(counts_file, tmp_path, weighting):
    from cellmodel.chunked import embed_h5ad
    from cellmodel.embed import embed

    adata = ad.read_h5ad(counts_file)
    ev = FakeEmbedding(tmp_path, list(adata.var_names), dim=384)
    embed(adata, ev, sentence_top_n=0, n_hvg=100, weighting=weighting)
    out = tmp_path / "out.h5ad"
    record = embed_h5ad(
        counts_file, ev, output=out, chunk_size=CHUNK, n_hvg=100, weighting=weighting, workers=2
    )
    result = ad.read_h5ad(out)
    assert record["chunked"]["n_chunks"] == 5
    assert record["weights"] == adata.uns["cellmodel"]["weights"]
    assert (
        record["reference_genes"]["sha256"] == adata.uns["cellmodel"]["reference_genes"]["sha256"]
    )
    diff = np.abs(result.obsm["X_semantic_w"] - adata.obsm["X_semantic_w"]).max()
    assert diff <= 1e-5
    assert np.array_equal(result.obsm["X_semantic"], result.obsm["X_semantic_w"])
    assert result.uns["cellmodel"]["params"]["sentence_top_n"] == 0
    assert (result.X != adata.X).nnz == 0  # the input travels unchanged


def test_chunked_view_on_a_dask_cluster(counts_file, tmp_path):
    """The --dask-address path: a LocalCluster started here, its workers reading the file."""
    distributed = pytest.importorskip("distributed")
    from cellmodel.chunked import embed_h5ad

    ev = FakeEmbedding(tmp_path, list(ad.read_h5ad(counts_file, backed="r").var_names), dim=64)
    local = embed_h5ad(counts_file, ev, output=tmp_path / "a.h5ad", chunk_size=CHUNK, n_hvg=100)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False) as cluster:
        remote = embed_h5ad(
            counts_file,
            ev,
            output=tmp_path / "b.h5ad",
            chunk_size=CHUNK,
            n_hvg=100,
            dask_address=cluster.scheduler_address,
        )
    assert remote["chunked"]["scheduler"].startswith("distributed")
    assert local["chunked"]["scheduler"].startswith("threads")
    a = ad.read_h5ad(tmp_path / "a.h5ad").obsm["X_semantic_w"]
    b = ad.read_h5ad(tmp_path / "b.h5ad").obsm["X_semantic_w"]
    assert np.array_equal(a, b)


def test_chunked_refuses_what_it_cannot_read_by_rows(tmp_path):
    from cellmodel.chunked import embed_h5ad

    ev = FakeEmbedding(tmp_path, ["A", "B", "C"], dim=8)
    csc = tmp_path / "csc.h5ad"
    ad.AnnData(X=sp.random(20, 3, density=0.5, format="csc", dtype=np.float32)).write_h5ad(csc)
    out = tmp_path / "out.h5ad"
    with pytest.raises(GenekbError, match="CSR"):
        embed_h5ad(csc, ev, output=out)
    scaled = tmp_path / "scaled.h5ad"
    ad.AnnData(X=-np.ones((20, 3), np.float32)).write_h5ad(scaled)
    with pytest.raises(GenekbError, match="negative"):
        embed_h5ad(scaled, ev, output=out)
    assert not out.exists() and not list(tmp_path.glob("*.tmp*"))


def test_cli_chunked_embed(counts_file, tmp_path):
    out = tmp_path / "cli.h5ad"
    root = str(tmp_path / "store")
    result = run_cellmodel(
        "embed", str(counts_file), "-o", str(out), "--chunk-size", "1000", "--model", "fake",
        "--root", root, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["chunked"]["n_chunks"] == 4
    assert report["obsm"]["X_semantic_w"][0] == N_CELLS
    view = ad.read_h5ad(out).obsm["X_semantic_w"]
    assert np.allclose(np.linalg.norm(view, axis=1), 1.0, atol=1e-5)
    line = one_line_error(
        run_cellmodel("embed", str(counts_file), "-o", str(out), "--chunk-size", "1000")
    )
    assert "--force" in line
    line = one_line_error(run_cellmodel("embed", str(counts_file), "--chunk-size", "10"), code=2)
    assert "-o" in line


def test_cluster_states_its_memory_limit(tmp_path):
    from cellmodel.chunked.limits import NOTICE_CELLS, cluster_notice, cluster_plan, n_obs

    big = tmp_path / "big.h5ad"
    ad.AnnData(obs={"x": np.zeros(NOTICE_CELLS + 1)}).write_h5ad(big)
    assert n_obs(big) == NOTICE_CELLS + 1
    note = cluster_notice(big, ram_mb=10**6)
    assert note is not None and "--chunk-size" in note
    with pytest.raises(GenekbError, match="--chunk-size"):
        cluster_notice(big, ram_mb=100)
    assert cluster_plan(big, ram_mb=10**6) == (False, note)
    chunked, notice = cluster_plan(big, ram_mb=100)
    assert chunked and "out of core" in notice
    small = tmp_path / "small.h5ad"
    ad.AnnData(obs={"x": np.zeros(10)}).write_h5ad(small)
    assert cluster_notice(small, ram_mb=100) is None
