"""HDF5 inputs besides .h5ad (`cellmodel.formats` through `cellmodel.io.read`): Cell Ranger .h5
v3 and v2, loom, the X/Y layout, and the files that are none of them."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pytest
import scipy.sparse as sp

from cellmodel.formats import hdf5_cell_columns
from cellmodel.io import expression, read
from genekb.errors import GenekbError
from tests.conftest import FAST_FIT, blobs
from tests.conftest import run_cellmodel as run

FAST_OPTIONS = [f"--option={k}={v}" for k, v in FAST_FIT.items()]

# 4 cells × 5 genes, and a sixth feature that is an antibody tag (v3 lists feature types).
COUNTS = np.array(
    [[1, 0, 3, 0, 2], [0, 0, 0, 5, 1], [7, 1, 0, 0, 0], [0, 2, 2, 2, 0]], dtype=np.float32
)
TAG = np.array([[9], [8], [7], [6]], dtype=np.float32)
GENES = ["CD3E", "MS4A1", "LYZ", "NKG7", "GNLY"]
IDS = [f"ENSG{i:011d}" for i in range(5)]
BARCODES = [f"AAAC-{i}" for i in range(4)]


def _csc_group(group: h5py.Group, matrix: np.ndarray, barcodes: list[str] = BARCODES) -> None:
    """A genes × cells CSC matrix, as Cell Ranger stores it (columns are cells)."""
    stored = sp.csc_matrix(matrix.T)
    group["data"], group["indices"], group["indptr"] = stored.data, stored.indices, stored.indptr
    group["shape"] = np.array(stored.shape, dtype=np.int32)
    group["barcodes"] = np.array(barcodes, dtype="S")


def write_cell_ranger_v3(path: Path) -> None:
    with h5py.File(path, "w") as f:
        group = f.create_group("matrix")
        _csc_group(group, np.hstack([COUNTS, TAG]))
        features = group.create_group("features")
        features["id"] = np.array([*IDS, "tag-1"], dtype="S")
        features["name"] = np.array([*GENES, "CD3_TotalSeqB"], dtype="S")
        kinds = ["Gene Expression"] * 5 + ["Antibody Capture"]
        features["feature_type"] = np.array(kinds, dtype="S")


def test_cell_ranger_v3_keeps_gene_expression_with_ids_and_symbols(tmp_path: Path) -> None:
    write_cell_ranger_v3(tmp_path / "filtered_feature_bc_matrix.h5")
    a = read(tmp_path / "filtered_feature_bc_matrix.h5")
    assert a.shape == (4, 5) and sp.issparse(a.X)
    np.testing.assert_array_equal(a.X.toarray(), COUNTS)
    assert list(a.var_names) == IDS and list(a.var["gene_symbols"]) == GENES
    assert list(a.obs_names) == BARCODES
    assert expression(a, gene_key="gene_symbols").kind == "counts"
    assert hdf5_cell_columns(tmp_path / "filtered_feature_bc_matrix.h5") == []


def test_cell_ranger_v2_one_genome_and_refusal_of_two(tmp_path: Path) -> None:
    path = tmp_path / "v2.h5"
    with h5py.File(path, "w") as f:
        group = f.create_group("GRCh38")
        _csc_group(group, COUNTS)
        group["genes"], group["gene_names"] = np.array(IDS, dtype="S"), np.array(GENES, dtype="S")
    a = read(path)
    np.testing.assert_array_equal(a.X.toarray(), COUNTS)
    assert list(a.var["gene_symbols"]) == GENES
    with h5py.File(path, "a") as f:
        f.copy("GRCh38", "mm10")
    with pytest.raises(GenekbError, match="holds 2 genomes \\(GRCh38, mm10\\)"):
        read(path)


def test_loom_genes_by_cells_with_cell_columns(tmp_path: Path) -> None:
    path = tmp_path / "cells.loom"
    with h5py.File(path, "w") as f:
        f["matrix"] = COUNTS.T
        f.create_group("row_attrs")["Gene"] = np.array(GENES, dtype="S")
        columns = f.create_group("col_attrs")
        columns["CellID"] = np.array(BARCODES, dtype="S")
        columns["cell_type"] = np.array(["T", "B", "mono", "NK"], dtype="S")
        columns["batch"] = np.array([[1.0], [1.0], [2.0], [2.0]])  # (cells, 1): one value each
        columns["embedding"] = np.zeros((4, 2))  # not one value per cell: left out
    a = read(path)
    np.testing.assert_array_equal(a.X.toarray(), COUNTS)
    assert list(a.var_names) == GENES and list(a.obs_names) == BARCODES
    assert list(a.obs.columns) == ["batch", "cell_type"] and a.obs["cell_type"].iloc[2] == "mono"
    assert list(a.obs["batch"]) == ["1.0", "1.0", "2.0", "2.0"]
    # What bench checks a label key against, read without the matrix.
    assert hdf5_cell_columns(path) == list(a.obs.columns)


def test_loom_named_as_anndata_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "anndata.loom"
    with h5py.File(path, "w") as f:  # `AnnData.write_loom`: var_names and obs_names
        f["matrix"] = COUNTS.T
        f.create_group("row_attrs")["var_names"] = np.array(GENES, dtype="S")
        columns = f.create_group("col_attrs")
        columns["obs_names"] = np.array(BARCODES, dtype="S")
        columns["cell_type"] = np.array(["T", "B", "mono", "NK"], dtype="S")
    a = read(path)
    assert list(a.var_names) == GENES and list(a.obs_names) == BARCODES
    assert list(a.obs.columns) == ["cell_type"] == hdf5_cell_columns(path)


def test_xy_layout_labels_in_obs_y(tmp_path: Path) -> None:
    path = tmp_path / "scdeepcluster.h5"
    with h5py.File(path, "w") as f:
        f["X"], f["Y"] = COUNTS, np.array([1.0, 2.0, 2.0, 3.0])
    a = read(path)
    assert list(a.var_names) == [f"g{j}" for j in range(5)]
    assert list(a.obs["Y"]) == ["1", "2", "2", "3"]
    assert hdf5_cell_columns(path) == ["Y"]
    with h5py.File(path, "w") as f:
        f["X"], f["Y"] = COUNTS, np.array([1, 2])
    with pytest.raises(GenekbError, match="X has 4 rows but Y 2 labels"):
        read(path)


def test_anndata_saved_as_h5_keeps_its_gene_names(tmp_path: Path) -> None:
    adata = ad.AnnData(COUNTS)
    adata.var_names = GENES
    adata.obs["cell_type"] = ["T", "B", "mono", "NK"]
    adata.write_h5ad(tmp_path / "cells.h5")
    a = read(tmp_path / "cells.h5")
    assert list(a.var_names) == GENES
    assert hdf5_cell_columns(tmp_path / "cells.h5") == ["cell_type"]
    np.testing.assert_array_equal(np.asarray(a.X), COUNTS)


def test_foreign_hdf5_and_non_hdf5_say_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["weights"] = np.zeros(3)
        f.create_group("model")
    with pytest.raises(GenekbError, match=r"keys: model, weights\); convert it to \.h5ad"):
        read(path)
    dense = tmp_path / "dense.h5"  # a "matrix" group that is not Cell Ranger's (dense data)
    with h5py.File(dense, "w") as f:
        group = f.create_group("matrix")
        group["data"], group["features"] = COUNTS.T, np.array(GENES, dtype="S")
    with pytest.raises(GenekbError, match=r"top-level keys: matrix\)"):
        read(dense)
    damaged = tmp_path / "damaged.h5"
    write_cell_ranger_v3(damaged)
    with h5py.File(damaged, "a") as f:
        del f["matrix/indptr"]
        f["matrix/indptr"] = np.array([0, 2, 1])  # 2 cells' pointers for 4 cells
    with pytest.raises(GenekbError, match=r"damaged\.h5: a damaged Cell Ranger matrix"):
        read(damaged)
    text = tmp_path / "text.loom"
    text.write_text("not hdf5")
    with pytest.raises(GenekbError, match=r"is a text file \(its first line: 'not hdf5'\)"):
        read(text)


def test_cluster_cli_reads_a_cell_ranger_h5(tmp_path: Path) -> None:
    """The main job on a Cell Ranger file whose features carry no usable gene names."""
    X = _blob_counts()
    path = tmp_path / "sample.h5"
    with h5py.File(path, "w") as f:
        group = f.create_group("matrix")
        _csc_group(group, X, [f"B{i}" for i in range(X.shape[0])])
        features = group.create_group("features")
        features["id"] = np.array([f"feature{j}" for j in range(X.shape[1])], dtype="S")
        features["name"] = np.array([f"f{j}" for j in range(X.shape[1])], dtype="S")
    out = tmp_path / "out.h5ad"
    result = run(
        "cluster", str(path), "-k", "3", "-o", str(out), "--json",
        "--root", str(tmp_path / "store"), *FAST_OPTIONS,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sum(json.loads(result.stdout)["cluster_sizes"].values()) == X.shape[0]
    assert ad.read_h5ad(out).obs["cellmodel_cluster"].nunique() == 3


def test_bench_scores_an_xy_file_by_its_labels(tmp_path: Path) -> None:
    """A benchmark file of the scDeepCluster kind, benched as it is: `--label-key Y`."""
    X = _blob_counts()
    path = tmp_path / "bench.h5"
    with h5py.File(path, "w") as f:
        f["X"], f["Y"] = X, np.repeat([1.0, 2.0, 3.0], X.shape[0] // 3)
    result = run(
        "bench", "--datasets", str(path), "--label-key", "Y", "--methods", "pca-kmeans",
        "--seeds", "1", "--threads", "1", "--root", str(tmp_path / "store"),
        "--out", str(tmp_path / "bench"), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert '"ari"' in result.stdout


def _blob_counts() -> np.ndarray:
    counts = blobs(30, dim=40, counts=True)
    return np.asarray(counts.X.todense() if sp.issparse(counts.X) else counts.X, np.float32)
