"""The refinement tables of docs/refine.md from `scripts/exp_refine.py`'s runs.

    python scripts/refine_table.py artifacts/refine/runs.jsonl \
        --default docs/data/cluster_design_set_runs.jsonl

Per dataset: ARI mean ± sample std over seeds of the default (the graph encoder, from the design
set's recorded runs), k-means on the same PCA, and every refinement variant; the mean over
datasets; leave-one-dataset-out among the default and the refinement variants (a knowledge or
both variant on a file without gene names counts as the data graph there, what a user would
get); and the knowledge-graph verdict (knowledge against data and against its shuffled control,
per dataset and over the (dataset, seed) pairs).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

VARIANTS = ("data", "data:rewired", "knowledge", "knowledge:shuffled", "knowledge:random", "both")
COLUMNS = ("default", "pca-kmeans", *VARIANTS)


def load(runs_path: Path, default_path: Path) -> dict[str, dict[str, dict[int, float]]]:
    """dataset -> column -> seed -> ARI."""
    per: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    fallback: list[tuple[str, str, int]] = []
    for line in runs_path.read_text().splitlines():
        run = json.loads(line)
        d, s, v = run["dataset"], run["seed"], run["variant"]
        if "error" in run:
            fallback.append((d, v, s))
            continue
        per[d][v][s] = run["ari"]
        per[d]["pca-kmeans"][s] = run["ari_pca_kmeans"]
    for d, v, s in fallback:  # knowledge refused (no gene names): the user gets the data graph
        if s in per[d]["data"]:
            per[d][v + "*"][s] = per[d]["data"][s]
    for line in default_path.read_text().splitlines():
        run = json.loads(line)
        # the default only at the seeds the refinement ran, so the columns pair seed by seed
        if run["dataset"] in per and run["seed"] in per[run["dataset"]]["data"]:
            per[run["dataset"]]["default"][run["seed"]] = run["ari"]["encoder"]
    return per


def fmt(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.3f} (1 seed)"
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return f"{np.mean(values):.3f} ± {std:.3f}"


def column(per: dict, dataset: str, name: str) -> list[float]:
    values = per[dataset].get(name) or per[dataset].get(name + "*") or {}
    return [values[s] for s in sorted(values)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path)
    parser.add_argument("--default", type=Path, required=True)
    args = parser.parse_args()
    per = load(args.runs, args.default)
    datasets = sorted(per, key=lambda d: -max(len(v) for v in per[d].values()))
    print("| dataset | seeds | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    means: dict[str, list[float]] = defaultdict(list)
    for d in datasets:
        seeds = len(column(per, d, "data"))
        cells = []
        for c in COLUMNS:
            values = column(per, d, c)
            star = "*" if c not in per[d] and c + "*" in per[d] else ""
            cells.append(fmt(values) + star)
            if values:
                means[c].append(float(np.mean(values)))
        print(f"| {d} | {seeds} | " + " | ".join(cells) + " |")
    print("| mean | | " + " | ".join(f"{np.mean(means[c]):.3f}" for c in COLUMNS) + " |")
    complete = [d for d in datasets if all(column(per, d, c) for c in COLUMNS)]
    rules = ("default", *VARIANTS)
    print(f"\nLeave-one-dataset-out over {len(complete)} datasets:")
    for held in complete:
        others = [d for d in complete if d != held]
        rule = max(rules, key=lambda r: np.mean([np.mean(column(per, d, r)) for d in others]))
        print(f"- {held}: {rule} -> {fmt(column(per, held, rule))}")
    verdict(per, [d for d in datasets if "knowledge" in per[d]])


def verdict(per: dict, named: list[str]) -> None:
    """Knowledge against data and against shuffled, per dataset and paired over seeds."""
    print("\nKnowledge graph against data graph and its shuffled control (named datasets):")
    pairs: dict[str, list[float]] = defaultdict(list)
    for d in named:
        k, dd, sh = (per[d][v] for v in ("knowledge", "data", "knowledge:shuffled"))
        seeds = sorted(set(k) & set(dd) & set(sh))
        for s in seeds:
            pairs["knowledge - data"].append(k[s] - dd[s])
            pairs["knowledge - shuffled"].append(k[s] - sh[s])
        km, dm, sm = (np.mean([v[s] for s in seeds]) for v in (k, dd, sh))
        print(f"- {d}: knowledge {km:.3f}, data {dm:.3f}, shuffled {sm:.3f}"
              f" ({'beats both' if km > max(dm, sm) else 'does not beat both'})")  # fmt: skip
    for name, diffs in pairs.items():
        wins = sum(x > 0 for x in diffs)
        print(f"- {name}: {fmt(diffs)} over {len(diffs)} (dataset, seed) pairs; {wins} positive")


if __name__ == "__main__":
    main()
