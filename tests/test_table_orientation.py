"""Which way a CSV/TSV table runs (`cellmodel.orientation`): genes in rows where its names say
so, with one warning; `--orientation` and `--sep` on the commands that read tables."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cellmodel.io import read
from cellmodel.orientation import TableOrientationWarning, barcode_share, genes_in_rows
from cellmodel.tables import read_table
from genekb.errors import GenekbError, UsageError
from tests.conftest import FAST_FIT, blobs, one_line_error
from tests.conftest import run_cellmodel as run

SYMBOLS = [
    "CD3E", "CD3D", "CD19", "MS4A1", "CD79A", "LYZ", "CD14", "FCGR3A", "NKG7", "GNLY", "PPBP",
    "HBB", "IL7R", "CCR7", "S100A8", "S100A9", "CST3", "FCER1A", "GZMB", "CD8A",
]  # fmt: skip
BARCODES = [f"{''.join(np.random.default_rng(i).choice(list('ACGT'), 16))}-1" for i in range(30)]


def _table(path: Path, rows: list[str], columns: list[str], sep: str = ",") -> Path:
    counts = np.random.default_rng(0).poisson(2.0, (len(rows), len(columns)))
    pd.DataFrame(counts, index=rows, columns=columns).to_csv(path, sep=sep)
    return path


def _read(path: Path, **keywords: str) -> tuple[tuple[int, int], list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        adata = read_table(path, **keywords)  # type: ignore[arg-type]
    turned = [str(w.message) for w in caught if issubclass(w.category, TableOrientationWarning)]
    return adata.shape, turned


def test_the_names_say_which_way_a_table_runs(tmp_path):
    cells = [f"c{i}" for i in range(30)]
    shape, turned = _read(_table(tmp_path / "genes_rows.csv", SYMBOLS, cells))
    assert shape == (30, 20) and len(turned) == 1
    assert "its first column names genes" in turned[0] and "30 cells × 20 genes" in turned[0]
    assert "orientation=cells-by-genes" in turned[0]
    # Cells in rows (genes in the header) stay as written, without a word.
    assert _read(_table(tmp_path / "cells_rows.csv", cells, SYMBOLS)) == ((30, 20), [])
    # Barcodes in the header and unnamed genes (feature numbers) in rows: genes in rows.
    unnamed = [f"g{i}" for i in range(20)]
    shape, turned = _read(_table(tmp_path / "barcodes.csv", unnamed, BARCODES))
    assert shape == (30, 20) and "its header names cell barcodes" in turned[0]
    # Plate wells (A1..H12) resolve as genes at about half (C3, F2, ...): the side that names
    # genes clearly more wins, whichever it is.
    wells = [f"{r}{c}" for r in "ABCDEFGH" for c in range(1, 13)]
    many = [*SYMBOLS, "ACTB", "GAPDH", "MALAT1", "B2M", "TMSB4X", "EEF1A1", "FTL", "FTH1"]
    assert _read(_table(tmp_path / "w1.csv", many, wells))[0] == (96, 28)
    assert _read(_table(tmp_path / "w2.csv", wells, many)) == ((96, 28), [])
    # Nothing named either way: cells in rows, as before.
    assert _read(_table(tmp_path / "plain.csv", cells, unnamed)) == ((30, 20), [])


def test_a_given_orientation_is_obeyed(tmp_path):
    path = _table(tmp_path / "genes_rows.csv", SYMBOLS, [f"c{i}" for i in range(30)])
    assert _read(path, orientation="cells-by-genes") == ((20, 30), [])
    assert _read(path, orientation="genes-by-cells") == ((30, 20), [])
    with pytest.raises(UsageError, match="unknown orientation 'sideways'"):
        read_table(path, orientation="sideways")  # type: ignore[arg-type]


def test_barcodes_are_told_from_other_names():
    assert barcode_share(BARCODES) == 1.0
    assert barcode_share(["pbmc1_AAACCTGAGAAGGCCT-1", "S2:TTTGTCATCTTGCCGT"]) == 1.0
    assert barcode_share(["CD3E", "c1", "AAAC-1", "ACGT"]) == 0.0
    assert genes_in_rows([f"g{i}" for i in range(5)], [f"c{i}" for i in range(5)]) is None


def test_cluster_reads_a_genes_by_cells_table_and_says_so(tmp_path):
    adata = blobs(20, dim=30, counts=True)
    frame = pd.DataFrame(np.asarray(adata.X).T, index=[*SYMBOLS, *(f"X{i}" for i in range(10))])
    frame.columns = [f"cell{i}" for i in range(adata.n_obs)]
    frame.to_csv(tmp_path / "geo.tsv", sep="\t")
    out = tmp_path / "out.h5ad"
    fast = [f"--option={k}={v}" for k, v in FAST_FIT.items()]
    args = ["cluster", str(tmp_path / "geo.tsv"), "--no-semantic", "-k", "3", *fast, "-o", str(out)]
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "read with genes in rows" in result.stderr
    assert "pass --orientation cells-by-genes if its rows are cells" in result.stderr
    given = run(*args, "--orientation", "genes-by-cells", "--force")
    assert given.exit_code == 0 and "read with genes in rows" not in given.stderr
    semicolons = tmp_path / "semi.txt"
    frame.to_csv(semicolons, sep=";")
    args[1] = str(semicolons)
    assert run(*args, "--sep", ";", "--force").exit_code == 0
    assert "--sep is empty" in one_line_error(run(*args, "--sep", "", "--force"), code=2)


def test_orientation_is_refused_for_inputs_that_are_not_tables(tmp_path):
    blobs(20, dim=30, counts=True).write_h5ad(tmp_path / "a.h5ad")
    result = run("cluster", str(tmp_path / "a.h5ad"), "--orientation", "genes-by-cells")
    assert "--orientation reads CSV/TSV tables" in one_line_error(result, code=2)
    with pytest.raises(UsageError, match="orientation= reads CSV/TSV tables"):
        read(tmp_path / "a.h5ad", orientation="cells-by-genes")


def test_a_separator_at_each_line_end_is_read_and_a_short_line_is_named(tmp_path):
    rows = ["cell,CD3E,CD19,", "c1,1,2,", "c2,0,3,", "c3,4,0,"]
    (tmp_path / "trail.csv").write_text("\n".join(rows) + "\n")
    adata = read_table(tmp_path / "trail.csv", orientation="cells-by-genes")
    assert list(adata.var_names) == ["CD3E", "CD19"] and adata.n_obs == 3
    (tmp_path / "short.csv").write_text("cell,CD3E,CD19\nc1,1,2\nc2,3\n")
    with pytest.raises(GenekbError, match=r"1 rows have empty fields \(e.g. row 'c2'\)"):
        read_table(tmp_path / "short.csv", orientation="cells-by-genes")
    (tmp_path / "comment.csv").write_text("# made by hand\ncell,CD3E,CD19\nc1,1,2\nc2,3,4\n")
    with pytest.raises(GenekbError, match="its first line must be the header"):
        read_table(tmp_path / "comment.csv", orientation="cells-by-genes")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cell,G1,G2\nc0,1,2\n,3,4\n", r"1 name\(s\) in the first column are empty.*data row 2"),
        ("cell,G1,G2\nc0,1,2\nNA,3,4\n", r"read as missing \(NA, NULL"),
        ("cell,G1,,G3\nc0,1,2,3\nc1,3,4,5\n", r"gene name\(s\) in the header are empty.*column 3"),
        ("G1,G2,G3\n3.5,1,2\n2.5,3,4\n", r"first column holds numbers \(3.5, 2.5, …\)"),
        ("cell,G1,G2\nc0,1,2\nc1,3,1e39\n", r"values up to 1e\+39, beyond the 3.4e\+38"),
    ],
)
def test_names_missing_or_values_beyond_float32_are_refused(tmp_path, text, message) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(GenekbError, match=message):
        read_table(path)
