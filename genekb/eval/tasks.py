"""Gene-level tasks: bundled label tables and a user's CSV/TSV or DataFrame, read and checked.

A task is a list of genes with one label each. `genekb.eval.task_matching` matches it to a
version's genes through `genekb.genemap.GeneIndex` (symbol, then Ensembl id, Entrez id, alias),
so coverage is reported exactly as the store sees it.
"""

from __future__ import annotations

import io
import re
import shlex
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from genekb.errors import GenekbError, GenekbWarning, UnknownNameError, UsageError, listed, warn
from genekb.genemap import (
    GENE_COLUMNS,
    column_key,
    is_missing,
    named_column,
    same_numbers_alike,
)
from genekb.input_streams import read_input_text
from genekb.store.vector_limits import refuse_ragged
from genekb.store.vector_tables import one_column_note

# Headers of the label column as `column_key` spells them, the likeliest first.
LABEL_COLUMNS = ("label", "class", "class_label", "category", "group", "y", "target")
MIN_PER_CLASS = 5  # below this a 5-fold stratified split leaves a fold without the class
NAMED_AT_MOST = 10  # labels a message lists


@dataclass(frozen=True)
class Task:
    """Genes with one label each. `positive` names the class scored as 1 by ROC-AUC (binary)."""

    name: str
    genes: tuple[str, ...]
    labels: tuple[str, ...]
    description: str = ""
    source: str = ""
    positive: str | None = None
    alt_ids: tuple[str | None, ...] | None = None  # e.g. Ensembl ids, tried before the symbol
    leak_terms: tuple[str, ...] = field(default_factory=tuple)

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))

    @property
    def kind(self) -> str:
        return "binary" if len(self.classes) == 2 else "multiclass"

    def summary(self) -> dict[str, Any]:
        counts = pd.Series(self.labels).value_counts().sort_index()
        return {
            "name": self.name,
            "kind": self.kind,
            "n_genes": len(self.genes),
            "classes": {str(k): int(v) for k, v in counts.items()},
            "positive": self.positive,
            "description": self.description,
            "source": self.source,
        }


def _tasks_dir() -> Path:
    return Path(str(resources.files("genekb") / "data" / "tasks"))


# name -> the CSV in genekb/data/tasks (columns gene, label and, when named, the ids tried before
# the symbol) and the Task fields that describe it.
_BUNDLED_ABOUT: dict[str, dict[str, Any]] = {
    "dosage-tfs": {
        "file": "dosage_tfs.csv",
        "alt_ids": "ensembl_id",
        "positive": "sensitive",
        "description": "dosage-sensitive vs insensitive transcription factors (122 / 368)",
        "source": "Ni et al. 2019, Front. Genet. 10:1208 (via the Geneformer examples)",
        "leak_terms": ("haploinsufficien", "dosage", "syndrome", "disease", "developmental"),
    },
    "hipred": {
        "file": "hipred.csv",
        "positive": "haploinsufficient",
        "description": "HIPred probability > 0.5 vs ≤ 0.5; seeded stratified 1,000-gene sample",
        "source": "Shihab et al. 2017, Bioinformatics 33:1751",
        "leak_terms": ("haploinsufficien", "dosage", "syndrome", "disease", "essential"),
    },
    "pfam-families": {
        "file": "pfam_families.csv",
        "alt_ids": "gene_id",
        "description": "protein family: one of the 9 largest human Pfam families, 80 genes each",
        "source": "Pfam via UniProt (2022-09-23) in org.Hs.eg.db 3.16 (genekb/data/tasks)",
        "leak_terms": ("zinc finger", "kinase", "receptor", "homeobox", "repeat"),
    },
    "cell-type-markers": {
        "file": "cell_type_markers.csv",
        "alt_ids": "gene_id",
        "description": "which of 12 broad cell types a gene marks, 60 top markers each",
        "source": "CellConsensus 1.2.0 consensus marker table (genekb/data/tasks)",
        "leak_terms": ("immune", "lymphocyte", "neuron", "liver", "heart", "skin", "insulin"),
    },
}
BUNDLED = tuple(_BUNDLED_ABOUT)


@cache
def _bundled(name: str) -> Task:
    if name not in _BUNDLED_ABOUT:
        raise UnknownNameError("task", name, list(BUNDLED))
    about = dict(_BUNDLED_ABOUT[name])
    frame = pd.read_csv(_tasks_dir() / about.pop("file"))
    alt = about.pop("alt_ids", None)
    return Task(
        name=name,
        genes=tuple(frame["gene"]),
        labels=tuple(frame["label"]),
        # as text: pfam's Entrez ids are read as integers
        alt_ids=tuple(frame[alt].astype(str)) if alt else None,
        **about,
    )


