"""Each named rule of the cluster default switched off alone, per file and seed: does its gain
survive on the files that did not choose it?

    OMP_NUM_THREADS=1 python scripts/exp_rule_ablation.py --datasets a,b --seeds 3 \
        --out docs/data/cluster_rule_ablation.jsonl
    python scripts/exp_rule_ablation.py --table docs/data/cluster_rule_ablation.jsonl

Per dataset and seed (true k, the registry's batch column where it names one, expression only,
as `scripts/exp_design_set.py` fits the default) the pipeline runs as it is (`default`) and
once more with one rule replaced by what it replaced (`VARIANTS`): parallel-analysis PCs by a
fixed 50, the half-self GCN aggregation by GCN's own self loop, the merge-split check off, the
batch choice off, the cap of one component per ten cells off (a module constant set for the
run). ARI against the labels only scores. `--table` prints, per side of
`cellmodel.bench.cluster_split`, the mean ARI with and without each rule and the rule's gain.

`--default-from RUNS` takes the default's ARI from runs of `scripts/exp_design_set.py` at the
same commit (its `encoder` field, the pipeline's partition) rather than fitting it again, which
halves the time of an ablation over the whole design set.
"""

from __future__ import annotations

import argparse
import importlib
import json
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from cellmodel import datasets
from cellmodel.bench.cluster_split import SIDES
from cellmodel.bench.data import hide_labels, reference_labels
from cellmodel.cluster.job import cluster

# rule -> the run's settings without it ("constants": module constants set for the run)
VARIANTS: dict[str, dict] = {
    "parallel-analysis PCs": {"n_pcs": 50},
    "half-self aggregation": {"self_share": None},
    "merge-split check": {"merge_split": False},
    "batch choice": {"batch_choice": False},
    "one PC per ten cells": {"constants": {"cellmodel.pp.pca.CELLS_PER_PC": 1}},
}


@contextmanager
def constants(values: dict[str, object]):
    """Module constants ("package.module.NAME": value) set inside the block, then restored."""
    saved = []
    for dotted, value in values.items():
        module, name = dotted.rsplit(".", 1)
        target = importlib.import_module(module)
        saved.append((target, name, getattr(target, name)))
        setattr(target, name, value)
    try:
        yield
    finally:
        for target, name, value in saved:
            setattr(target, name, value)


def fit(adata, batch_key: str | None, k: int, seed: int, **settings) -> np.ndarray:
    blind = hide_labels(adata, batch_key)
    key = "batch" if batch_key else None
    with constants(settings.pop("constants", {})):
        cluster(blind, None, n_clusters=k, use_semantic=False, batch_key=key, seed=seed, **settings)
    return blind.obs["cellmodel_cluster"].astype(int).to_numpy()


def recorded_defaults(path: Path) -> dict[tuple[str, int], float]:
    """(dataset, seed) -> the default's ARI in runs of `exp_design_set.py`."""
    found = {}
    for text in path.read_text().splitlines():
        line = json.loads(text)
        found[line["dataset"], line["seed"]] = round(float(line["ari"]["encoder"]), 4)
    return found


def run(
    names: list[str], seeds: int, out: Path, rules: list[str], defaults: Path | None = None
) -> None:
    from sklearn.metrics import adjusted_rand_score

    recorded = recorded_defaults(defaults) if defaults else {}
    for name in names:
        entry = datasets.get(name)
        adata = datasets.load(name)
        truth, mask, k = reference_labels(adata, entry.label_key)
        for seed in range(seeds):
            line = {"dataset": name, "seed": seed, "k": k, "ari": {}}
            variants = [("default", {}), *((r, VARIANTS[r]) for r in rules)]
            if (name, seed) in recorded:
                line["ari"]["default"] = recorded[name, seed]
                line["default_from"] = str(defaults)
                variants = variants[1:]
            for variant, settings in variants:
                if variant == "batch choice" and not entry.batch_key:
                    continue  # no batch column: the rule never acts
                labels = fit(adata, entry.batch_key, k, seed, **settings)
                line["ari"][variant] = round(
                    float(adjusted_rand_score(truth[mask], labels[mask])), 4
                )
            with out.open("a") as f:
                f.write(json.dumps(line) + "\n")
            print(json.dumps(line), flush=True)


def table(path: Path) -> None:
    per: dict[str, dict[str, list[float]]] = {}
    for text in path.read_text().splitlines():
        line = json.loads(text)
        row = per.setdefault(line["dataset"], {})
        for variant, ari in line["ari"].items():
            row.setdefault(variant, []).append(ari)
    print(
        "| rule | side | files | mean without | mean with (default) | gain"
        " | files it lowers by > 0.02 |"
    )
    print("|---|---|---|---|---|---|---|")
    for rule in VARIANTS:
        for side, names in SIDES.items():
            rows = [per[n] for n in names if n in per and rule in per[n]]
            if not rows:
                continue
            without = [np.mean(r[rule]) for r in rows]
            with_ = [np.mean(r["default"]) for r in rows]
            lowers = sum(w < o - 0.02 for w, o in zip(with_, without, strict=True))
            print(
                f"| {rule} | {side} | {len(rows)} | {np.mean(without):.3f} |"
                f" {np.mean(with_):.3f} | {np.mean(with_) - np.mean(without):+.3f} | {lowers} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rules", default=",".join(VARIANTS), help="comma-separated")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--table", type=Path)
    parser.add_argument(
        "--default-from", type=Path, help="exp_design_set.py runs giving the default's ARI"
    )
    args = parser.parse_args()
    if args.table:
        table(args.table)
        return
    if not args.out or not args.datasets:
        parser.error("give --datasets and --out, or --table")
    rules = args.rules.split(",")
    run(args.datasets.split(","), args.seeds, args.out, rules, args.default_from)


if __name__ == "__main__":
    main()
