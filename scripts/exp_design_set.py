"""Candidates for the cluster default on the design set, each fit once, scored after it ends.

    python scripts/exp_design_set.py --datasets baron-human,worm-neuron-4186 --seeds 3 \
        --out artifacts/design-set

Per dataset and seed (true k, the registry's batch column where it names one) this runs the
pipeline's graph encoder once (`cellmodel.cluster.job.cluster`, expression only, its defaults) and,
on the same expression, the label-free alternatives the issue names:
- `encoder`: the pipeline's partition (what `cellmodel` / `structure` report);
- `kmeans50` / `leidenk50` / `leiden50`: the pca-kmeans, leiden-k and leiden baselines of
  `cellmodel bench` (PCA 50, 15 neighbours; the same calls);
- `kmeans-cons`: the spectral consensus of 20 single-start k-means runs on the pipeline's PCA;
- `leidenk`: Leiden at k on 15 neighbours of the pipeline's PCA;
- `ensemble`: `cellmodel.cluster.consensus.choose` among encoder, kmeans-cons and leidenk;
- `consensus3`: the spectral consensus of encoder, kmeans-cons and leidenk (equal weight).
Each candidate's label-free scores (silhouette in the PCA, modularity on the 15-neighbour graph,
mean ARI with the other candidates) are recorded beside its ARI, so a choice rule can be scored
afterwards by `scripts/lodo_design_set.py` without refitting. Labels only score.
JSON lines go to `<out>/runs.jsonl`, one per dataset and seed; with `--baselines-only` (no
pipeline fit) the three baselines alone go to `<out>/baselines.jsonl`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from cellmodel import datasets, io
from cellmodel.bench.data import hide_labels, reference_labels
from cellmodel.cluster import consensus
from cellmodel.cluster.batch_column import batch_values
from cellmodel.cluster.job import cluster
from cellmodel.pp import graph


def _silhouette(X: np.ndarray, labels: np.ndarray, seed: int) -> float:
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2:
        return -1.0
    n = min(3000, X.shape[0])
    return float(silhouette_score(X, labels, sample_size=n, random_state=seed))


def _modularity(adjacency, labels: np.ndarray) -> float:
    import igraph as ig

    coo = adjacency.tocoo()
    keep = coo.row < coo.col
    g = ig.Graph(n=adjacency.shape[0], edges=list(zip(coo.row[keep], coo.col[keep], strict=True)))
    return float(g.modularity(labels.tolist()))


def candidates(adata, batch_key: str | None, k: int, seed: int) -> tuple[dict, dict, float]:
    """Every candidate partition of one run, the pipeline PCA's size, and the encoder's seconds."""
    blind = hide_labels(adata, batch_key)
    tick = time.perf_counter()
    cluster(
        blind,
        None,
        n_clusters=k,
        use_semantic=False,
        batch_key="batch" if batch_key else None,
        seed=seed,
    )
    encoder_s = time.perf_counter() - tick
    X = np.asarray(blind.obsm["X_pca_expr"])
    out = {"encoder": blind.obs["cellmodel_cluster"].astype(int).to_numpy()}
    out.update(baselines(blind, batch_key, k, seed))
    knn = graph.knn_graph(X, graph.DEFAULT_N_NEIGHBORS, seed=seed)
    runs = consensus.kmeans_runs(X, k, seed)
    out["kmeans-cons"] = consensus.spectral_consensus(runs, k, seed)
    out["leidenk"] = consensus.leiden_to_k(knn.adjacency, k, seed)[0]
    trio = {name: out[name] for name in ("encoder", "kmeans-cons", "leidenk")}
    choice = consensus.choose(trio, runs)
    out["ensemble"] = choice.labels
    out["consensus3"] = consensus.spectral_consensus(list(trio.values()), k, seed)
    info = {"n_pcs": int(X.shape[1]), "encoder_s": round(encoder_s, 2), "chosen": choice.chosen}
    scores = {
        name: {
            "silhouette": _silhouette(X, labels, seed),
            "modularity": _modularity(knn.adjacency, np.asarray(labels)),
        }
        for name, labels in out.items()
    }
    return out, {"info": info, "scores": scores}, encoder_s


def baselines(blind, batch_key: str | None, k: int, seed: int) -> dict[str, np.ndarray]:
    """The bench's baselines on PCA 50 and 15 neighbours: pca-kmeans, leiden-k, leiden."""
    from sklearn.cluster import KMeans

    expr = io.expression(blind)
    batch = batch_values(blind, "batch" if batch_key else None)
    X50 = graph.structure_features(expr.X, kind="log", batch=batch, seed=seed)
    knn50 = graph.knn_graph(X50, graph.DEFAULT_N_NEIGHBORS, seed=seed)
    return {
        "kmeans50": KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(X50),
        "leidenk50": consensus.leiden_to_k(knn50.adjacency, k, seed)[0],
        "leiden50": consensus.leiden_labels(knn50.adjacency, 1.0, seed),
    }


