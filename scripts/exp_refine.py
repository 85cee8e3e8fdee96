"""Cell–gene refinement on the cluster design set: every gene-graph source and its controls.

    OMP_NUM_THREADS=1 python scripts/exp_refine.py --seeds 3 --out artifacts/refine --datasets \
        tirosh2016-184,wu2020-200,pbmc68k-reduced,baron-mouse,baron-human,paul2015-2660,\
    cellhint-pancreas,worm-neuron-4186

Per dataset, seed and variant (true k; the registry's batch column, as `cluster --batch-key auto`)
this runs the pipeline with `refine="cell-gene"` and that gene graph (expression only; k-means at
k on X_refined, then the default merge-split check; what `cellmodel cluster --refine cell-gene
--gene-graph SPEC --no-semantic` and the bench's `cellmodel-refine*` methods run) and records
beside it k-means (10 restarts) on the same pipeline PCA (`ari_pca_kmeans`: the refinement's own
input, without it). A variant the data cannot have (knowledge on a file without gene names) is
recorded with its error. Labels only score. JSON lines go to `<out>/runs.jsonl`; a rerun skips
the (dataset, seed, variant) lines already there.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from cellmodel import datasets
from cellmodel.bench.data import hide_labels, reference_labels
from cellmodel.cluster.job import cluster
from genekb.errors import GenekbError

VARIANTS = ("data", "data:rewired", "knowledge", "knowledge:shuffled", "knowledge:random", "both")


def _done(path: Path) -> set[tuple[str, int, str]]:
    if not path.exists():
        return set()
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(d["dataset"], d["seed"], d["variant"]) for d in lines}


def run_one(adata, entry, k: int, seed: int, variant: str, store) -> dict:
    blind = hide_labels(adata, entry.batch_key)
    tick = time.perf_counter()
    cluster(
        blind, store, n_clusters=k, use_semantic=False, refine="cell-gene", gene_graph=variant,
        batch_key="batch" if entry.batch_key else None, seed=seed,
    )  # fmt: skip
    record = dict(blind.uns["refine"])
    return {
        "labels": blind.obs["cellmodel_cluster"].astype(int).to_numpy(),
        "pca": np.asarray(blind.obsm["X_pca_expr"]),
        "seconds": round(time.perf_counter() - tick, 2),
        "steps": int(record["steps"]),
        "stopped": record["stopped"],
        "gene_graph": record["gene_graph"],
        "timings_s": record["timings_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", required=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    from genekb.store.store import Store

    args.out.mkdir(parents=True, exist_ok=True)
    runs = args.out / "runs.jsonl"
    done = _done(runs)
    store = Store.open(None, create=True)
    for name in args.datasets.split(","):
        entry = datasets.get(name)
        adata = datasets.load(name)
        truth, mask, k = reference_labels(adata, entry.label_key)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for variant in args.variants.split(","):
                if (name, seed, variant) in done:
                    continue
                line = {"dataset": name, "seed": seed, "variant": variant, "k": k,
                        "n_cells": adata.n_obs}  # fmt: skip
                try:
                    out = run_one(adata, entry, k, seed, variant, store)
                except GenekbError as error:  # e.g. knowledge on unnamed genes
                    line["error"] = str(error)
                else:
                    pca = out.pop("pca")
                    labels = out.pop("labels")
                    line["ari"] = float(adjusted_rand_score(truth[mask], labels[mask]))
                    base = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(pca)
                    line["ari_pca_kmeans"] = float(adjusted_rand_score(truth[mask], base[mask]))
                    line.update(out)
                with runs.open("a") as f:
                    f.write(json.dumps(line) + "\n")
                print(json.dumps({k_: line.get(k_) for k_ in
                                  ("dataset", "seed", "variant", "ari", "ari_pca_kmeans",
                                   "seconds", "error")}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
