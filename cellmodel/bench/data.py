"""Datasets to bench (registry names, file paths, synthetic-N), synthetic counts, and hiding
the labels from the methods."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from cellmodel import datasets, io
from cellmodel.arguments import check_obs_column
from cellmodel.bench.settings import (
    BATCH_COLUMN,
    DEFAULT_DATASETS,
    MAX_OUT_OF_CORE_CELLS,
    MAX_SYNTHETIC_CELLS,
    SYNTHETIC_GROUPS,
    SYNTHETIC_LABEL_KEY,
    SYNTHETIC_PREFIX,
)
from cellmodel.chunked.limits import cluster_estimate_mb
from cellmodel.cluster.batch_column import checked_batches
from cellmodel.datasets.synthetic import synthetic_counts
from cellmodel.datasets.synthetic import synthetic_symbols as synthetic_symbols  # re-exported
from cellmodel.formats import (
    hdf5_cell_column,
    hdf5_cell_columns,
    hdf5_stored_values,
    unreadable,
)
from cellmodel.matrix_checks import matrix_names
from cellmodel.metrics import check_labels
from genekb.errors import GenekbError, UsageError

FINITE_CHUNK = 1 << 22  # stored values read at a time by `refuse_non_finite`: a few MB


@dataclass(frozen=True)
class DatasetRef:
    """A dataset to bench: a registry name, a file path (with its label key), or synthetic-N."""

    name: str
    kind: str  # "registry" | "file" | "synthetic"
    path: str | None = None
    label_key: str | None = None
    n_cells: int | None = None
    batch_key: str | None = None  # obs column of a technical batch, given to every method

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def parse_datasets(
    spec: str | Sequence[str] | None, label_key: str | None = None, batch_key: str | None = None
) -> list[DatasetRef]:
    """Datasets from "a,b" (registry names, .h5ad or HDF5 paths, synthetic-N); None: the default
    three. HDF5: a Cell Ranger .h5, a .loom file or the X/Y layout (`cellmodel.formats`). A file's
    `batch_key` column (a technical batch) is given to every method, as a registry entry's is."""
    names = list(DEFAULT_DATASETS) if spec is None else spec
    if isinstance(names, str):
        names = _split_names(names)
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise UsageError("datasets= is empty; give names or file paths separated by commas")
    registry = [d.name for d in datasets.list_datasets()]
    refs: list[DatasetRef] = []
    for name in dict.fromkeys(names):
        if name in registry:
            entry = datasets.get(name)
            refs.append(
                DatasetRef(name, "registry", label_key=entry.label_key, batch_key=entry.batch_key)
            )
        elif name.startswith(SYNTHETIC_PREFIX) and name[len(SYNTHETIC_PREFIX) :].isdigit():
            n = int(name[len(SYNTHETIC_PREFIX) :])
            if n < SYNTHETIC_GROUPS * 3:
                raise UsageError(
                    f"{name}: synthetic data needs at least {SYNTHETIC_GROUPS * 3} cells"
                )
            check_synthetic_cells(n, name)
            refs.append(DatasetRef(name, "synthetic", label_key=SYNTHETIC_LABEL_KEY, n_cells=n))
        elif Path(name).suffix.lower() in (".h5ad", *io.HDF5_SUFFIXES):  # as `io.read` reads
            refs.append(_file_ref(Path(name), label_key, batch_key))
        elif Path(name).exists():
            raise _unbenchable_file(Path(name))
        else:
            raise UsageError(
                f"unknown dataset {name!r}; choose from {', '.join(registry)}, an .h5ad, .h5 or"
                f" .loom path (with label_key=), or {SYNTHETIC_PREFIX}N for N synthetic cells"
            )
    # One file named twice (./a.h5ad, a.h5ad) is one dataset, not two that share a name.
    unique: dict[tuple[str, str], DatasetRef] = {}
    for ref in refs:
        unique.setdefault((ref.kind, ref.path or ref.name), ref)
    refs = list(unique.values())
    stems = [r.name for r in refs]
    if len(set(stems)) != len(stems):
        raise UsageError(f"two datasets share the name {stems}; rename one of the files")
    _refuse_keys_without_files(refs, label_key, batch_key)
    return refs


def _unbenchable_file(path: Path) -> UsageError:
    """An existing file or folder bench cannot score (a 10x folder, a table, an .rds): it was
    called an unknown dataset, as though misspelt, though `cluster` and `classify` read it."""
    kind = "folder" if path.is_dir() else f"{path.suffix or 'suffix-less'} file"
    return UsageError(
        f"{path}: bench scores labelled files only (an .h5ad, .h5 or .loom path with"
        f" label_key=/--label-key), not a {kind}; read it with cm.pp.read, put its labels in"
        " obs and save it with write_h5ad, then bench that .h5ad"
    )


