"""Follow-ups of round 22: bench checks every HDF5 layout it accepts for NaN/inf before any run,
repeated var names get command-line advice on the command line, import-vectors refuses two gene
columns of one name, and a store manifest with NaN/Infinity is read with a warning."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse as sp

from cellmodel.bench.data import DatasetRef, refuse_non_finite
from genekb.errors import GenekbError
from tests.conftest import blobs, one_line_error, run_cellmodel


def _counts(bad: float | None) -> np.ndarray:
    X = blobs({"a": 30, "b": 30}, dim=20, counts=True).X
    X = np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float32)
    if bad is not None:
        X[5, 3] = bad
    return X


def _xy(path: Path, X: np.ndarray) -> None:
    with h5py.File(path, "w") as f:
        f["X"], f["Y"] = X, np.repeat([1.0, 2.0], X.shape[0] // 2)


def _loom(path: Path, X: np.ndarray) -> None:
    with h5py.File(path, "w") as f:
        f["matrix"] = X.T  # genes × cells
        f.create_group("row_attrs")["Gene"] = np.array([f"G{j}" for j in range(X.shape[1])], "S")
        columns = f.create_group("col_attrs")
        columns["CellID"] = np.array([f"c{i}" for i in range(X.shape[0])], "S")
        columns["group"] = np.array(["a", "b"] * (X.shape[0] // 2), "S")


def _cell_ranger(path: Path, X: np.ndarray, v2: bool = False) -> None:
    stored = sp.csc_matrix(X.T)  # genes × cells, columns are cells
    with h5py.File(path, "w") as f:
        group = f.create_group("GRCh38" if v2 else "matrix")
        for part in ("data", "indices", "indptr"):
            group[part] = getattr(stored, part)
        group["shape"] = np.array(stored.shape, dtype=np.int32)
        group["barcodes"] = np.array([f"AAAC-{i}" for i in range(X.shape[0])], "S")
        ids = np.array([f"ENSG{j:011d}" for j in range(X.shape[1])], "S")
        if v2:
            group["genes"], group["gene_names"] = ids, ids
        else:
            features = group.create_group("features")
            features["id"], features["name"] = ids, ids


def _dense(path: Path, X: np.ndarray) -> None:  # Matilda's layout
    with h5py.File(path, "w") as f:
        group = f.create_group("matrix")
        group["data"] = X.T  # genes × cells
        group["features"] = np.array([f"G{j}" for j in range(X.shape[1])], "S")
        group["barcodes"] = np.array([f"c{i}" for i in range(X.shape[0])], "S")


LAYOUTS = {"xy.h5": _xy, "cells.loom": _loom, "filtered.h5": _cell_ranger,
           "v2.h5": lambda p, X: _cell_ranger(p, X, v2=True), "dense.h5": _dense}  # fmt: skip


@pytest.mark.parametrize("name", list(LAYOUTS))
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_bench_checks_every_hdf5_layout_for_nan_before_any_run(tmp_path, name, bad) -> None:
    path = tmp_path / name
    LAYOUTS[name](path, _counts(None))
    refuse_non_finite(DatasetRef(path.stem, "file", path=str(path), label_key="Y"), None)
    LAYOUTS[name](path, _counts(bad))
    ref = DatasetRef(path.stem, "file", path=str(path), label_key="Y")
    with pytest.raises(GenekbError, match=r"\(X\) contains NaN or infinite values"):
        refuse_non_finite(ref, None)


@pytest.mark.parametrize(("name", "label"), [("xy.h5", "Y"), ("cells.loom", "group")])
def test_bench_cli_refuses_a_nan_in_an_hdf5_file_before_any_run(tmp_path, monkeypatch, name, label):
    path = tmp_path / name
    LAYOUTS[name](path, _counts(np.nan))

    def no_process(*_args, **_kwargs):
        raise AssertionError("a method's process started")

    monkeypatch.setattr("cellmodel.bench.runner._spawn", no_process)
    out = tmp_path / "bench"
    args = ["bench", "--datasets", str(path), "--label-key", label, "--methods", "pca-kmeans",
            "--seeds", "1", "--no-warm", "--out", str(out),
            "--root", str(tmp_path / "store")]  # fmt: skip
    line = one_line_error(run_cellmodel(*args))
    assert f"{name}: the expression matrix (X) contains NaN or infinite values" in line
    assert not out.exists()


def _repeated_genes(path: Path) -> None:
    adata = blobs({"a": 30, "b": 30}, dim=20, counts=True)
    adata.var_names = [f"G{j % 15}" for j in range(20)]  # five symbols twice
    adata.var["gene_ids"] = [f"ENSG{j:011d}" for j in range(20)]
    adata.var["n_cells"] = np.arange(20)  # unique, but no names: not offered
    adata.write_h5ad(path)


def test_repeated_var_names_get_command_line_advice_on_the_command_line(tmp_path) -> None:
    import anndata as ad

    from cellmodel.io import gene_names

    path = tmp_path / "repeated.h5ad"
    _repeated_genes(path)
    args = ["cluster", str(path), "-o", str(tmp_path / "c.h5ad"), "--root", str(tmp_path / "s")]
    line = one_line_error(run_cellmodel(*args))
    assert "5 gene names occur more than once" in line
    assert "name each gene once in the file or choose a --gene-key column" in line
    assert "(here: gene_ids)" in line
    assert "adata." not in line and "gene_key=" not in line
    # The Python session keeps its own advice.
    with pytest.raises(GenekbError, match=r"adata\.var_names_make_unique\(\)\) or choose a"
                       r" gene_key= column of unique names \(here: gene_ids\)"):  # fmt: skip
        gene_names(ad.read_h5ad(path).var, None, "X")


def test_import_vectors_refuses_two_gene_columns_of_one_name(tmp_path) -> None:
    from tests.conftest import run_genekb

    table = tmp_path / "v.csv"  # "gene" held Entrez ids: read as one more dimension, silently
    table.write_text("gene,Gene,d0,d1\n916,CD3E,0.5,0.1\n920,CD4,-0.2,0.7\n925,CD8A,0.9,-0.3\n")
    store = tmp_path / "s"
    line = one_line_error(run_genekb("import-vectors", str(table), "-m", "x", "--root", str(store)))
    assert "v.csv: columns 'gene' and 'Gene' both name the gene column; rename or drop one" in line
    assert not (store / "embeddings").exists() or not any((store / "embeddings").iterdir())
    # --gene-column says which; the other column's ids would still be read as a dimension, so
    # it is refused until dropped (tests/test_hostile_gene_tasks2.py), then imported
    args = ["import-vectors", str(table), "-m", "x", "--gene-column", "Gene", "--root", str(store)]
    assert "column(s) ['gene'] name genes too" in one_line_error(run_genekb(*args))
    table.write_text("Gene,d0,d1\nCD3E,0.5,0.1\nCD4,-0.2,0.7\nCD8A,0.9,-0.3\n")
    assert run_genekb(*args).exit_code == 0


def test_a_manifest_with_nan_is_read_with_one_warning(tmp_path) -> None:
    import hashlib
    import json
    import shutil
    import warnings

    from genekb.errors import GenekbWarning
    from genekb.store.manifest import MANIFEST, SELF_KEY
    from genekb.store.store import Store
    from tests.conftest import run_genekb

    table, root = tmp_path / "v.csv", tmp_path / "s"
    table.write_text("gene,d0,d1\nCD3E,0.5,0.1\nCD4,-0.2,0.7\nCD8A,0.9,-0.3\n")
    assert run_genekb("import-vectors", str(table), "-m", "x", "--root", str(root)).exit_code == 0
    (version,) = (root / "embeddings").iterdir()
    path = version / MANIFEST
    body = json.loads(path.read_text())  # as a genekb that allowed NaN wrote it: its hash holds
    body["stats"], body[SELF_KEY] = {"seconds": float("nan")}, ""
    raw = json.dumps(body, indent=2, sort_keys=True)
    digest = hashlib.sha256(raw.encode()).hexdigest()
    path.write_text(raw.replace(f'"{SELF_KEY}": ""', f'"{SELF_KEY}": "{digest}"', 1) + "\n")

    result = run_genekb("verify", "--root", str(root))  # the command line: one line
    assert result.exit_code == 0, result.output
    assert result.stderr.count("warning:") == 1 and "'stats.seconds'" in result.stderr

    copy = tmp_path / "copy"  # this process warned of the first file: a second file warns anew
    shutil.copytree(root, copy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = Store.open(copy)
        assert [e.id for e in store.embeddings()] == [version.name]  # readable, not refused
        store.embeddings()  # read again: no second warning
    said = [str(w.message) for w in caught if issubclass(w.category, GenekbWarning)]
    assert len(said) == 1, said
    assert str(copy / "embeddings" / version.name / MANIFEST) in said[0]
    assert "'stats.seconds'" in said[0]
