"""The fit's time with OpenMP's idle threads spinning (libgomp's default) against sleeping
(OMP_WAIT_POLICY=PASSIVE, what `import cellmodel` sets), and whether the two give the same bits.

    python scripts/bench_wait_policy.py --dataset baron-human --k 14 --repeats 2

Each fit runs in its own process (the policy is read once, when libgomp loads), alternating the
two, on the dataset's PCA and kNN graph as the pipeline builds them (ComBat on its registry batch
column), with the library's default thread count. Prints each fit's wall and CPU seconds with the
load average beside, the median wall ratio, and whether latents and labels are equal to the bit.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

POLICIES = ("spin", "passive")


def child(policy: str, dataset: str, k: int, out: str) -> None:
    """One fit; under "spin", torch and scikit-learn load libgomp before cellmodel sets a policy."""
    if policy == "spin":
        import sklearn.cluster  # noqa: F401  (loads scikit-learn's libgomp with the policy unset)
        import torch  # noqa: F401

    from cellmodel import datasets, io
    from cellmodel.cluster.fit import fit_clusters
    from cellmodel.pp import graph

    adata = datasets.load(dataset)
    key = datasets.get(dataset).batch_key
    batch = None if key is None else adata.obs[key].astype(str).to_numpy()
    X = graph.structure_features(io.expression(adata).X, kind="log", batch=batch, seed=0)
    knn = graph.knn_graph(X, graph.FIT_N_NEIGHBORS, seed=0)
    wall, cpu = time.perf_counter(), time.process_time()
    result = fit_clusters(X, knn, None, k, seed=0)
    seconds = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
    np.savez(out, latent=result.latent, labels=result.labels)
    print("RESULT " + json.dumps(seconds))


def run(policy: str, dataset: str, k: int, out: Path) -> dict[str, float]:
    env = {key: v for key, v in os.environ.items() if key != "OMP_WAIT_POLICY"}
    if policy == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    load = os.getloadavg()[0]
    command = [sys.executable, __file__, "--child", policy, "--dataset", dataset, "--k", str(k)]
    done = subprocess.run(
        [*command, "--out", str(out)], env=env, capture_output=True, text=True, check=True
    )
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("RESULT "))
    return {**json.loads(line[7:]), "load": load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="baron-human")
    parser.add_argument("--k", type=int, default=14)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", choices=POLICIES, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.dataset, args.k, args.out)
        return
    walls: dict[str, list[float]] = {p: [] for p in POLICIES}
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            for policy in POLICIES:
                seconds = run(policy, args.dataset, args.k, Path(folder) / f"{policy}.npz")
                walls[policy].append(seconds["wall"])
                print(
                    f"{policy} {repeat}: wall {seconds['wall']:.1f} s, CPU {seconds['cpu']:.1f} s"
                    f" (load average {seconds['load']:.1f} at the start)",
                    flush=True,
                )
        fits = {p: np.load(Path(folder) / f"{p}.npz") for p in POLICIES}
        same = all(np.array_equal(fits["spin"][n], fits["passive"][n]) for n in fits["spin"])
    ratio = np.median(walls["passive"]) / np.median(walls["spin"])
    print(f"median wall ratio passive/spin: {ratio:.3f}")
    print(f"same latents and labels to the bit: {same}")


if __name__ == "__main__":
    main()
