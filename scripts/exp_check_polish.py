"""After the merge-split check: does polishing the partition, or another cut, steady it over seeds?

    OMP_NUM_THREADS=1 python scripts/exp_check_polish.py --fits FITS \
        --datasets paul2015-2660,zeisel2015-3005,stoeckius-cbmc-8617,swanson2021-teaseq-5048,\
worm-neuron-4186

FITS is the folder of fits `scripts/exp_merge_split_guards.py --fits FITS` keeps (the pipeline's
fit without the check: its labels, the PCA and the batch, one file per dataset and seed; every
seed found there is used). Per fit, JSON lines of the ARI of:
- `none`: the fit; `moves`: the check as the pipeline runs it;
- `polish`, `polish1`: `moves` followed by Lloyd's k-means iterations in the PCA from its own
  clusters (to convergence, at most 10; or one), so that nearby partitions fall into one basin;
- `none-polish`: the same iterations from the fit, without the check;
- `ninit1`, `ninit20`: the check with each two-means cut from 1 or 20 starts (the pipeline: 5);
- `pc1`: the check with each cut the best threshold along the cluster's first principal axis.
Labels only score.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from cellmodel.bench.fit_cache import scored_fits
from cellmodel.cluster import merge_split as check
from cellmodel.cluster import moves
from cellmodel.cluster.options import ClusterRun
from cellmodel.pp import graph


def lloyd(X: np.ndarray, labels: np.ndarray, iterations: int = 10) -> np.ndarray:
    """k-means (Lloyd) iterations in X from the clusters of `labels`."""
    labels = labels.copy()
    for _ in range(iterations):
        centres = np.stack([X[labels == c].mean(axis=0) for c in np.unique(labels)])
        moved = ((X[:, None, :] - centres[None]) ** 2).sum(axis=-1).argmin(axis=1)
        if np.array_equal(moved, labels):
            break
        labels = moved
    return labels


def kmeans_cut(starts: int):
    def cut(members: np.ndarray, seed: int):
        from sklearn.cluster import KMeans

        if len(members) < moves.MIN_SPLIT_CELLS:
            return None
        two = KMeans(2, n_init=starts, random_state=seed).fit(members)
        if np.bincount(two.labels_, minlength=2).min() < moves.MIN_SPLIT_CELLS // 2:
            return None
        return two.labels_, float(((members - members.mean(axis=0)) ** 2).sum() - two.inertia_)

    return cut


def axis_cut(members: np.ndarray, seed: int):
    """The two-means cut along the first principal axis: the threshold of least within-SS."""
    if len(members) < moves.MIN_SPLIT_CELLS:
        return None
    centred = members - members.mean(axis=0)
    along = centred @ np.linalg.svd(centred, full_matrices=False)[2][0]
    ordered = np.sort(along)
    sums, n = np.cumsum(ordered), len(ordered)
    left = np.arange(1, n)
    spread = -(sums[:-1] ** 2 / left + (sums[-1] - sums[:-1]) ** 2 / (n - left))
    at = int(np.argmin(spread))
    halves = (along > (ordered[at] + ordered[at + 1]) / 2).astype(int)
    if np.bincount(halves, minlength=2).min() < moves.MIN_SPLIT_CELLS // 2:
        return None
    within = sum(((members[halves == h] - members[halves == h].mean(0)) ** 2).sum() for h in (0, 1))
    return halves, float((centred**2).sum() - within)


def one_fit(X: np.ndarray, fitted: np.ndarray, seed: int, batch) -> dict[str, np.ndarray]:
    knn = graph.knn_graph(X, ClusterRun.n_neighbors, seed=seed).adjacency
    checked = check.merge_split(X, fitted, seed, batch, adjacency=knn).labels
    parts = {"none": fitted, "moves": checked, "polish": lloyd(X, checked),
             "polish1": lloyd(X, checked, 1), "none-polish": lloyd(X, fitted)}  # fmt: skip
    pipeline_cut = moves.cut
    try:
        for name, cut in (("ninit1", kmeans_cut(1)), ("ninit20", kmeans_cut(20)),
                          ("pc1", axis_cut)):  # fmt: skip
            moves.cut = cut
            parts[name] = check.merge_split(X, fitted, seed, batch, adjacency=knn).labels
    finally:
        moves.cut = pipeline_cut
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=Path, required=True)
    parser.add_argument("--datasets", required=True)
    args = parser.parse_args()
    for name, seed, (fitted, X, batch), ari in scored_fits(args.fits, args.datasets.split(",")):
        parts = one_fit(X, fitted, seed, batch)
        print(json.dumps({"dataset": name, "seed": seed, "ari": ari(parts)}), flush=True)


if __name__ == "__main__":
    main()
