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
    with pytest.raises(GenekbError, match=r"filtered\.mtx: a 10x matrix file is named matrix\.mtx"):
        cio.read(folder / "filtered.mtx")  # read the folder's matrix.mtx in silence
    np.testing.assert_array_equal(
        cio.read(folder / "matrix.mtx").X.toarray(), cio.read(folder).X.toarray()
    )


TABLE = ",CD3E,CD4,LYZ\nc0,1,0,2\nc1,0,3,1\nc2,2,1,0\nc3,0,0,4\n"
TSV = TABLE.replace(",", "\t")


MTX_HEADER = "%%MatrixMarket matrix coordinate integer general\n"


@pytest.mark.parametrize(
    ("name", "text", "chunked", "says"),
    [
        pytest.param("cells.h5ad", TABLE, False, "(its first line: ',CD3E,CD4,LYZ'), not HDF5: if"
                     " it is a table, name it .csv", id="table.h5ad"),
        pytest.param("cells.h5ad", TABLE, True, "is a text file", id="table.h5ad-out-of-core"),
        pytest.param("cells.loom", TSV, False, "is a text file", id="tsv.loom"),
        pytest.param("cells.h5ad", MTX_HEADER, False, "name it matrix.mtx", id="mtx.h5ad"),
    ],
)  # fmt: skip
def test_text_under_an_hdf5_suffix_is_told_to_be_renamed(tmp_path, name, text, chunked, says):
    # Was "not a readable h5ad file (file signature not found); write or copy it again".
    (tmp_path / name).write_text(text)
    out = tmp_path / "out.h5ad"
    flags = ["--chunk-size", "10"] if chunked else []
    result = run_cellmodel("cluster", str(tmp_path / name), "--no-semantic", "-o", str(out), *flags)
    assert says in one_line_error(result)
    assert not out.exists()


def test_an_h5ad_under_a_table_suffix_is_not_called_a_pipe(tmp_path):
    import anndata as ad

    ad.AnnData(np.ones((4, 3), np.float32)).write_h5ad(tmp_path / "cells.h5ad")
    (tmp_path / "cells.csv").write_bytes((tmp_path / "cells.h5ad").read_bytes())
    with pytest.raises(GenekbError, match=r"is an HDF5 file \(.h5ad, .h5 or .loom\), not a text"):
        cio.read(tmp_path / "cells.csv")  # was "cannot be read from a pipe or stdin"


def test_an_h5ad_without_x_names_the_layer_flag_out_of_core_as_in_memory(tmp_path):
    import anndata as ad
    import scipy.sparse as sp

    counts = sp.csr_matrix(np.random.default_rng(0).poisson(2.0, (20, 12)).astype(np.float32))
    adata = ad.AnnData(counts)
    adata.layers["counts"], adata.X = counts, None
    adata.write_h5ad(tmp_path / "cells.h5ad")
    out = tmp_path / "out.h5ad"
    for flags in ([], ["--chunk-size", "10"]):  # out of core: "layer 'X' is not in", no flag
        result = run_cellmodel(
            "cluster", str(tmp_path / "cells.h5ad"), "--no-semantic", "-o", str(out), *flags
        )
        assert "pass the layer that holds the expression with --layer (layers present: counts)" in (
            one_line_error(result)
        )


def test_a_table_written_with_a_space_after_each_comma_names_its_genes_without_it(tmp_path):
    genes = ["CD3E", "CD4", "CD8A", "MS4A1", "CD14", "LYZ", "NKG7", "GNLY"]
    barcodes = [f"AAACCTGAGAAACC{s}-1" for s in ("AA", "AC", "AG", "AT", "CA")]
    counts = np.random.default_rng(0).poisson(2.0, (len(genes), len(barcodes)))
    lines = [", ".join([g, *map(str, c)]) for g, c in zip(genes, counts, strict=True)]
    rows = "".join(f"{line}\n" for line in lines)
    path = tmp_path / "counts.csv"
    path.write_text("gene, " + ", ".join(barcodes) + "\n" + rows)  # genes in rows, as GEO's
    with pytest.warns(UserWarning, match="read with genes in rows"):
        adata = cio.read(path)
    assert list(adata.var_names) == genes and list(adata.obs_names) == barcodes  # not " AAAC…"
    np.testing.assert_array_equal(np.asarray(adata.X), counts.T)  # dense: mostly non-zero


def test_bench_takes_an_upper_case_suffix_as_cluster_does(tmp_path):
    import anndata as ad
    import pandas as pd

    from cellmodel.bench.data import parse_datasets

    obs = pd.DataFrame({"kind": ["a", "b"] * 5}, index=[f"c{i}" for i in range(10)])
    ad.AnnData(np.ones((10, 4), np.float32), obs=obs).write_h5ad(tmp_path / "CELLS.H5AD")
    ref = parse_datasets(str(tmp_path / "CELLS.H5AD"), label_key="kind")[0]  # "unknown dataset"
    assert ref.kind == "file" and ref.label_key == "kind"
    obs["kind"] = "a"
    ad.AnnData(np.ones((10, 4), np.float32), obs=obs).write_h5ad(tmp_path / "ONE.H5AD")
    with pytest.raises(GenekbError, match=r"'kind' holds a single class"):  # checked before runs
        parse_datasets(str(tmp_path / "ONE.H5AD"), label_key="kind")


def test_a_loom_without_a_gene_attribute_keeps_its_other_gene_names_for_gene_key(tmp_path):
    import h5py

    path = tmp_path / "cells.loom"
    with h5py.File(path, "w") as f:
        f["matrix"] = np.random.default_rng(0).poisson(2.0, (N_GENES, 40)).astype(np.float32)
        rows = f.create_group("row_attrs")
        rows["Accession"] = np.array([f"ENSG{i:011d}".encode() for i in range(N_GENES)])
        rows["length"] = np.where(np.arange(N_GENES) == 3, np.nan, 1.5)  # NaN: missing, no text
        rows["xy"] = np.ones((N_GENES, 2))  # two values per gene: no column
        f.create_group("col_attrs")["CellID"] = np.array([f"c{j}".encode() for j in range(40)])
    adata = cio.read(path)  # the Accession ids were dropped: g0…g7, and nothing for --gene-key
    assert list(adata.var.columns) == ["Accession", "length"] and adata.var_names[0] == "g0"
    assert adata.var["length"].isna().sum() == 1
    assert cio.expression(adata, gene_key="Accession").genes[0] == "ENSG00000000000"
    out = tmp_path / "out.h5ad"
    flags = ["--no-semantic", "-k", "2", "--gene-key", "Accession", "-o", str(out)]
    assert run_cellmodel("cluster", str(path), *flags).exit_code == 0 and out.exists()
