"""Variants of the merge-split check, tried on the files it helps and the ones it hurts.

    OMP_NUM_THREADS=1 python scripts/exp_merge_split_guards.py --batch --seeds 5 \
        --datasets zeisel2015-3005,stoeckius-cbmc-8617,baron-mouse,paul2015-2660,\
wang2018-starmap-3704,baron-human,cellhint-pancreas,worm-neuron-4186,pbmc68k-reduced,\
wu2020-200,tirosh2016-184
    OMP_NUM_THREADS=1 python scripts/exp_merge_split_guards.py --seeds 3 \
        --datasets baron-mouse:600:123,baron-mouse:400:7,paul2015-2660:500:7

Per dataset and seed (true k, expression only; with `--batch`, the registry's batch column as
`cluster --batch-key auto` uses it) the pipeline's fit runs once without the check
(`cluster(..., merge_split=False)`); its partition is then checked in the pipeline's PCA: not at
all (`none`); with ISODATA's variance rule, as the pipeline did before it was dropped (`check`:
a move must also remove more variance than it adds); without it, as the pipeline does now
(`silhouette`: the silhouette, and with a batch column the batch information, decide); and as
`check` with one more condition on each move, judged on the pipeline's 8-neighbour kNN graph:
- `modularity`: Newman's modularity of the partition must not fall (the criterion Leiden
  optimises);
- `cut`: the share of graph edges between clusters must not grow (the split may cut no more
  edges than the merge joins).
With `--tolerances T1,T2,...` each run also scores `mod<=T`: the check of `silhouette` with
a move refused where it lowers that graph's modularity by more than T (per move, absolute), and
records each `silhouette` move's modularity change (`move_modularity`). `--fits DIR` keeps each
fit (labels, PCA, batch) in DIR and reuses it, so a rerun with other variants does not refit.
`--connectivities C1,C2,...` scores `joined>=C`: the check merging only pairs whose kNN-graph
connectivity (`merge_split.connectivity`) is at least C (the pipeline's floor is
`merge_split.MIN_CONNECTIVITY`). Every variant above tries only the split that removes most
variance (`search="variance"`), as the check did when they were measured. Each run also scores
`split-silhouette`: the floor, and of every cluster's cut beside the first pair to merge the
move with the highest silhouette (`search="split"`); and `moves`, the pipeline's check now: the
same, and when the first pair has no accepted move, the next pair by Ward cost, and so on.
`NAME:N:S` is a subsample of N cells drawn with numpy seed S. JSON lines on stdout: ARI per
rule, the check's moves (the first with the sizes of the merged pair and of the split cluster),
and the modularity and cut share of the partition before and after the check; labels only
score. Each move also carries two more label-free readings of the data it changes:
- `split_dip`: the lowest density between the split halves' centroids along the axis joining
  them, over the lower of the two end densities (the check's own dip measure; 1: no dip);
- `markers`: [merged pair, split halves], how well single genes separate the two groups: the
  mean, over the 10 best genes, of max(AUROC, 1 − AUROC) on the pipeline's log-normalized HVGs.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from cellmodel import datasets
from cellmodel.bench.data import BATCH_COLUMN, hide_labels, reference_labels
from cellmodel.bench.fit_cache import fit_path, load_fit, save_fit
from cellmodel.cluster import merge_split as check
from cellmodel.cluster.batch_column import batch_values
from cellmodel.cluster.job import cluster
from cellmodel.cluster.options import ClusterRun
from cellmodel.metrics import cluster_metrics
from cellmodel.pp import graph
from cellmodel.pp.graph import highly_variable, log_normalize

# Every variant but `split-silhouette` and `moves` tries only the first pair to merge beside the
# split that removes most variance, as the check did when these variants were measured.
VARIANCE = "variance"


def modularity(adjacency: sp.spmatrix, labels: np.ndarray) -> float:
    coo = sp.coo_matrix(adjacency)
    degree = np.bincount(coo.row, weights=coo.data, minlength=len(labels))
    inside = coo.data[labels[coo.row] == labels[coo.col]].sum()
    volume = np.bincount(labels, weights=degree)
    return float(inside / degree.sum() - ((volume / degree.sum()) ** 2).sum())


def uncut(adjacency: sp.spmatrix, labels: np.ndarray) -> float:
    coo = sp.coo_matrix(adjacency)
    return float(coo.data[labels[coo.row] == labels[coo.col]].sum() / coo.data.sum())


def guarded(
    X: np.ndarray, labels: np.ndarray, seed: int, score: Callable, knn: sp.spmatrix, batch: Any
) -> np.ndarray:
    """The check with one more condition: the graph `score` of the partition must not fall."""
    return check.merge_split(
        X,
        labels,
        seed,
        batch,
        condition=lambda now, moved: score(knn, moved) >= score(knn, now),
        variance_rule=True,
        search=VARIANCE,
    ).labels


def tolerant(
    X: np.ndarray, labels: np.ndarray, seed: int, knn: sp.spmatrix, batch: Any, tolerance: float
) -> np.ndarray:
    """The check of `silhouette` with one more condition: a move may lower the graph's modularity
    by at most `tolerance`."""
    return check.merge_split(
        X,
        labels,
        seed,
        batch,
        condition=lambda now, moved: modularity(knn, moved) >= modularity(knn, now) - tolerance,
        search=VARIANCE,
    ).labels


def move_modularity(X: np.ndarray, labels: np.ndarray, seed: int, knn: sp.spmatrix, batch: Any):
    """Each move of the check of `silhouette`, as the change of the graph's modularity it makes."""
    changes: list[float] = []

    def record(now: np.ndarray, moved: np.ndarray) -> bool:
        changes.append(round(modularity(knn, moved) - modularity(knn, now), 4))
        return True

    check.merge_split(X, labels, seed, batch, condition=record, search=VARIANCE)
    return changes


