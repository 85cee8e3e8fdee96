"""The output .h5ad of an out-of-core run, through h5py: a byte-for-byte copy of the input
(checked unchanged), then its obsm arrays written block by block and its uns entries merged,
so only a block of rows is in memory. `chunked.h5` reads the input."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cellmodel.chunked.h5 import MatrixRef, check_unchanged, chunk_ranges, h5py_module


class ObsmWriter:
    """The output .h5ad (already a copy of the input) opened to add obsm arrays and uns entries."""

    def __init__(self, path: Path) -> None:
        self.file = h5py_module().File(str(path), "r+")
        if "obsm" not in self.file:
            group = self.file.create_group("obsm")
            group.attrs["encoding-type"] = "dict"
            group.attrs["encoding-version"] = "0.1.0"

    def __enter__(self) -> ObsmWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()

    def create(self, key: str, n: int, dim: int, chunk_rows: int) -> Any:
        """A float32 n × dim obsm dataset (replacing one of that name), written by row blocks."""
        obsm = self.file["obsm"]
        if key in obsm:
            del obsm[key]
        dataset = obsm.create_dataset(
            key, shape=(n, dim), dtype="float32", chunks=(max(1, min(chunk_rows, n)), dim)
        )
        dataset.attrs["encoding-type"] = "array"
        dataset.attrs["encoding-version"] = "0.2.0"
        return dataset

    def link(self, key: str, target: str) -> None:
        """obsm[key] as a second name of obsm[target] (no second copy on disk)."""
        obsm = self.file["obsm"]
        if key in obsm:
            del obsm[key]
        obsm[key] = obsm[target]

    def merge_uns(self, key: str, record: dict[str, Any]) -> None:
        """uns[key] updated with `record` (kept entries of an earlier run stay, as in memory)."""
        from anndata.io import read_elem, write_elem

        if "uns" not in self.file:
            write_elem(self.file, "uns", {})
        uns = self.file["uns"]
        merged = dict(read_elem(uns[key])) if key in uns else {}
        merged.update(record)
        if key in uns:
            del uns[key]
        write_elem(uns, key, merged)

    def forget_scanpy_results(self, columns: list[str]) -> list[str]:
        """Remove scanpy's results on obs `columns` from uns, as a run in memory removes them
        (`uns_record.forget_scanpy_results`): read only as far as the groupings they name."""
        from anndata.io import read_elem

        from cellmodel.uns_record import scanpy_results_on

        uns = self.file.get("uns")
        if uns is None:
            return []
        shallow: dict[str, Any] = {}
        for key, entry in uns.items():
            if not hasattr(entry, "keys"):  # a dataset: no scanpy result on groups
                shallow[key] = None
                continue
            named = {"report_json": True} if "report_json" in entry else {}
            for path, field in (("params/groupby", "params"), ("groups", "groups")):
                if path in entry and not hasattr(entry[path], "keys"):
                    value = read_elem(entry[path])
                    named[field] = {"groupby": value} if field == "params" else value
            shallow[key] = named
        gone = scanpy_results_on(shallow, columns)
        for key in gone:
            del uns[key]
        return gone


def copy_file(src: MatrixRef, dst: Path) -> None:
    """The input file copied byte for byte to `dst`, checked unchanged before and after: the
    copy carries the obs and var the passes read."""
    check_unchanged(src)
    shutil.copyfile(src.path, dst)
    check_unchanged(src)


COPY_SLACK = 4 << 20  # bytes of HDF5 metadata and uns written beside the new arrays


def copy_size(src: str | Path, added: int) -> int:
    """The bytes a copy of `src` with `added` bytes of new arrays needs: checked before writing
    (`genekb.fileio.check_room`), since HDF5 crashes cleaning up after a failed write."""
    return Path(src).stat().st_size + int(added) + COPY_SLACK


def iter_blocks(dataset: Any, n: int, chunk_rows: int) -> Iterator[tuple[int, int, np.ndarray]]:
    for start, stop in chunk_ranges(n, chunk_rows):
        yield start, stop, np.asarray(dataset[start:stop])
