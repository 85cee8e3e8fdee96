"""Aggregation: mean ± sample std over seeds, the per-(dataset, method) summary, the growth
exponent of time in cells."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from cellmodel.bench.registry import get_method
from cellmodel.bench.settings import METRICS


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof=1; None for fewer than two values)."""
    if not values:
        return math.nan, None
    array = np.asarray(values, dtype=float)
    return float(array.mean()), (float(array.std(ddof=1)) if array.size > 1 else None)


def summarize(
    runs: Sequence[dict[str, Any]], cells: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per (dataset, method): every metric and the seconds as mean ± std over seeds."""
    rows = []
    for cell in cells:
        mine = [
            r for r in runs if r["dataset"] == cell["dataset"] and r["method"] == cell["method"]
        ]
        row: dict[str, Any] = {
            "dataset": cell["dataset"],
            "method": cell["method"],
            "status": cell["status"],
            "n_seeds": len(mine),
            "n_cells": cell.get("n_cells"),
            "n_classes": cell.get("n_classes"),
            "peak_rss_mb": cell.get("peak_rss_mb"),
        }
        for key in (*METRICS, "seconds", "n_clusters"):
            mean, std = mean_std([float(r[key]) for r in mine])
            row[key] = {
                "mean": None if math.isnan(mean) else round(mean, 6),
                "std": None if std is None else round(std, 6),
            }
        rows.append(row)
    return rows


def growth_exponent(sizes: Sequence[float], seconds: Sequence[float]) -> float | None:
    """Slope of log(seconds) against log(cells): 1 is linear growth; None with < 2 sizes."""
    pairs = [(n, s) for n, s in zip(sizes, seconds, strict=True) if n > 0 and s and s > 0]
    if len({n for n, _ in pairs}) < 2:
        return None
    x = np.log([n for n, _ in pairs])
    y = np.log([s for _, s in pairs])
    return float(np.polyfit(x, y, 1)[0])


def scale_summary(
    summary: Sequence[dict[str, Any]], warmups: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """Per method: cells, seconds per seed, peak memory, and the fitted growth exponent."""
    warm_s = {w["dataset"]: sum(s["seconds"] for s in w.get("steps", [])) for w in warmups}
    out: dict[str, Any] = {}
    for method in dict.fromkeys(r["method"] for r in summary):
        rows = [r for r in summary if r["method"] == method and r["status"] == "ok"]
        rows.sort(key=lambda r: r["n_cells"] or 0)
        points = [
            {
                "dataset": r["dataset"],
                "n_cells": r["n_cells"],
                "seconds": r["seconds"]["mean"],
                "peak_rss_mb": r["peak_rss_mb"],
                "ari": r["ari"]["mean"],
                "warmup_seconds": warm_s.get(r["dataset"])
                if get_method(method).needs_store
                else None,
            }
            for r in rows
        ]
        out[method] = {
            "points": points,
            "growth_exponent": growth_exponent(
                [p["n_cells"] for p in points], [p["seconds"] for p in points]
            ),
        }
    return out
