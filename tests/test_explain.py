"""`cellmodel explain`: the semantic decomposition is exact, markers find the planted genes."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from cellmodel import semantic
from cellmodel.embed import embed
from cellmodel.explain import explain, gene_contributions, to_markdown
from genekb.errors import GenekbError
from tests.conftest import blobs, one_line_error
from tests.conftest import run_cellmodel as run
from tests.fakes import FakeEmbedding, OneVersionStore


def test_contributions_sum_to_the_cluster_shift_of_the_weighted_path() -> None:
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.poisson(2.0, (30, 12)).astype(np.float64))
    codes = np.repeat([0, 1, 2], 10)
    scale = rng.uniform(0.0, 2.0, 12)
    scale[3] = 0.0  # a weightless gene contributes nothing
    vectors = rng.standard_normal((12, 5))
    for average in (False, True):
        weights = semantic.GeneWeights("test", scale.astype(np.float32), average, 11)
        raw = semantic.weighted_path(X, vectors.astype(np.float32), weights).astype(np.float64)
        scores, norms = gene_contributions(X, codes, 3, scale, vectors, average=average)
        for c in range(3):
            shift = raw[codes == c].mean(axis=0) - raw.mean(axis=0)
            assert np.isclose(norms[c], np.linalg.norm(shift), rtol=1e-4)
            assert np.isclose(scores[c].sum(), norms[c], rtol=1e-4)
            assert scores[c, 3] == 0.0


def test_explain_names_the_planted_genes(tmp_path: Path) -> None:
    cells = blobs(30, dim=30, counts=True)
    cells.var_names = [f"GENE{i}" for i in range(30)]
    ev = FakeEmbedding(tmp_path, [f"GENE{i}" for i in range(30)])
    ev.frame["name"] = [f"gene number {i}" for i in range(30)]
    ev.frame["summary"] = ["Plants a block. Second sentence."] * 30
    embed(cells, ev, sentence_top_n=0, n_hvg=30)
    cells.obs["cellmodel_cluster"] = pd.Categorical(cells.obs["group"].astype(str))
    report = explain(cells, OneVersionStore(tmp_path, ev), top_n=5)
    assert report["n_clusters"] == 3 and report["embedding_id"] == "emb-1"
    for entry in report["clusters"]:
        block = range(int(entry["cluster"]) * 10, int(entry["cluster"]) * 10 + 10)
        assert all(int(g["gene"].removeprefix("GENE")) in block for g in entry["markers"])
        assert entry["semantic_genes"], entry
        shares = [g["share"] for g in entry["semantic_genes"]]
        assert shares == sorted(shares, reverse=True) and all(s > 0 for s in shares)
        assert entry["markers"][0]["description"] == (
            f"gene number {entry['markers'][0]['gene'].removeprefix('GENE')} — Plants a block."
        )
    text = to_markdown(report)
    assert "## Cluster 0 (30 cells)" in text and "Semantic contributors" in text


def test_cli_explain_markers_only_after_no_semantic_run(tmp_path: Path) -> None:
    source, out = tmp_path / "in.h5ad", tmp_path / "out.h5ad"
    blobs(40, dim=60, counts=True).write_h5ad(source)
    assert run("cluster", str(source), "--no-semantic", "-k", "3", "-o", str(out)).exit_code == 0
    result = run("explain", str(out), "--json", "--top", "3")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_clusters"] == 3
    assert all(len(c["markers"]) == 3 and "semantic_genes" not in c for c in report["clusters"])


def test_cli_explain_bad_input(tmp_path: Path) -> None:
    one_line_error(run("explain", str(tmp_path / "missing.h5ad")))
    plain = tmp_path / "plain.h5ad"
    ad.AnnData(np.ones((4, 3), np.float32)).write_h5ad(plain)
    line = one_line_error(run("explain", str(plain)))
    assert "cellmodel cluster" in line


def test_explain_drops_empty_groups_refuses_one_and_gives_no_t_for_one_cell() -> None:
    adata = blobs(20, dim=30, counts=True)
    groups = ["A"] * 30 + ["B"] * 29 + ["lonely"]
    adata.obs["g"] = pd.Categorical(groups, categories=["A", "B", "lonely", "unused"])
    report = explain(adata, None, cluster_key="g", top_n=3)
    assert [c["cluster"] for c in report["clusters"]] == ["A", "B", "lonely"]
    lonely = report["clusters"][2]
    assert "markers" not in lonely and "Welch's t needs two cells" in lonely["note"]
    assert "Welch's t needs two cells" in to_markdown(report)
    adata.obs["one"] = "all"
    says = r"obs\['one'\] has one cluster.*name a column of two or more"
    with pytest.raises(GenekbError, match=says):
        explain(adata, None, cluster_key="one")


def test_explain_and_annotate_refuse_a_group_per_cell() -> None:
    from cellmodel.annotate.inputs import groups_of

    adata = blobs(20, dim=30, counts=True)
    adata.obs["size"] = np.linspace(0.0, 1.0, adata.n_obs)  # a measurement, not a clustering
    with pytest.raises(GenekbError, match=r"obs\['size'\] holds 60 clusters for 60 cells"):
        explain(adata, None, cluster_key="size")
    with pytest.raises(GenekbError, match=r"holds 60 groups for 60 cells"):
        groups_of(adata, "size")
