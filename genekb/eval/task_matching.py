"""A task matched to a version's genes: rows into its matrix, labels, and the coverage report
(found / asked by route, and why the missing names missed: dates, shared names, another
species' Ensembl ids, mouse-style symbols)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from genekb.ensembl import foreign_prefixes, parse_ensembl
from genekb.errors import GenekbWarning, warn
from genekb.eval.tasks import Task
from genekb.genemap import GeneIndex, case_style_examples, spreadsheet_dates
from genekb.snapshot_names import resolve_names


@dataclass
class Matched:
    """A task restricted to the genes a version holds: rows into the version, labels, coverage."""

    rows: np.ndarray  # row of each matched gene in the version's matrix
    labels: np.ndarray  # str labels, aligned with rows
    coverage: dict[str, Any]
    task_rows: np.ndarray  # the task's row of each matched gene, aligned with rows
    routes: np.ndarray  # how each was matched (symbol, alias, ensembl, …), aligned with rows

    def restricted(self, task_rows: frozenset[int]) -> Matched:
        """Only the task rows in `task_rows` (the genes every compared version holds); the
        coverage counts what is left and keeps what this version alone found."""
        keep = np.array([int(r) in task_rows for r in self.task_rows], dtype=bool)
        labels, routes = self.labels[keep], self.routes[keep]
        coverage = {
            **self.coverage,
            "found": int(keep.sum()),
            "share": round(int(keep.sum()) / max(self.coverage["asked"], 1), 4),
            "found_in_version": self.coverage["found"],
            "by_route": _counts(routes),
            "classes": _counts(labels),
        }
        return Matched(self.rows[keep], labels, coverage, self.task_rows[keep], routes)


def match_task(
    task: Task, genes: pd.DataFrame, version_ids: np.ndarray, names: GeneIndex | None = None
) -> Matched:
    """Match `task` to a version whose text genes are `genes` and matrix ids `version_ids`;
    `names` (`snapshot_names.snapshot_index`) reads its names by every gene of the snapshot."""
    own = GeneIndex.from_frame(genes)
    index = names if names is not None else own
    resolved = resolve_names(list(task.genes), own, names)
    gene_ids = np.array([g for g, _ in resolved], dtype=np.int64)
    routes = [r for _, r in resolved]
    if task.alt_ids is not None:
        # A stable id (Ensembl) names one gene where a symbol may name two; the symbol stays
        # the fallback for ids the snapshot does not know.
        for i, alt in enumerate(task.alt_ids):
            if isinstance(alt, str) and alt:
                [(gid, route)] = resolve_names([alt], own, names)
                if gid >= 0:
                    gene_ids[i], routes[i] = gid, route
    row_of = {int(g): i for i, g in enumerate(version_ids)}
    labels = np.asarray(task.labels, dtype=object)
    # Two task genes resolving to one store gene with different labels cannot both be kept.
    by_gene: dict[int, set[str]] = {}
    for g, lab in zip(gene_ids, labels, strict=True):
        if g >= 0:
            by_gene.setdefault(int(g), set()).add(str(lab))
    keep, seen = [], set()
    conflicting = repeated = 0
    for i, g in enumerate(gene_ids):
        g = int(g)
        if g < 0 or g not in row_of:
            continue
        if len(by_gene[g]) > 1:
            conflicting += 1
            continue
        if g in seen:
            repeated += 1
            continue
        seen.add(g)
        keep.append(i)
    if conflicting:
        names = sorted(
            {task.genes[i] for i, g in enumerate(gene_ids) if g >= 0 and len(by_gene[int(g)]) > 1}
        )
        warn(
            f"task {task.name}: {conflicting} rows name one gene under different names with"
            f" different labels, left out: {', '.join(names[:20])}",
            GenekbWarning,
        )
    missing = [task.genes[i] for i, g in enumerate(gene_ids) if g < 0 or int(g) not in row_of]
    kept_routes = np.array([str(routes[i]) for i in keep], dtype=object)
    kept_labels = labels[keep].astype(str)
    coverage = {
        "asked": len(task.genes),
        "found": len(keep),
        "share": round(len(keep) / max(len(task.genes), 1), 4),
        "by_route": _counts(kept_routes),
        "missing": len(missing),
        "missing_examples": missing[:20],
        **_why_missing(missing, index),
        "conflicting_labels": conflicting,
        "repeated": repeated,  # task rows naming a gene an earlier row already named
        "classes": _counts(kept_labels),
    }
    # mouse-style names ("Cd3e") in a human version: matched, but say so
    coverage["mouse_style"] = len(case_style_examples(task.genes, genes["symbol"]))
    rows = np.array([row_of[int(gene_ids[i])] for i in keep], dtype=np.int64)
    task_rows = np.array(keep, dtype=np.int64)
    return Matched(rows, kept_labels, coverage, task_rows, kept_routes)


def _counts(values: np.ndarray) -> dict[str, int]:
    """How often each value occurs, the commonest first."""
    return {str(k): int(v) for k, v in pd.Series(values, dtype=object).value_counts().items()}


def _why_missing(missing: list[str], index: GeneIndex) -> dict[str, Any]:
    """Missing names a user can fix: dates a spreadsheet made of symbols (SEPT2 -> 2-Sep), and
    names several genes share (an old symbol such as SEPT2), which match none of them."""
    dates = spreadsheet_dates(missing)
    shared = index.shared_names(missing)
    own = sorted({parsed.prefix for e in index.ensembl if (parsed := parse_ensembl(e))})
    foreign = foreign_prefixes(missing, own)
    return {
        "missing_other_species": foreign,  # Ensembl prefix -> names, for no prefix of the version
        "version_ensembl_prefixes": own,
        "missing_dates": len(dates),
        "missing_date_examples": dates[:3],
        "missing_shared": len(shared),
        "missing_shared_examples": shared[:5],
    }
