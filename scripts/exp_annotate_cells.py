"""Per-cell calls (`cellmodel annotate --per-cell`) against the groups' calls, end to end.

    python scripts/exp_annotate_cells.py --root STORE [--clusters DIR] [--seeds 3]

For each registry dataset of `exp_annotate.DATASETS`: `cellmodel cluster` (expression only, seed
0; reused from DIR, the folder `exp_annotate.py --out` keeps them in), then `annotate --per-cell`
on the clusters. Scored against each cell's CL id (labels only score): the share of cells named
exactly by their cluster's call and by their own call, and, of the cells whose own call differs
from their cluster's, the share each gets right. Methods: the default (combined) and knowledge
over the dataset's own CL terms and the default over all CL terms; knowledge with shuffled gene
vectors (seeds 0..N-1) is the control. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from exp_annotate import DATASETS, cells_truth

from cellmodel import datasets
from cellmodel.annotate import annotate, report_of
from cellmodel.bench.clusters import cached_cluster
from genekb.store.store import Store


def _score(out, truth: np.ndarray) -> list[float]:
    """Cells right by the cluster's call and by their own, how many differ, and of those the
    share each call gets right."""
    by_id = {e["label"]: e["cl_id"] for e in report_of(out)["groups"] if e["label"]}
    group = out.obs["cellmodel_annotation"].astype(str).map(by_id).to_numpy()
    cell = out.obs["cellmodel_annotation_cell"].astype(str).map(by_id).to_numpy()
    differ = group != cell
    scores = [float(np.mean(group == truth)), float(np.mean(cell == truth)), float(differ.sum())]
    for calls in (group, cell):
        scores.append(float(np.mean(calls[differ] == truth[differ])) if differ.any() else np.nan)
    return scores


def _cells(scored: list[list[float]]) -> list[str]:
    arr = np.array(scored, dtype=float)
    if len(arr) == 1:
        return [f"{v:.0f}" if i == 2 else f"{v:.3f}" for i, v in enumerate(arr[0])]
    return [f"{m:.3f} ± {s:.3f}" for m, s in zip(arr.mean(0), arr.std(0, ddof=1), strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--clusters", type=Path, help="folder of cached clusters")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the shuffled control")
    args = parser.parse_args()
    store = Store.open(args.root, create=True)
    cache = datasets.default_cache_dir(args.root)
    print(
        "| dataset | cells | candidates | method | cells right: cluster's call | own call |"
        " cells whose call differs | of those right: cluster's call | own call |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in DATASETS:
        adata = datasets.load(name, cache_dir=cache)
        truth = cells_truth(adata, name)
        clustered, _ = cached_cluster(adata, name, args.clusters)
        own = sorted(set(truth.to_numpy()) - {"nan", ""})
        runs = [("own", own, "combined", "real", 0), ("own", own, "knowledge", "real", 0)]
        runs += [("own", own, "knowledge", "shuffled", s) for s in range(args.seeds)]
        runs += [("all CL", None, "combined", "real", 0)]
        rows: dict[tuple[str, str, str], list] = {}
        for cands_name, cands, method, vectors, seed in runs:
            out = annotate(
                clustered, store, groupby="cellmodel_cluster", candidates=cands, method=method,
                gene_vectors=vectors, seed=seed, per_cell=True, copy=True,
            )  # fmt: skip
            rows.setdefault((cands_name, method, vectors), []).append(_score(out, truth.to_numpy()))
            print(f"{name} {cands_name} {method} {vectors} {seed} done", file=sys.stderr)
        for (cands_name, method, vectors), scored in rows.items():
            label = method + (" (shuffled)" if vectors == "shuffled" else "")
            cells = " | ".join(_cells(scored))
            print(f"| {name} | {adata.n_obs} | {cands_name} | {label} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