# `genekb eval` with no --task: the two binary tasks (the multi-class ones are asked for by name).
DEFAULT_TASKS = ("dosage-tfs", "hipred")


def _pick(
    columns: list[str], wanted: tuple[str, ...], what: str, path: Path | str, note: str = ""
) -> str:
    """The column named like one of `wanted` (`named_column`: two of one name are refused)."""
    column = named_column(columns, wanted, what, path)
    if column is None:
        found = listed(c[:40] for c in columns)
        raise GenekbError(
            f"{path}: no {what} column; name one of: {', '.join(wanted)} (any case; spaces as"
            f" _) (found {found}){note}"
        )
    return column


def _score_note(frame: pd.DataFrame, gene_col: str) -> str:
    """Where a task has no label column but a column of many numbers (a regression target):
    renamed `label` it would be refused as a score, so say so at once."""
    for column in frame.columns:
        if column == gene_col or column_key(column) in GENE_COLUMNS:  # ids are numbers too
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.notna().all() and values.nunique() > NAMED_AT_MOST:
            return (
                f"; {str(column)[:40]!r} holds {values.nunique():,} different numbers, a score:"
                " eval scores classes, so make a few of it first (e.g. a label of 'high' above"
                " a cut-off and 'low' below)"
            )
    return ""


_LINE_END = re.compile(r"\r\n|\r|\n")  # Excel for Mac ends lines in CR alone


def read_task_file(path: Path) -> Task:
    """A user's task: CSV or TSV (a file, a pipe or `-` for stdin) with a gene column and a label
    column (header row required). A gene given two different labels is refused, with the list."""
    raw = read_input_text(path, "task file")
    while raw.lstrip().startswith("#"):  # leading '#' comments, as a gene list may hold
        lines = _LINE_END.split(raw.lstrip(), maxsplit=1)
        raw = lines[1] if len(lines) > 1 else ""
    first = _LINE_END.split(raw, maxsplit=1)[0]
    # The header's separator, the suffix only where it holds both: a ".tsv" saved with commas
    # read as one column "gene,label"
    tab = "\t" in first and ("," not in first or path.suffix.lower() in (".tsv", ".tab"))
    refuse_ragged(raw, "\t" if tab else ",", path)
    try:
        frame = pd.read_csv(
            io.StringIO(raw), sep="\t" if tab else ",", dtype=str, keep_default_na=False
        )
    except pd.errors.EmptyDataError:
        raise GenekbError(
            f"task file {path} is empty; give a header (gene,label) and one row per gene"
        ) from None
    except pd.errors.ParserError as exc:
        raise GenekbError(
            f"task file {path} is not a readable table ({exc.__class__.__name__})"
        ) from None
    # "gene , label" as a spreadsheet pads it: the padded names matched no wanted column
    frame.columns = [str(c).strip() for c in frame.columns]
    columns = list(frame.columns)
    if len(columns) < 2:
        raise GenekbError(
            f"{path}: needs a gene column and a label column, found only {columns[0][:80]!r}"
            + (one_column_note(columns[0]) or _gene_list_note(path))
        )
    # a first row of data, not a header
    if not {column_key(c) for c in columns} & {*GENE_COLUMNS, *LABEL_COLUMNS}:
        raise GenekbError(
            f"{path}: its first line ({listed((c[:40] for c in columns), 4)}) names no gene"
            " and no label column; begin the file with a header line, e.g. gene,label"
        )
    name = "stdin" if str(path) == "-" else path.stem
    return _task_of(frame, path, name, f"user task from {path.name or 'stdin'}")


def _gene_list_note(path: Path) -> str:
    """A file of one column is a gene list, one class: the line that makes a task of one such
    list per class, each class named by its file (sensitive.txt, insensitive.txt)."""
    name = "GENES.txt" if str(path) == "-" else shlex.quote(path.name)
    return (
        "; a gene list is one class: make a task of one list per class, each named by its file,"
        " with awk -v OFS=, 'BEGIN {print \"gene,label\"} FNR == 1 {c = FILENAME;"
        f" sub(/[.][^.]*$/, \"\", c)}} NF {{print $1, c}}' {name} OTHER.txt > task.csv"
    )


