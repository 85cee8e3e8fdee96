"""Hostile files a user may bring to `cellmodel cluster` / `bench`: each is refused early, in one
line that says what is wrong and what to do, with no traceback and nothing written; or, where the
input is valid, read without a crash."""

from __future__ import annotations

import gc
import gzip
import shutil
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.io import mmwrite

from cellmodel import io as cio
from cellmodel.bench.data import parse_datasets, reference_labels
from cellmodel.formats import read_10x_mtx, read_table
from cellmodel.metrics import cluster_metrics
from cellmodel.pp.graph import combat
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
