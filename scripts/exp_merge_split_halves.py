"""The merge-split check's moves with each half scored apart: the silhouette of the partition,
of the merge alone, of the split alone and of the whole move, and the ARI before and after.

    OMP_NUM_THREADS=1 python scripts/exp_merge_split_halves.py \
        --runs swanson2021-teaseq-5048:0,1 zeisel2015-3005:0,2 worm-neuron-4186:0,1

Per dataset and seed the pipeline's fit runs once without the check (true k, expression only,
the registry's batch column as `cluster --batch-key auto` uses it); the check then runs on its
partition as the pipeline ran it before it chose the split by the silhouette
(`search="variance"`), and every move it keeps is scored four ways. The silhouettes
are computed as the check computes them (a seeded sample above its sample size). Labels only
score. JSON lines on stdout.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from sklearn.metrics import adjusted_rand_score, silhouette_score

from cellmodel import datasets
from cellmodel.bench.data import BATCH_COLUMN, hide_labels, reference_labels
from cellmodel.cluster import merge_split as check
from cellmodel.cluster.batch_column import batch_values
from cellmodel.cluster.job import cluster


def silhouette(X: np.ndarray, labels: np.ndarray, seed: int) -> float:
    sample = check.SILHOUETTE_SAMPLE if len(labels) > check.SILHOUETTE_SAMPLE else None
    return round(float(silhouette_score(X, labels, sample_size=sample, random_state=seed)), 4)


def halves(current: np.ndarray, moved: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The merge alone and the split alone of the move from `current` to `moved`."""
    changed = moved != current
    (b,) = np.intersect1d(current[changed], moved[changed])  # merged away, then the new half
    (a,) = np.setdiff1d(moved[changed], [b])
    (c,) = np.setdiff1d(current[changed], [b])
    merged = current.copy()
    merged[merged == b] = a
    split = current.copy()
    split[(current == c) & (moved == b)] = current.max() + 1
    return merged, split


def moves_of(adata, entry: datasets.Dataset, seed: int) -> list[dict]:
    truth, mask, k = reference_labels(adata, entry.label_key)
    blind = hide_labels(adata, entry.batch_key)
    key = BATCH_COLUMN if entry.batch_key else None
    cluster(blind, n_clusters=k, use_semantic=False, seed=seed, merge_split=False, batch_key=key)
    fitted = blind.obs["cellmodel_cluster"].astype(int).to_numpy()
    X = np.asarray(blind.obsm["X_pca_expr"])
    scored: list[dict] = []

    def score(current: np.ndarray, moved: np.ndarray) -> bool:
        merged, split = halves(current, moved)
        scored.append(
            {
                "silhouette": [silhouette(X, p, seed) for p in (current, merged, split, moved)],
                "ari": [
                    round(adjusted_rand_score(truth[mask], p[mask]), 3) for p in (current, moved)
                ],
            }
        )
        return True  # asked last: it sees exactly the moves the check keeps

    check.merge_split(X, fitted, seed, batch_values(blind, key), condition=score, search="variance")
    return scored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", required=True, help="DATASET:SEED,SEED,...")
    args = parser.parse_args()
    for spec in args.runs:
        name, _, seeds = spec.partition(":")
        adata, entry = datasets.load(name), datasets.get(name)
        for seed in (int(s) for s in seeds.split(",")):
            line = {"dataset": name, "seed": seed, "moves": moves_of(adata, entry, seed)}
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