def separation(E: sp.csr_matrix, first: np.ndarray, second: np.ndarray, top: int = 10) -> float:
    """Mean over the `top` genes of max(AUROC, 1 - AUROC) between two cell masks."""
    from scipy.stats import rankdata

    values = E[first | second].toarray()
    inside = first[first | second]
    ranks = rankdata(values, axis=0)
    n1, n0 = inside.sum(), (~inside).sum()
    auc = (ranks[inside].sum(axis=0) - n1 * (n1 + 1) / 2) / (n1 * n0)
    return float(np.sort(np.abs(auc - 0.5) + 0.5)[::-1][:top].mean())


def readings(X: np.ndarray, E: sp.csr_matrix, current: np.ndarray, moved: np.ndarray) -> dict:
    """The split's dip and the marker separation of the merged pair and of the split halves."""
    changed = moved != current  # the merged-away cluster b (now a) and the split half (c, now b)
    (b,) = np.intersect1d(current[changed], moved[changed])
    (a,) = np.setdiff1d(moved[changed], [b])
    (c,) = np.setdiff1d(current[changed], [b])
    half = (current == c) & (moved == b)
    rest = (current == c) & ~half
    ends = X[rest].mean(axis=0), X[half].mean(axis=0)
    axis = (ends[1] - ends[0]) / np.linalg.norm(ends[1] - ends[0])
    dip = check.lowest_density_between(X[current == c] @ axis, ends[0] @ axis, ends[1] @ axis)
    markers = [separation(E, current == a, current == b), separation(E, rest, half)]
    return {"split_dip": round(dip, 3), "markers": [round(m, 3) for m in markers]}


def checked_with_readings(
    X: np.ndarray, E: sp.csr_matrix, fitted: np.ndarray, seed: int, batch: Any
) -> tuple[np.ndarray, list[dict]]:
    """The check's labels and moves with the variance rule (`check`), each with its `readings`;
    the first also with the sizes of the merged pair and of the split cluster."""
    seen: list[dict] = []  # the condition is asked last, so it sees exactly the moves kept

    def record(current: np.ndarray, moved: np.ndarray) -> bool:
        seen.append(readings(X, E, current, moved))
        return True

    checked = check.merge_split(
        X, fitted, seed, batch, condition=record, variance_rule=True, search=VARIANCE
    )
    moves = [{**move, **more} for move, more in zip(checked.moves, seen, strict=True)]
    if moves:
        sizes = np.bincount(fitted)
        moves[0]["sizes"] = [int(sizes[c]) for c in (*moves[0]["merged"], moves[0]["split"])]
    return checked.labels, moves


