"""`evaluate`: embedding versions × gene tasks, each beside its controls, on the same genes."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genekb.ensembl import foreign_prefix_note
from genekb.errors import GenekbError, GenekbWarning, UsageError, check_whole, warn
from genekb.eval.controls import DEPTH_COLUMNS, FEATURE_SETS, annotation_depth, feature_sets
from genekb.eval.leakage import leakage_report
from genekb.eval.probe import C_GRID, DEFAULT_C, INNER_FOLDS, cross_validate
from genekb.eval.task_matching import Matched, match_task
from genekb.eval.tasks import (
    DEFAULT_TASKS,
    MIN_PER_CLASS,
    Task,
    resolve_task,
    task_from_table,
)
from genekb.genemap import lookalike_note
from genekb.progress import active_stage_hook
from genekb.settings import MAX_SEEDS
from genekb.snapshot_names import snapshot_index
from genekb.store.store import EmbeddingVersion

MIN_FOUND = 20  # fewer matched genes than this cannot support a 5-fold probe


def _version_info(version: EmbeddingVersion) -> dict[str, Any]:
    spec = version.spec
    return {
        "id": version.id,
        "tag": version.tag,
        "model": spec.name,
        "backend": spec.backend,
        "template": version.manifest.get("template", {}).get("id"),
        "dim": version.dim,
        "n_genes": int(version.manifest.get("counts", {}).get("genes", 0)),
    }


def _records_by_row(version: EmbeddingVersion, ids: np.ndarray) -> pd.DataFrame:
    """The text version's records (text and annotation columns) in the order of `ids`."""
    frame = version.text.table(["gene_id", *DEPTH_COLUMNS]).to_pandas()
    return frame.set_index("gene_id").reindex(ids.astype(np.int64)).reset_index()


def _skip_reason(coverage: dict[str, Any], folds: int, imported: bool = False) -> str | None:
    """Why a task cannot be scored on a version, naming the cause (None when it can); an
    `imported` version gains genes by another import, not by a build."""
    found, asked, counts = coverage["found"], coverage["asked"], coverage["classes"]
    smallest = min(counts.values()) if counts else 0
    if asked < MIN_FOUND:
        return f"the task names {asked} genes; a score needs at least {MIN_FOUND}: add genes to it"
    if found < MIN_FOUND and "found_in_version" in coverage:  # common_genes: the others lack them
        return (
            f"only {found} of {asked} task genes are held by every version compared (this one"
            f" holds {coverage['found_in_version']}; at least {MIN_FOUND} needed); score without"
            " --common-genes (common_genes=False) or compare versions sharing more of them"
        )
    if found < MIN_FOUND:
        return (
            f"only {found} of {asked} task genes are in this version (at least {MIN_FOUND}"
            " needed); "
            + (
                foreign_prefix_note(foreign, coverage.get("version_ensembl_prefixes", []))
                if (foreign := coverage.get("missing_other_species"))
                else "import vectors of more of the task's genes"
                if imported
                else "build a version that holds the task's genes"
            )
            + lookalike_note(coverage.get("missing_examples", ()))
        )
    lost = _lost_note(coverage)
    if len(counts) < 2:
        return f"the task's genes in this version fall in one class ({counts}); it needs two" + lost
    smallest_class = min(counts, key=counts.__getitem__)
    # Fewer folds cannot help a class under MIN_PER_CLASS: name that floor first.
    if smallest < MIN_PER_CLASS:
        return (
            f"class {smallest_class!r} has {smallest} genes in this version (classes {counts});"
            f" each needs at least {MIN_PER_CLASS}" + lost
        )
    if smallest < folds:
        return (
            f"--folds {folds} needs {folds} genes of each class, and class {smallest_class!r} has"
            f" {smallest} here (classes {counts}); use at most --folds {smallest}"
        )
    return None


def _lost_note(coverage: dict[str, Any]) -> str:
    """Why a class shrank: the task genes this version lacks."""
    if not coverage.get("missing"):
        return ""
    examples = ", ".join(coverage.get("missing_examples", ())[:5])
    return f"; {coverage['missing']} task genes are not in this version (e.g. {examples})"


