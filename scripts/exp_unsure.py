"""The pipeline's fits saved for reading afterwards, and the unsure report checked against them.

    OMP_NUM_THREADS=1 python scripts/exp_unsure.py fit --out OUT --seeds 3 \
        --datasets treutlein2014-lung-185,goolam2016-124
    python scripts/exp_unsure.py table --out OUT --datasets treutlein2014-lung-185,goolam2016-124

`fit`: per dataset and seed (true k, the registry's batch column, expression only) one run of
`cellmodel.cluster.job.cluster` with the merge-split check off, then the check as the pipeline
runs it (`merge_split.check_partition` on the run's own graph), which gives the default's
partition. Saved to `OUT/NAME_SEED.npz`: the fit's labels (`fitted`), the default's
(`default`), the final embedding (`latent`), the graph encoder's structure embedding
(`structure`), the PCA and the batch. No label is read by `fit`.
`table`: per dataset the unsure report's readings of the default (`cluster.diagnostics`, mean
over seeds), the cross-seed stability (mean ARI between the default's partitions of every two
seeds: the reading the cheap stability stands in for), the verdict, and, scored only here
against the labels, the default's ARI beside Leiden at k's on the same graph.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np


def fit_one(name: str, seed: int, out: Path) -> None:
    from cellmodel import datasets
    from cellmodel.bench.data import hide_labels, reference_labels
    from cellmodel.cluster.batch_column import batch_values
    from cellmodel.cluster.job import cluster
    from cellmodel.cluster.merge_split import check_partition
    from cellmodel.cluster.options import ClusterRun
    from cellmodel.pp import graph

    entry = datasets.get(name)
    adata = datasets.load(name)
    _, _, k = reference_labels(adata, entry.label_key)
    blind = hide_labels(adata, entry.batch_key)
    key = "batch" if entry.batch_key else None
    tick = time.perf_counter()
    cluster(blind, None, n_clusters=k, use_semantic=False, batch_key=key, seed=seed,
            merge_split=False)  # fmt: skip
    seconds = time.perf_counter() - tick
    X = np.asarray(blind.obsm["X_pca_expr"])
    batch = batch_values(blind, key)
    fitted = blind.obs["cellmodel_cluster"].astype(int).to_numpy()
    knn = graph.knn_graph(X, ClusterRun.n_neighbors, seed=seed)
    default, _ = check_partition(X, fitted, seed, batch=batch, k_estimated=False,
                                 adjacency=knn.adjacency)  # fmt: skip
    np.savez(
        out / f"{name}_{seed}.npz", fitted=fitted, default=default, X=X,
        latent=blind.obsm["X_cellmodel"], structure=blind.obsm["X_structure"],
        batch=np.asarray(batch, dtype=object), seconds=seconds, k=k,
    )  # fmt: skip
    print(f"{name} seed {seed}: {seconds:.1f} s", flush=True)


def load(out: Path, name: str) -> list[dict]:
    runs = []
    for path in sorted(out.glob(f"{name}_*.npz")):
        with np.load(path, allow_pickle=True) as saved:
            run = {key: saved[key] for key in saved.files}
        run["seed"] = int(path.stem.rsplit("_", 1)[1])
        runs.append(run)
    return runs


def table(out: Path, names: list[str]) -> None:
    from sklearn.metrics import adjusted_rand_score as ari

    from cellmodel import datasets
    from cellmodel.bench.data import reference_labels
    from cellmodel.cluster.consensus import leiden_to_k
    from cellmodel.cluster.diagnostics import diagnose
    from cellmodel.cluster.options import ClusterRun
    from cellmodel.pp import graph

    print(
        "| dataset | seeds | agreement | stability (k-means draws) | stability (seeds) | unsure"
        " | unsure clusters | default ARI | leiden at k ARI | seconds (readings) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        entry = datasets.get(name)
        truth, mask, k = reference_labels(datasets.load(name), entry.label_key)
        runs = load(out, name)
        found, scores, leiden = [], [], []
        for run in runs:
            adjacency = graph.knn_graph(run["X"], ClusterRun.n_neighbors, seed=run["seed"])
            found.append(diagnose(run["default"], run["latent"], run["X"],
                                  adjacency.adjacency, run["seed"]))  # fmt: skip
            scores.append(ari(truth[mask], run["default"][mask]))
            at_k = leiden_to_k(adjacency.adjacency, k, run["seed"])[0]
            leiden.append(ari(truth[mask], at_k[mask]))
        pairs = itertools.combinations([r["default"] for r in runs], 2)
        across = np.mean([ari(a, b) for a, b in pairs]) if len(runs) > 1 else float("nan")
        flags = sum(f.unsure for f in found)
        clusters = max(len(f.unsure_clusters) for f in found)
        cells = [
            f"{np.mean([f.agreement for f in found]):.3f}",
            f"{np.mean([f.stability for f in found]):.3f}",
            f"{across:.3f}",
            f"{flags}/{len(found)}",
            f"≤ {clusters} of {k}",
            f"{np.mean(scores):.3f} ± {np.std(scores, ddof=1):.3f}",
            f"{np.mean(leiden):.3f} ± {np.std(leiden, ddof=1):.3f}",
            f"{np.mean([f.seconds for f in found]):.2f}",
        ]
        print(f"| {name} | {len(runs)} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["fit", "table"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--datasets", required=True)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    names = args.datasets.split(",")
    if args.step == "table":
        return table(args.out, names)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, seed in itertools.product(names, range(args.seeds)):
        if not (args.out / f"{name}_{seed}.npz").exists():
            fit_one(name, seed, args.out)


if __name__ == "__main__":
    main()
