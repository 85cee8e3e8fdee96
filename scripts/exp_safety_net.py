"""A label-free safety net for the cluster default, read from saved design-set partitions.

    python scripts/exp_safety_net.py artifacts/i63/fresh artifacts/i63/fresh-b

Reads the partitions `scripts/exp_design_set.py` saves (`<out>/<dataset>-<seed>.npz`) and, per
dataset, two readings that need no labels:
- `agreement`: the mean over seeds of the ARI between the default's partition (`encoder`) and
  Leiden at the same k on the pipeline's PCA (`leidenk`);
- `stability`: the mean ARI between the default's partitions of every two seeds.
The rule, fixed before any held-out run was scored (docs/cluster_design_set.md, "Safety net"):
the fit is *unsure* when agreement < 0.5 or stability < 0.8 (round values, not tuned); the
switch then reports Leiden at k (`leidenk`) instead of the default. Labels only score: the
table gives the default's ARI, Leiden at k's and the switch's, mean ± std over seeds.
"""

from __future__ import annotations

import itertools
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

AGREEMENT_FLOOR = 0.5
STABILITY_FLOOR = 0.8


def partitions(folders: list[Path]) -> dict[str, dict[int, dict[str, np.ndarray]]]:
    found: dict[str, dict[int, dict[str, np.ndarray]]] = defaultdict(dict)
    for folder in folders:
        for path in sorted(folder.glob("*.npz")):
            name, seed = path.stem.rsplit("-", 1)
            with np.load(path) as saved:
                found[name][int(seed)] = {k: saved[k] for k in saved.files}
    return found


def readings(runs: dict[int, dict[str, np.ndarray]]) -> tuple[float, float]:
    from sklearn.metrics import adjusted_rand_score as ari

    agreement = np.mean([ari(r["encoder"], r["leidenk"]) for r in runs.values()])
    pairs = itertools.combinations(sorted(runs), 2)
    stability = np.mean([ari(runs[a]["encoder"], runs[b]["encoder"]) for a, b in pairs])
    return float(agreement), float(stability)


def main() -> None:
    from sklearn.metrics import adjusted_rand_score as ari

    from cellmodel import datasets
    from cellmodel.bench.data import reference_labels

    found = partitions([Path(p) for p in sys.argv[1:]])
    print("| dataset | seeds | agreement | stability | unsure | default | leiden at k | switch |")
    print("|---|---|---|---|---|---|---|---|")
    means: dict[str, list[float]] = defaultdict(list)
    for name, runs in sorted(found.items()):
        if len(runs) < 2:
            continue
        entry = datasets.get(name)
        truth, mask, _ = reference_labels(datasets.load(name), entry.label_key)
        agreement, stability = readings(runs)
        unsure = agreement < AGREEMENT_FLOOR or stability < STABILITY_FLOOR
        scores = {
            v: [ari(truth[mask], r[v][mask]) for r in runs.values()] for v in ("encoder", "leidenk")
        }
        scores["switch"] = scores["leidenk"] if unsure else scores["encoder"]
        cells = " | ".join(f"{np.mean(s):.3f} ± {np.std(s, ddof=1):.3f}" for s in scores.values())
        for v, s in scores.items():
            means[v].append(float(np.mean(s)))
        print(f"| {name} | {len(runs)} | {agreement:.3f} | {stability:.3f} | {unsure} | {cells} |")
    summary = " | ".join(f"{np.mean(v):.3f}" for v in means.values())
    print(f"| mean of {len(means['encoder'])} | | | | | {summary} |")


if __name__ == "__main__":
    main()
