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


def leave_one_dataset_out(
    per: dict[str, dict[str, list[float]]], variants: Sequence[str]
) -> dict[str, tuple[str, list[float]]]:
    """For each dataset of `per` (dataset → variant → scores over seeds), the variant with the
    highest mean score on the other datasets (ties: the first in `variants`), with its scores on
    the held-out one: the held-out dataset's labels choose nothing."""
    chosen = {}
    for held in per:
        others = [d for d in per if d != held]
        best = max(variants, key=lambda v: np.mean([np.mean(per[d][v]) for d in others]))
        chosen[held] = (best, per[held][best])
    return chosen


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
            "n_labelled": cell.get("n_labelled"),  # the cells the scores are of
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


BASELINES = ("pca-kmeans", "leiden", "leiden-k")


def standings(
    summary: Sequence[dict[str, Any]], baselines: Sequence[str] = BASELINES
) -> dict[str, Any]:
    """Per dataset: each method's rank by mean ARI (1 = best) and its gap to the best baseline
    there; per method: mean ARI, mean rank and worst gap over the datasets it ran on. Empty when
    no baseline ran."""
    datasets = list(dict.fromkeys(r["dataset"] for r in summary))
    methods = list(dict.fromkeys(r["method"] for r in summary))
    ari = {
        (r["dataset"], r["method"]): r["ari"]["mean"]
        for r in summary
        if r["status"] == "ok" and r["ari"]["mean"] is not None
    }
    per_dataset: dict[str, dict[str, dict[str, float]]] = {}
    for d in datasets:
        base = [ari[(d, b)] for b in baselines if (d, b) in ari]
        scored = sorted((ari[(d, m)] for m in methods if (d, m) in ari), reverse=True)
        if not base:
            continue
        best = max(base)
        per_dataset[d] = {
            m: {"rank": 1 + scored.index(ari[(d, m)]), "gap": round(ari[(d, m)] - best, 6)}
            for m in methods
            if (d, m) in ari
        }
    overall = {}
    for m in methods:
        mine = [per_dataset[d][m] for d in per_dataset if m in per_dataset[d]]
        if not mine:
            continue
        overall[m] = {
            "mean_ari": round(
                float(np.mean([ari[(d, m)] for d in per_dataset if m in per_dataset[d]])), 6
            ),
            "mean_rank": round(float(np.mean([x["rank"] for x in mine])), 3),
            "worst_gap": round(min(x["gap"] for x in mine), 6),
            "n_datasets": len(mine),
        }
    return {"baselines": list(baselines), "per_dataset": per_dataset, "overall": overall}