def load(spec: str):
    name, _, rest = spec.partition(":")
    adata = datasets.load(name)
    if rest:
        size, _, draw = rest.partition(":")
        rows = np.random.default_rng(int(draw or 123)).choice(adata.n_obs, int(size), False)
        adata = adata[np.sort(rows)].copy()
    entry = datasets.get(name)
    return adata, entry.label_key, entry.batch_key


def fit(adata, k: int, seed: int, batch_key: str | None, cache: Path | None, name: str):
    """The pipeline's fit without the check: its labels, PCA and batch (from `cache` if there)."""
    path = None if cache is None else fit_path(cache, name, seed, bool(batch_key))
    if path is not None and path.exists():
        return load_fit(path)
    blind = hide_labels(adata, batch_key)
    key = BATCH_COLUMN if batch_key else None
    cluster(blind, n_clusters=k, use_semantic=False, seed=seed, merge_split=False, batch_key=key)
    fitted = blind.obs["cellmodel_cluster"].astype(int).to_numpy()
    X = np.asarray(blind.obsm["X_pca_expr"])
    batch = batch_values(blind, key)
    if path is not None:
        save_fit(path, (fitted, X, batch))
    return fitted, X, batch


def one_run(
    adata,
    k: int,
    E: sp.csr_matrix,
    seed: int,
    batch_key: str | None,
    tolerances=(),
    cache=None,
    name: str = "",
    connectivities=(),
) -> dict:
    """Every variant's partition of one fit, the check's moves, and the graph's view of them."""
    fitted, X, batch = fit(adata, k, seed, batch_key, cache, name)
    knn = graph.knn_graph(X, ClusterRun.n_neighbors, seed=seed).adjacency
    checked, moves = checked_with_readings(X, E, fitted, seed, batch)
    parts = {
        "none": fitted,
        "check": checked,
        "silhouette": check.merge_split(X, fitted, seed, batch, search=VARIANCE).labels,
        "modularity": guarded(X, fitted, seed, modularity, knn, batch),
        "cut": guarded(X, fitted, seed, uncut, knn, batch),
        **{f"mod<={t:g}": tolerant(X, fitted, seed, knn, batch, t) for t in tolerances},
        **{
            f"joined>={c:g}": check.merge_split(
                X, fitted, seed, batch, adjacency=knn, min_connectivity=c, search=VARIANCE
            ).labels
            for c in connectivities
        },
        # The floor, and the split beside the first pair chosen by the silhouette.
        "split-silhouette": check.merge_split(
            X, fitted, seed, batch, adjacency=knn, search="split"
        ).labels,
        # The pipeline's check as it is now: the first pair with an accepted move.
        "moves": check.merge_split(X, fitted, seed, batch, adjacency=knn).labels,
    }
    extra = {"move_modularity": move_modularity(X, fitted, seed, knn, batch)} if tolerances else {}
    return {
        "parts": parts,
        **extra,
        # What the check did, and how the graph sees the partitions before and after it.
        "moves": moves,
        "modularity": [round(modularity(knn, parts[n]), 4) for n in ("none", "check")],
        "cut_share": [round(1 - uncut(knn, parts[n]), 4) for n in ("none", "check")],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", required=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--batch", action="store_true", help="the registry's batch column")
    parser.add_argument("--tolerances", default="", help="modularity tolerances, e.g. 0,0.02")
    parser.add_argument("--fits", type=Path, help="folder that keeps and reuses the fits")
    parser.add_argument("--connectivities", default="", help="merge floors, e.g. 0.25,0.4")
    args = parser.parse_args()
    tolerances = [float(t) for t in args.tolerances.split(",") if t]
    connectivities = [float(c) for c in args.connectivities.split(",") if c]
    for spec in args.datasets.split(","):
        adata, label_key, batch_key = load(spec)
        truth, mask, k = reference_labels(adata, label_key)
        E = sp.csr_matrix(log_normalize(adata.X))
        E = E[:, highly_variable(E, ClusterRun.n_hvg)]
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            batch = batch_key if args.batch else None
            run = one_run(adata, k, E, seed, batch, tolerances, args.fits, spec, connectivities)
            parts = run.pop("parts")
            ari = {n: cluster_metrics(truth[mask], p[mask])["ari"] for n, p in parts.items()}
            line = {"dataset": spec, "seed": seed, "ari": {n: round(a, 3) for n, a in ari.items()}}
            print(json.dumps({**line, **run}), flush=True)


if __name__ == "__main__":
    main()
