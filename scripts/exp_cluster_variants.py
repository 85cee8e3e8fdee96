"""Screen variants of the cluster default on registry datasets (labels only score the result).

    python scripts/exp_cluster_variants.py --root STORE --datasets cellhint-pancreas,baron-human \
        --seeds 5 --variants default,detected-hvg,batch-hvg,bbknn,harmony,batch-hvg+harmony
    python scripts/exp_cluster_variants.py --root STORE --datasets pbmc68k-reduced,tirosh2016-184 \
        --seeds 3 --variants default --options "min_pretrain_steps=200" "fanouts=5,5"

Each variant changes one thing in front of `cellmodel.cluster.fit.fit_clusters` (true k, the
pipeline's 8-neighbour graph, seeds 0..N-1) and prints the ARI, mean ± sample std:
- `default`: the pipeline's input (log values, 2,000 HVGs, ComBat on the registry's batch
  column, scale, the PCs parallel analysis keeps, at most 50; `--n-pcs N` fixes N for every
  input, the baselines' included: tables measured before the pipeline chose its PCs used 50);
- `detected-hvg`: HVGs chosen only among genes detected in every batch;
- `batch-hvg`: scanpy's batch-aware HVG ranking (`flavor="seurat"`, `batch_key`);
- `bbknn`: the batch-balanced kNN graph (`graph.knn_graph(batch=...)`);
- `harmony` / `batch-hvg+harmony`: Harmony (Korsunsky et al. 2019, Nat Methods 16:1289) on the
  ComBat PCA, from `harmony-pytorch==0.1.8` (BSD; not a dependency: install it to run these);
- `batch-choice`: the pipeline's rule on batched data (`cellmodel.cluster.batch_choice`): of the
  default fit, the link-reconstruction fit and Leiden at k on the fit's graph, the one whose
  clusters carry the least batch information, by a margin (prints each candidate's ARI, how often
  each was kept and the batch AMIs);
- `--options key=value ...`: each a `ClusterOptions` override on the default input.
- `--smoothing`: beside each default fit, k-means (10 restarts) on the PCA smoothed by 0, 1 and
  2 steps of the fit's lazy random walk (half of each cell kept, the rest split among its graph
  neighbours; no training), and the modularity (igraph's, unweighted) of the fit's and of
  k-means' partitions on the 8-neighbour graph: where the learned latent loses to k-means on
  the PCA, this tells whether the graph averaging alone loses it, and whether a graph criterion
  would have chosen better.
- `--merge-split`: beside each default fit, its labels after the pipeline's merge-split check
  in the PCA (`cellmodel.cluster.merge_split`, given the batch column as the pipeline gives it)
  and the number of moves kept; on batched data also the check without the batch guard.
A dataset given as `NAME:N` is a random subsample of N cells (numpy seed `--subsample-seed`,
default 123).
With `--baselines`, k-means on the input (10 restarts) and Leiden at k (15 neighbours) are
scored on each input variant (`bbknn` and `--options` runs share the default input's). JSON
lines go to `--out` when given.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial

import numpy as np

from cellmodel import datasets, io
from cellmodel.bench.screens import parse_value
from cellmodel.cluster import batch_choice
from cellmodel.cluster.fit import fit_clusters
from cellmodel.cluster.merge_split import merge_split
from cellmodel.metrics import cluster_metrics
from cellmodel.pp import graph

FEATURES = ("default", "detected-hvg", "batch-hvg", "harmony", "batch-hvg+harmony")
VARIANTS = (*FEATURES, "bbknn", "batch-choice")


def _value(text: str):
    """A `ClusterOptions` value from the command line; "5,5" is a tuple (fanouts)."""
    if "," in text:
        return tuple(parse_value(t) for t in text.split(","))
    return parse_value(text)


def _hvg(X_log, batch: np.ndarray | None, rule: str, n_top: int = 2000) -> np.ndarray:
    if batch is None or rule == "default":
        return graph.highly_variable(X_log, n_top)
    if rule == "detected":
        detected = np.ones(X_log.shape[1], dtype=bool)
        for value in np.unique(batch):
            rows = X_log[batch == value]
            detected &= np.asarray((rows != 0).sum(axis=0)).ravel() > 0
        return graph.highly_variable(X_log, n_top, candidates=detected)
    import anndata as ad
    import pandas as pd
    import scanpy as sc

    holder = ad.AnnData(X=X_log)
    holder.obs["batch"] = pd.Categorical(batch)
    table = sc.pp.highly_variable_genes(
        holder, n_top_genes=n_top, flavor="seurat", batch_key="batch", inplace=False
    )
    return np.asarray(table["highly_variable"], dtype=bool)


def _scaled(X_log, batch: np.ndarray | None, variant: str) -> np.ndarray:
    """The seed-free part of a variant's input: HVGs, ComBat, scaling."""
    rule = {"detected-hvg": "detected", "batch-hvg": "batch", "batch-hvg+harmony": "batch"}
    X = X_log[:, _hvg(X_log, batch, rule.get(variant, "default"))]
    return graph.scale(graph.combat(X, batch) if batch is not None else X)


