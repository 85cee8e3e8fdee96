"""Reading a vector table (CSV/TSV/Parquet), and what one another program saved holds besides
gene names and numbers.

pandas' `to_csv` and R's `write.csv` write the row numbers as a first column under an empty header,
which would be read as one more dimension; a DataFrame saved to Parquet keeps its genes as the
index, which `pd.read_parquet` does not give back as a column; a CSV saved without a header puts
its first gene where the column names go, where it would be lost without a word.
"""

from __future__ import annotations

import codecs
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genekb.errors import GenekbError
from genekb.input_streams import decode_text
from genekb.sniff import refuse_binary
from genekb.store import parquet_bytes
from genekb.store.vector_limits import check_table_shape, refuse_ragged

_UNNAMED = re.compile(r"Unnamed: \d+")  # pandas' name for a column with an empty header


def read_frame(source: Any, fmt: str, where: Any) -> pd.DataFrame:
    """A CSV/TSV (every cell as text, checked whole first) or Parquet table of a vector file."""
    try:
        raw = source.read_bytes() if isinstance(source, Path) else source.getvalue()
        if fmt == "parquet":
            return index_as_column(parquet_bytes.read_table(raw).to_pandas())
        sep = "\t" if fmt == "tsv" else ","
        refuse_binary(raw, "vector file", where)
        if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in raw[:4096]:
            # Excel's "Unicode Text" (UTF-16) read as UTF-8 was "a ragged table (line 42 ...)"
            raw = decode_text(raw, "vector file", where).encode()
        check_table_shape(raw, sep, where)
        refuse_ragged(raw, sep, where)
        return pd.read_csv(
            io.BytesIO(raw), sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig"
        )
    except GenekbError:
        raise
    except UnicodeDecodeError:  # a gene name saved as Latin-1: the class name told nothing
        raise GenekbError(f"{where} is not UTF-8 text; save it as UTF-8") from None
    except Exception as exc:  # pandas/pyarrow raise many types for a foreign file
        raise GenekbError(
            f"{where} is not a readable {fmt} table ({exc.__class__.__name__})"
        ) from None


def index_as_column(frame: pd.DataFrame) -> pd.DataFrame:
    """A Parquet table's index of names (the genes, where a DataFrame indexed by them was saved)
    as its first column; an index of numbers (row numbers, kept after a filter) is no column."""
    if all(level.dtype.kind in "iuf" for level in _levels(frame.index)):
        return frame
    return frame.reset_index()


def _levels(index: pd.Index) -> list[pd.Index]:
    return [index.get_level_values(i) for i in range(index.nlevels)]


_BRACKETED = re.compile(r"\s*\[.*\]\s*", re.S)


def written_lists(column: pd.Series, where: Any) -> list[np.ndarray] | None:
    """A column whose every cell is a vector written as text, "[0.1, 0.2, …]" (a column of lists
    saved by pandas' `to_csv`) or "[0.1 0.2 …]" (a NumPy array's str), as arrays; else None.
    NumPy's str of a long array elides its middle ("..."): refused, those numbers are gone."""
    if column.dtype.kind != "O" or column.empty:
        return None
    cells = column.astype(str)
    if not all(_BRACKETED.fullmatch(cell) for cell in cells):
        return None
    vectors = []
    for cell in cells:
        fields = cell.strip()[1:-1].replace(",", " ").split()
        if "..." in fields:
            raise GenekbError(
                f"{where}: column {str(column.name)[:40]!r} holds vectors NumPy printed with their"
                " middle left out ('...'), so their numbers are gone; save the matrix itself"
                " (np.savez, or DataFrame.to_parquet)"
            )
        try:
            vectors.append(np.array(fields, dtype=np.float64))
        except ValueError:
            return None
    return vectors


def drop_row_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """Without the columns of empty header that hold 0..n-1 or 1..n: a saved row index."""
    n = len(frame)
    drop = []
    for column in frame.columns:
        if not _UNNAMED.fullmatch(str(column)):
            continue
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy()
        if np.array_equal(values, np.arange(n)) or np.array_equal(values, np.arange(1, n + 1)):
            drop.append(column)
    return frame.drop(columns=drop)


def refuse_headerless(columns: list[str], where: Any) -> None:
    """Refuse a table whose column names are mostly fractions: its first row of data, read as
    the header, so that its first gene would be dropped."""
    numbers = [c for c in columns if _is_fraction(c)]
    if numbers and 2 * len(numbers) >= len(columns) - 1:
        raise GenekbError(
            f"{where}: its first line holds numbers ({', '.join(numbers[:3])}, …) where the column"
            " names go, so its first gene would be lost; add a header line (e.g. gene,d0,d1,…)"
        )


def _is_fraction(name: str) -> bool:
    try:
        value = float(name)
    except ValueError:
        return False
    return not value.is_integer()


def one_column_note(column: str) -> str:
    """Why a table reads as a single column, when its one header tells: fields split by spaces
    (word2vec or GloVe text), by ';' (a spreadsheet's CSV in some locales) or by the other
    format's separator."""
    if " " in column.strip():
        return "; its fields are split by spaces (word2vec or GloVe text?): save it as TSV"
    if ";" in column:
        return "; its fields are split by ';': save it with ',' between fields"
    if "\t" in column:  # a .csv saved as TSV
        return "; its fields are split by tabs: name it .tsv or pass --format tsv"
    if "," in column:  # a .tsv saved as CSV
        return "; its fields are split by ',': name it .csv or pass --format csv"
    return ""
