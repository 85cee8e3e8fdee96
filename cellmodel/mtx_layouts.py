"""Matrix folders besides Cell Ranger's (`read_matrix_folder`), told apart by their files:

- kallisto|bustools (`kb count`): `cells_x_genes.mtx` with cells in rows, beside
  `cells_x_genes.barcodes.txt`, `cells_x_genes.genes.txt` (gene ids) and, from kb 0.27 on,
  `cells_x_genes.genes.names.txt` (symbols);
- alevin-fry (`alevin/`): `quants_mat.mtx` with cells in rows, beside `quants_mat_rows.txt`
  (barcodes) and `quants_mat_cols.txt` (genes);
- kallisto|bustools velocity output (`kb count --workflow lamanno` or `nac`): one matrix per
  layer (`spliced.mtx` with its own barcodes and genes files, or `cells_x_genes.spliced.mtx`,
  `.mature.mtx`, ... beside the shared ones): a folder reads as the layers summed per cell and
  gene (the total count; said in a `VelocityLayersWarning`), one layer's file as that layer;
- an AnnData zarr store (`.zarr` folder, read by anndata);
- a Cell Ranger or STARsolo folder (`cellmodel.mtx`), the default.

As for Cell Ranger's folder, var_names are the gene ids and the symbols go to
`var["gene_symbols"]`. A folder that holds none of these but a matrix folder below it (STARsolo's
`Solo.out/Gene` with `filtered/` and `raw/`, kb's output with `counts_unfiltered/`) is refused in
one line that names those folders. Salmon alevin's binary `quants_mat.gz` (written without
`--dumpMtx`) is refused in one line that says how to get a matrix market file instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellmodel.formats import reason
from cellmodel.mtx import check_declared, read_10x_mtx, read_mtx_matrix, read_names
from cellmodel.orientation import TableOrientationWarning
from genekb.errors import GenekbError, GenekbWarning, warn

# Layout name -> (matrix file, barcodes file, gene ids file, gene symbols file or None); the
# matrix has cells in rows.
CELLS_IN_ROWS: dict[str, tuple[str, str, str, str | None]] = {
    "kallisto|bustools": (
        "cells_x_genes.mtx",
        "cells_x_genes.barcodes.txt",
        "cells_x_genes.genes.txt",
        "cells_x_genes.genes.names.txt",
    ),
    "alevin-fry": ("quants_mat.mtx", "quants_mat_rows.txt", "quants_mat_cols.txt", None),
}
MATRIX_FILES = ("matrix.mtx", *(files[0] for files in CELLS_IN_ROWS.values()))
ZARR_MARKERS = (".zgroup", "zarr.json")  # zarr v2, v3
KB = "kallisto|bustools"
# kb's velocity layers (lamanno: spliced, unspliced; nac: mature, nascent, ambiguous) and the
# prefixes of their files (kb before 0.27 wrote `spliced.mtx`, later `cells_x_genes.spliced.mtx`).
VELOCITY_LAYERS = ("spliced", "unspliced", "mature", "nascent", "ambiguous")
VELOCITY_PREFIXES = ("cells_x_genes.", "")
ALEVIN_BINARY = "quants_mat.gz"


class VelocityLayersWarning(GenekbWarning):
    """kb velocity output read as one count matrix: which layers were summed (or the one read)."""


def read_matrix_folder(path: str | Path) -> ad.AnnData:
    """A matrix folder (or its matrix file) of Cell Ranger, STARsolo, kallisto|bustools or
    alevin-fry, or an AnnData zarr store, as cells × genes sparse float32."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if path.is_dir() and any((path / m).exists() for m in ZARR_MARKERS):
        return _read_zarr(path)
    _refuse_alevin_binary(path)
    layers = _velocity_layers(path)
    if layers:
        return _read_velocity(folder, layers, whole=path.is_dir())
    for layout, files in CELLS_IN_ROWS.items():
        matrix = _find(folder, files[0]) if path.is_dir() else path
        if matrix is not None and _name(matrix) == files[0]:
            return _read_cells_in_rows(matrix, layout, files)
    if path.is_dir() and _find(path, "matrix.mtx") is None:
        _refuse_parent_folder(path)
    return read_10x_mtx(path)