def _features(
    scaled: np.ndarray, batch: np.ndarray | None, variant: str, seed: int, n_pcs: int | str = "auto"
) -> np.ndarray:
    pcs = graph.principal_components(scaled, n_pcs, seed)
    if variant.endswith("harmony") and batch is not None:
        import pandas as pd

        try:
            from harmony import harmonize
        except ImportError:
            sys.exit("the harmony variants need: pip install harmony-pytorch==0.1.8")
        frame = pd.DataFrame({"batch": batch})
        pcs = harmonize(
            pcs.astype(np.float64), frame, "batch", random_state=seed, n_jobs=1, verbose=False
        ).astype(np.float32)
    return pcs


def _baselines(X: np.ndarray, y: np.ndarray, k: int, seed: int) -> dict[str, float]:
    from sklearn.cluster import KMeans

    from cellmodel.cluster.consensus import leiden_to_k

    adjacency = graph.knn_graph(X, graph.DEFAULT_N_NEIGHBORS, seed=seed).adjacency
    return {
        "pca-kmeans": cluster_metrics(y, KMeans(k, n_init=10, random_state=seed).fit_predict(X))[
            "ari"
        ],
        "leiden-k": cluster_metrics(y, leiden_to_k(adjacency, k, seed)[0])["ari"],
    }


