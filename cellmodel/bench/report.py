"""Outputs of a run: Markdown tables, the ARI chart, and the JSON / Markdown files."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cellmodel.bench.aggregate import standings
from cellmodel.bench.settings import METRICS
from genekb.fileio import atomic_write, json_safe


def fmt_value(value: tuple[float, float | None] | dict[str, Any] | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    mean, std = (value["mean"], value["std"]) if isinstance(value, dict) else value
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    return f"{mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")


def _dataset_heading(dataset: str, row: dict[str, Any]) -> str:
    """The dataset's name, its cells (and the labelled ones the scores are of) and k."""
    labelled = row.get("n_labelled")
    scored = f", {labelled} labelled" if labelled and labelled != row["n_cells"] else ""
    return (
        f"**{dataset}** ({row['n_cells'] or '?'} cells{scored}, k ="
        f" {row['n_classes'] or '?'} label classes):"
    )


def render_markdown(report: dict[str, Any]) -> str:
    """The tables of a report: ARI overview, one table per dataset, warm-up, failures, scale."""
    summary = report["summary"]
    datasets = list(dict.fromkeys(r["dataset"] for r in summary))
    methods = list(dict.fromkeys(r["method"] for r in summary))
    seeds = report["config"]["seeds"]
    lines = [f"Mean ± sample std over {len(seeds)} seed(s) ({', '.join(map(str, seeds))}).", ""]
    control = report["config"].get("gene_vectors", "real")
    if control != "real":
        lines += [
            f"**Control run:** `--gene-vectors {control}` replaced the real gene vectors of every"
            " method that uses them.",
            "",
        ]
    by_key = {(r["dataset"], r["method"]): r for r in summary}
    lines += ["ARI by method and dataset (mean ± std over seeds; seconds per seed):", ""]
    lines += [_row(["method", *datasets]), _row(["---"] * (len(datasets) + 1))]
    for method in methods:
        cells = [_ari_and_seconds(by_key.get((d, method))) for d in datasets]
        lines.append(_row([method, *cells]))
    lines += render_standings(standings(summary))
    for dataset in datasets:
        first = next(r for r in summary if r["dataset"] == dataset)
        lines += [
            "",
            _dataset_heading(dataset, first),
            "",
            _row(
                ["method", "ACC", "NMI", "ARI", "macro-F1", "s / seed", "peak RSS MB", "clusters"]
            ),
            _row(["---"] * 8),
        ]
        for method in methods:
            r = by_key.get((dataset, method))
            if r is None:
                continue
            if r["status"] != "ok":
                lines.append(_row([method, *(["failed"] + ["–"] * 6), "–"]))
                continue
            lines.append(
                _row(
                    [
                        method,
                        *(fmt_value(r[m]) for m in METRICS),
                        fmt_value(r["seconds"], 2),
                        f"{r['peak_rss_mb']:.0f}",
                        fmt_value(r["n_clusters"], 1),
                    ]
                )
            )
    lines += _warmup_table(report.get("warmup") or [])
    if report.get("scale"):
        lines += ["", *render_scale(report["scale"])]
    if report["failures"]:
        lines += ["", "Failures:", ""]
        lines += [f"- {f['dataset']} × {f['method']}: {f['error']}" for f in report["failures"]]
    resumed = [c for c in report.get("cells", []) if c.get("resumed")]
    if resumed:  # measured by an earlier, interrupted process of the same command
        lines += ["", f"Kept from the interrupted run before: {len(resumed)} (dataset, method)"
                  " run(s), their seconds and memory measured then."]  # fmt: skip
    lines += ["", f"Whole bench: {report['total_seconds']:.0f} s wall."]
    return "\n".join(lines) + "\n"


def _warmup_table(warmup: list[dict[str, Any]]) -> list[str]:
    """The warm-up's lines (none where nothing warmed up)."""
    if not warmup:
        return []
    lines = [
        "",
        "Warm-up (label-free, shared, once per dataset; not in the seconds above):",
        "",
        _row(["dataset", "passes (gene vectors × seeds)", "seconds", "peak RSS MB"]),
        _row(["---"] * 4),
    ]
    for w in warmup:
        steps = w.get("steps", [])
        secs = sum(s["seconds"] for s in steps) if steps else None
        lines.append(
            _row(
                [
                    w["dataset"],
                    str(len(steps)) if w["status"] == "ok" else f"failed: {w.get('error')}",
                    "–" if secs is None else f"{secs:.1f}",
                    "–" if w.get("peak_rss_mb") is None else f"{w['peak_rss_mb']:.0f}",
                ]
            )
        )
    return lines


def render_standings(table: dict[str, Any]) -> list[str]:
    """Rank (1 = best mean ARI) and gap to the best baseline per dataset, then a summary."""
    per_dataset, overall = table.get("per_dataset", {}), table.get("overall", {})
    if not per_dataset:
        return []
    datasets = list(per_dataset)
    lines = [
        "",
        f"Rank by mean ARI, and ARI minus the best baseline ({', '.join(table['baselines'])})"
        " on that dataset; summary over the datasets:",
        "",
        _row(["method", *datasets, "mean ARI", "mean rank", "worst gap"]),
        _row(["---"] * (len(datasets) + 4)),
    ]
    for method, total in overall.items():
        cells = []
        for d in datasets:
            entry = per_dataset[d].get(method)
            cells.append("–" if entry is None else f"{entry['rank']} ({entry['gap']:+.3f})")
        # A method that failed somewhere is averaged over fewer datasets: say so in its row.
        partial = total.get("n_datasets", len(datasets)) < len(datasets)
        part = f" (over {total['n_datasets']} of {len(datasets)} datasets)" if partial else ""
        lines.append(
            _row(
                [
                    method,
                    *cells,
                    f"{total['mean_ari']:.3f}{part}",
                    f"{total['mean_rank']:.2f}",
                    f"{total['worst_gap']:+.3f}",
                ]
            )
        )
    return lines


