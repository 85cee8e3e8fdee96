"""Labels kept beside the data: a CSV/TSV of cell id -> label (`read_labels`), matched to the
cells of an AnnData as a label column, for inputs whose obs holds none (a table, a 10x folder)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from genekb.errors import GenekbError, GenekbWarning, listed, warn
from genekb.input_streams import read_input_text

LABEL_COLUMN = "label"  # the column a headerless file's labels get


class UnmatchedLabelsWarning(GenekbWarning):
    """Ids of a labels file that name no cell of the data, or cells the file does not label."""


def read_labels(
    path: str | Path, cells: Sequence[str], *, column: str | None = None, sep: str | None = None
) -> pd.Series:
    """Each cell's label from the table at `path`: cell ids in its first column, labels in the
    column named `column` (of a header row) or else its second; a header row is one whose first
    field names no cell. Returns a Series indexed by `cells` (None where the file has no label),
    named by the label column: `adata.obs[key] = read_labels(path, adata.obs_names)`. Ids are
    matched without the white space round them; a file whose ids match no cell, or give one cell
    two labels, is refused; ids of no cell and cells without an id are warned of
    (`UnmatchedLabelsWarning`). `sep`: the separator (default: the suffix's, or the first of
    tab, ';' and ',' that the first line holds)."""
    text = read_input_text(path, "labels file")
    sep = sep or _separator(text, path)
    rows = [r for r in csv.reader(io.StringIO(text), delimiter=sep) if any(f.strip() for f in r)]
    names = pd.Index([str(c).strip() for c in cells])
    if not names.is_unique:
        raise GenekbError(
            f"the data's cell ids repeat (e.g. {names[names.duplicated()][0]!r}), so labels"
            " cannot be matched to cells by id; make them unique first"
            " (adata.obs_names_make_unique())"
        )
    header = rows[0] if rows and _is_header(rows, set(names)) else None
    body = rows[1:] if header is not None else rows
    at = _label_field(header, column, path, len(rows[0]) if rows else 0)
    short = next((i for i, r in enumerate(body) if len(r) <= at), None)
    if not body or short is not None:
        where = f"line {short + 1 + (header is not None)} has" if body else "it has no rows, and"
        raise GenekbError(
            f"labels file {path}: {where} no label field; write a cell id and its label on each"
            f" line, separated by {sep!r}"
        )
    ids = [r[0].strip() for r in body]
    labels = pd.Series([r[at].strip() for r in body], index=ids, dtype=object)
    _refuse_conflicts(labels, path)
    labels = labels[~labels.index.duplicated()]
    found = labels.index.isin(names)
    if not found.any():
        raise GenekbError(f"labels file {path}: {_no_match(labels.index, names, body)}")
    if not found.all():
        suffixed = _suffix_match(labels.index[~found], names)  # a second sample's "-1"?
        warn(
            f"labels file {path}: {int((~found).sum())} of its {len(found)} cell ids name no cell"
            f" of the data (e.g. {labels.index[~found][0]!r}); their labels are left out"
            + (
                f"; {suffixed[0]!r} in the file and {suffixed[1]!r} in the data differ by the"
                f" suffix {suffixed[2]!r}: write them as the data does"
                if suffixed is not None
                else ""
            ),
            UnmatchedLabelsWarning,
        )
    # Indexed by the cells as given, so `adata.obs[key] = read_labels(path, adata.obs_names)`
    # lines up by name (a RangeIndex there left every cell unlabelled without a word).
    index = pd.Index([str(c) for c in cells], dtype=object)
    out = pd.Series(labels.reindex(names).to_numpy(dtype=object), index=index, dtype=object)
    missing = int(out.isna().sum())
    if missing:
        warn(
            f"labels file {path} labels {len(names) - missing} of the {len(names)} cells; the"
            f" other {missing} have no label (e.g. {names[out.isna().to_numpy()][0]!r})",
            UnmatchedLabelsWarning,
        )
    name = header[at].strip() if header is not None and header[at].strip() else LABEL_COLUMN
    return out.where(out.notna(), None).rename(column or name)


def _separator(text: str, path: str | Path) -> str:
    """The file's separator: its suffix's (tab for .tsv and .txt, else a comma), unless its first
    line holds none of that and another one (a spreadsheet's ';' or a tab) splits it."""
    first = text.lstrip().partition("\n")[0]
    named = "\t" if Path(str(path)).suffix.lower() in (".tsv", ".txt") else ","
    return next((s for s in (named, "\t", ";", ",") if s in first), named)


def _is_header(rows: list[list[str]], names: set[str]) -> bool:
    """The first row is a header where its first field names no cell and its second is no
    label of another row (a first data row of a cell the data lacks still holds a label)."""
    first = rows[0]
    if first[0].strip() in names:
        return False
    labels = {r[1].strip() for r in rows[1:] if len(r) > 1}
    return len(first) < 2 or first[1].strip() not in labels


def _label_field(header: list[str] | None, column: str | None, path: str | Path, width: int) -> int:
    """Which field of a line holds the label: the second of two, else the header's `column`."""
    if width <= 2:
        return 1
    if header is None:
        raise GenekbError(
            f"labels file {path} has {width} columns and no header row naming them; give it a"
            " header and name the label column with label_key=, or keep only the ids and labels"
        )
    named = [h.strip() for h in header]
    if column in named[1:]:
        return named.index(column, 1)
    said = f" and none is named {column!r}" if column is not None else ""
    raise GenekbError(
        f"labels file {path} has {width} columns{said}; choose the label column, one of"
        f" {listed(map(repr, named[1:]))}, with label_key="
    )


def _refuse_conflicts(labels: pd.Series, path: str | Path) -> None:
    """A cell id given twice with two labels: which one holds cannot be guessed."""
    repeated = labels[labels.index.duplicated(keep=False)]
    for cell, values in repeated.groupby(level=0):
        if values.nunique() > 1:
            shown = " and ".join(map(repr, pd.unique(values)[:2]))
            raise GenekbError(
                f"labels file {path} gives cell {cell!r} two labels ({shown}); keep one line per"
                " cell"
            )


def _no_match(ids: pd.Index, names: pd.Index, body: list[list[str]]) -> str:
    """Why no id of the file names a cell: case, a barcode suffix, ids in another column, or
    how the two are written."""
    folded = {n.casefold(): n for n in names}
    case = next(((i, folded[i.casefold()]) for i in ids if i.casefold() in folded), None)
    if case is not None:
        return (
            f"its cell ids match the data's only ignoring case ({case[0]!r} in the file,"
            f" {case[1]!r} in the data); write them as the data does"
        )
    suffixed = _suffix_match(ids, names)
    if suffixed is not None:  # 10x's "-1" on one side only: no silent guess at which sample
        return (
            f"its cell ids and the data's differ by the suffix {suffixed[2]!r} ({suffixed[0]!r}"
            f" in the file, {suffixed[1]!r} in the data); write them as the data does"
        )
    column = next((j for j in range(1, min(map(len, body))) if body[0][j].strip() in names), None)
    if column is not None:  # pandas' to_csv wrote its row numbers first
        return (
            f"its field {column + 1} holds the data's cell ids ({body[0][column].strip()!r}), not"
            " the first (row numbers?); make the cell ids the first column"
        )
    return (
        f"none of its {len(ids)} cell ids names a cell of the data (the file's {ids[0]!r}, the"
        f" data's {names[0]!r}); the first column must hold the data's cell ids"
    )


_SUFFIX = re.compile(r"[-_.]\d+$")  # 10x's "-1", Seurat's "_1" after a merge


def _suffix_match(ids: pd.Index, names: pd.Index) -> tuple[str, str, str] | None:
    """The first (file id, data id, suffix) that match once one side's numeric suffix is
    dropped; None where none does."""
    bare = {_SUFFIX.sub("", n): n for n in names}
    for i in ids:
        if _SUFFIX.sub("", i) in names:
            return i, _SUFFIX.sub("", i), i[len(_SUFFIX.sub("", i)) :]
        if i in bare:
            return i, bare[i], bare[i][len(i) :]
    return None
