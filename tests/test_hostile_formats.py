"""Damaged or odd files of each format the readers take (10x folder, Cell Ranger .h5, loom, X/Y,
.h5ad out of core): refused in one line where the data would be read wrong, read as written
where they are valid."""

from __future__ import annotations

import gzip
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse as sp

from cellmodel import io as cio
from cellmodel.mtx import read_10x_mtx
from genekb.errors import GenekbError
from tests.conftest import blobs, one_line_error, run_cellmodel

N_GENES, N_CELLS = 8, 6
COUNTS = np.arange(N_GENES * N_CELLS, dtype=np.int64).reshape(N_GENES, N_CELLS) % 5  # genes × cells


def _tenx(folder: Path, header: str, lines: list[str], features: list[str] | None = None) -> Path:
    """A 10x folder whose matrix.mtx has the given header and entry lines."""
    folder.mkdir()
    entries = "".join(f"{line}\n" for line in lines)
    (folder / "matrix.mtx").write_text(f"{header}\n{N_GENES} {N_CELLS} {len(lines)}\n{entries}")
    names = features or [f"ENSG{i:011d}\tG{i}" for i in range(N_GENES)]
    (folder / "features.tsv").write_text("".join(f"{n}\n" for n in names))
    (folder / "barcodes.tsv").write_text("".join(f"c{j}\n" for j in range(N_CELLS)))
    return folder


INTEGER = "%%MatrixMarket matrix coordinate integer general"


@pytest.mark.parametrize(
    ("header", "value", "says"),
    [
        (INTEGER, "2.7", "declares integer values but the matrix holds 2.7"),  # scipy: 2
        (INTEGER, "100000000000000000000", "an integer too large to be a count"),  # overflow
        ("%%MatrixMarket matrix coordinate complex general", "3 3", "holds complex128 values"),
        ("%%MatrixMarket matrix coordinate real general", "1e39", r"beyond the 3.4e\+38"),
    ],
)
def test_an_mtx_value_read_wrong_is_refused(tmp_path, header, value, says):
    first = "1 1 4 0" if "complex" in header else "1 1 4"  # a complex entry is two numbers
    folder = _tenx(tmp_path / "tenx", header, [first, f"2 3 {value}"])
    with pytest.raises(GenekbError, match=says):
        read_10x_mtx(folder)


def test_a_declared_integer_mtx_reads_its_counts_and_na_names_stay_names(tmp_path):
    names = [f"ENSG{i:011d}\tG{i}" for i in range(N_GENES - 1)] + ["NA\tNA"]
    folder = _tenx(tmp_path / "tenx", INTEGER, ["1 1 4", "8 3 7"], names)
    adata = read_10x_mtx(folder)
    assert adata.X[0, 0] == 4 and adata.X[2, 7] == 7 and adata.X.sum() == 11
    assert adata.var_names[-1] == "NA" and adata.var["gene_symbols"].iloc[-1] == "NA"


def _cell_ranger(
    path: Path, indices: np.ndarray | None = None, ids: list[str] | None = None
) -> Path:
    stored = sp.csc_matrix(COUNTS.astype(np.int32))  # genes × cells, by columns: cells
    with h5py.File(path, "w") as f:
        group = f.create_group("matrix")
        group["data"], group["indptr"] = stored.data, stored.indptr
        group["indices"] = stored.indices if indices is None else indices
        group["shape"] = np.array([N_GENES, N_CELLS])
        group["barcodes"] = np.array([f"c{j}".encode() for j in range(N_CELLS)])
        features = group.create_group("features")
        features["id"] = np.array([i.encode() for i in ids or [f"E{i}" for i in range(N_GENES)]])
        features["name"] = np.array([f"G{i}".encode() for i in range(N_GENES)])
        features["feature_type"] = np.array([b"Gene Expression"] * N_GENES)
    return path


def test_cell_ranger_damage_is_refused_before_the_feature_subset(tmp_path):
    stored = sp.csc_matrix(COUNTS.astype(np.int32))
    for bad in (-1, N_GENES + 2):  # the subset to Gene Expression used to drop such entries
        indices = stored.indices.astype(np.int64)
        indices[1] = bad
        path = _cell_ranger(tmp_path / f"bad{bad}.h5", indices=indices)
        with pytest.raises(GenekbError, match="is a damaged sparse matrix"):
            cio.read(path)
    repeated = [f"E{i % 4}" for i in range(N_GENES)]  # no longer renamed E0-1… in silence
    with pytest.raises(GenekbError, match="4 gene names occur more than once"):
        cio.check_expression(cio.read(_cell_ranger(tmp_path / "repeated.h5", ids=repeated)))
    adata = cio.read(_cell_ranger(tmp_path / "good.h5"))
    np.testing.assert_array_equal(adata.X.toarray(), COUNTS.T)


