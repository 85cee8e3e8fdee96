"""Per-cell calls (`cellmodel annotate --per-cell`) against the groups' calls, end to end, on
the `cellmodel cluster` clusters of the registry datasets: the share of cells named exactly by
their cluster's call and by their own call, and, of the cells whose own call differs from their
cluster's, the share each gets right (docs/annotate_per_cell.md). Labels only score."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from cellmodel import datasets
from cellmodel.annotate import annotate, report_of
from cellmodel.bench.annotate_eval.cases import DATASETS, cells_truth
from cellmodel.bench.clusters import cached_cluster
from genekb.store.store import Store

PER_CELL_HEADER = (
    "| dataset | cells | candidates | method | cells right: cluster's call | own call |"
    " cells whose call differs | of those right: cluster's call | own call |",
    "|---|---|---|---|---|---|---|---|---|",
)


def score_cells(out, truth: np.ndarray) -> list[float]:
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


def format_cells(scored: list[list[float]]) -> list[str]:
    """A table row's cells: one run's scores as they are, several runs' as mean ± std (ddof 1)."""
    arr = np.array(scored, dtype=float)
    if len(arr) == 1:
        return [f"{v:.0f}" if i == 2 else f"{v:.3f}" for i, v in enumerate(arr[0])]
    return [f"{m:.3f} ± {s:.3f}" for m, s in zip(arr.mean(0), arr.std(0, ddof=1), strict=True)]


def per_cell_rows(
    root: Path, clusters: Path | None, seeds: int, label_map: Path, log: Callable[[str], None]
) -> Iterator[str]:
    """The table's rows, dataset by dataset as each is done: the default and knowledge over the
    dataset's own CL terms, knowledge with shuffled gene vectors (seeds 0..seeds-1), and the
    default over all CL terms, on the clusters kept in (or written to) `clusters`."""
    store = Store.open(root, create=True)
    cache = datasets.default_cache_dir(root)
    for name in DATASETS:
        adata = datasets.load(name, cache_dir=cache)
        truth = cells_truth(adata, name, label_map)
        clustered, _ = cached_cluster(adata, name, clusters)
        own = sorted(set(truth.to_numpy()) - {"nan", ""})
        runs = [("own", own, "combined", "real", 0), ("own", own, "knowledge", "real", 0)]
        runs += [("own", own, "knowledge", "shuffled", s) for s in range(seeds)]
        runs += [("all CL", None, "combined", "real", 0)]
        rows: dict[tuple[str, str, str], list] = {}
        for cands_name, cands, method, vectors, seed in runs:
            out = annotate(
                clustered, store, groupby="cellmodel_cluster", candidates=cands, method=method,
                gene_vectors=vectors, seed=seed, per_cell=True, copy=True,
            )  # fmt: skip
            rows.setdefault((cands_name, method, vectors), []).append(
                score_cells(out, truth.to_numpy())
            )
            log(f"{name} {cands_name} {method} {vectors} {seed} done")
        for (cands_name, method, vectors), scored in rows.items():
            label = method + (" (shuffled)" if vectors == "shuffled" else "")
            cells = " | ".join(format_cells(scored))
            yield f"| {name} | {adata.n_obs} | {cands_name} | {label} | {cells} |"
