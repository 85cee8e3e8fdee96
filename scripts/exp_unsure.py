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

The diagnosis of losses reads the same fits:

    python scripts/exp_unsure.py steps --out OUT --datasets goolam2016-124,wu2020-200
    OMP_NUM_THREADS=1 python scripts/exp_unsure.py inputs --datasets goolam2016-124 --seeds 3

`steps` (no refit; the saved fit's embeddings and PCA, every row the same seeds):
- `default`: the fit, then the merge-split check (the pipeline's partition);
- `fit, no check`: the fit alone (the check's effect on a continuum);
- `k-means latent`: k-means (10 starts) on the final embedding, in place of the OT refinement;
- `k-means structure`: the same on the graph encoder's structure embedding;
- `k-means PCA`: the same on the pipeline's own PCA (the encoder's smoothing: same step, the
  embedding before the encoder);
- `GMM latent` (full covariances) and `Ward latent` (agglomerative): final steps that are not
  spherical, on the same embedding;
- `Leiden-k latent` / `Leiden-k PCA`: Leiden at k on 15 neighbours of each.
`inputs` (no encoder fit): k-means (10 starts) and Leiden at k on the PCA built with other HVG
and PC counts than the pipeline's (2,000 HVGs, parallel-analysis PCs): whether the input
representation already limits a file with few genes or few marker genes.
Labels only score (ARI, mean ± std over the seeds).
`refine`: the cell–gene refinement in the encoder's place, then the check, scored.
`cost`: the readings' seconds on a dataset's PCA without a fit (`cost` below), or on 10^5
cells (`--datasets scale`).
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

STEPS = (
    "default", "fit, no check", "k-means latent", "k-means structure", "k-means PCA",
    "GMM latent", "Ward latent", "Leiden-k latent", "Leiden-k PCA",
)  # fmt: skip


def step_partitions(run: dict, k: int, seed: int) -> dict[str, np.ndarray]:
    from sklearn.cluster import AgglomerativeClustering, KMeans
    from sklearn.mixture import GaussianMixture

    from cellmodel.cluster.consensus import leiden_to_k
    from cellmodel.pp.graph import DEFAULT_N_NEIGHBORS, knn_graph

    def kmeans(X: np.ndarray) -> np.ndarray:
        return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(X)

    def leiden_k(X: np.ndarray) -> np.ndarray:
        return leiden_to_k(knn_graph(X, DEFAULT_N_NEIGHBORS, seed=seed).adjacency, k, seed)[0]

    latent = np.asarray(run["latent"], dtype=np.float64)
    gmm = GaussianMixture(k, covariance_type="full", reg_covar=1e-3, n_init=3, random_state=seed)
    return {
        "default": run["default"],
        "fit, no check": run["fitted"],
        "k-means latent": kmeans(latent),
        "k-means structure": kmeans(run["structure"]),
        "k-means PCA": kmeans(run["X"]),
        "GMM latent": gmm.fit(latent).predict(latent),
        "Ward latent": AgglomerativeClustering(n_clusters=k).fit_predict(latent),
        "Leiden-k latent": leiden_k(latent),
        "Leiden-k PCA": leiden_k(run["X"]),
    }


def input_partitions(adata, batch_key: str | None, k: int, seed: int) -> dict[str, np.ndarray]:
    from sklearn.cluster import KMeans

    from cellmodel import io
    from cellmodel.bench.data import hide_labels
    from cellmodel.cluster.batch_column import batch_values
    from cellmodel.cluster.consensus import leiden_to_k
    from cellmodel.pp import graph

    blind = hide_labels(adata, batch_key)
    expr = io.expression(blind)
    batch = batch_values(blind, "batch" if batch_key else None)
    n_genes = expr.X.shape[1]
    out = {}
    for n_hvg in sorted({min(500, n_genes), min(2000, n_genes), n_genes}):
        for n_pcs in ("auto", 10, 30, 50):
            X = graph.structure_features(expr.X, kind="log", n_hvg=n_hvg, n_pcs=n_pcs,
                                         batch=batch, seed=seed)  # fmt: skip
            name = f"{n_hvg} HVG, {n_pcs} PCs ({X.shape[1]})"
            knn = graph.knn_graph(X, graph.DEFAULT_N_NEIGHBORS, seed=seed).adjacency
            out[f"k-means | {name}"] = KMeans(k, n_init=10, random_state=seed).fit_predict(X)
            out[f"Leiden-k | {name}"] = leiden_to_k(knn, k, seed)[0]
    return out


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


def causes(step: str, out: Path | None, names: list[str], seeds: int) -> None:
    """The `steps` or `inputs` table: each partition's ARI per dataset, mean ± std over seeds."""
    from sklearn.metrics import adjusted_rand_score as ari

    from cellmodel import datasets
    from cellmodel.bench.data import reference_labels

    rows: dict[str, dict[str, list[float]]] = {}
    if step == "inputs":
        print("| dataset | partition | input (PCs kept) | seeds | ARI |\n|---|---|---|---|---|")
    for name in names:
        entry = datasets.get(name)
        adata = datasets.load(name)
        truth, mask, k = reference_labels(adata, entry.label_key)
        scores: dict[str, list[float]] = {}
        if step == "steps":
            assert out is not None, "steps reads the fits of `fit --out OUT`"
            found = [step_partitions(run, k, run["seed"]) for run in load(out, name)]
        else:
            found = [input_partitions(adata, entry.batch_key, k, s) for s in range(seeds)]
        for parts in found:
            for label, part in parts.items():
                scores.setdefault(label, []).append(ari(truth[mask], np.asarray(part)[mask]))
        rows[name] = scores
        if step == "inputs":
            for label, values in scores.items():
                print(f"| {name} | {label} | {len(values)} | {_cell(values)} |", flush=True)
    if step == "steps":
        print("| dataset | seeds | " + " | ".join(STEPS) + " |")
        print("|---|---|" + "---|" * len(STEPS))
        for name, scores in rows.items():
            cells = " | ".join(_cell(scores[c]) for c in STEPS)
            print(f"| {name} | {len(scores[STEPS[0]])} | {cells} |")


def _cell(values: list[float]) -> str:
    if len(values) < 2:
        return f"{np.mean(values):.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


def cost(names: list[str], seeds: int) -> None:
    """The readings' seconds on each dataset's pipeline PCA and graph, without a fit: k-means at
    the labels' k stands in for the partition and the PCA's first 32 components for the 32-d
    embedding (the cost depends on the cells and k). `--datasets scale` reads 10^5 cells of ten
    Gaussian groups in 50 dimensions (sampled to 5,000 by the readings)."""
    import os

    from sklearn.cluster import KMeans

    from cellmodel import datasets, io
    from cellmodel.bench.data import reference_labels
    from cellmodel.cluster.diagnostics import diagnose
    from cellmodel.cluster.options import ClusterRun
    from cellmodel.pp import graph

    for name in names:
        if name == "scale":
            rng = np.random.default_rng(0)
            centres = 3.0 * rng.standard_normal((10, 50))
            labels = np.repeat(np.arange(10), 10_000)
            X = (centres[labels] + 2.0 * rng.standard_normal((labels.size, 50))).astype("f4")
            adjacency, k = None, 10
        else:
            adata = datasets.load(name)
            _, _, k = reference_labels(adata, datasets.get(name).label_key)
            X = graph.structure_features(io.expression(adata).X, kind="log", seed=0)
            adjacency = graph.knn_graph(X, ClusterRun.n_neighbors, seed=0).adjacency
            labels = KMeans(k, n_init=3, random_state=0).fit_predict(X)
        for seed in range(seeds):
            tick = time.perf_counter()
            found = diagnose(labels, X[:, :32].copy(), X, adjacency, seed)
            seconds = time.perf_counter() - tick
            print(f"{name}: {labels.size} cells, k {k}, seed {seed}: {seconds:.2f} s "
                  f"({found.n_cells_read} read; load {os.getloadavg()[0]:.1f})")  # fmt: skip


def refined(names: list[str], seeds: int) -> None:
    """The cell–gene refinement in the encoder's place (`refine="cell-gene"`, the data's own
    gene graph, so no store), then the pipeline's check: ARI per dataset, mean ± std."""
    from sklearn.metrics import adjusted_rand_score as ari

    from cellmodel import datasets
    from cellmodel.bench.data import hide_labels, reference_labels
    from cellmodel.cluster.job import cluster

    print("| dataset | seeds | cell–gene refinement |\n|---|---|---|")
    for name in names:
        entry = datasets.get(name)
        adata = datasets.load(name)
        truth, mask, k = reference_labels(adata, entry.label_key)
        scores = []
        for seed in range(seeds):
            blind = hide_labels(adata, entry.batch_key)
            key = "batch" if entry.batch_key else None
            cluster(blind, None, n_clusters=k, use_semantic=False, batch_key=key, seed=seed,
                    refine="cell-gene")  # fmt: skip
            labels = blind.obs["cellmodel_cluster"].astype(int).to_numpy()
            scores.append(ari(truth[mask], labels[mask]))
        print(f"| {name} | {seeds} | {_cell(scores)} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["fit", "table", "steps", "inputs", "cost", "refine"])
    parser.add_argument("--out", type=Path, help="where `fit` saves (and the others read) fits")
    parser.add_argument("--datasets", required=True)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    names = args.datasets.split(",")
    if args.step == "table":
        return table(args.out, names)
    if args.step == "cost":
        return cost(names, args.seeds)
    if args.step == "refine":
        return refined(names, args.seeds)
    if args.step in ("steps", "inputs"):
        return causes(args.step, args.out, names, args.seeds)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, seed in itertools.product(names, range(args.seeds)):
        if not (args.out / f"{name}_{seed}.npz").exists():
            fit_one(name, seed, args.out)


if __name__ == "__main__":
    main()
