"""Parquet bytes reach Arrow only as Arrow's own memory (genekb.store.parquet_bytes).

A Python-owned buffer handed to `pq.read_table` can be released by an Arrow worker thread while
the interpreter finalizes, which aborts a finished script (apache/arrow#34314); the abort itself
is too rare (~3 in 100 runs) to test here: `scripts/bench_exit_aborts.py --library` counts it.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from genekb.store import parquet_bytes
from genekb.store.vector_tables import read_frame

REPO = Path(__file__).resolve().parent.parent
HELPER = REPO / "genekb" / "store" / "parquet_bytes.py"
# Ways Python-owned memory reaches Arrow: bytes in a BufferReader or py_buffer, a file object.
PYTHON_MEMORY = re.compile(
    r"BufferReader\(|py_buffer\(|(read_table|read_schema|read_parquet|ParquetFile)\(\s*io\.BytesIO"
)


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def test_no_module_hands_arrow_python_memory_but_the_helper() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{n}"
        for package in ("genekb", "cellmodel", "cli")
        for path in sorted((REPO / package).rglob("*.py"))
        if path != HELPER
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if PYTHON_MEMORY.search(line.split("#")[0])
    ]
    assert offenders == [], f"read Parquet bytes through genekb.store.parquet_bytes: {offenders}"


def test_the_copy_is_arrow_memory_with_the_same_bytes() -> None:
    data = b"genekb" * 1000
    buffer = parquet_bytes.arrow_buffer(data)
    assert buffer.to_pybytes() == data
    view = memoryview(data)
    assert buffer.address != pa.py_buffer(view).address  # a copy, not a view of Python's bytes


def test_read_table_and_schema_give_what_pyarrow_would() -> None:
    table = pa.table({"gene_id": [1, 2, 3], "text": ["a", "b", None]}).replace_schema_metadata(
        {"genekb.template": "t1"}
    )
    data = _parquet(table)
    assert parquet_bytes.read_table(data).equals(table)
    assert parquet_bytes.read_table(data, ["gene_id"]).column_names == ["gene_id"]
    assert parquet_bytes.read_schema(data).metadata[b"genekb.template"] == b"t1"


def test_a_vector_parquet_stream_keeps_its_index_as_the_gene_column() -> None:
    frame = pd.DataFrame({"d0": [0.5, 1.5], "d1": [2.0, 3.0]}, index=["AAMP", "TP53"])
    frame.index.name = "gene"
    data = _parquet(pa.Table.from_pandas(frame))
    read = read_frame(io.BytesIO(data), "parquet", "<stdin>")
    assert list(read.columns) == ["gene", "d0", "d1"]
    assert read["gene"].tolist() == ["AAMP", "TP53"]
