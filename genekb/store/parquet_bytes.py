"""Decoding Parquet held in memory: every read of Parquet bytes in genekb goes through here.

Arrow must not be handed memory that Python owns (`bytes` wrapped by `pa.BufferReader`, or an
`io.BytesIO`). `pq.read_table` scans on Arrow's thread pool, and a worker can still be running the
scan's last callbacks after the table was returned; when that worker drops the last reference to
a Python-owned buffer it takes the GIL to release it. If the interpreter is finalizing by then, the
worker is unwound by `pthread_exit` inside a `noexcept` destructor (`arrow::py::PyBuffer`), and C++
calls std::terminate: "terminate called without an active exception", SIGABRT, after all the work
and output (apache/arrow#34314). A copy into Arrow's own memory leaves the worker nothing that
needs the GIL, for one copy of the file (`scripts/bench_exit_aborts.py --library` counts the
aborts; docs/architecture.md gives the counts and the copy's cost).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq


def arrow_buffer(data: bytes) -> pa.Buffer:
    """`data` copied into memory that Arrow allocated and owns (no Python object behind it)."""
    stream = pa.BufferOutputStream()
    stream.write(data)
    return stream.getvalue()


def read_table(data: bytes, columns: Sequence[str] | None = None) -> pa.Table:
    """The table a Parquet file's bytes hold (only `columns`, when given)."""
    source = pa.BufferReader(arrow_buffer(data))
    return pq.read_table(source, columns=list(columns) if columns else None)


def read_schema(data: bytes) -> pa.Schema:
    """The schema (with its metadata) a Parquet file's bytes hold."""
    return pq.read_schema(pa.BufferReader(arrow_buffer(data)))