def auto_k(adata, batch_key: str | None, seed: int) -> dict:
    """`cellmodel-auto`: the pipeline with k estimated from the data (Leiden's count, then the
    check's merges), and the consensus option at that k; beside them Leiden's own k (the
    `leiden` baseline)."""
    blind = hide_labels(adata, batch_key)
    key = "batch" if batch_key else None
    cluster(blind, None, n_clusters=None, use_semantic=False, batch_key=key, seed=seed)
    record = blind.uns["cellmodel"]
    k = int(record["n_clusters"])
    merges = int(record["merge_split"].get("merges", {}).get("n_moves", 0))
    encoder = blind.obs["cellmodel_cluster"].astype(int).to_numpy()
    merged = consensus.encoder_kmeans_consensus(blind.obsm["X_pca_expr"], encoder, k, seed)
    expr = io.expression(blind)
    X50 = graph.structure_features(expr.X, kind="log", batch=batch_values(blind, key), seed=seed)
    knn50 = graph.knn_graph(X50, graph.DEFAULT_N_NEIGHBORS, seed=seed)
    leiden = consensus.leiden_labels(knn50.adjacency, 1.0, seed)
    return {
        "k": k, "merges": merges, "encoder-auto": encoder, "enc+kcons-auto": merged,
        "leiden50": leiden,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", required=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--auto-k", action="store_true", help="k estimated, not given")
    parser.add_argument(
        "--baselines-only", action="store_true", help="no pipeline fit: the three baselines"
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from sklearn.metrics import adjusted_rand_score

    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.datasets.split(","):
        entry = datasets.get(name)
        adata = datasets.load(name)
        truth, mask, k = reference_labels(adata, entry.label_key)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            if args.auto_k:
                found = auto_k(adata, entry.batch_key, seed)
                line = {"dataset": name, "seed": seed, "k": k, "k_found": found.pop("k")}
                line["merges"] = found.pop("merges")
                line["ari"] = {
                    n: float(adjusted_rand_score(truth[mask], p[mask])) for n, p in found.items()
                }
                line["clusters"] = {n: len(np.unique(p)) for n, p in found.items()}
                with (args.out / "auto.jsonl").open("a") as f:
                    f.write(json.dumps(line) + "\n")
                print(line, flush=True)
                continue
            if args.baselines_only:
                blind = hide_labels(adata, entry.batch_key)
                parts = baselines(blind, entry.batch_key, k, seed)
                scored = {n: adjusted_rand_score(truth[mask], p[mask]) for n, p in parts.items()}
                line = {"dataset": name, "seed": seed, "k": k, "ari": scored}
                with (args.out / "baselines.jsonl").open("a") as f:
                    f.write(json.dumps(line) + "\n")
                print(line, flush=True)
                continue
            parts, record, _ = candidates(adata, entry.batch_key, k, seed)
            ari = {n: float(adjusted_rand_score(truth[mask], p[mask])) for n, p in parts.items()}
            line = {
                "dataset": name,
                "seed": seed,
                "k": k,
                "n_cells": adata.n_obs,
                "ari": ari,
                **record,
            }
            with (args.out / "runs.jsonl").open("a") as f:
                f.write(json.dumps(line) + "\n")
            np.savez_compressed(args.out / f"{name}-{seed}.npz", **parts)
            print(name, seed, {n: round(v, 3) for n, v in ari.items()}, record["info"], flush=True)


if __name__ == "__main__":
    main()
