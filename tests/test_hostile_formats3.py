"""Small replicas of what other tools write (Cell Ranger with antibody tags, CellBender,
kallisto|bustools, alevin-fry, STARsolo, Seurat's h5ad, zarr stores): read the right matrix the
right way round, or refused in one line that says what to do."""

from __future__ import annotations

import gzip
import warnings
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


def _kb(folder: Path, names: bool = True) -> Path:
    """kallisto|bustools' counts_unfiltered: cells in rows, gene ids with their versions."""
    folder.mkdir(parents=True)
    (folder / "cells_x_genes.mtx").write_text(_mtx(COUNTS))
    (folder / "cells_x_genes.barcodes.txt").write_text("".join(f"{b[:-2]}\n" for b in BARCODES))
    (folder / "cells_x_genes.genes.txt").write_text("".join(f"{i}.3\n" for i in IDS))
    if names:
        (folder / "cells_x_genes.genes.names.txt").write_text("".join(f"{g}\n" for g in GENES))
    return folder


def _alevin_fry(folder: Path) -> Path:
    """alevin-fry's alevin/ folder: quants_mat.mtx (cells in rows, real), rows and columns."""
    folder.mkdir(parents=True)
    (folder / "quants_mat.mtx").write_text(_mtx(COUNTS).replace("integer", "real"))
    (folder / "quants_mat_rows.txt").write_text("".join(f"{b[:-2]}\n" for b in BARCODES))
    (folder / "quants_mat_cols.txt").write_text("".join(f"{i}\n" for i in IDS))
    return folder


@pytest.mark.parametrize("tool", ["kb", "kb-without-names", "alevin-fry"])
@pytest.mark.parametrize("given", ["folder", "matrix file"])
def test_kallisto_bustools_and_alevin_fry_folders_are_read_cells_in_rows(tmp_path, tool, given):
    # Both were refused as "not a 10x matrix folder", and renaming their files as the message
    # said would have read them only through the guess that turns a cells-in-rows matrix.
    if tool == "alevin-fry":
        folder, matrix = _alevin_fry(tmp_path / "fry" / "alevin"), "quants_mat.mtx"
    else:
        folder, matrix = _kb(tmp_path / "counts_unfiltered", tool == "kb"), "cells_x_genes.mtx"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the layout says cells are rows: nothing to warn of
        adata = cio.read(folder if given == "folder" else folder / matrix)
    assert adata.shape == (N_CELLS, N_GENES) and adata.obs_names[0] == BARCODES[0][:-2]
    np.testing.assert_array_equal(adata.X.toarray(), COUNTS)
    assert adata.var_names[0].startswith(IDS[0])
    assert list(adata.var["gene_symbols"]) == (GENES if tool == "kb" else list(adata.var_names))


def test_a_kb_matrix_without_its_barcodes_says_what_is_missing(tmp_path):
    folder = _kb(tmp_path / "counts_unfiltered")
    (folder / "cells_x_genes.barcodes.txt").unlink()
    line = one_line_error(run_cellmodel("cluster", str(folder), "--no-semantic", "-k", "2"))
    assert "kallisto|bustools matrix (cells_x_genes.mtx) without cells_x_genes.barcodes.txt" in line


@pytest.mark.parametrize(
    "given, says",
    [
        (
            "Solo.out/Gene",
            "holds matrix folders, not a matrix: filtered, raw; pass one (the called",
        ),
        ("kb", "holds a matrix folder, not a matrix: pass "),
    ],
)
def test_a_folder_above_the_matrix_folders_names_them(tmp_path, given, says):
    # STARsolo's Solo.out/Gene holds filtered/ and raw/: the error listed three files it lacks.
    for sub in ("filtered", "raw"):
        solo = tmp_path / "Solo.out" / "Gene" / sub
        solo.mkdir(parents=True)
        (solo / "matrix.mtx").write_text(_mtx(COUNTS.T))
        (solo / "features.tsv").write_text(_features_v3(["Gene Expression"] * N_GENES))
        (solo / "barcodes.tsv").write_text("".join(f"{b}\n" for b in BARCODES))
    _kb(tmp_path / "kb" / "counts_unfiltered")
    line = one_line_error(run_cellmodel("cluster", str(tmp_path / given), "--no-semantic"))
    assert says in line
    assert cio.read(tmp_path / "Solo.out" / "Gene" / "filtered").shape == (N_CELLS, N_GENES)


