"""Where the in-memory paths end: the graph-based `cluster` holds every cell (expression, kNN
graph, encoder activations) in memory at once, so its memory grows with the cells.

The line below is fitted on the scale section of docs/benchmarks.md (`cellmodel bench --scale
10000,30000,100000`: peak RSS of `cellmodel` per size); past the largest measured size a run
gets a notice that points to the chunked paths, and a run whose estimate exceeds the machine's
memory is refused before it reads the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from cellmodel.formats import HDF5_SUFFIXES, hdf5_cell_count
from cellmodel.mtx import mtx_cell_count
from genekb.errors import GenekbError, GenekbWarning, warn

# Peak RSS of cluster ≈ BASE_MB + MB_PER_CELL × cells (10k: 1,351 MB, 100k: 4,938 MB).
BASE_MB = 950.0
MB_PER_CELL = 0.040
MEASURED = "100,000 cells took 4.9 GB and 132 s on 2 cores (docs/benchmarks.md, Scale)"
NOTICE_CELLS = 100_000
AUTO_CHUNK_SIZE = 20_000  # chunked.embed's default, the chunk of an automatic out-of-core run
CHUNKED_PATHS = (
    "cellmodel cluster --chunk-size 20000 -o OUT.h5ad (out of core), or cellmodel embed"
    " --chunk-size 20000 -o OUT.h5ad (weighted semantic view)"
)


def n_obs(path: str | Path) -> int | None:
    """Cells of an .h5ad file, read from its obs index alone (None if that cannot be read)."""
    try:
        return hdf5_cell_count(path)
    except GenekbError:
        return None


def n_cells(path: str | Path) -> int | None:
    """Cells of an input, read without its matrix where its format tells them cheaply: an HDF5
    file's shapes (.h5ad's obs index, loom, Cell Ranger .h5, X/Y) or a 10x matrix folder's
    barcodes beside the matrix's size line; None for the others (tables, other folders, a
    registry name) and where that cannot be read (the load then says why)."""
    path = Path(path)
    name = path.name.lower().removesuffix(".gz")
    if path.is_file() and name.endswith((".h5ad", *HDF5_SUFFIXES)):
        return n_obs(path)
    if path.is_dir() or (path.is_file() and name.endswith(".mtx")):
        return mtx_cell_count(path)
    return None


def _ram_mb() -> float | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def cluster_estimate_mb(n_cells: int) -> float:
    return BASE_MB + MB_PER_CELL * n_cells


def cluster_plan(path: str | Path, ram_mb: float | None = None) -> tuple[bool, str | None]:
    """(whether to cluster out of core, a notice): out of core, with a notice saying so, when
    the in-memory estimate exceeds the machine's memory (`ram_mb`, default: physical RAM)."""
    try:
        return False, cluster_notice(path, ram_mb)
    except GenekbError:
        n = n_obs(path) or 0
        ram = _ram_mb() if ram_mb is None else ram_mb
        return True, (
            f"note: {n:,} cells need about {cluster_estimate_mb(n) / 1024:.0f} GB in memory"
            f" (this machine has {(ram or 0) / 1024:.0f} GB); clustering out of core instead"
            f" (--chunk-size {AUTO_CHUNK_SIZE})"
        )


def cluster_notice(path: str | Path, ram_mb: float | None = None) -> str | None:
    """A notice for a file past the measured in-memory size (None below it); GenekbError when the
    estimated peak exceeds the machine's memory (`ram_mb`, default: physical RAM)."""
    n = n_obs(path)
    if n is None or n <= NOTICE_CELLS:
        return None
    need = cluster_estimate_mb(n)
    ram = _ram_mb() if ram_mb is None else ram_mb
    if ram is not None and need > ram:
        raise GenekbError(
            f"cluster holds all {n:,} cells in memory (about {need / 1024:.0f} GB estimated;"
            f" this machine has {ram / 1024:.0f} GB); past that use {CHUNKED_PATHS}"
        )
    return (
        f"note: cluster holds all {n:,} cells in memory (about {need / 1024:.1f} GB estimated;"
        f" measured: {MEASURED}); for larger data use {CHUNKED_PATHS}"
    )


# Chunks past which the per-task cost rules the run: each chunk is a Dask task in each of four
# passes (~4 ms apiece on 2 cores, measured with chunk size 1 on 300 cells), so a chunk size of
# 1 on 10^6 cells would spend hours on task overhead alone, without a word.
MANY_CHUNKS = 10_000


class SmallChunksWarning(GenekbWarning):
    """A chunk size that cuts the file into more than `MANY_CHUNKS` chunks."""


def warn_small_chunks(n_cells: int, chunk_size: int, n_chunks: int) -> None:
    if n_chunks > MANY_CHUNKS:
        warn(
            f"chunk_size={chunk_size} cuts the {n_cells:,} cells into {n_chunks:,} chunks, a"
            f" Dask task each per pass: the overhead alone may take hours; a chunk of"
            f" {AUTO_CHUNK_SIZE:,} cells is the default",
            SmallChunksWarning,
        )