def _split_names(spec: str) -> list[str]:
    """Names split on commas, but an existing file whose name holds a comma kept whole (it was
    read as two unknown datasets, and no spelling could bench it)."""
    pieces, names, i = spec.split(","), [], 0
    while i < len(pieces):
        ends = range(len(pieces), i + 1, -1)  # the longest run of pieces that names a file
        j = next((j for j in ends if Path(",".join(pieces[i:j]).strip()).is_file()), i + 1)
        names.append(",".join(pieces[i:j]))
        i = j
    return names


def _refuse_keys_without_files(
    refs: list[DatasetRef], label_key: str | None, batch_key: str | None
) -> None:
    """A registry or synthetic dataset brings its own label and batch columns: keys given where
    no dataset is a file would be ignored, and the run scored against other labels than asked."""
    if any(r.kind == "file" for r in refs):
        return
    for parameter, key in (("label_key", label_key), ("batch_key", batch_key)):
        if key is not None:
            first = refs[0]
            own = f" its own {first.label_key!r}" if first.label_key else " its own labels"
            raise UsageError(
                f"{parameter}={key!r} names a column of a dataset file, but none of the datasets"
                f" is a file ({first.name} is scored against{own}); drop {parameter}= or give"
                " an .h5ad path"
            )


def check_synthetic_cells(n_cells: int, name: str, out_of_core: bool = False) -> None:
    """Refuse more synthetic cells than a 128 GB machine runs (`MAX_SYNTHETIC_CELLS` in memory,
    `MAX_OUT_OF_CORE_CELLS` out of core) before any is drawn: the generator would fill the
    memory or the disk first, and fail far into the run."""
    if out_of_core and n_cells > MAX_OUT_OF_CORE_CELLS:
        raise UsageError(
            f"{name}: {n_cells:,} synthetic cells are more than the {MAX_OUT_OF_CORE_CELLS:,} a"
            " run writes out of core (a file of about 58 GB); give fewer cells"
        )
    if not out_of_core and n_cells > MAX_SYNTHETIC_CELLS:
        need = cluster_estimate_mb(MAX_SYNTHETIC_CELLS) / 1024
        raise UsageError(
            f"{name}: {n_cells:,} synthetic cells are more than the {MAX_SYNTHETIC_CELLS:,} a run"
            f" holds in memory (about {need:.0f} GB); give fewer cells, or cluster up to"
            f" {MAX_OUT_OF_CORE_CELLS:,} out of core (`cellmodel bench --scale N --out-of-core`)"
        )


def _file_ref(path: Path, label_key: str | None, batch_key: str | None = None) -> DatasetRef:
    if not path.exists():
        raise GenekbError(f"dataset file {path} does not exist")
    if label_key is None:
        raise UsageError(f"{path} needs label_key=: the obs column with the reference labels")
    if batch_key is not None and batch_key == label_key:
        raise UsageError(f"batch_key={batch_key!r} is the label column; name a technical batch")
    _check_obs_columns(path, label_key, batch_key)
    return DatasetRef(
        path.stem, "file", path=str(path.resolve()), label_key=label_key, batch_key=batch_key
    )


def _check_obs_columns(path: Path, label_key: str, batch_key: str | None) -> None:
    """Check a file's cell columns, read without its matrix, before any run starts: the
    `label_key` column holds labels of two classes or more (`check_labels`), and the
    `batch_key` column batches that every method could correct for (each worker would fail
    on it alike, naming the column by the name it is given there)."""
    if path.suffix.lower() != ".h5ad":
        _check_columns(path, hdf5_cell_columns(path), partial(hdf5_cell_column, path), label_key,
                       batch_key)  # fmt: skip
        return
    try:
        backed = ad.read_h5ad(path, backed="r")
    except Exception as exc:  # h5py and anndata raise many kinds on foreign files
        raise unreadable(path, exc, "h5ad file") from None
    try:
        io.refuse_repeated_cells(backed.obs_names, path)  # what `io.read` would refuse, later
        obs = backed.obs
        _check_columns(path, list(obs.columns), obs.__getitem__, label_key, batch_key)
    finally:
        backed.file.close()


def _check_columns(
    path: Path,
    columns: list[str],
    column: Callable[[str], pd.Series],
    label_key: str,
    batch_key: str | None,
) -> None:
    for parameter, key in (("label_key", label_key), ("batch_key", batch_key)):
        if key is not None:
            check_obs_column(columns, key, parameter, f" of {path}")
    check_labels(column(label_key), label_key)
    if batch_key is not None:
        checked_batches(column(batch_key), batch_key, "leave out batch_key=")


