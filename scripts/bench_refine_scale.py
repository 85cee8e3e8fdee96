"""Time and peak memory of `cluster --refine cell-gene` on synthetic counts of a given size.

    OMP_NUM_THREADS=1 python scripts/bench_refine_scale.py --cells 10000 \
        --out artifacts/refine-scale

One size per process (peak RSS is the process's): synthetic negative-binomial counts
(`cellmodel.datasets.synthetic.synthetic_counts`, 2,000 genes, 10 planted groups), the pipeline with
`refine="cell-gene"` over the data gene graph (expression only, k = 10), wall seconds per phase,
peak RSS, and ARI against the planted groups. The knowledge graph's extra cost does not grow
with the cells (a genes × genes build), so the data graph stands for both here.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from cellmodel.cluster.job import cluster
from cellmodel.datasets.synthetic import SYNTHETIC_LABEL_KEY, synthetic_counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from sklearn.metrics import adjusted_rand_score

    args.out.mkdir(parents=True, exist_ok=True)
    adata = synthetic_counts(args.cells, seed=args.seed)
    truth = adata.obs[SYNTHETIC_LABEL_KEY].to_numpy()
    tick = time.perf_counter()
    cluster(adata, None, n_clusters=10, use_semantic=False, refine="cell-gene", seed=args.seed)
    wall = time.perf_counter() - tick
    record = adata.uns["cellmodel"]
    line = {
        "n_cells": args.cells,
        "seed": args.seed,
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "pipeline_timings_s": record["pipeline_timings_s"],
        "refine_timings_s": adata.uns["refine"]["timings_s"],
        "steps": int(adata.uns["refine"]["steps"]),
        "ari": float(adjusted_rand_score(truth, adata.obs["cellmodel_cluster"].to_numpy())),
    }
    with (args.out / "scale.jsonl").open("a") as f:
        f.write(json.dumps(line) + "\n")
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
