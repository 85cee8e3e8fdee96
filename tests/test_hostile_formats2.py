"""Input files a user brings that are realistic but odd (GEO's prefixed 10x files, a matrix.mtx
declared symmetric, a file under another format's suffix, a table written with spaces after its
separators): read as meant, or refused in one line that says what is wrong and what to do."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from cellmodel import io as cio
from cellmodel.mtx import read_10x_mtx
from genekb.errors import GenekbError
from tests.conftest import one_line_error, run_cellmodel

N_GENES, N_CELLS = 8, 6
ENTRIES = [f"{i + 1} {j + 1} {(i * j) % 5 + 1}" for i in range(N_GENES) for j in range(N_CELLS)]


def _tenx(
    folder: Path,
    header: str = "%%MatrixMarket matrix coordinate integer general",
    entries: list[str] = ENTRIES,
    prefix: str = "",
) -> Path:
    """A 10x folder (8 genes × 6 cells, the three files named with `prefix`, gzipped when it
    is given, as GEO serves them)."""
    folder.mkdir(exist_ok=True)
    files = {
        "matrix.mtx": f"{header}\n{N_GENES} {N_CELLS} {len(entries)}\n"
        + "".join(f"{e}\n" for e in entries),
        "features.tsv": "".join(f"ENSG{i:011d}\tG{i}\tGene Expression\n" for i in range(N_GENES)),
        "barcodes.tsv": "".join(f"c{j}\n" for j in range(N_CELLS)),
    }
    for name, text in files.items():
        if prefix:
            (folder / f"{prefix}{name}.gz").write_bytes(gzip.compress(text.encode()))
        else:
            (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("symmetry", ["symmetric", "skew-symmetric"])
def test_a_matrix_mtx_declared_symmetric_is_refused_not_mirrored(tmp_path, symmetry):
    # scipy mirrored "3 2 4" to gene 2 of cell 3 too: counts no cell had, in silence.
    header = f"%%MatrixMarket matrix coordinate integer {symmetry}"
    folder = _tenx(tmp_path / "tenx", header, ["1 1 2", "3 2 4"])
    with pytest.raises(GenekbError, match=f"declares a {symmetry} matrix, which would mirror"):
        read_10x_mtx(folder)


def test_geo_prefixed_10x_files_are_read_by_their_matrix_file(tmp_path):
    folder = _tenx(tmp_path / "GSE1", prefix="GSM1_")
    adata = cio.read(folder / "GSM1_matrix.mtx.gz")
    assert adata.shape == (N_CELLS, N_GENES) and adata.obs_names[0] == "c0"
    assert adata.X.sum() == sum(int(e.split()[2]) for e in ENTRIES)
    line = one_line_error(run_cellmodel("cluster", str(folder), "--no-semantic", "-k", "2"))
    assert "missing matrix.mtx" in line and "it holds GSM1_matrix.mtx.gz: pass that file" in line


def test_a_matrix_file_is_read_itself_not_the_folders_matrix_mtx(tmp_path):
    folder = _tenx(tmp_path / "tenx")
    (folder / "filtered.mtx").write_text("%%MatrixMarket matrix coordinate integer general\n")
    with pytest.raises(GenekbError, match="filtered.mtx: a 10x matrix file is named matrix.mtx"):
        cio.read(folder / "filtered.mtx")  # read the folder's matrix.mtx in silence
    np.testing.assert_array_equal(
        cio.read(folder / "matrix.mtx").X.toarray(), cio.read(folder).X.toarray()
    )
