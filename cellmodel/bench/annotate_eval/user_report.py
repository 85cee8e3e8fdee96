"""`cellmodel bench --task annotate` over several files: each file graded (`user_files`), the
groups pooled over files, and the Markdown page a user reads."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cellmodel.bench.annotate_eval.ontology_runs import GRADES, RANKINGS
from cellmodel.bench.annotate_eval.user_files import CONTROLS, evaluate_file, file_truth
from cellmodel.bench.data import DatasetRef, load_dataset
from genekb.errors import GenekbError
from genekb.fileio import atomic_write
from genekb.store.store import Store

FILES = ("annotate_eval.json", "annotate_eval.md")
ALL = "all files"


def evaluate_files(
    refs: Sequence[DatasetRef],
    store: Store,
    *,
    ontology_key: str | None = None,
    label_map: dict[str, str] | None = None,
    seeds: int = 2,
    reading: dict[str, Any] | None = None,
    root: str | None = None,
    out: Path | None = None,
    command: str = "",
    log: Callable[[str], None] = lambda _: None,
    **settings: Any,
) -> dict[str, Any]:
    """Grade each file's named groups, pool them, and (with `out`) write `FILES` there.
    `settings`: `annotate`'s (e.g. `model`; `progress`, a `(stage, done, total)` hook)."""
    began = time.perf_counter()
    check_truths(refs, root, ontology_key, label_map)
    files: dict[str, Any] = {}
    progress = settings.pop("progress", None)
    for ref in refs:
        log(f"{ref.name}: reading")
        adata = load_dataset(ref, root)
        assert ref.label_key is not None  # `parse_datasets` refuses a file without one
        # each file's stages named apart: a stage seen again was counted on ("0/1 (0%)")
        steps = progress and (lambda st, d, t, n=ref.name: progress(f"{n}: {st}", d, t))
        files[ref.name] = evaluate_file(
            adata, ref.label_key, store, ontology_key=ontology_key, label_map=label_map,
            seeds=seeds, reading=reading, log=lambda line, n=ref.name: log(f"{n}: {line}"),
            progress=steps, **settings,
        )  # fmt: skip
    report = {
        "command": command,
        "seeds": seeds,
        "files": files,
        "summary": summary(files),
        "seconds": round(time.perf_counter() - began, 1),
    }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / name for name in FILES]
        report["written"] = [str(p) for p in paths]
        atomic_write(paths[0], (json.dumps(report, indent=1) + "\n").encode())
        atomic_write(paths[1], markdown(report).encode())
    return report


def check_truths(
    refs: Sequence[DatasetRef],
    root: str | None,
    ontology_key: str | None,
    label_map: dict[str, str] | None,
) -> None:
    """Refuse, before any file is scored (minutes each), a file none of whose groups can be
    graded or whose truth is bad, naming the file."""
    if len(refs) < 2:
        return  # the one file's truth is read first anyway
    for ref in refs:
        assert ref.label_key is not None
        try:
            with warnings.catch_warnings():  # said when the file is scored
                warnings.simplefilter("ignore")
                file_truth(load_dataset(ref, root), ref.label_key, ontology_key, label_map)
        except GenekbError as exc:
            raise type(exc)(f"{ref.name}: {exc}") from None


def summary(files: dict[str, Any]) -> dict[str, Any]:
    """Per file and over all files' groups pooled: per ranking, the real vectors' shares and each
    control's mean and sd over its draws."""
    rows: dict[str, Any] = {}
    for name, result in [*files.items(), (ALL, _pooled(files))]:
        rows[name] = {r: _ranking_row(result, r) for r in RANKINGS}
        rows[name]["n_groups"] = result["n_groups"]
    return rows


def _pooled(files: dict[str, Any]) -> dict[str, Any]:
    """Every file's groups as one set: counts summed draw by draw."""
    pooled: dict[str, Any] = {"n_groups": sum(f["n_groups"] for f in files.values())}
    keys = {k for f in files.values() for k in f if "|" in k}
    for key in keys:
        draws = zip(*(f[key] for f in files.values()), strict=True)
        pooled[key] = [_summed(d) for d in draws]
    return pooled


