"""Hostile input to `genekb eval --task FILE`, `genekb import-vectors` and `genekb export`: files
another program saved (compressed, a workbook, a pandas index, no header), labels that are no
classes, and output names that promise another format."""

from __future__ import annotations

import gzip
import io
import re
import zipfile
from pathlib import Path

import pytest

from genekb.errors import GenekbError, GenekbWarning
from genekb.eval.tasks import read_task_file
from genekb.store.vector_files import load_vectors

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
