"""Hostile files a user may bring to `cellmodel cluster` / `bench`: each is refused early, in one
line that says what is wrong and what to do, with no traceback and nothing written; or, where the
input is valid, read without a crash."""

from __future__ import annotations

import gc
import gzip
import re
import shutil
import sys
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.io import mmread, mmwrite

from cellmodel import io as cio
from cellmodel.bench.data import parse_datasets, reference_labels
from cellmodel.metrics import cluster_metrics
from cellmodel.mtx import read_10x_mtx
from cellmodel.pp.graph import combat
from cellmodel.tables import read_table
from genekb.errors import GenekbError
from tests.conftest import blobs, one_line_error, run_cellmodel


def _tenx(folder: Path) -> Path:
    """A small, valid 10x folder (30 genes × 12 cells)."""
    folder.mkdir()
    counts = np.random.default_rng(0).poisson(2.0, (30, 12)).astype(np.float32)
    mmwrite(str(folder / "matrix.mtx"), sp.coo_matrix(counts))
    (folder / "features.tsv").write_text(
        "".join(f"ENSG{i:011d}\tG{i}\tGene Expression\n" for i in range(30))
    )
    (folder / "barcodes.tsv").write_text("".join(f"c{j}\n" for j in range(12)))
    return folder


def test_a_damaged_matrix_mtx_prints_no_traceback(tmp_path, monkeypatch):
    folder = _tenx(tmp_path / "tenx")
    (folder / "matrix.mtx").write_text("garbage\n1 2 3\n")
    ignored: list[object] = []  # what Python prints as "Exception ignored in ... Traceback"
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)
    with pytest.raises(GenekbError, match="is not a MatrixMarket file"):
        read_10x_mtx(folder)
    gc.collect()  # scipy's text-stream wrapper raised in __del__ once the file was closed
    assert ignored == []


def test_a_10x_matrix_written_cells_by_genes_is_read_the_right_way(tmp_path):
    folder = _tenx(tmp_path / "tenx")
    genes_by_cells = mmread(str(folder / "matrix.mtx"))
    mmwrite(str(folder / "matrix.mtx"), sp.coo_matrix(genes_by_cells.T))  # 12 cells × 30 genes
    with pytest.warns(UserWarning, match="12 rows as there are barcodes, 30 columns"):
        adata = read_10x_mtx(folder)
    assert adata.shape == (12, 30) and list(adata.obs_names[:2]) == ["c0", "c1"]
    np.testing.assert_array_equal(adata.X.toarray(), genes_by_cells.T.toarray())


@pytest.mark.parametrize("name", ["features.tsv", "barcodes.tsv"])
def test_an_empty_features_or_barcodes_file_is_named(tmp_path, name):
    folder = _tenx(tmp_path / "tenx")
    (folder / name).write_text("")
    with pytest.raises(GenekbError, match=rf"{name} is empty; a 10x folder needs one line per"):
        read_10x_mtx(folder)


