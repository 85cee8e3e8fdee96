"""Follow-ups of round 18: class names with "/" survive an .h5ad (classify's per-class tables
and markers), bench refuses NaN/inf in X before any run, a reference and query that name genes
differently are told so, an .rds that is not a Seurat object says how to convert, and duplicate
symbols with --gene-key on a 10x folder get command-line advice."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pytest

import cellmodel as cm
from cellmodel import classify
from genekb.errors import GenekbError
from tests.conftest import blobs, one_line_error, run_cellmodel

SLASHED = {"CD4+/CD25 T Reg": 40, "eL2/3": 40, "B": 40}


def test_classify_record_with_slashed_class_names_survives_h5ad(tmp_path) -> None:
    adata = blobs(SLASHED, dim=30, counts=True)
    cm.tl.classify(
        adata, "group", per_class=10, seed=0, n_markers=3, epochs=2
    )
    before = adata.uns["cellmodel_classify"]
    path = tmp_path / "c.h5ad"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # anndata warns of "/" in a key
        adata.write_h5ad(path)
    after = ad.read_h5ad(path).uns["cellmodel_classify"]
    for record in (before, after):
        tables = [record["scores"]["per_class"]]
        tables += [c["per_class"] for c in record["comparisons"].values()]
        for table in tables:
            rows = classify.by_class(table)
            assert set(rows) == set(SLASHED)
            assert {n: r["support"] for n, r in rows.items()} == {n: 30 for n in SLASHED}
        top = classify.genes_by_class(record["params"]["markers"]["top"])
        assert set(top) == set(SLASHED)
    assert classify.by_class(after["scores"]["per_class"]) == classify.by_class(
        before["scores"]["per_class"]
    )
    assert classify.genes_by_class(after["params"]["markers"]["top"]) == classify.genes_by_class(
        before["params"]["markers"]["top"]
    )


@pytest.mark.parametrize("sparse", [False, True])
def test_bench_refuses_nan_in_x_before_any_run(tmp_path, monkeypatch, sparse) -> None:
    import scipy.sparse as sp

    adata = blobs({"a": 40, "b": 40}, dim=20, counts=True)
    X = np.asarray(adata.X.toarray() if sp.issparse(adata.X) else adata.X, dtype=np.float32)
    X[7, 3] = np.nan if sparse else np.inf
    adata.X = sp.csr_matrix(X) if sparse else X
    path = tmp_path / "bad.h5ad"
    adata.write_h5ad(path)

    def no_process(*_args, **_kwargs):
        raise AssertionError("a method's process started")

    monkeypatch.setattr("cellmodel.bench.runner._spawn", no_process)
    out = tmp_path / "bench"
    args = ["bench", "--datasets", str(path), "--label-key", "group", "--methods",
            "pca-kmeans,leiden", "--seeds", "2", "--no-warm", "--out", str(out),
            "--root", str(tmp_path / "store")]  # fmt: skip
    line = one_line_error(run_cellmodel(*args))
    assert "bad.h5ad: the expression matrix (X) contains NaN or infinite values" in line
    assert not out.exists()


@pytest.mark.parametrize(
    ("query_names", "form"), [(lambda i: str(1000 + i), "Entrez ids"),
                              (lambda i: f"ENSG{i:011d}", "Ensembl ids")],
)  # fmt: skip
def test_reference_and_query_naming_genes_differently_are_told_so(tmp_path, query_names, form):
    reference = blobs(30, dim=30, seed=0, counts=True)
    query = blobs(15, dim=30, seed=1, counts=True)
    reference.var_names = [f"GENE{i}" for i in range(30)]
    query.var_names = [query_names(i) for i in range(30)]
    paths = tmp_path / "ref.h5ad", tmp_path / "query.h5ad"
    reference.write_h5ad(paths[0])
    query.write_h5ad(paths[1])
    args = ["classify", str(paths[1]), "--reference", str(paths[0]), "--label-key", "group"]
    line = one_line_error(run_cellmodel(*args))
    assert f"the reference names its genes by symbols, the query by {form}" in line
    assert "--gene-key" in line and "gene_key=" not in line


def test_an_r_file_that_is_no_seurat_object_says_how_to_convert_it(tmp_path) -> None:
    import pandas as pd
    import rdata

    rdata.write_rds(str(tmp_path / "frame.rds"), pd.DataFrame({"a": ["x", "y"]}))
    rdata.write_rds(str(tmp_path / "matrix.rds"), np.ones((3, 2)))
    rdata.write_rda(str(tmp_path / "objects.rda"), {"m": np.ones((3, 2))})
    what = {"frame.rds": "an R object of class data.frame", "matrix.rds": "an R matrix",
            "objects.rda": "saveRDS(obj, 'cells.rds')"}  # fmt: skip
    for name, kind in what.items():
        args = ["cluster", str(tmp_path / name), "--root", str(tmp_path / "s")]
        line = one_line_error(run_cellmodel(*args))
        assert kind in line, line
        assert "zellkonverter::writeH5AD(sce, 'cells.h5ad')" in line
        assert "anndata::write_h5ad(" in line


def test_repeated_symbols_under_gene_key_on_a_10x_folder_get_command_line_advice(tmp_path):
    import pandas as pd
    import scipy.sparse as sp
    from scipy.io import mmwrite

    from cellmodel.io import gene_names

    folder = tmp_path / "tenx"
    folder.mkdir()
    counts = np.random.default_rng(0).poisson(2.0, (30, 40)).astype(np.float32)
    mmwrite(str(folder / "matrix.mtx"), sp.coo_matrix(counts))
    (folder / "features.tsv").write_text(
        "".join(f"ENSG{i:011d}\tG{i % 25}\tGene Expression\n" for i in range(30))
    )
    (folder / "barcodes.tsv").write_text("".join(f"c{j}\n" for j in range(40)))
    args = ["cluster", str(folder), "--gene-key", "gene_symbols", "-o", str(tmp_path / "c.h5ad"),
            "--root", str(tmp_path / "s")]  # fmt: skip
    line = one_line_error(run_cellmodel(*args))
    assert "5 gene names occur more than once" in line
    assert "leave out --gene-key to map the var names (unique: ENSG00000000000" in line
    assert "adata." not in line and "gene_key=" not in line
    # var names repeated as well: leaving the column out would not help
    var = pd.DataFrame({"symbol": ["A", "A", "B"]}, index=["x", "x", "y"])
    with pytest.raises(GenekbError, match="choose another gene_key=, or name each gene once"):
        gene_names(var, "symbol", "X")
