"""Hostile input to `genekb eval --task FILE`, `genekb import-vectors` and `genekb export`: files
another program saved (compressed, a workbook, a pandas index, no header), labels that are no
classes, and output names that promise another format."""

from __future__ import annotations

import gzip
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genekb.build import build
from genekb.errors import GenekbError, GenekbWarning
from genekb.eval.tasks import read_task_file
from genekb.gene_lists import read_gene_list
from genekb.store.store import Store
from genekb.store.vector_files import load_vectors
from tests.conftest import make_genes, one_line_error
from tests.conftest import run_genekb as run

TASK = "gene,label\n" + "".join(f"GENE{i},{'ab'[i % 2]}\n" for i in range(1, 41))
VECTORS = "gene,d0,d1\n" + "".join(f"GENE{i},{i / 7:.4f},{1 - i / 9:.4f}\n" for i in range(1, 41))


def _xlsx_bytes() -> bytes:
    """A zip like an Excel workbook's (what a .xlsx renamed .csv holds)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")
    return buffer.getvalue()


# ---- a compressed file or a workbook under a text name ----------------------------------------


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (gzip.compress(TASK.encode()), "is gzip-compressed, not text; decompress it first"),
        (_xlsx_bytes(), "is a zip archive (an Excel .xlsx is one), not text; save it as CSV"),
    ],
)
def test_a_task_file_that_is_no_text_says_what_it_is(tmp_path, payload, says):
    # Said "is not UTF-8 text" (gzip) or "needs a gene column … found ['PK\x03\x04…']" (xlsx).
    task = tmp_path / "task.csv"
    task.write_bytes(payload)
    with pytest.raises(GenekbError, match=re.escape(says)):
        read_task_file(task)


def test_a_gzipped_vector_table_says_so(tmp_path):
    # `--format csv` on a .csv.gz said "a ragged table (line 14 has 2 fields, the header has 1)".
    path = tmp_path / "vectors.csv.gz"
    path.write_bytes(gzip.compress(VECTORS.encode()))
    with pytest.raises(GenekbError, match="is gzip-compressed, not text; decompress it first"):
        load_vectors(path, "csv")


def test_a_text_file_starting_like_a_parquet_name_is_still_text(tmp_path):
    # PAR1 is a gene alias (F2R): only a file that also ends in PAR1 is a Parquet file.
    path = tmp_path / "task.csv"
    path.write_text("PAR1,label\n" + TASK.split("\n", 1)[1].replace("GENE", "G"))
    with pytest.raises(GenekbError, match="no gene column"):
        read_task_file(Path(path))


# ---- labels that are no classes ----------------------------------------------------------------


@pytest.mark.parametrize("missing", ["NA", "NaN", "nan", "#N/A", "<NA>", ""])
def test_a_missing_label_is_no_class(tmp_path, missing):
    # R's write.csv writes NA, pandas NaN: both became a third class scored beside "a" and "b".
    body = TASK + "".join(f"GENE{i},{missing}\n" for i in range(41, 51))
    task = tmp_path / "task.csv"
    task.write_text(body)
    with pytest.warns(GenekbWarning, match="10 rows have no label"):
        read = read_task_file(task)
    assert read.classes == ["a", "b"] and len(read.genes) == 40


def test_a_score_given_as_labels_is_named_in_one_short_line(tmp_path):
    # Each of 5,000 genes' scores was listed: one line of 40 kB that never said "a score".
    task = tmp_path / "task.csv"
    task.write_text("gene,label\n" + "".join(f"G{i},{i / 5000:.4f}\n" for i in range(5000)))
    with pytest.raises(GenekbError, match="holds 5,000 different numbers, a score") as caught:
        read_task_file(task)
    assert len(str(caught.value)) < 300


def test_many_small_classes_are_listed_in_part(tmp_path):
    task = tmp_path / "task.csv"
    task.write_text("gene,label\n" + "".join(f"G{i},class{i}\n" for i in range(1000)))
    with pytest.raises(GenekbError, match=r"… \(1,000 in all\) have fewer than 5") as caught:
        read_task_file(task)
    assert len(str(caught.value)) < 300


# ---- vector tables another program saved -------------------------------------------------------


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(40, 3)), columns=["d0", "d1", "d2"])
    return frame.assign(gene=[f"GENE{i}" for i in range(1, 41)])


@pytest.mark.parametrize("writer", ["pandas", "r"])
def test_a_saved_row_index_is_no_dimension(tmp_path, writer):
    # pandas' to_csv (0..n-1) and R's write.csv (1..n) write the row numbers under an empty
    # header: they were imported as one more dimension (dim 4 for 3), no word said.
    frame = _frame()[["gene", "d0", "d1", "d2"]]
    if writer == "r":
        frame.index = range(1, 41)
    path = tmp_path / "vectors.csv"
    frame.to_csv(path)
    found = load_vectors(path)
    assert found.matrix.shape == (40, 3)
    assert np.allclose(found.matrix, frame[["d0", "d1", "d2"]].to_numpy(np.float32))


def test_genes_saved_as_a_parquet_index_are_read(tmp_path):
    # Said "no gene column; pass --gene-column (columns ['d0', …])", and --gene-column gene
    # then said "no column 'gene'": the index is no column to pandas.
    path = tmp_path / "vectors.parquet"
    _frame().set_index("gene").to_parquet(path)
    found = load_vectors(path, gene_column="gene")
    assert found.names[:2] == ["GENE1", "GENE2"] and found.matrix.shape == (40, 3)
    assert load_vectors(path).names == found.names


def test_row_numbers_kept_as_a_parquet_index_stay_out(tmp_path):
    path = tmp_path / "vectors.parquet"
    _frame().iloc[::2].to_parquet(path)  # a filtered frame keeps its row numbers as the index
    assert load_vectors(path).matrix.shape == (20, 3)


def test_a_vector_table_without_a_header_is_refused(tmp_path):
    # Its first gene was read as the header and left out without a word.
    path = tmp_path / "vectors.csv"
    _frame()[["gene", "d0", "d1", "d2"]].to_csv(path, index=False, header=False)
    with pytest.raises(GenekbError, match=r"first line holds numbers .* add a header line"):
        load_vectors(path)


def test_a_header_of_dimension_numbers_is_a_header(tmp_path):
    path = tmp_path / "vectors.csv"
    _frame().rename(columns={"d0": "0", "d1": "1", "d2": "2"}).to_csv(path, index=False)
    assert load_vectors(path).matrix.shape == (40, 3)


# ---- an export named after a vector file -------------------------------------------------------


@pytest.mark.parametrize("name", ["vectors.csv", "vectors.parquet", "vectors.npz", "v.json"])
def test_an_export_named_like_a_vector_file_is_refused(tmp_path, name):
    # `genekb export TAG vectors.csv` wrote a tar archive under the .csv name, exit 0.
    root = tmp_path / "store"
    build(Store.open(root, create=True), model="fake", gene_table=make_genes(), tag="t0")
    line = one_line_error(run("export", "t0", str(tmp_path / name), "--root", str(root)), code=2)
    assert "an export is a tar archive" in line and not (tmp_path / name).exists()


def test_word2vec_text_and_a_bare_npy_say_what_to_do(tmp_path):
    # word2vec text (a count line, spaces between fields) said "no vector columns beside the
    # gene column '300 8'"; a .npy said only "pass --format", and every format then failed.
    text = tmp_path / "vectors.txt"
    text.write_text("40 2\n" + "".join(f"GENE{i} {i / 7:.3f} 0.5\n" for i in range(1, 41)))
    with pytest.raises(GenekbError, match=r"split by spaces \(word2vec or GloVe text"):
        load_vectors(text, "csv")
    bare = tmp_path / "vectors.npy"
    np.save(bare, np.ones((40, 2)))
    with pytest.raises(GenekbError, match=r"a \.npy array holds no gene names"):
        load_vectors(bare)


def test_a_parquet_task_file_is_named_and_a_par1_gene_list_is_not(tmp_path):
    parquet = tmp_path / "task.csv"
    pd.DataFrame({"gene": ["A"], "label": ["x"]}).to_parquet(parquet)
    with pytest.raises(GenekbError, match="is a Parquet file, not text"):
        read_task_file(parquet)
    listed = tmp_path / "genes.txt"
    listed.write_text("PAR1\nTP53\nPAR1")
    assert read_gene_list(listed)[:2] == ["PAR1", "TP53"]