def _summed(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    n = sum(p["n_groups"] for p in parts)
    counts = {g: sum(p[g] for p in parts) for g in (*GRADES, "wrong_lineage")}
    return {
        "n_groups": n,
        **counts,
        "exact_pct": 100 * counts["exact"] / n,
        "exact_partial_pct": 100 * (counts["exact"] + counts["partial"]) / n,
        "wrong_lineage_pct": 100 * counts["wrong_lineage"] / n,
    }


def _ranking_row(result: dict[str, Any], ranking: str) -> dict[str, Any]:
    real = result[f"{ranking}|real"][0]
    row = {k: round(real[k], 1) for k in ("exact_pct", "exact_partial_pct", "wrong_lineage_pct")}
    for control in CONTROLS:
        values = [d["exact_partial_pct"] for d in result.get(f"{ranking}|{control}", [])]
        if values:
            row[f"exact_partial_pct_{control}"] = {
                "mean": round(float(np.mean(values)), 1),
                "sd": round(float(np.std(values)), 1),
                "draws": len(values),
            }
    return row


def markdown(report: dict[str, Any]) -> str:
    """The page: the graded table, then each file's calls and the labels not scored."""
    lines = [
        "# Naming true groups over the whole Cell Ontology (no candidates, no tissue)",
        "",
        f"`{report['command']}`" if report["command"] else "",
        "",
        "Exact: the truth's CL term; partial: an is_a ancestor or descendant that is not generic;"
        " wrong lineage: a wrong call of another lineage. The controls replace the store's gene"
        f" vectors (shuffled or random, {_draws(report['seeds'])} each): a call the knowledge"
        " carries falls with them, one the marker table carries stays, so the gap between the"
        " real vectors' row and the controls' is what the knowledge adds.",
        "",
        "| file | groups | ranking | exact | exact + partial | wrong lineage"
        " | e+p, shuffled vectors | e+p, random vectors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in report["summary"].items():
        for ranking, title in RANKINGS.items():
            r = row[ranking]
            controls = [_mean_sd(r.get(f"exact_partial_pct_{c}")) for c in CONTROLS]
            lines.append(
                f"| {name} | {row['n_groups']} | {title} | {r['exact_pct']:.0f} %"
                f" | {r['exact_partial_pct']:.0f} % | {r['wrong_lineage_pct']:.0f} %"
                f" | {controls[0]} | {controls[1]} |"
            )
    lines += ["", *_list_table(report["files"])]
    for name, result in report["files"].items():
        lines += ["", *_calls_section(name, result)]
    return "\n".join(lines) + "\n"


def _list_table(files: dict[str, Any]) -> list[str]:
    """Groups named exactly when the file's own terms are the candidate list, per ranking."""
    lines = [
        "With a candidate list (each file's own CL terms), the groups named exactly at rank 1:",
        "",
        "| file | groups | candidates | default | text | mentions | processes | knowledge"
        " | marker table | best single channel |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, result in files.items():
        own = result["own_list"]
        n = own["exact"]
        if n is None:
            lines.append(f"| {name} | {own['n_groups']} | {own['n_candidates']} |" + " – |" * 7)
            continue
        best = own["best_single"]
        lines.append(
            f"| {name} | {own['n_groups']} | {own['n_candidates']} | {n['combined']} | {n['text']}"
            f" | {n['mentions']} | {n['processes']} | {n['knowledge']} | {n['markerdb']}"
            f" | {best['exact']} ({best['channel']}) |"
        )
    return lines


def _draws(n: int) -> str:
    return f"{n} draw" if n == 1 else f"{n} draws"


def _mean_sd(stat: dict[str, Any] | None) -> str:
    return f"{stat['mean']:.0f} ± {stat['sd']:.0f} %" if stat else "–"


def _calls_section(name: str, result: dict[str, Any]) -> list[str]:
    truth = result["truth"]
    lines = [
        f"## {name}: the default's calls (species {result.get('taxon')}; truth from"
        f" {truth['source']})",
        "",
        "| group | cells | truth | call | grade | confidence |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["calls"]:
        grade = row["grade"] + (", other lineage" if row["wrong_lineage"] else "")
        conf = "–" if row["confidence"] is None else f"{row['confidence']:.2f}"
        lines.append(
            f"| {_cell(row['group'])} | {row['n_cells']} | {row['truth_label']} ({row['truth']})"
            f" | {row['call_label'] or 'no name'} ({row['call'] or '–'}) | {grade} | {conf} |"
        )
    if truth["unscored"]:
        listed = "; ".join(f"{_cell(k)}: {v}" for k, v in truth["unscored"].items())
        lines += ["", f"Named, not scored: {listed}."]
    for note in (result.get("input") or {}).get("notes", []):
        lines += ["", f"Note: {note}"]
    if truth.get("n_left_out"):
        lines += ["", f"Left out: {truth['n_left_out']} cells with a missing or blank label."]
    return lines


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