def _smoothing(X: np.ndarray, knn, y: np.ndarray, k: int, seed: int, fitted: np.ndarray):
    """k-means on the PCA after 0, 1, 2 lazy-walk steps; modularity of the fit and of k-means."""
    import torch
    from sklearn.cluster import KMeans

    from cellmodel.module.model import mean_adjacency

    walk = mean_adjacency(knn.edge_index, knn.n_cells, knn.n_cells, 0.5)
    linked = graph.to_igraph(knn)
    smoothed = torch.from_numpy(X.astype(np.float32))
    row: dict[str, float] = {}
    for steps in range(3):
        labels = KMeans(k, n_init=10, random_state=seed).fit_predict(smoothed.numpy())
        row[f"kmeans after {steps} steps"] = cluster_metrics(y, labels)["ari"]
        if steps == 0:
            row["modularity of k-means"] = linked.modularity(labels.tolist())
        smoothed = walk @ smoothed
    row["modularity of the fit"] = linked.modularity(fitted.tolist())
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="store root holding the datasets cache")
    parser.add_argument("--datasets", required=True, help="comma-separated registry names")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--variants", default="default", help=f"comma-separated: {VARIANTS}")
    parser.add_argument("--options", nargs="*", default=[], help="ClusterOptions key=value runs")
    parser.add_argument("--baselines", action="store_true")
    parser.add_argument(
        "--n-pcs",
        default="auto",
        type=lambda v: v if v == "auto" else int(v),
        help="PCs of every input: auto (the pipeline's) or a number",
    )
    parser.add_argument("--smoothing", action="store_true", help="see the docstring")
    parser.add_argument("--merge-split", action="store_true", help="see the docstring")
    parser.add_argument("--subsample-seed", type=int, default=123, help="for NAME:N datasets")
    parser.add_argument("--out", help="append JSON lines here")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from {VARIANTS}")
    runs = [(v, {}) for v in variants] + [
        (f"default {o}", {o.split("=", 1)[0]: _value(o.split("=", 1)[1])}) for o in args.options
    ]
    cache = datasets.default_cache_dir(args.root)
    for name in args.datasets.split(","):
        base, _, size = name.partition(":")
        adata = datasets.load(base, cache_dir=cache)
        entry = datasets.get(base)
        if size:
            rows = np.random.default_rng(args.subsample_seed).choice(
                adata.n_obs, int(size), replace=False
            )
            adata = adata[np.sort(rows)].copy()
        y = adata.obs[entry.label_key].astype(str).to_numpy()
        k = len(np.unique(y))
        batch = adata.obs[entry.batch_key].astype(str).to_numpy() if entry.batch_key else None
        X_log = graph.log_normalize(io.expression(adata).X, "log")
        scaled: dict[str, np.ndarray] = {}
        inputs: dict[tuple[str, int], np.ndarray] = {}
        for label, options in runs:
            feature = label if label in FEATURES else "default"
            if feature not in scaled:
                scaled[feature] = _scaled(X_log, batch, feature)
            scores: dict[str, list[float]] = {}
            for seed in range(args.seeds):
                if (feature, seed) not in inputs:
                    inputs[(feature, seed)] = _features(
                        scaled[feature], batch, feature, seed, args.n_pcs
                    )
                X = inputs[(feature, seed)]
                knn = graph.knn_graph(
                    X, graph.FIT_N_NEIGHBORS, seed=seed, batch=batch if label == "bbknn" else None
                )
                began = time.perf_counter()
                result = fit_clusters(X, knn, None, k, seed=seed, device="cpu", **options)
                row = {"cellmodel": cluster_metrics(y, result.labels)["ari"]}
                if label == "batch-choice" and batch is not None:
                    kept, _, choice = batch_choice.choose_fit(
                        result,
                        partial(fit_clusters, X, knn, None, k, seed=seed, device="cpu", **options),
                        knn.adjacency,
                        batch,
                        seed,
                    )
                    row = {
                        **{
                            name: cluster_metrics(y, labels)["ari"]
                            for name, labels in choice.partitions.items()
                        },
                        "cellmodel": cluster_metrics(y, kept)["ari"],
                        **{f"kept {n}": float(choice.chosen == n) for n in choice.partitions},
                        **{f"batch AMI {fit}": v for fit, v in choice.batch_ami.items()},
                    }
                if args.merge_split and label == "default":
                    checked = merge_split(X, result.labels, seed, batch=batch)
                    row["cellmodel + merge-split"] = cluster_metrics(y, checked.labels)["ari"]
                    row["merge-split moves"] = float(len(checked.moves))
                    if batch is not None:  # what a file without a batch column gets from it
                        free = merge_split(X, result.labels, seed)
                        row["merge-split, no batch guard"] = cluster_metrics(y, free.labels)["ari"]
                if args.smoothing and label == "default":
                    row.update(_smoothing(X, knn, y, k, seed, result.labels))
                if args.baselines and label in FEATURES:  # other runs share the default input
                    row.update(_baselines(X, y, k, seed))
                for method, value in row.items():
                    scores.setdefault(method, []).append(value)
                if args.out:
                    record = {"dataset": name, "variant": label, "seed": seed, **row}
                    record["fit_s"] = round(time.perf_counter() - began, 2)
                    with open(args.out, "a") as out:
                        out.write(json.dumps(record) + "\n")
            summary = "  ".join(
                f"{method} {np.mean(v):.3f} ± {np.std(v, ddof=1) if len(v) > 1 else 0:.3f}"
                for method, v in scores.items()
            )
            print(f"{name}  {label}: {summary}", flush=True)


if __name__ == "__main__":
    main()