def _fit_counter(stage: str, total: int) -> Callable[[], None] | None:
    """One tick per probe fit to the active progress hook: a 10,000-gene task runs for minutes."""
    hook = active_stage_hook()
    if hook is None:
        return None
    done = [0]
    hook(stage, 0, total)

    def tick() -> None:
        done[0] += 1
        hook(stage, done[0], total)

    return tick


def _as_task(task: str | Path | Task | pd.DataFrame | pd.Series | dict, position: int) -> Task:
    """A task as given: a Task, a DataFrame of genes and labels, a bundled name or a file."""
    if isinstance(task, Task):
        return task
    if isinstance(task, pd.DataFrame | pd.Series | dict):
        return task_from_table(task, f"table{position + 1}")
    if not isinstance(task, str | Path):  # an array was read as its rows' text: "unknown task"
        raise UsageError(
            "a task is a bundled name, a CSV/TSV path, a DataFrame (gene, label) or a Series of"
            f" gene -> label, not {type(task).__name__}"
        )
    return resolve_task(str(task))


def _named_apart(tasks: list[Task]) -> list[Task]:
    """Tasks whose results can be told apart: a task given twice is refused, and two files of one
    name in different folders (a/labels.csv, b/labels.csv) are named by their paths."""
    seen = Counter((t.name, t.source) for t in tasks)
    twice = [name for (name, _), n in seen.items() if n > 1]
    if twice:
        raise UsageError(f"task {twice[0]!r} is given twice; give each task once")
    names = Counter(t.name for t in tasks)
    return [replace(t, name=t.source) if names[t.name] > 1 and t.source else t for t in tasks]


def _match(version: EmbeddingVersion, task: Task) -> tuple[Matched, np.ndarray, np.ndarray]:
    """The task matched to the version's genes, with the version's ids and matrix."""
    ids, matrix = version.matrix()
    genes = version.text.table(["gene_id", "symbol", "aliases", "ensembl"]).to_pandas()
    snapshot = snapshot_index(version.text.manifest.get("source") or {}, version.taxon)
    return match_task(task, genes, ids, snapshot), ids, matrix


def _shared_rows(
    versions: Sequence[EmbeddingVersion], tasks: list[Task], folds: int, common_genes: bool
) -> dict[str, frozenset[int]]:
    """Per task that the versions hold different genes of, the task rows every version that can
    be scored holds. Scored on its own genes, a version holding fewer (an import missing half the
    task) looked better or worse for the genes alone, beside a row it cannot be compared with;
    with `common_genes` each is scored on the shared rows, else a warning says so."""
    shared: dict[str, frozenset[int]] = {}
    if len(versions) < 2:
        return shared
    for task in tasks:
        found: dict[str, frozenset[int]] = {}
        for version in versions:
            matched = _match(version, task)[0]
            if _skip_reason(matched.coverage, folds) is None:
                found[version.tag or version.id] = frozenset(map(int, matched.task_rows))
        if len(set(found.values())) < 2:
            continue
        common = frozenset.intersection(*found.values())
        if common_genes:
            shared[task.name] = common
            continue
        held = ", ".join(f"{name} {len(rows):,}" for name, rows in found.items())
        warn(
            f"task {task.name}: the versions hold different genes of it ({held} of"
            f" {len(task.genes):,}), so their rows are scored on different genes and are not"
            f" comparable; --common-genes (common_genes=True) scores each on the {len(common):,}"
            " genes all hold",
            GenekbWarning,
        )
    return shared