def test_an_anndata_zarr_store_is_read_with_its_groups(tmp_path):
    # A zarr store is a folder: it was refused as "not a 10x matrix folder".
    import anndata as ad
    import pandas as pd

    obs = pd.DataFrame({"group": pd.Categorical(list("aabbb"))}, index=BARCODES)
    written = ad.AnnData(X=sp.csr_matrix(COUNTS), obs=obs, var=pd.DataFrame(index=GENES))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # anndata's note on the zarr format's version
        written.write_zarr(tmp_path / "cells.zarr")
    adata = cio.read(tmp_path / "cells.zarr")
    assert list(adata.var_names) == GENES and list(adata.obs["group"]) == list("aabbb")
    np.testing.assert_array_equal(adata.X.toarray(), COUNTS)


def test_alevin_fry_usa_mode_is_refused_not_read_as_three_times_the_genes(tmp_path):
    # Spliced, unspliced and ambiguous counts of each gene were read as three genes each.
    folder = _alevin_fry(tmp_path / "alevin")
    usa = np.hstack([COUNTS, COUNTS, COUNTS])
    (folder / "quants_mat.mtx").write_text(_mtx(usa))
    names = [*IDS, *(f"{i}-U" for i in IDS), *(f"{i}-A" for i in IDS)]
    (folder / "quants_mat_cols.txt").write_text("".join(f"{n}\n" for n in names))
    line = one_line_error(run_cellmodel("cluster", str(folder), "--no-semantic", "-k", "2"))
    assert "alevin-fry's USA mode" in line and "load_fry" in line


def _bundled_human():
    from genekb.sources import bundled

    return bundled.load_bundled("human").table.to_pandas()


def test_seurat_names_with_dots_for_hyphens_match_their_genes():
    # R's make.names (a Seurat object converted to .h5ad) writes HLA-DRA as HLA.DRA: the MHC
    # class II genes, markers of B cells and monocytes, went unmatched without a word.
    from cellmodel.knowledge.genes import match_genes

    names = ["HLA.DRA", "MT.CO1", "NKX2.1", "CD3E", "CD74", "CD74.1", "XIST"]
    match = match_genes(names, _bundled_human(), store_taxon="human", data_taxon="human")
    ids = dict(zip(names, match.gene_ids.tolist(), strict=True))
    assert ids["HLA.DRA"] == 3122 and ids["NKX2.1"] == 7080 and ids["MT.CO1"] > 0
    assert ids["CD74.1"] == ids["CD74"]  # make.unique's second CD74 is CD74
    assert match.routes[0] == match.routes[1] == "hyphens-restored"
    # Where the names keep their hyphens, a dot is a name's own: nothing is rewritten.
    kept = match_genes([*names, "HLA-DRB1"], _bundled_human(), store_taxon="human")
    assert kept.gene_ids[0] == -1 and "hyphens-restored" not in kept.report.by_route


def test_seurat_scaled_x_names_the_layer_that_holds_the_counts(tmp_path):
    import anndata as ad

    scaled = (COUNTS - COUNTS.mean(0)) / (COUNTS.std(0) + 1)
    adata = ad.AnnData(X=scaled, var=dict(gene=GENES))
    adata.layers["counts"] = sp.csr_matrix(COUNTS)
    adata.write_h5ad(tmp_path / "seurat.h5ad")
    line = one_line_error(run_cellmodel("cluster", str(tmp_path / "seurat.h5ad"), "--no-semantic"))
    assert "negative values" in line and "(layers present: counts)" in line
