"""Matrices whose genes carry no usable names cluster on the expression alone; the steps that
need names (annotate, explain) refuse them with one usage error."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from cellmodel.knowledge.genes import NoGeneNamesWarning, read_gene_names
from genekb.sources.bundled import load_bundled
from tests.conftest import FAST_FIT, blobs, one_line_error
from tests.conftest import run_cellmodel as run

FAST_OPTIONS = [f"--option={k}={v}" for k, v in FAST_FIT.items()]


def _human_ids(n: int, seed: int = 0) -> list[str]:
    table = load_bundled("human").table.to_pandas()
    coding = table.loc[table["gene_type"] == "protein-coding", "gene_id"].to_numpy()
    rng = np.random.default_rng(seed)
    return [str(g) for g in rng.choice(coding, n, replace=False)]


@pytest.mark.parametrize(
    ("names", "taxon"),
    [
        (["CD3E", "CD19", "INS", "GCG", "ACTB", "MS4A1"], "human"),
        (["Cd3e", "Cd19", "Ins1", "Gcg", "Actb", "Ms4a1"], "mouse"),
        (["ENSG00000198851", "ENSG00000177455", "ENSG00000254647"], "human"),
    ],
)
def test_gene_symbols_and_ensembl_ids_name_their_species(names, taxon) -> None:
    read = read_gene_names(names)
    assert read.named and read.taxon == taxon and read.note == ""


@pytest.mark.parametrize(
    ("names", "why"),
    [
        ([f"g{i}" for i in range(300)], "species cannot be told"),
        ([f"Gene{i}" for i in range(300)], "of the gene names are mouse genes"),
        ([f"WBGene{i:08d}" for i in range(1, 301)], "the gene names are C. elegans gene ids"),
        ([f"FBgn{i:07d}" for i in range(1, 301)], "the gene names are fruit fly gene ids"),
        ([str(i) for i in range(2000)], "the numbers 0..1999"),
        ([str(i) for i in range(1, 2001)], "the numbers 1..2000"),
    ],
)
def test_names_that_are_not_genes_read_as_unnamed(names, why) -> None:
    read = read_gene_names(names)
    assert not read.named and why in read.note


def test_row_numbers_of_a_gene_subset_are_not_entrez_ids() -> None:
    # 2,000 of 20,000 row numbers: about 60% of them are human GeneIDs, none beyond 100,000.
    rows = np.random.default_rng(0).choice(20_000, 2_000, replace=False)
    read = read_gene_names([str(r) for r in rows])
    assert not read.named and "do not read as Entrez GeneIDs" in read.note
    # Row numbers stay unnamed when the caller names a species.
    assert not read_gene_names([str(i) for i in range(500)], taxon="human").named


def test_entrez_ids_read_as_genes_with_a_note() -> None:
    read = read_gene_names(_human_ids(500))
    assert read.taxon == "human" and "Entrez GeneIDs" in read.note


@pytest.fixture
def unnamed_file(tmp_path):
    adata = blobs(40, dim=60, counts=True)
    adata.var_names = [f"g{i}" for i in range(adata.n_vars)]
    path = tmp_path / "unnamed.h5ad"
    adata.write_h5ad(path)
    return path


def test_api_clusters_unnamed_genes_on_expression_alone(unnamed_file, tmp_path) -> None:
    import anndata as ad

    import cellmodel.cluster as cm
    from genekb.store.store import Store

    adata = ad.read_h5ad(unnamed_file)
    store = Store.open(tmp_path / "store", create=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cm.cluster(adata, store, n_clusters=3, seed=0, **FAST_FIT)
    notices = [w for w in caught if issubclass(w.category, NoGeneNamesWarning)]
    assert len(notices) == 1 and "taxon=human|mouse" in str(notices[0].message)
    record = adata.uns["cellmodel"]
    assert not record["use_semantic"] and not record["gene_names"]["named"]
    assert "X_semantic" not in adata.obsm
    assert adata.obs["cellmodel_cluster"].notna().all()
    assert cm.score(adata, "group")["ari"] > 0.9
    assert not (tmp_path / "store").exists()  # the store was never written


def test_cli_cluster_unnamed_file_exits_0_with_one_notice(unnamed_file, tmp_path) -> None:
    out = tmp_path / "out.h5ad"
    result = run(
        "cluster", str(unnamed_file), "-k", "3", "-o", str(out), "--json",
        "--root", str(tmp_path / "store"), *FAST_OPTIONS,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    notices = [ln for ln in result.stderr.splitlines() if "expression alone" in ln]
    assert len(notices) == 1 and notices[0].startswith("warning:")
    doc = json.loads(result.stdout)
    assert doc["gene_names"]["named"] is False
    assert pd.Series(doc["cluster_sizes"]).sum() == 120 and out.is_file()

    # The steps that need names refuse the file with one usage error.
    line = one_line_error(run("explain", str(out), "--root", str(tmp_path / "store")), 2)
    assert "explain needs gene names" in line and "cluster again with --gene-key" in line
    fresh_root = str(tmp_path / "other-store")
    annotate = run("annotate", str(out), "--groupby", "cellmodel_cluster", "--root", fresh_root)
    line = one_line_error(annotate, 2)
    assert "annotate needs gene names" in line


def test_cli_cluster_unnamed_file_needs_no_store_root(unnamed_file, tmp_path) -> None:
    """Expression alone opens no store: a store root that is not a store does not stop it."""
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("a user's own file\n")
    out = tmp_path / "out.h5ad"
    result = run(
        "cluster", str(unnamed_file), "-k", "3", "-o", str(out), "--root", str(busy),
        *FAST_OPTIONS,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.is_file() and sorted(p.name for p in busy.iterdir()) == ["notes.txt"]


def test_bench_runs_on_an_unnamed_file(unnamed_file, tmp_path) -> None:
    result = run(
        "bench", "--datasets", str(unnamed_file), "--label-key", "group",
        "--methods", "cellmodel", "--seeds", "1", "--threads", "1",
        "--root", str(tmp_path / "store"), "--out", str(tmp_path / "bench"), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [c["status"] for c in report["cells"]] == ["ok"], report["cells"]
    assert report["summary"][0]["ari"]["mean"] > 0.9


def test_annotate_refuses_row_numbers_and_reads_entrez_ids_with_a_notice() -> None:
    from cellmodel.annotate import annotate
    from cellmodel.knowledge.genes import NumericGeneIdWarning, require_gene_names
    from genekb.errors import UsageError

    adata = blobs(20, dim=60, counts=True)
    adata.var_names = [str(i) for i in range(adata.n_vars)]
    with pytest.raises(UsageError, match="annotate needs gene names and the gene names are the"):
        annotate(adata, None, groupby="group", candidates=["T cell", "B cell"])
    with pytest.warns(NumericGeneIdWarning, match="read as human Entrez GeneIDs"):
        assert require_gene_names(_human_ids(300), None, "annotate") == "human"


def test_embed_refuses_another_species_genes_with_a_usage_error(tmp_path) -> None:
    adata = blobs(20, dim=60, counts=True)
    adata.var_names = [f"WBGene{i:08d}" for i in range(1, adata.n_vars + 1)]
    path = tmp_path / "worm.h5ad"
    adata.write_h5ad(path)
    result = run("embed", str(path), "-o", str(tmp_path / "x.h5ad"), "--root", str(tmp_path / "s"))
    assert "the semantic view needs gene names" in one_line_error(result, 2)
    assert not (tmp_path / "x.h5ad").exists() and not (tmp_path / "s").exists()
