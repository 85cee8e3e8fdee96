"""A label-free safety net for the cluster default, read from saved fits.

    python scripts/exp_safety_net.py --fits artifacts/i63/fits \
        --datasets yan2013-90,goolam2016-124,treutlein2014-lung-185

Reads the partitions `scripts/exp_design_set.py` saved (`--npz OUT`: its `encoder` and
`leidenk`) where a dataset has them, else the fits `scripts/exp_merge_split_guards.py --fits
FITS` saves (the pipeline's fit without
the merge-split check: labels, PCA, batch), rebuilds the default's partition (the check as the
pipeline runs it, `merge_split.merge_split` on the 15-neighbour graph of the PCA) and Leiden at
the same k on that graph, and per dataset takes two readings that need no labels:
- `agreement`: the mean over seeds of the ARI between the default's partition and Leiden at k;
- `stability`: the mean ARI between the default's partitions of every two seeds.
The rule, fixed before the held-out runs were read (docs/cluster_design_set.md, "A label-free
safety net"): the fit is *unsure* when agreement < 0.5 or stability < 0.8 (round values, not
tuned); the switch then reports Leiden at k instead of the default. Labels only score: the
table gives the default's ARI, Leiden at k's and the switch's, mean ± std over seeds.
"""

from __future__ import annotations

import argparse
import itertools
from collections import defaultdict
from pathlib import Path

import numpy as np

AGREEMENT_FLOOR = 0.5
STABILITY_FLOOR = 0.8


def partitions(fit: tuple, k: int, seed: int) -> dict[str, np.ndarray]:
    """The default's partition and Leiden at k, rebuilt from one saved fit."""
    from cellmodel.cluster import consensus
    from cellmodel.cluster.merge_split import merge_split
    from cellmodel.cluster.options import ClusterRun
    from cellmodel.pp import graph

    fitted, X, batch = fit
    knn = graph.knn_graph(X, ClusterRun.n_neighbors, seed=seed).adjacency
    return {
        "default": merge_split(X, fitted, seed, batch, adjacency=knn).labels,
        "leiden at k": consensus.leiden_to_k(knn, k, seed)[0],
    }


def readings(runs: list[dict[str, np.ndarray]]) -> tuple[float, float]:
    from sklearn.metrics import adjusted_rand_score as ari

    agreement = np.mean([ari(r["default"], r["leiden at k"]) for r in runs])
    pairs = itertools.combinations(runs, 2)
    stability = np.mean([ari(a["default"], b["default"]) for a, b in pairs])
    return float(agreement), float(stability)


def saved_npz(folder: Path, name: str) -> list[dict[str, np.ndarray]]:
    """The default's partition and Leiden at k of every seed `exp_design_set.py` saved."""
    found = []
    for path in sorted(folder.glob(f"{name}-*.npz")):
        with np.load(path) as saved:
            found.append({"default": saved["encoder"], "leiden at k": saved["leidenk"]})
    return found


def main() -> None:
    from sklearn.metrics import adjusted_rand_score as ari

    from cellmodel import datasets
    from cellmodel.bench.data import reference_labels
    from cellmodel.bench.fit_cache import saved_fits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=Path, help="fits saved by exp_merge_split_guards.py")
    parser.add_argument("--npz", type=Path, help="partitions saved by exp_design_set.py")
    parser.add_argument("--datasets", required=True)
    args = parser.parse_args()
    runs: dict[str, list] = defaultdict(list)
    for name in args.datasets.split(","):
        entry = datasets.get(name)
        truth, mask, k = reference_labels(datasets.load(name), entry.label_key)
        found = saved_npz(args.npz, name) if args.npz else []
        if not found and args.fits:
            fits = saved_fits(args.fits, name, bool(entry.batch_key))
            found = [partitions(fit, k, seed) for seed, fit in fits]
        for parts in found:
            runs[name].append((parts, {v: ari(truth[mask], p[mask]) for v, p in parts.items()}))
    print("| dataset | seeds | agreement | stability | unsure | default | leiden at k | switch |")
    print("|---|---|---|---|---|---|---|---|")
    means: dict[str, list[float]] = defaultdict(list)
    for name, done in runs.items():
        agreement, stability = readings([parts for parts, _ in done])
        unsure = agreement < AGREEMENT_FLOOR or stability < STABILITY_FLOOR
        scores = {v: [s[v] for _, s in done] for v in ("default", "leiden at k")}
        scores["switch"] = scores["leiden at k"] if unsure else scores["default"]
        cells = " | ".join(f"{np.mean(s):.3f} ± {np.std(s, ddof=1):.3f}" for s in scores.values())
        for v, s in scores.items():
            means[v].append(float(np.mean(s)))
        flag = "yes" if unsure else "no"
        print(f"| {name} | {len(done)} | {agreement:.3f} | {stability:.3f} | {flag} | {cells} |")
    summary = " | ".join(f"{np.mean(v):.3f}" for v in means.values())
    print(f"| mean of {len(means['default'])} | | | | | {summary} |")


if __name__ == "__main__":
    main()