def task_from_table(frame: pd.DataFrame | pd.Series | dict, name: str = "table") -> Task:
    """A user's task held in a Python session: a DataFrame with a gene column (or an index named
    as one) and a label column, or a Series or dict of gene -> label, read as a task file is."""
    frame = pd.Series(frame) if isinstance(frame, dict) else frame
    if isinstance(frame, pd.Series):  # gene -> label, as a notebook often holds a task
        if isinstance(frame.index, pd.RangeIndex):  # df["label"]: row numbers read as Entrez ids
            raise UsageError(f"task {name!r}: a Series of labels needs the genes as its index")
        frame = pd.DataFrame({"gene": frame.index, "label": frame.to_numpy()})
    if not isinstance(frame, pd.DataFrame):
        raise UsageError(f"a task is a name, a CSV/TSV path or a DataFrame, not {type(frame)}")
    if column_key(frame.index.name) in GENE_COLUMNS:
        frame = frame.reset_index()
    table = frame.astype(object).where(frame.notna(), "").astype(str)
    table.columns = [str(c).strip() for c in table.columns]
    if len(table.columns) < 2:
        raise GenekbError(
            f"task table {name!r} needs a gene column and a label column (or an index named gene)"
        )
    return _task_of(table, f"task table {name!r}", name, f"user task table {name}")


def _task_of(frame: pd.DataFrame, path: Path | str, name: str, description: str) -> Task:
    """A task from a table of text cells (`path` names it in messages): its gene and label
    columns, labels made alike, rows without either left out, one row per gene."""
    columns = list(frame.columns)
    gene_col = _pick(columns, GENE_COLUMNS, "gene", path)
    if named_column(columns, LABEL_COLUMNS, "label", path) is None:
        frame = _from_marks(frame, gene_col, path)
        columns = list(frame.columns)
    label_col = _pick(columns, LABEL_COLUMNS, "label", path, _score_note(frame, gene_col))
    frame = frame.assign(**{gene_col: frame[gene_col].str.strip()})
    labels = same_numbers_alike(frame[label_col].str.strip())
    frame = frame.assign(**{label_col: _same_case_alike(labels, path)})
    if frame.empty:  # else "a task needs at least two labels, found []"
        raise GenekbError(f"{path} holds a header but no rows; give one row per gene")
    frame = _labelled(frame, gene_col, label_col, path)
    _refuse_conflicts(frame, gene_col, label_col, path)
    repeats = frame[gene_col].duplicated()
    if repeats.any():  # else the task asked for fewer genes than the file has rows, unsaid
        warn(
            f"{path}: {int(repeats.sum())} rows repeat a gene an earlier row gives the same"
            f" label (e.g. {listed(frame.loc[repeats, gene_col], 5)}); each gene counts"
            " once",
            GenekbWarning,
        )
    frame = frame[~repeats]
    task = Task(
        name=name,
        genes=tuple(frame[gene_col]),
        labels=tuple(frame[label_col]),
        description=description,
        source=str(path),
    )
    _check(task, path)
    return task


_MARKED = {"yes", "y", "true", "x", "1"}
_UNMARKED = {"", "no", "n", "false", "0", "na", "nan"}


def _from_marks(frame: pd.DataFrame, gene_col: str, path: Path | str) -> pd.DataFrame:
    """A label column made of columns that mark each gene's class ("Yes" under
    dosage_sensitive, blank under dosage_insensitive: one-hot, as the Geneformer examples ship
    the dosage TFs): a row's class is the column it marks. Unchanged where there are not two
    such columns; a row marking two is refused, one marking none has no label."""
    marks = [
        c
        for c in frame.columns
        if c != gene_col
        and set(values := frame[c].str.strip().str.casefold()) <= _MARKED | _UNMARKED
        and values.isin(_MARKED).any()
    ]
    if len(marks) < 2:
        return frame
    marked = frame[marks].apply(lambda col: col.str.strip().str.casefold().isin(_MARKED))
    several = marked.sum(axis=1) > 1
    if several.any():
        raise GenekbError(
            f"{path}: {int(several.sum())} rows mark more than one of the class columns"
            f" {listed(marks, 5)} (e.g. {frame.loc[several, gene_col].iloc[0]!r}); mark one each"
        )
    warn(
        f"{path}: no label column; each gene's class is the column of {listed(marks, 5)} that"
        " it marks (yes, true, x or 1)",
        GenekbWarning,
    )
    labels = marked.idxmax(axis=1).where(marked.any(axis=1), "")
    return frame.drop(columns=marks).assign(label=labels)