def _loom(path: Path, matrix: np.ndarray, cell_ids: np.ndarray) -> Path:
    with h5py.File(path, "w") as f:
        f["matrix"] = matrix
        f.create_group("row_attrs")["Gene"] = np.array([f"G{i}".encode() for i in range(N_GENES)])
        f.create_group("col_attrs")["CellID"] = cell_ids
    return path


@pytest.mark.parametrize(
    ("matrix", "cell_ids", "says"),
    [
        (np.full((N_GENES, N_CELLS), b"1"), np.arange(N_CELLS), "holds |S1 values, not real"),
        (COUNTS, np.arange(N_CELLS - 2), "CellID holds 4 names for 6 cells"),
        (COUNTS, np.array([0, 1, np.nan, 3, 4, 5]), "CellID has a missing name"),
    ],
)
def test_a_loom_read_wrong_is_refused(tmp_path, matrix, cell_ids, says):
    with pytest.raises(GenekbError, match=says):
        cio.read(_loom(tmp_path / "cells.loom", matrix, cell_ids))


def test_xy_values_beyond_float32_are_named_not_called_infinite(tmp_path):
    path = tmp_path / "xy.h5"
    with h5py.File(path, "w") as f:
        f["X"] = np.where(COUNTS.T == 4, 1e39, COUNTS.T).astype(np.float64)
    with pytest.raises(GenekbError, match=r"values up to 1e\+39, beyond"):
        cio.read(path)


def _rewrite(path: Path, how: str) -> Path:
    """Damage the layout of an .h5ad's CSR X as only a reader by rows would meet it."""
    with h5py.File(path, "a") as f:
        if how == "rows":  # a dense matrix of more cells than obs names
            del f["X"]
            f["X"] = np.ones((35, 12), np.float32)
            f["X"].attrs.update({"encoding-type": "array", "encoding-version": "0.2.0"})
        elif how == "no-data":
            del f["X/data"]
        else:  # row pointers that do not start at the first value
            indptr = f["X/indptr"][:] + 2
            del f["X/indptr"]
            f["X/indptr"] = indptr
    return path


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("rows", "is 35 × 12 but the file names 30 cells and 12 genes"),
        ("no-data", "is a damaged .h5ad file"),
        ("offset", "is a damaged sparse matrix"),
    ],
)
def test_out_of_core_reading_refuses_a_damaged_layout_before_any_pass(tmp_path, how, says):
    adata = blobs(10, dim=12, counts=True)
    adata.X = sp.csr_matrix(adata.X)
    adata.write_h5ad(tmp_path / "cells.h5ad")
    path = _rewrite(tmp_path / "cells.h5ad", how)
    out = tmp_path / "out.h5ad"
    flags = ["--no-semantic", "-k", "3", "--chunk-size", "10", "-o", str(out)]
    assert says in one_line_error(run_cellmodel("cluster", str(path), *flags))
    assert not out.exists()


def test_out_of_core_paths_are_named_as_in_memory(tmp_path):
    adata = blobs(10, dim=12, counts=True)
    adata.write_h5ad(tmp_path / "UPPER.H5AD")
    (tmp_path / "loop.h5ad").symlink_to(tmp_path / "loop.h5ad")
    (tmp_path / "packed.h5ad").write_bytes(gzip.compress((tmp_path / "UPPER.H5AD").read_bytes()))
    flags = ["--no-semantic", "-k", "3", "--chunk-size", "10", "-o", str(tmp_path / "out.h5ad")]
    for name, says in (("loop.h5ad", "does not exist"), ("packed.h5ad", "gunzip it first")):
        assert says in one_line_error(run_cellmodel("cluster", str(tmp_path / name), *flags))
    extra = ["--layer", ""]
    assert "layer '' is not in" in one_line_error(
        run_cellmodel("cluster", str(tmp_path / "UPPER.H5AD"), *flags, *extra)
    )
    assert run_cellmodel("cluster", str(tmp_path / "UPPER.H5AD"), *flags).exit_code == 0


def test_every_api_function_refuses_what_is_not_an_anndata_in_memory(tmp_path):
    import anndata as ad

    from cellmodel.annotate.core import annotate
    from cellmodel.classify.pipeline import classify_cells
    from cellmodel.embed import embed
    from cellmodel.explain import explain
    from genekb.errors import UsageError

    adata = blobs(10, dim=12, counts=True)
    adata.write_h5ad(tmp_path / "cells.h5ad")
    backed = ad.read_h5ad(tmp_path / "cells.h5ad", backed="r")
    calls = {
        "explain": lambda a: explain(a, None),
        "classify": lambda a: classify_cells(a, label_key="cluster", train_fraction=0.5),
        "embed": lambda a: embed(a, None),
        "annotate": lambda a: annotate(a, "cluster"),
    }
    wrong = ((adata.X, "not ndarray"), ("cells.h5ad", "not str"), (None, "not NoneType"))
    for call in calls.values():
        for given, says in wrong:
            with pytest.raises(UsageError, match=f"adata must be an AnnData, {says}"):
                call(given)
        with pytest.raises(UsageError, match="adata is backed"):
            call(backed)
    backed.file.close()