def render_scale(scale: dict[str, Any]) -> list[str]:
    lines = [
        "Scale (synthetic NB counts, 2,000 real gene symbols, 10 groups, see"
        " `cellmodel.bench.synthetic_counts`; seconds = method call per seed):",
        "",
        _row(["method", "cells", "s / seed", "peak RSS MB", "ARI", "warm-up s (sentences, store)"]),
        _row(["---"] * 6),
    ]
    for method, data in scale.items():
        for p in data["points"]:
            warm = p.get("warmup_seconds")
            lines.append(
                _row(
                    [
                        method,
                        f"{p['n_cells']:,}",
                        f"{p['seconds']:.1f}",
                        f"{p['peak_rss_mb']:.0f}",
                        f"{p['ari']:.3f}",
                        "–" if warm is None else f"{warm:.0f}",
                    ]
                )
            )
    lines += [""]
    for method, data in scale.items():
        exponent = data["growth_exponent"]
        text = "needs two sizes" if exponent is None else f"{exponent:.2f}"
        lines.append(f"- {method}: time grows as cells^{text} (slope of log time vs log cells)")
    return lines


def _cell_text(row: dict[str, Any] | None, key: str) -> str:
    if row is None:
        return "–"
    return "failed" if row["status"] != "ok" else fmt_value(row[key])


def _ari_and_seconds(row: dict[str, Any] | None) -> str:
    """ARI mean ± std with the seconds per seed: what a method scored beside what it cost."""
    text = _cell_text(row, "ari")
    if row is None or row["status"] != "ok" or row.get("seconds") is None:
        return text
    mean = row["seconds"]["mean"]
    return text if mean is None else f"{text} ({mean:.1f} s)"


def _row(cells: Sequence[str]) -> str:
    # A file's name may hold "|" (a dataset is named by its file): escaped, it stays one cell.
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def plot_ari(report: dict[str, Any], path: Path) -> Path:
    """Grouped bars: ARI per method (groups) and dataset (bars), error bars = sample std; a run
    that failed is marked "failed" where its bar would stand (it was an empty slot, read as an
    ARI of 0)."""
    # A Figure of its own, not pyplot's: `matplotlib.use("Agg")` here switched a notebook that
    # ran the bench to a backend that shows nothing.
    from matplotlib.figure import Figure

    summary = [r for r in report["summary"] if r["status"] == "ok"]
    failed = {(r["dataset"], r["method"]) for r in report["summary"] if r["status"] != "ok"}
    datasets = list(dict.fromkeys(r["dataset"] for r in report["summary"]))
    methods = list(dict.fromkeys(r["method"] for r in report["summary"]))
    by_key = {(r["dataset"], r["method"]): r for r in summary}
    width = 0.8 / max(len(datasets), 1)
    fig = Figure(figsize=(max(6.0, 0.6 * len(methods) * max(len(datasets), 1) + 2), 4.5))
    ax = fig.subplots()
    x = np.arange(len(methods))
    for i, dataset in enumerate(datasets):
        means = [((by_key.get((dataset, m)) or {}).get("ari") or {}).get("mean") for m in methods]
        stds = [((by_key.get((dataset, m)) or {}).get("ari") or {}).get("std") for m in methods]
        where = x + (i - (len(datasets) - 1) / 2) * width
        bars = ax.bar(
            where,
            [np.nan if v is None else v for v in means],
            width,
            yerr=[0.0 if s is None else s for s in stds],
            capsize=2,
            label=dataset,
        )
        for at, method in zip(where, methods, strict=True):
            if (dataset, method) in failed:
                ax.text(at, 0.02, "failed", rotation=90, ha="center", va="bottom", fontsize=7,
                        color=bars.patches[0].get_facecolor())  # fmt: skip
    ax.set_xticks(x)
    ax.set_xticklabels(methods, rotation=40, ha="right")
    ax.set_ylabel("ARI (mean ± std over seeds)")
    ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.0)
    ax.axhline(0.0, color="black", linewidth=0.5)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    return path


BENCH_FILES = ("bench.json", "bench.md", "ari.png")  # what a run writes into its output folder


def write_outputs(report: dict[str, Any], out: Path) -> dict[str, Path]:
    """bench.json, bench.md and ari.png in `out`."""
    files = dict(zip(("json", "markdown", "chart"), (out / f for f in BENCH_FILES), strict=True))
    report["files"] = {k: str(v) for k, v in files.items()}
    write_json(files["json"], json_safe(jsonable(report)))  # strict JSON: --timeout inf
    _write_text(files["markdown"], render_markdown(report))
    plot_ari(report, files["chart"])
    return files


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _write_text(path: Path, text: str) -> None:
    """Through a temporary file and a rename: a reader never sees half a file."""
    atomic_write(path, text.encode())


def write_json(path: Path, document: Any) -> None:
    _write_text(path, json.dumps(jsonable(document), indent=2, default=str) + "\n")
