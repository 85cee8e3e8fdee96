"""Small replicas of what other tools write (Cell Ranger with antibody tags, CellBender,
kallisto|bustools, alevin-fry, STARsolo, Seurat's h5ad, zarr stores): read the right matrix the
right way round, or refused in one line that says what to do."""

from __future__ import annotations

import gzip
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse as sp

from cellmodel import io as cio
from cellmodel.formats import FeaturesLeftOutWarning
from genekb.errors import GenekbError
from tests.conftest import one_line_error, run_cellmodel

N_GENES, N_CELLS = 7, 5
GENES = ["CD3E", "MS4A1", "LYZ", "NKG7", "GNLY", "HLA-DRA", "CD14"]
IDS = [f"ENSG{i:011d}" for i in range(N_GENES)]
BARCODES = [f"AAACCTGAGAAACC{pair}-1" for pair in ("AA", "CC", "GG", "TT", "AC")]
# cells × genes counts; cell j holds gene i (j + i) % 4 times
COUNTS = np.array([[(j + i) % 4 for i in range(N_GENES)] for j in range(N_CELLS)], dtype=float)
TAGS = np.full((N_CELLS, 2), 300.0)  # antibody tags: far more counts than any gene


def _features_v3(types: list[str]) -> str:
    names = [*GENES, "CD3_TotalSeqB", "CD19_TotalSeqB"][: len(types)]
    ids = [*IDS, "CD3", "CD19"][: len(types)]
    return "".join(f"{i}\t{n}\t{t}\n" for i, n, t in zip(ids, names, types, strict=True))


def _mtx(genes_by_cells: np.ndarray) -> str:
    rows, cols = np.nonzero(genes_by_cells)
    values = genes_by_cells[rows, cols].astype(int)
    lines = [f"{r + 1} {c + 1} {v}" for r, c, v in zip(rows, cols, values, strict=True)]
    shape = f"{genes_by_cells.shape[0]} {genes_by_cells.shape[1]} {len(lines)}"
    return "%%MatrixMarket matrix coordinate integer general\n" + "\n".join([shape, *lines]) + "\n"


def _write_gz(path: Path, text: str) -> None:
    path.write_bytes(gzip.compress(text.encode()))


def _cell_ranger_h5(path: Path, types: list[str], extra: bool = False) -> Path:
    """Cell Ranger's v3 .h5 (CellBender's output when `extra`: the same layout beside its own
    latents and metadata)."""
    matrix = sp.csc_matrix(np.hstack([COUNTS, TAGS])[:, : len(types)].T)
    with h5py.File(path, "w") as f:
        group = f.create_group("matrix")
        group["data"], group["indices"] = matrix.data, matrix.indices
        group["indptr"] = matrix.indptr
        group["shape"] = np.array(matrix.shape, dtype=np.int32)
        group["barcodes"] = np.array(BARCODES, dtype="S")
        features = group.create_group("features")
        features["id"] = np.array([*IDS, "CD3", "CD19"][: len(types)], dtype="S")
        features["name"] = np.array([*GENES, "CD3_TotalSeqB", "CD19_TotalSeqB"][: len(types)], "S")
        features["feature_type"] = np.array(types, dtype="S")
        if extra:
            f["droplet_latents/cell_probability"] = np.ones(N_CELLS)
            f["global_latents/ambient_expression"] = np.zeros(len(types))
            f["metadata/barcodes_analyzed"] = np.array(BARCODES, dtype="S")
    return path


WITH_TAGS = ["Gene Expression"] * N_GENES + ["Antibody Capture"] * 2


@pytest.mark.parametrize("form", ["folder", "h5", "cellbender"])
def test_antibody_tags_beside_genes_are_left_out_and_the_user_told(tmp_path, form):
    # The tags were dropped without a word: a user expecting CITE-seq proteins saw none.
    if form == "folder":
        path = tmp_path / "filtered_feature_bc_matrix"
        path.mkdir()
        _write_gz(path / "matrix.mtx.gz", _mtx(np.hstack([COUNTS, TAGS]).T))
        _write_gz(path / "features.tsv.gz", _features_v3(WITH_TAGS))
        _write_gz(path / "barcodes.tsv.gz", "".join(f"{b}\n" for b in BARCODES))
    else:
        path = _cell_ranger_h5(tmp_path / "out.h5", WITH_TAGS, extra=form == "cellbender")
    with pytest.warns(FeaturesLeftOutWarning, match=r"2 features .*\(Antibody Capture: 2\)"):
        adata = cio.read(path)
    assert adata.shape == (N_CELLS, N_GENES) and list(adata.var["gene_symbols"]) == GENES
    np.testing.assert_array_equal(adata.X.toarray(), COUNTS)


def test_a_matrix_of_antibody_tags_only_is_refused_not_clustered_as_genes(tmp_path):
    path = _cell_ranger_h5(tmp_path / "adt.h5", ["Antibody Capture"] * 2)
    with pytest.raises(GenekbError, match="no 'Gene Expression' features, only Antibody Capture"):
        cio.read(path)
    line = one_line_error(run_cellmodel("cluster", str(path), "--no-semantic", "-k", "2"))
    assert "only Antibody Capture: 2" in line