def _refuse_alevin_binary(path: Path) -> None:
    """Salmon alevin's binary matrix (no --dumpMtx): a format of its own, read by neither scipy
    nor anndata."""
    binary = path if path.name == ALEVIN_BINARY else path / ALEVIN_BINARY if path.is_dir() else None
    if binary is None or not binary.is_file() or _find(binary.parent, "quants_mat.mtx"):
        return
    raise GenekbError(
        f"{binary} is Salmon alevin's binary matrix, which cellmodel does not read; rerun alevin"
        " with --dumpMtx (it writes quants_mat.mtx.gz beside it) and pass that folder, or load"
        " it with pyroe/tximport and save it as .h5ad"
    )


def _velocity_layers(path: Path) -> list[tuple[Path, str]]:
    """kb velocity matrices at `path` (a folder: each layer found; a layer's file: that one),
    with the prefix of each layer's files; none for a folder with a plain count matrix."""
    if not path.is_dir():
        stem = _name(path).removesuffix(".mtx")
        layer = stem.removeprefix("cells_x_genes.")
        return [(path, stem)] if layer in VELOCITY_LAYERS else []
    if any(_find(path, name) for name in MATRIX_FILES):
        return []
    for prefix in VELOCITY_PREFIXES:
        found = [
            (_find(path, f"{prefix}{layer}.mtx"), f"{prefix}{layer}") for layer in VELOCITY_LAYERS
        ]
        layers = [(matrix, stem) for matrix, stem in found if matrix is not None]
        if layers:
            return layers
    return []


def _read_velocity(folder: Path, layers: list[tuple[Path, str]], whole: bool) -> ad.AnnData:
    """kb's velocity layers as one count matrix: each layer read with its own barcodes and genes
    files (or the shared `cells_x_genes.` ones), the layers summed over the union of the cells."""
    read = [_read_cells_in_rows(matrix, KB, _layer_files(folder, stem)) for matrix, stem in layers]
    names = " + ".join(stem.removeprefix("cells_x_genes.") for _, stem in layers)
    first = read[0]
    for (matrix, _), other in zip(layers[1:], read[1:], strict=True):
        if not other.var_names.equals(first.var_names):
            raise GenekbError(
                f"{matrix}: its genes differ from {layers[0][0].name}'s; copy kb's whole output"
                " folder again"
            )
    cells = pd.Index(pd.unique(np.concatenate([a.obs_names.to_numpy() for a in read])))
    X = sum((_on_cells(a, cells) for a in read[1:]), _on_cells(first, cells))
    what = (
        f"counts = {names}, summed per cell and gene"
        if len(read) > 1
        else f"the {names} counts only"
    )
    if not whole:
        what += "; pass the folder to sum every layer"
    warn(
        f"{folder}: kallisto|bustools velocity output read as {what}",
        VelocityLayersWarning,
    )
    return ad.AnnData(
        X=X.tocsr().astype(np.float32), obs=pd.DataFrame(index=cells), var=first.var.copy()
    )


def _layer_files(folder: Path, stem: str) -> tuple[str, str, str, str | None]:
    """A layer's (matrix, barcodes, gene ids, symbols) files: its own, else the shared ones."""
    shared = CELLS_IN_ROWS[KB]
    own = (f"{stem}.barcodes.txt", f"{stem}.genes.txt", f"{stem}.genes.names.txt")
    picked = [o if _find(folder, o) else s for o, s in zip(own, shared[1:], strict=True)]
    return (f"{stem}.mtx", picked[0], picked[1], picked[2])


def _on_cells(adata: ad.AnnData, cells: pd.Index) -> sp.csr_matrix:
    """`adata.X` with its rows placed at `cells` (rows of cells it lacks are zero)."""
    rows = cells.get_indexer(adata.obs_names)
    place = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, np.arange(len(rows)))),
        shape=(len(cells), len(rows)),
    )
    return place @ sp.csr_matrix(adata.X)


def _name(path: Path) -> str:
    return path.name.lower().removesuffix(".gz")


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.exists():
            return candidate
    return None


