"""A new user's first hour with their own files (h14): a 10x folder, a genes × cells CSV, a
Seurat-exported .h5ad and a loom, through the README's command line and `cm.*`."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellmodel.bench.data import parse_datasets
from genekb.errors import UsageError


@pytest.mark.parametrize("name", ["cells10x", "counts.csv", "matrix.mtx.gz"])
def test_bench_names_why_it_cannot_read_an_existing_file(tmp_path: Path, name: str) -> None:
    # `bench --datasets my10x --label-key t` said "unknown dataset 'my10x'; choose from ...",
    # as though the folder were a misspelt registry name, though cluster/classify read it.
    path = tmp_path / name
    if "." in name:
        path.write_text("x")
    else:
        path.mkdir()
    with pytest.raises(UsageError) as err:
        parse_datasets(str(path), label_key="cell_type")
    message = str(err.value)
    assert "unknown dataset" not in message and str(path) in message
    assert "labelled files only" in message and "write_h5ad" in message and "\n" not in message
