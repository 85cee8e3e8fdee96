"""The structure input at scale: the covariance-route PCA against ARPACK, and the inverted-file
neighbour search against pynndescent, in one process on the same matrices.

    OMP_WAIT_POLICY=PASSIVE python scripts/bench_structure_input.py --cells 100000
    OMP_WAIT_POLICY=PASSIVE python scripts/bench_structure_input.py --crossover 100000,400000

Inputs: the synthetic counts of `cellmodel bench --scale` (`cellmodel.datasets.synthetic`, seed 0,
log-normalized, 2,000 HVGs, scaled), their principal components (parallel-analysis count, and 50),
and two structureless Gaussian clouds (13 and 50 dimensions), the hardest case for any index.
Recall: the share of each sampled query's exact k nearest (scikit-learn) that a search returns.
pynndescent's first call in a process compiles its numba kernels; its row says so.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _recall(found: np.ndarray, X: np.ndarray, k: int, n_queries: int) -> float:
    from sklearn.neighbors import NearestNeighbors

    picks = np.random.default_rng(1).choice(X.shape[0], n_queries, replace=False)
    exact = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(X[picks], return_distance=False)
    hits = [len(set(found[i]) & set(row)) for i, row in zip(picks, exact.tolist(), strict=True)]
    return float(np.mean(hits)) / k


def _search(method: str, X: np.ndarray, k: int) -> np.ndarray:
    """The library's approximate search, forced to one method whatever the size."""
    from cellmodel.pp import neighbors

    neighbors.NNDESCENT_FROM = 0 if method == "pynndescent" else 10**12
    return neighbors.nearest(X, X, k, approximate=True, seed=0)


def _scaled(n_cells: int) -> np.ndarray:
    from cellmodel.datasets.synthetic import synthetic_counts
    from cellmodel.pp import graph

    X_log = graph.log_normalize(synthetic_counts(n_cells, seed=0).X)
    return graph.scale(X_log[:, graph.highly_variable(X_log)])


def bench_pca(X: np.ndarray) -> np.ndarray:
    from cellmodel.pp import pca

    rows, default_start = [], pca.GRAM_PCA_FROM
    for route, start in (("covariance", 0), ("ARPACK", 10**12)):
        pca.GRAM_PCA_FROM = start
        tick = time.perf_counter()
        scores, variances = pca.fit_pca(X, 50)
        fit_s = time.perf_counter() - tick
        tick = time.perf_counter()
        keep = pca.parallel_analysis(X, 50, 0, variances)
        rows.append((route, fit_s, time.perf_counter() - tick, keep, scores))
    print("| PCA route | 50 components s | parallel analysis s | components kept |")
    print("|---|---|---|---|")
    for route, fit_s, pa_s, keep, _ in rows:
        print(f"| {route} | {fit_s:.1f} | {pa_s:.1f} | {keep} |")
    corr = [abs(np.corrcoef(rows[0][4][:, j], rows[1][4][:, j])[0, 1]) for j in range(50)]
    print(f"\nlowest |correlation| of a component between the routes: {min(corr):.6f}\n")
    pca.GRAM_PCA_FROM = default_start
    return rows[0][4]


def bench_neighbors(inputs: dict[str, np.ndarray], k: int, n_queries: int) -> None:
    print(f"| input | cells × dims | search | seconds | recall@{k} |")
    print("|---|---|---|---|---|")
    first = True
    for name, X in inputs.items():
        X = np.ascontiguousarray(X, dtype=np.float32)
        shape = f"{X.shape[0]:,} × {X.shape[1]}"
        for label, search in (
            ("inverted file", lambda X=X: _search("inverted-file", X, k)),
            (
                "pynndescent" + (" (first call: compiles)" if first else ""),
                lambda X=X: _search("pynndescent", X, k),
            ),
        ):
            tick = time.perf_counter()
            found = search()
            seconds = time.perf_counter() - tick
            recall = _recall(found, X, k, n_queries)
            print(f"| {name} | {shape} | {label} | {seconds:.1f} | {recall:.3f} |", flush=True)
        first = False


def _blobs(n: int, dim: int = 13, groups: int = 10) -> np.ndarray:
    """Points in `groups` Gaussian groups with a decaying spectrum, as principal components."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4.0, size=(groups, dim))
    members = rng.integers(groups, size=n)
    noise = rng.normal(size=(n, dim)) / np.sqrt(np.arange(1, dim + 1))
    return (centres[members] + noise).astype(np.float32)


def one_search(method: str, n: int) -> None:
    """One timed 9-nearest search in this (fresh) process: pynndescent pays its compilation."""
    X = _blobs(n)
    tick = time.perf_counter()
    _search(method, X, 9)
    print(f"| {n:,} | {method} | {time.perf_counter() - tick:.1f} |", flush=True)


def crossover(sizes: list[int]) -> None:
    import subprocess
    import sys

    print("| cells (13 dims, 10 groups) | search, in a new process | seconds |")
    print("|---|---|---|")
    for n in sizes:
        for method in ("inverted-file", "pynndescent"):
            subprocess.run([sys.executable, __file__, "--one", method, str(n)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument(
        "--crossover", help="sizes (comma-separated): each search alone in a new process"
    )
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--k", type=int, default=16, help="neighbours (knn_graph asks for 15 + 1)")
    parser.add_argument("--queries", type=int, default=2000, help="queries scored for recall")
    args = parser.parse_args()
    if args.one:
        return one_search(args.one[0], int(args.one[1]))
    if args.crossover:
        return crossover([int(n) for n in args.crossover.split(",")])
    from cellmodel.pp import pca

    X = _scaled(args.cells)
    scores = bench_pca(X)
    keep = pca.parallel_analysis(X, 50, 0)
    rng = np.random.default_rng(0)
    bench_neighbors(
        {
            f"synthetic, {keep} PCs (auto)": scores[:, :keep],
            "synthetic, 50 PCs": scores,
            "Gaussian, 13 dims": rng.normal(size=(args.cells, 13)),
            "Gaussian, 50 dims": rng.normal(size=(args.cells, 50)),
        },
        args.k,
        args.queries,
    )


if __name__ == "__main__":
    main()