def test_a_table_with_a_header_only_says_it_has_no_rows(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text(",G0,G1,G2\n")
    with pytest.raises(GenekbError, match="holds a header but no rows"):
        read_table(path)


def test_a_table_split_at_the_wrong_separator_says_so(tmp_path):
    path = tmp_path / "semicolons.csv"
    path.write_text(";G0;G1\nc0;1;2\nc1;3;4\n")
    with pytest.raises(GenekbError, match=r"no column besides the names when split at ','.*sep="):
        read_table(path)


def test_x_missing_beside_a_counts_layer_names_the_layer():
    adata = ad.AnnData(obs=pd.DataFrame(index=["a", "b", "c"]), var=pd.DataFrame(index=["x", "y"]))
    adata.layers["counts"] = np.ones((3, 2), np.float32)
    with pytest.raises(GenekbError, match=r"no X matrix; .*layer= \(layers present: counts\)"):
        cio.expression(adata)


def test_values_beyond_float32_are_refused_not_turned_to_nan():
    X = np.ones((4, 3))
    X[0, 0] = 1e39  # finite in float64, inf in float32: the PCA then failed on NaN
    with pytest.raises(GenekbError, match=r"beyond the .* that float32 holds"):
        cio.expression(ad.AnnData(X=X))


def test_combat_takes_a_batch_named_nan():
    X = np.log1p(np.random.default_rng(0).poisson(3.0, (60, 8)).astype(np.float32))
    named = combat(X, np.array(["A", "nan", "B"] * 20))  # was a LinAlgError (singular matrix)
    assert np.array_equal(named, combat(X, np.array(["A", "m", "B"] * 20)))


def test_missing_reference_labels_are_no_class_of_their_own():
    truth = pd.Series(pd.Categorical(["a", None, "b"] * 10))
    predicted = np.array(["0", "1", "1"] * 10)
    known = truth.notna().to_numpy()
    assert cluster_metrics(truth, predicted) == cluster_metrics(truth[known], predicted[known])
    assert cluster_metrics(truth, predicted)["ari"] == 1.0
    with pytest.raises(GenekbError, match="no cell has a reference label"):
        cluster_metrics(pd.Series([np.nan] * 4), np.zeros(4))


@pytest.fixture
def cells(tmp_path) -> Path:
    adata = blobs(10, dim=12, counts=True)
    adata.obs["unlabelled"] = np.nan
    adata.obs["some_batch"] = pd.Categorical(["x", None, "y"] * 10)
    adata.obs["one_class"] = "a"
    adata.write_h5ad(tmp_path / "cells.h5ad")
    return tmp_path / "cells.h5ad"


def _no_clustering(monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise AssertionError("clustering started before the input was checked")

    monkeypatch.setattr("cellmodel.cluster.job.cluster", boom)


@pytest.mark.parametrize(
    ("flags", "code", "says"),
    [
        (["-k", "30"], 2, "--n-clusters 30 equals the 30 cells"),
        (["-k", "3", "--label-key", "unlabelled"], 1, "'unlabelled' holds no labels"),
        (["-k", "3", "--batch-key", "some_batch"], 1, "has no value for 10 of 30 cells"),
        (["-k", "3", "--label-key", "one_class"], 1, "'one_class' holds a single class ('a')"),
    ],
)
def test_cluster_refuses_before_any_work(cells, monkeypatch, flags, code, says):
    _no_clustering(monkeypatch)
    out = cells.parent / "out.h5ad"
    result = run_cellmodel("cluster", str(cells), "--no-semantic", *flags, "-o", str(out))
    assert says in one_line_error(result, code)
    assert not out.exists()


def test_bench_refuses_a_one_class_label_column_before_any_run(cells):
    with pytest.raises(GenekbError, match=r"'one_class' holds a single class \('a'\)"):
        parse_datasets(str(cells), label_key="one_class")
    with pytest.raises(GenekbError, match="'unlabelled' holds no labels"):
        reference_labels(ad.read_h5ad(cells), "unlabelled")
    ids = ad.read_h5ad(cells)
    ids.obs["cell_id"] = [f"x{i}" for i in range(ids.n_obs)]  # k would be the cells: ARI 1.0
    with pytest.raises(GenekbError, match="'cell_id' holds 30 classes for 30 labelled cells"):
        reference_labels(ids, "cell_id")


def test_a_gzipped_h5ad_is_told_to_be_gunzipped(tmp_path, cells):
    target = tmp_path / "cells.h5ad.gz"
    with gzip.open(target, "wb") as fh, cells.open("rb") as source:
        shutil.copyfileobj(source, fh)
    with pytest.raises(GenekbError, match=r"is gzip-compressed; .* gunzip it first"):
        cio.read(target)


def test_a_missing_input_path_is_named_as_missing(tmp_path):
    result = run_cellmodel("cluster", str(tmp_path / "nope.h5ad"), "--no-semantic")
    assert "nope.h5ad does not exist; check the path" in one_line_error(result)


@pytest.mark.parametrize(
    ("flags", "code", "says"),
    [
        (["-k", "30"], 2, "--n-clusters 30 equals the 30 cells"),
        (["-k", "3", "--label-key", "unlabelled"], 1, "'unlabelled' holds no labels"),
    ],
)
def test_chunked_cluster_refuses_before_any_pass(cells, flags, code, says):
    out = cells.parent / "out.h5ad"
    result = run_cellmodel("cluster", str(cells), "--chunk-size", "10", *flags, "-o", str(out))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and says in errors[0], result.stderr
    assert not out.exists()


@pytest.mark.parametrize("k", ["0", "-3"])
def test_a_k_below_one_is_one_usage_line(cells, monkeypatch, k):
    _no_clustering(monkeypatch)
    out = cells.parent / "out.h5ad"
    result = run_cellmodel("cluster", str(cells), "--no-semantic", "-k", k, "-o", str(out))
    line = one_line_error(result, 2)  # was the usage and a boxed panel
    assert "'--n-clusters'" in line and "see `cellmodel cluster --help`" in line
    assert not out.exists()


def test_an_unknown_option_is_one_usage_line(cells):
    line = one_line_error(run_cellmodel("cluster", str(cells), "--nope"), 2)
    assert "No such option: --nope" in line


def test_an_error_line_keeps_the_brackets_of_a_path():
    result = run_cellmodel("cluster", "[red]cells.h5ad", "--no-semantic")
    assert "[red]cells.h5ad does not exist" in one_line_error(result)  # was read as markup


def _table(path: Path, genes: list[str], cells: list[str]) -> Path:
    counts = np.random.default_rng(0).poisson(3.0, (len(cells), len(genes)))
    pd.DataFrame(counts, index=cells, columns=genes).to_csv(path)
    return path


@pytest.mark.parametrize(
    ("genes", "cells", "says"),
    [
        (["G0", "G1", "G0", "G3"], [f"c{i}" for i in range(12)], "1 gene names (header)"),
        (["G0", "G1", "G2", "G3"], [*(f"c{i}" for i in range(11)), "c3"], "1 cell names"),
    ],
)
def test_a_table_naming_a_gene_or_cell_twice_is_refused(tmp_path, monkeypatch, genes, cells, says):
    _no_clustering(monkeypatch)  # a repeated gene was read as a gene "G0.1"
    path, out = _table(tmp_path / "t.csv", genes, cells), tmp_path / "out.h5ad"
    line = one_line_error(run_cellmodel("cluster", str(path), "--no-semantic", "-o", str(out)))
    assert says in line and "occur more than once (e.g. " in line and "name each" in line
    assert not out.exists()


def test_a_genuine_dotted_gene_name_is_no_repeat(tmp_path):
    path = _table(tmp_path / "t.csv", ["AC01", "AC01.1", "G2"], ["c0", "c1", "c2"])
    assert list(read_table(path).var_names) == ["AC01", "AC01.1", "G2"]


def test_repeated_cell_names_are_refused_in_every_format(tmp_path):
    folder = _tenx(tmp_path / "tenx")
    (folder / "barcodes.tsv").write_text("".join(f"c{j % 11}\n" for j in range(12)))
    loom = tmp_path / "cells.loom"
    with h5py.File(loom, "w") as f:
        f["matrix"] = np.ones((3, 4))
        f.create_group("row_attrs")["Gene"] = np.array(["A", "B", "C"], dtype="S")
        f.create_group("col_attrs")["CellID"] = np.array(["x", "y", "x", "z"], dtype="S")
    adata = blobs(4, dim=6, counts=True)
    adata.obs_names = ["a"] * adata.n_obs
    adata.write_h5ad(tmp_path / "cells.h5ad")
    for path in (folder, loom, tmp_path / "cells.h5ad"):  # the loom's were renamed x-1
        with pytest.raises(GenekbError, match="cell names occur more than once"):
            cio.read(path)
    out, chunked = tmp_path / "out.h5ad", ["--chunk-size", "5", "--no-semantic"]
    result = run_cellmodel("cluster", str(tmp_path / "cells.h5ad"), *chunked, "-o", str(out))
    assert "cell names occur more than once (e.g. a)" in one_line_error(result)
    assert not out.exists()


def test_repeated_gene_names_are_refused_out_of_core_as_in_memory(tmp_path):
    adata = blobs(40, dim=6, counts=True)
    adata.var_names = ["G0", *adata.var_names[1:-1], "G0"]
    adata.write_h5ad(tmp_path / "genes.h5ad")
    out = tmp_path / "out.h5ad"
    for chunked in ([], ["--chunk-size", "15"]):
        result = run_cellmodel(
            "cluster", str(tmp_path / "genes.h5ad"), "--no-semantic", *chunked, "-o", str(out)
        )
        assert "1 gene names occur more than once (e.g. G0)" in one_line_error(result)
        assert not out.exists()


def test_a_truncated_gzip_table_says_so(tmp_path):
    text = _table(tmp_path / "t.csv", ["G0", "G1"], [f"c{i}" for i in range(50)]).read_bytes()
    path, out = tmp_path / "t.csv.gz", tmp_path / "out.h5ad"
    path.write_bytes(gzip.compress(text)[:60])
    line = one_line_error(run_cellmodel("cluster", str(path), "--no-semantic", "-o", str(out)))
    assert "truncated or damaged gzip file" in line  # was "unexpected EOFError"
    assert not out.exists()


def test_bench_checks_the_label_column_of_a_loom_or_h5_first(tmp_path):
    loom, xy = tmp_path / "cells.loom", tmp_path / "xy.h5"
    with h5py.File(loom, "w") as f:
        f["matrix"] = np.ones((3, 4))
        f.create_group("row_attrs")["Gene"] = np.array(["A", "B", "C"], dtype="S")
        f.create_group("col_attrs")["kind"] = np.array(["t"] * 4, dtype="S")
    with h5py.File(xy, "w") as f:
        f["X"], f["Y"] = np.ones((6, 3)), np.array([np.nan, 1.0, np.nan, 2.0, 1.0, 2.0])
    with pytest.raises(GenekbError, match=r"'kind' holds a single class \('t'\)"):
        parse_datasets(str(loom), label_key="kind")
    assert parse_datasets(str(xy), label_key="Y")[0].label_key == "Y"
    assert cio.read(xy).obs["Y"].isna().sum() == 2  # a NaN label is missing, not a class "nan"
    with h5py.File(xy, "a") as f:
        f["Y"][...] = np.nan
    with pytest.raises(GenekbError, match="'Y' holds no labels"):
        parse_datasets(str(xy), label_key="Y")


@pytest.mark.parametrize("name", ["cells.h5ad", "cells.csv", "cells.loom"])
def test_an_empty_file_is_called_empty(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    line = one_line_error(run_cellmodel("cluster", str(tmp_path / name), "--no-semantic"))
    assert f"{name} is empty (0 bytes)" in line  # was "file signature not found" and the like


def _damage(path: Path, how: str) -> Path:
    """Rewrite one part of an .h5ad's X in place: a CSR index or row pointer out of range, or
    values stored as text or complex numbers."""
    with h5py.File(path, "a") as f:
        if how in ("index", "negative", "indptr"):
            key = "X/indptr" if how == "indptr" else "X/indices"
            values = f[key][:].astype(np.int64)
            values[3] = {"index": 10**5, "negative": -3, "indptr": values[8] + 5}[how]
            del f[key]
            f[key] = values
        else:
            attrs, dense = dict(f["X"].attrs), f["X"][:]
            del f["X"]
            if how == "text":
                text = dense.astype(str).astype(object)
                f.create_dataset("X", data=text, dtype=h5py.string_dtype())
            else:
                f["X"] = dense.astype(np.complex64) + 1j
            f["X"].attrs.update(attrs)
    return path


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("index", "is a damaged sparse matrix"),  # read past the matrix: silent, or a crash
        ("negative", "is a damaged sparse matrix"),
        ("indptr", "is a damaged sparse matrix"),
        ("text", "holds object values, not real numbers"),
        ("complex", "holds complex64 values, not real numbers"),
    ],
)
@pytest.mark.parametrize("chunked", [False, True])
def test_a_damaged_or_non_numeric_matrix_is_refused(tmp_path, how, says, chunked):
    adata = blobs(10, dim=12, counts=True)
    if how in ("index", "negative", "indptr"):
        adata.X = sp.csr_matrix(adata.X)
    else:
        adata.X = np.asarray(adata.X.todense() if sp.issparse(adata.X) else adata.X)
    adata.write_h5ad(tmp_path / "cells.h5ad")
    path = _damage(tmp_path / "cells.h5ad", how)
    out = tmp_path / "out.h5ad"
    flags = ["--chunk-size", "10"] if chunked else []
    result = run_cellmodel("cluster", str(path), "--no-semantic", "-k", "3", *flags, "-o", str(out))
    assert says in one_line_error(result)
    assert not out.exists()
    if not chunked:
        with pytest.raises(GenekbError, match=says):
            cio.check_expression(ad.read_h5ad(path))


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"n_clusters": 2.5}, "n_clusters=2.5 must be a whole number"),
        ({"n_clusters": "3"}, "n_clusters='3' must be a whole number"),
        ({"n_clusters": 30}, "n_clusters=30 equals the 30 cells"),
        ({"seed": -1}, "seed=-1 must be a whole number from 0 to 4294967295"),
        ({"seed": None}, "seed=None must be a whole number"),
        ({"adata": np.zeros((30, 5))}, "adata must be an AnnData, not ndarray"),
        ({"store": 3}, "store must be a genekb Store or its path, not int"),
        ({"obs_names": ["c"] * 30}, "1 cell names occur more than once"),
    ],
)
def test_the_api_refuses_what_the_command_line_refuses(monkeypatch, change, says):
    from cellmodel.cluster.job import cluster

    _no_fit(monkeypatch)
    adata = blobs(10, dim=12, counts=True)
    if "obs_names" in change:
        adata.obs_names = change.pop("obs_names")
    arguments = {"adata": adata, "store": None, "n_clusters": 3, "use_semantic": False, **change}
    with pytest.raises(GenekbError, match=re.escape(says)):
        cluster(arguments.pop("adata"), arguments.pop("store"), **arguments)


def _no_fit(monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise AssertionError("the data was read before the arguments were checked")

    monkeypatch.setattr("cellmodel.io.expression", boom)
