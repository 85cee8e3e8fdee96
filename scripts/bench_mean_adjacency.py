"""The fit's time with the aggregation matrix built by one sort against COO's coalesce.

    python scripts/bench_mean_adjacency.py --dataset baron-human --k 14 --repeats 3

Fits the graph encoder on the dataset's PCA (ComBat on its registry batch column, as the pipeline
does), alternating the two ways of building `mean_adjacency`'s CSR matrix in one process, and
prints each fit's seconds, the median ratio, and whether the two give the same labels.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cellmodel import datasets, io
from cellmodel.cluster.fit import fit_clusters
from cellmodel.module import model
from cellmodel.pp import graph


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="baron-human")
    parser.add_argument("--k", type=int, default=14)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    adata = datasets.load(args.dataset)
    key = datasets.get(args.dataset).batch_key
    batch = None if key is None else adata.obs[key].astype(str).to_numpy()
    X = graph.structure_features(io.expression(adata).X, kind="log", batch=batch, seed=0)
    knn = graph.knn_graph(X, graph.FIT_N_NEIGHBORS, seed=0)
    by_sort = model.csr_by_sort
    seconds: dict[str, list[float]] = {"sort": [], "coalesce": []}
    labels = {}
    for _ in range(args.repeats):
        for name in ("coalesce", "sort"):
            model.csr_by_sort = by_sort if name == "sort" else (lambda *_: None)
            tick = time.perf_counter()
            labels[name] = fit_clusters(X, knn, None, args.k, seed=0).labels
            seconds[name].append(time.perf_counter() - tick)
    model.csr_by_sort = by_sort
    for name, values in seconds.items():
        print(f"{name}: " + ", ".join(f"{v:.2f}" for v in values) + " s")
    ratio = np.median(seconds["sort"]) / np.median(seconds["coalesce"])
    print(f"median ratio sort/coalesce: {ratio:.3f}")
    print(f"same labels: {bool(np.array_equal(labels['sort'], labels['coalesce']))}")


if __name__ == "__main__":
    main()
