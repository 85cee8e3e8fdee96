"""Reading the input of a run: a file `cellmodel.io.read` knows, or a registry dataset by name
(what `cellmodel CMD SOURCE` and `cm.pp.read` both take)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from genekb.errors import GenekbError, UsageError


def read_input(
    source: str | Path,
    root: str | Path | None = None,
    orientation: str = "auto",
    sep: str | None = None,
    role: str = "input",
) -> tuple[Any, str | None]:
    """AnnData from a path or a registry dataset name, and the dataset's label key (if any);
    `orientation` and `sep` read a CSV/TSV table (`cellmodel.tables.read_table`); `root` is
    the store root whose cache keeps downloaded datasets; `role` names the file in a refusal
    ("--reference file": a missing reference was refused as the "input")."""  # fmt: skip
    from cellmodel import datasets, io
    from cellmodel.datasets.rfiles import R_FILE_SUFFIXES, read_r_file
    from cellmodel.formats import HDF5_SUFFIXES
    from cellmodel.tables import TABLE_SUFFIXES

    if not isinstance(source, str | os.PathLike):
        raise UsageError(
            f"source must be a path or a dataset name, not {type(source).__name__}; for an"
            " AnnData in memory, skip reading"
        )
    text = str(source)
    path = Path(source)
    if path.is_file() and path.suffix.lower() in R_FILE_SUFFIXES:  # a Seurat object, or refused
        return read_r_file(path), None
    if path.exists() or text == "-":  # `-`: a CSV table on stdin
        return io.read(path, orientation=orientation, sep=sep), None  # type: ignore[arg-type]
    names = [d.name for d in datasets.list_datasets()]
    if text in names:
        adata = datasets.load(text, cache_dir=datasets.default_cache_dir(root))
        return adata, datasets.get(text).label_key
    # A name ending as the files `io.read` knows is a wrong path, not an unknown dataset.
    known = (".h5ad", ".mtx", ".gz", *HDF5_SUFFIXES, *TABLE_SUFFIXES, *R_FILE_SUFFIXES)
    if "/" in text or path.suffix.lower() in known:
        raise GenekbError(f"{role} {text} does not exist; check the path")
    raise GenekbError(f"{role} {text!r} is neither a file nor a dataset ({', '.join(names)})")