def evaluate_one(
    version: EmbeddingVersion,
    task: Task,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    folds: int = 5,
    names: Sequence[str] = FEATURE_SETS,
    leakage: bool = True,
    tune: bool = False,
    only: frozenset[int] | None = None,
) -> dict[str, Any]:
    """One version on one task: coverage, every feature set's CV score, the leakage report.
    `only`: the task rows to score (those every compared version holds), else all it holds."""
    start = time.perf_counter()
    matched, ids, matrix = _match(version, task)
    if only is not None:
        matched = matched.restricted(only)
    result: dict[str, Any] = {
        "version": _version_info(version),
        "task": task.name,
        "coverage": matched.coverage,
    }
    skipped = _skip_reason(matched.coverage, folds, version.spec.backend == "imported")
    if skipped:
        result["skipped"] = skipped
        return result
    vectors = matrix[matched.rows]
    records = _records_by_row(version, ids).iloc[matched.rows].reset_index(drop=True)
    texts = records["text"].fillna("").tolist()
    depth = annotation_depth(records.assign(text=texts))
    binary = task.kind == "binary"
    positive = task.positive or (task.classes[1] if binary else None)
    builders = feature_sets(vectors, texts, binary=binary, names=names, tune=tune, depth=depth)
    result["metric"] = "roc_auc" if binary else "macro_f1"
    result["positive"] = positive
    result["scores"] = {}
    tick = _fit_counter(f"eval: {task.name}", len(builders) * len(seeds) * folds)
    for name, build in builders.items():
        probe = cross_validate(
            build, matched.labels, positive=positive, seeds=seeds, folds=folds, on_fold=tick
        )
        result["scores"][name] = probe.to_dict()
    if leakage:
        result["leakage"] = leakage_report(texts, matched.labels, task.leak_terms)
    result["seconds"] = round(time.perf_counter() - start, 2)
    return result


def evaluate(
    versions: Sequence[EmbeddingVersion],
    tasks: str | Path | Task | pd.DataFrame | pd.Series | dict | Sequence[Any] = (DEFAULT_TASKS),
    *,
    seeds: int = 3,
    folds: int = 5,
    feature_sets: str | Sequence[str] = FEATURE_SETS,
    leakage: bool = True,
    tune: bool = False,
    common_genes: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Cross-validated probes of each version on each task, beside random, shuffled and
    bag-of-words controls of the same genes. Labels only score; every choice is made inside the
    training folds. Returns one JSON-ready document. Versions holding different genes of a task
    are warned of; `common_genes` scores each on the task genes all of them hold."""
    if not versions:
        raise UsageError("no embedding version to evaluate")
    # a tag and its id, or one ref twice: every fit ran twice for two identical rows
    twice = [vid for vid, n in Counter(v.id for v in versions).items() if n > 1]
    if twice:
        raise UsageError(f"version {twice[0]} is given twice; give each version once")
    check_whole(seeds, "seeds")  # "3" or 2.5 failed deep inside ("'<=' not supported")
    check_whole(folds, "folds", 2)
    if not 1 <= seeds <= MAX_SEEDS or folds < 2:
        raise UsageError(f"need 1 to {MAX_SEEDS:,} seeds and at least 2 folds")
    feature_sets = [feature_sets] if isinstance(feature_sets, str) else list(feature_sets)
    unknown = [n for n in feature_sets if n not in FEATURE_SETS]
    if unknown:
        raise UsageError(f"unknown feature set(s) {unknown}; choose from {list(FEATURE_SETS)}")
    # a bare name read as letters ("m"); a Series or dict as its labels, each a task name
    if isinstance(tasks, str | Path | Task | pd.DataFrame | pd.Series | dict):
        tasks = [tasks]
    resolved = _named_apart([_as_task(t, i) for i, t in enumerate(tasks)])
    start = time.perf_counter()
    shared = _shared_rows(versions, resolved, folds, common_genes)
    results = []
    for version in versions:
        for task in resolved:
            if log:
                log(f"eval: {version.tag or version.id} on {task.name}")
            results.append(
                evaluate_one(
                    version,
                    task,
                    seeds=tuple(range(seeds)),
                    folds=folds,
                    names=feature_sets,
                    leakage=leakage,
                    tune=tune,
                    only=shared.get(task.name),
                )
            )
    if all("skipped" in r for r in results):
        raise GenekbError(
            "no task could be evaluated: "
            + "; ".join(f"{r['task']}: {r['skipped']}" for r in results[:2])
        )
    return {
        "params": {
            "seeds": list(range(seeds)),
            "folds": folds,
            "probe": "L2 logistic regression (balanced classes), "
            + (
                f"C chosen by inner {INNER_FOLDS}-fold CV on each training fold from {list(C_GRID)}"
                if tune
                else f"C = {DEFAULT_C} fixed"
            ),
            "features": "vectors standardised on the training fold; TF-IDF fitted on it",
            "feature_sets": list(feature_sets),
            "common_genes": common_genes,
        },
        "tasks": [t.summary() for t in resolved],
        "results": results,
        "seconds": round(time.perf_counter() - start, 2),
    }