def check_matrix_names(
    ref: DatasetRef, layer: str | None, gene_key: str | None, root: str | None = None
) -> None:
    """Refuse a dataset whose `layer` or `gene_key` is missing, or whose gene names repeat, before
    any run, as each method's process would refuse it, one by one: an .h5ad read from its names
    alone; a registry or synthetic dataset loaded (a small one for synthetic-N) only when
    `layer` or `gene_key` is given, as it loads with a fixed layout."""
    if ref.kind == "file" and ref.path is not None and Path(ref.path).suffix.lower() == ".h5ad":
        path = Path(ref.path)
        try:
            backed = ad.read_h5ad(path, backed="r")
        except Exception as exc:  # h5py and anndata raise many kinds on foreign files
            raise unreadable(path, exc, "h5ad file") from None
        try:
            _check_names(backed, layer, gene_key, str(path))
        finally:
            backed.file.close()
    elif ref.kind != "file" and (layer is not None or gene_key is not None):
        small = DatasetRef(ref.name, ref.kind, n_cells=SYNTHETIC_GROUPS * 3)
        adata = load_dataset(small if ref.kind == "synthetic" else ref, root)
        _check_names(adata, layer, gene_key, ref.name)


def _check_names(adata: ad.AnnData, layer: str | None, gene_key: str | None, name: str) -> None:
    try:
        var, source = matrix_names(adata, layer)
        io.gene_names(var, gene_key, source)
    except GenekbError as exc:
        raise GenekbError(f"{name}: {exc} (no method was run)") from None


def load_dataset(ref: DatasetRef, root: str | None) -> ad.AnnData:
    if ref.kind == "registry":
        return datasets.load(ref.name, cache_dir=datasets.default_cache_dir(root))
    if ref.kind == "synthetic":
        assert ref.n_cells is not None
        return synthetic_counts(ref.n_cells)
    assert ref.path is not None
    return io.read(ref.path)


def hide_labels(adata: ad.AnnData, batch_key: str | None = None) -> ad.AnnData:
    """The expression alone: X, layers, .raw and the gene table; no obs column (but the batch
    column, as `BATCH_COLUMN`), obsm, obsp or uns, and cells renamed cell0..cellN-1 (names can
    encode labels too)."""
    obs = pd.DataFrame(index=[f"cell{i}" for i in range(adata.n_obs)])
    if batch_key is not None:
        check_obs_column(adata.obs, batch_key, "batch_key")
        obs[BATCH_COLUMN] = pd.Categorical(adata.obs[batch_key].astype(str).to_numpy())
    blind = ad.AnnData(X=adata.X, obs=obs, var=adata.var.copy(), layers=dict(adata.layers.items()))
    if adata.raw is not None:
        blind.raw = ad.AnnData(X=adata.raw.X, obs=obs, var=adata.raw.var.copy())
    return blind


def reference_labels(adata: ad.AnnData, label_key: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Labels as strings, the mask of labelled cells, and k = the number of label classes."""
    check_obs_column(adata.obs, label_key, "label_key")
    column = adata.obs[label_key]
    mask = check_labels(column, label_key)
    labels = column.astype(str).to_numpy()
    return labels, mask, len(np.unique(labels[mask]))


def refuse_non_finite(ref: DatasetRef, layer: str | None) -> None:
    """Refuse a file whose matrix (`layer`, X by default) holds NaN or infinite values before any
    run: every method's process would fail on it alike, one by one. Reads the stored values a
    chunk at a time, from an .h5ad or the HDF5 layouts `formats.read_hdf5` reads; a matrix these
    cannot find is left to the runs' own checks, which name what is wrong."""
    if ref.kind != "file" or ref.path is None:
        return
    from cellmodel.chunked import h5  # the chunked package loads dask

    path = Path(ref.path)
    try:
        matrix: h5.MatrixRef | None = h5.pick(path, layer)
    except GenekbError:
        if path.suffix.lower() == ".h5ad" or layer not in (None, "X"):
            return
        matrix = None  # a loom, Cell Ranger or X/Y file: its one matrix is X
    try:
        f = h5.open_read(path)
    except GenekbError:
        return
    with f:
        values = _stored_values(f, path, matrix)
        if values is not None:
            _refuse_non_finite_values(values, path, matrix.source if matrix else "X")


def _stored_values(f: Any, path: Path, matrix: Any) -> Any:
    """The dataset of the stored values (a CSR matrix's non-zeros) of `matrix` (an .h5ad's,
    picked) or of the file's own layout; None where there is none to read."""
    if matrix is None:
        try:
            return hdf5_stored_values(f, path)
        except GenekbError:
            return None
    from cellmodel.chunked import h5  # the chunked package loads dask

    node = f[matrix.matrix]
    sparse = isinstance(node, h5.h5py_module().Group)  # CSR: its stored values alone
    return node["data"] if sparse else node


def _refuse_non_finite_values(values: Any, path: Path, source: str) -> None:
    """Read an HDF5 dataset a few MB at a time and refuse it at the first NaN or infinity."""
    if values.dtype.kind not in "fc":  # whole numbers are always finite
        return
    rows = max(1, FINITE_CHUNK // max(1, int(np.prod(values.shape[1:]))))
    for start in range(0, values.shape[0], rows):
        if not np.isfinite(values[start : start + rows]).all():
            raise GenekbError(
                f"{path}: the expression matrix ({source}) contains NaN or infinite values; fix"
                " or drop those entries first (no method was run)"
            )
