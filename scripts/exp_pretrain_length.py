"""Does a longer pretraining steady the fit over seeds? The pipeline against a fixed length.

    OMP_NUM_THREADS=1 python scripts/exp_pretrain_length.py --datasets zeisel2015-3005 \
        --seeds 10 --min-steps 400 > OUT.jsonl

Per dataset, seed and variant (`default`: the plateau rule; a number: pretraining runs at least
that many steps), one JSON line: the ARI of `cellmodel.cluster.job.cluster` at the true k
(expression only, every other default), its seconds, how pretraining and refinement stopped and
the merge-split check's moves. The registry's batch column is not used. Labels only score.
"""

from __future__ import annotations

import argparse
import json
import time

from sklearn.metrics import adjusted_rand_score

from cellmodel import datasets
from cellmodel.bench.data import reference_labels
from cellmodel.cluster.job import cluster


def run(name: str, seed: int, min_steps: int | None) -> dict[str, object]:
    adata = datasets.load(name)
    labels, mask, k = reference_labels(adata, datasets.get(name).label_key)
    options = {} if min_steps is None else {"min_pretrain_steps": min_steps}
    tick = time.perf_counter()
    cluster(adata, None, n_clusters=k, use_semantic=False, seed=seed, **options)
    info = adata.uns["cellmodel"]
    found = adata.obs["cellmodel_cluster"].astype(str).to_numpy()
    return {
        "dataset": name,
        "variant": "default" if min_steps is None else min_steps,
        "seed": seed,
        "ari": round(float(adjusted_rand_score(labels[mask], found[mask])), 4),
        "seconds": round(time.perf_counter() - tick, 1),
        "pretrain_stop": str(info["cluster_params"]["pretrain_stop"]),
        "refine_stop": str(info["cluster_params"]["refine_stop"]),
        "moves": int(info["merge_split"]["n_moves"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", required=True)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--min-steps", type=int, default=400, help="the fixed-length variant")
    args = parser.parse_args()
    for name in args.datasets.split(","):
        for min_steps in (None, args.min_steps):
            for seed in range(args.seeds):
                print(json.dumps(run(name, seed, min_steps)), flush=True)


if __name__ == "__main__":
    main()