def _read_cells_in_rows(
    matrix_path: Path, layout: str, files: tuple[str, str, str, str | None]
) -> ad.AnnData:
    folder = matrix_path.parent
    found = {name: _find(folder, name) for name in files[1:] if name is not None}
    missing = [name for name in files[1:3] if found.get(name) is None]
    if missing:
        raise GenekbError(
            f"{folder}: a {layout} matrix ({files[0]}) without {', '.join(missing)}(.gz) beside it;"
            " copy the whole output folder"
        )
    barcodes = read_names(found[files[1]], "barcode")[0].to_numpy()
    ids = read_names(found[files[2]], "gene")[0].to_numpy()
    symbols_file = found.get(files[3]) if files[3] else None
    symbols = read_names(symbols_file, "gene")[0].to_numpy() if symbols_file else ids
    if len(symbols) != len(ids):
        raise GenekbError(
            f"{symbols_file} names {len(symbols):,} genes but {found[files[2]]} {len(ids):,};"
            " copy the output folder again"
        )
    if _usa_mode(ids):
        raise GenekbError(
            f"{found[files[2]]} names each gene three times (alevin-fry's USA mode: spliced,"
            " unspliced, ambiguous), which read as genes would count each molecule's gene thrice"
            " over; load it with pyroe's load_fry (output_format='scRNA') and save it as .h5ad"
        )
    check_declared(matrix_path, len(ids), len(barcodes))
    X = _cells_by_genes(read_mtx_matrix(matrix_path), len(barcodes), len(ids), matrix_path)
    var = pd.DataFrame({"gene_ids": ids, "gene_symbols": symbols}, index=pd.Index(ids, dtype=str))
    return ad.AnnData(X=X, obs=pd.DataFrame(index=pd.Index(barcodes, dtype=str)), var=var)


def _cells_by_genes(matrix: sp.csr_matrix, n_cells: int, n_genes: int, path: Path) -> sp.csr_matrix:
    """The matrix as its layout writes it (cells in rows), or turned with a warning where its
    rows match the genes instead."""
    if matrix.shape == (n_cells, n_genes):
        return matrix
    if matrix.shape == (n_genes, n_cells):
        warn(
            f"{path}: {n_genes} rows as there are genes, {n_cells} columns as there are"
            " barcodes: read with genes in rows",
            TableOrientationWarning,
        )
        return matrix.T.tocsr()
    raise GenekbError(
        f"{path}: matrix is {matrix.shape[0]:,} × {matrix.shape[1]:,} but there are"
        f" {n_cells:,} barcodes and {n_genes:,} genes"
    )


def _usa_mode(ids: Sequence[str]) -> bool:
    """Columns of alevin-fry's USA mode: the genes, then each again with a suffix ("-U", "-A")."""
    n = len(ids) // 3
    if n == 0 or len(ids) != 3 * n:
        return False
    genes = ids[:n]
    return all(
        str(again) != str(gene) and str(again).startswith(str(gene))
        for block in (ids[n : 2 * n], ids[2 * n :])
        for gene, again in zip(genes, block, strict=True)
    )


def _refuse_parent_folder(path: Path) -> None:
    """A folder above the matrix folders (STARsolo's Solo.out/Gene, kb's output folder, alevin-fry's
    output folder): name them rather than the files it lacks."""
    below = sorted(
        {
            matrix.parent
            for depth in ("*", "*/*")
            for name in (
                *MATRIX_FILES,
                "spliced.mtx",
                "cells_x_genes.spliced.mtx",
                "cells_x_genes.mature.mtx",
            )
            for matrix in [*path.glob(f"{depth}/{name}"), *path.glob(f"{depth}/{name}.gz")]
        }
    )
    if not below:
        return
    if len(below) == 1:
        raise GenekbError(f"{path} holds a matrix folder, not a matrix: pass {below[0]}")
    named = ", ".join(str(p.relative_to(path)) for p in below[:4])
    filtered = [p for p in below if p.name.startswith("filtered")]
    pick = f" (the called cells: {filtered[0]})" if filtered else ""
    raise GenekbError(f"{path} holds matrix folders, not a matrix: {named}; pass one{pick}")


def _read_zarr(path: Path) -> ad.AnnData:
    try:
        return ad.read_zarr(path)
    except Exception as exc:  # zarr and anndata raise many kinds on a damaged store
        raise GenekbError(
            f"{path} is not a readable AnnData zarr store ({reason(exc)}); write it again"
        ) from None
