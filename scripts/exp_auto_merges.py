"""The merges after an estimated k, tried three ways on the same fits.

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE python scripts/exp_auto_merges.py --seeds 5 \
        --datasets stoeckius-cbmc-8617,zeisel2015-3005,worm-neuron-4186,cellhint-pancreas

Per dataset and seed (k estimated, expression only, the registry's batch column as `cluster
--batch-key auto` uses it) the pipeline's fit runs once without its check
(`cluster(..., n_clusters=None, merge_split=False)`); the merge-split check then runs as the
pipeline runs it (k kept), and its partition is scored as it is (`none`: the pipeline before the
merges), after the merges the pipeline now makes (`merges`: no-dip pairs while the silhouette
rises, `cellmodel.cluster.merge_split.merge_pairs`), and after merging every no-dip pair
(`dip`: `merge_pairs(..., silhouette=False)`). JSON lines on stdout: ARI and cluster count per
variant; labels only score.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from cellmodel import datasets
from cellmodel.bench.data import BATCH_COLUMN, hide_labels, reference_labels
from cellmodel.cluster.batch_column import batch_values
from cellmodel.cluster.job import cluster
from cellmodel.cluster.merge_split import merge_pairs, merge_split
from cellmodel.metrics import cluster_metrics


def variants(adata, batch_key: str | None, seed: int) -> dict[str, np.ndarray]:
    blind = hide_labels(adata, batch_key)
    key = BATCH_COLUMN if batch_key else None
    cluster(blind, None, n_clusters=None, use_semantic=False, batch_key=key, seed=seed,
            merge_split=False)  # fmt: skip
    X = np.asarray(blind.obsm["X_pca_expr"])
    batch = batch_values(blind, key)
    fit = blind.obs["cellmodel_cluster"].astype(int).to_numpy()
    checked = merge_split(X, fit, seed, batch=batch).labels
    return {
        "none": checked,
        "merges": merge_pairs(X, checked, seed, batch=batch).labels,
        "dip": merge_pairs(X, checked, seed, batch=batch, silhouette=False).labels,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", required=True)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    args = parser.parse_args()
    for name in args.datasets.split(","):
        entry = datasets.get(name)
        adata = datasets.load(name)
        truth, mask, k = reference_labels(adata, entry.label_key)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            parts = variants(adata, entry.batch_key, seed)
            line = {
                "dataset": name,
                "seed": seed,
                "k": k,
                "ari": {n: cluster_metrics(truth[mask], p[mask])["ari"] for n, p in parts.items()},
                "clusters": {n: len(np.unique(p)) for n, p in parts.items()},
            }
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