def _same_case_alike(labels: pd.Series, path: Path | str) -> pd.Series:
    """Labels that differ only in case ("Yes" / "yes", "TRUE" / "True") as one class, spelled as
    the most frequent: kept apart, a yes/no task was scored as three classes by macro-F1."""
    counts = labels[~labels.map(is_missing)].value_counts()
    spelling: dict[str, str] = {}
    merged = []
    for label in counts.index:  # most frequent first
        first = spelling.setdefault(label.casefold(), label)
        if first != label:
            merged.append(f"{label!r} -> {first!r}")
    if not merged:
        return labels
    warn(
        f"{path}: labels that differ only in case are one class: {listed(merged, NAMED_AT_MOST)}",
        GenekbWarning,
    )
    return labels.map(lambda v: spelling.get(v.casefold(), v))


def _labelled(frame: pd.DataFrame, gene_col: str, label_col: str, path: Path | str) -> pd.DataFrame:
    """The rows with a gene and a label. What R or pandas writes for a missing value (NA, NaN)
    is neither a class nor a gene ("NA" is an alias of XK): rows missing either are left out and
    counted in a warning; rows missing both (a spreadsheet's trailing ",,") are no rows."""
    no_gene, no_label = frame[gene_col].map(is_missing), frame[label_col].map(is_missing)
    kept = frame[~no_gene & ~no_label]
    if kept.empty:  # name the column that is empty: it said 'label' of a task with no genes
        empty = gene_col if no_gene.sum() > no_label.sum() else label_col
        raise GenekbError(f"{path}: no row has both a gene and a label; fill in {empty!r}")
    counts = {"label": int((~no_gene & no_label).sum()), "gene": int((no_gene & ~no_label).sum())}
    lacking = " and ".join(f"{n} rows have no {what}" for what, n in counts.items() if n)
    if lacking:
        warn(f"{path}: {lacking} (empty, NA or NaN); they are left out", GenekbWarning)
    return kept


def _refuse_conflicts(frame: pd.DataFrame, gene_col: str, label_col: str, path: Path | str) -> None:
    """A gene listed with two different labels cannot be scored; say which genes."""
    n_labels = frame.groupby(gene_col)[label_col].nunique()
    both = sorted(n_labels[n_labels > 1].index)
    if both:
        raise GenekbError(
            f"{path}: {len(both)} gene(s) are given two or more labels: {', '.join(both[:20])}"
            + (" …" if len(both) > 20 else "")
            + "; give each gene one label"
        )


def _check(task: Task, where: Path | str) -> None:
    counts = pd.Series(task.labels).value_counts()
    if len(counts) < 2:
        raise GenekbError(f"{where}: a task needs at least two labels, found {list(counts.index)}")
    small = counts[counts < MIN_PER_CLASS]
    values = pd.to_numeric(counts.index.to_series(), errors="coerce")
    numbers = bool(values.notna().all())
    # A score rounded (0.1, 0.2, …) gives classes of 5 genes or more: it was scored as 11 or
    # 101 classes by macro-F1. Classes written as fractions beyond a pair are a score.
    fractions = numbers and len(counts) > 2 and bool((values % 1 != 0).any())
    if numbers and (len(small) > NAMED_AT_MOST or fractions):
        raise GenekbError(
            f"{where}: the label column holds {len(counts):,} different numbers, a score rather"
            f" than classes; make a few classes of it (e.g. above and below a cut-off)"
        )
    if len(small):
        raise GenekbError(
            f"{where}: label(s) {listed(small.index, NAMED_AT_MOST)} have fewer than"
            f" {MIN_PER_CLASS} genes; merge or drop them"
        )


def resolve_task(ref: str) -> Task:
    """A bundled task by name, or a CSV/TSV path."""
    if ref in BUNDLED:
        return _bundled(ref)
    if not ref.strip():  # Path("") is ".", read as "task file . is a directory"
        raise UsageError(f"give a task: {', '.join(BUNDLED)} or a CSV/TSV path, not {ref!r}")
    path = Path(ref).expanduser()  # --task=~/x.csv: the shell leaves that ~ alone
    # a suffix or a folder names a file, even a missing one ("does not exist", not "unknown task")
    if ref == "-" or path.suffix or len(path.parts) > 1 or path.exists():
        return read_task_file(path)
    raise UnknownNameError("task (or CSV/TSV file)", ref, list(BUNDLED))
