"""Leave-one-dataset-out over the runs of `scripts/exp_design_set.py`: markdown on stdout.

    python scripts/lodo_design_set.py artifacts/design-set/runs.jsonl [more runs.jsonl ...] \
        [artifacts/design-set-auto/auto.jsonl] [merge-split runs.jsonl ...]

Runs of `scripts/exp_merge_split_guards.py` (variants of the merge-split check on one fit), of
`scripts/exp_auto_merges.py` (variants of the merges after an estimated k) and of
`scripts/exp_count_loss.py` (the fit with and without its count reconstruction) get their own table:
each variant per dataset, and the variant leave-one-dataset-out chooses.

A rule turns one run's candidate partitions into one partition without labels: a fixed
candidate, or a label-free choice among the encoder, the k-means consensus and Leiden at k (the
highest modularity on the 15-neighbour graph, the highest silhouette in the PCA, the highest
agreement with the ensemble, the medoid: the highest mean ARI with the other two), or their
consensus. For each held-out dataset the rule with the
highest mean ARI on the other datasets is chosen and scored on the held-out one; labels of the
held-out dataset never choose anything. Tables give ARI mean ± sample std over seeds.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from cellmodel.bench.aggregate import leave_one_dataset_out

BASELINES = ("kmeans50", "leiden50", "leidenk50")
TRIO = ("encoder", "kmeans-cons", "leidenk")
FIXED = ("encoder", "kmeans-cons", "leidenk", "ensemble", "consensus3")


def medoid(parts: dict[str, np.ndarray]) -> str:
    """The candidate of TRIO with the highest mean ARI with the other two (ties: TRIO order)."""
    from sklearn.metrics import adjusted_rand_score

    def mean_agreement(name: str) -> float:
        return float(
            np.mean([adjusted_rand_score(parts[name], parts[o]) for o in TRIO if o != name])
        )

    return max(TRIO, key=lambda name: (mean_agreement(name), -TRIO.index(name)))


def encoder_kmeans(run: dict, parts: Any) -> float:
    """ARI of `cellmodel.cluster.consensus.encoder_kmeans_consensus`'s partition, rebuilt from the
    run's encoder and k-means-consensus partitions (the reference labels are read only to score)."""
    from sklearn.metrics import adjusted_rand_score

    from cellmodel import datasets
    from cellmodel.cluster import consensus

    labels = consensus.spectral_consensus(
        [parts["encoder"], parts["kmeans-cons"]], run["k"], run["seed"]
    )
    entry = datasets.get(run["dataset"])
    truth = datasets.load(run["dataset"]).obs[entry.label_key]
    mask = truth.notna().to_numpy()
    return float(adjusted_rand_score(truth.astype(str).to_numpy()[mask], labels[mask]))


def rule_ari(run: dict, rule: str) -> float:
    """The ARI of the partition `rule` keeps in one run (labels only score the kept one)."""
    if rule in run["ari"] or rule in BASELINES:
        return run["ari"].get(rule, float("nan"))
    if rule == "medoid3":
        return run["ari"][run["medoid"]]
    if rule == "enc+kcons":
        return run["enc+kcons"]
    score = rule.removeprefix("max-")
    best = max(TRIO, key=lambda name: (run["scores"][name][score], -TRIO.index(name)))
    return run["ari"][best]


PARTITION_RULES = ("medoid3", "enc+kcons")  # rebuilt from the runs' saved partitions (.npz)
RULES = (*FIXED, "max-modularity", "max-silhouette", *PARTITION_RULES)


def table(runs: list[dict], rules: tuple[str, ...] = RULES) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for name in (*BASELINES, *rules):
            out[run["dataset"]][name].append(rule_ari(run, name))
    return out


def fmt(values: list[float]) -> str:
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return f"{np.mean(values):.3f} ± {std:.3f}"


def lodo(
    per: dict[str, dict[str, list[float]]], rules: tuple[str, ...] = RULES
) -> dict[str, tuple[str, list[float]]]:
    return leave_one_dataset_out(per, rules)


def auto_table(paths: list[str], true_k: dict[str, float]) -> None:
    """k estimated: `cellmodel-auto` (the encoder at its own k), the consensus at that k and
    Leiden's own k, mean ± std over each dataset's seeds, beside the encoder's true-k ARI
    (`true_k`, mean over its seeds)."""
    runs = _read_runs(paths)
    names = ("encoder-auto", "enc+kcons-auto", "leiden50")
    head = ["dataset", "true k", "seeds", "k found (auto / leiden)", *names, "true-k encoder"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    means: dict[str, list[float]] = defaultdict(list)
    by_dataset: dict[str, list[dict]] = defaultdict(list)
    for run in runs.values():
        by_dataset[run["dataset"]].append(run)
    for dataset, group in by_dataset.items():
        found = [r["k_found"] for r in group]
        leiden = [r["clusters"]["leiden50"] for r in group]
        span = f"{_span(found)} / {_span(leiden)}"
        values = {n: [r["ari"][n] for r in group] for n in names}
        ref = true_k.get(dataset, float("nan"))
        cells = [fmt(values[n]) for n in names]
        print(f"| {dataset} | {group[0]['k']} | {len(group)} | {span} | " + " | ".join(cells)
              + f" | {ref:.3f} |")  # fmt: skip
        for n in names:
            means[n].append(float(np.mean(values[n])))
        means["true-k encoder"].append(ref)
    print("| mean | | | | " + " | ".join(f"{np.mean(v):.3f}" for v in means.values()) + " |")


def _read_runs(paths: list[str], with_partitions: bool = False) -> dict[tuple[str, int], dict]:
    """The JSON-line runs of `paths` by (dataset, seed), a later run of a seed replacing an earlier
    one; `with_partitions`: the rules built from a run's saved partitions, where they were saved."""
    runs: dict[tuple[str, int], dict] = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                run = json.loads(line)
                saved = Path(path).parent / f"{run['dataset']}-{run['seed']}.npz"
                if with_partitions and saved.exists():
                    parts = np.load(saved)
                    run["medoid"] = medoid({name: parts[name] for name in TRIO})
                    run["enc+kcons"] = encoder_kmeans(run, parts)
                runs[run["dataset"], run["seed"]] = run
    return runs


def _span(values: list[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}–{high}"


def _first_run(path: str) -> dict:
    with open(path) as f:
        return json.loads(next((line for line in f if line.strip()), "{}"))


def _is_auto(path: str) -> bool:
    """A file of `exp_design_set.py --auto-k` runs (they record the k found)."""
    return "k_found" in _first_run(path)


CHECK_VARIANTS = ("none", "check", "silhouette", "modularity", "cut")
# The variants leave-one-dataset-out chooses among: the graph guards were set aside on the
# subsamples the check was built for (docs/cluster_design_set.md), so they are shown, not chosen.
CHECK_CHOICES = ("none", "check", "silhouette")
AUTO_VARIANTS = ("none", "merges", "dip")
# The fit with and without the count reconstruction, alone and checked; the pipeline checks.
COUNT_VARIANTS = ("mse-fit", "mse", "nb-fit", "nb")
# The check as before and merging only pairs the kNN graph joins, at three floors; the old check
# first, so that a fold which cannot tell them apart keeps it.
JOINED_VARIANTS = ("none", "silhouette", "joined>=0.25", "joined>=0.4", "joined>=0.5")
# The check with the floor: the first pair beside its split that removes most variance, beside
# the split of highest silhouette, and the first pair with an accepted move; the older first, so
# that a fold which cannot tell them apart keeps it.
SPLIT_VARIANTS = ("none", "silhouette", "joined>=0.4", "split-silhouette", "moves")
# Files of variants, told apart by a variant only they score: (variants shown, LODO's choices).
# A file of a later kind also scores the variants of earlier ones, so later kinds come first.
VARIANT_FILES = {
    "moves": (SPLIT_VARIANTS, SPLIT_VARIANTS[2:]),  # exp_merge_split_guards.py
    "joined>=0.4": (JOINED_VARIANTS, JOINED_VARIANTS[1:]),  # exp_merge_split_guards.py
    "check": (CHECK_VARIANTS, CHECK_CHOICES),  # scripts/exp_merge_split_guards.py
    "dip": (AUTO_VARIANTS, AUTO_VARIANTS),  # scripts/exp_auto_merges.py
    "nb": (COUNT_VARIANTS, ("mse", "nb")),  # scripts/exp_count_loss.py
}


def _variant_kind(path: str) -> str | None:
    """Which file of variants `path` is (a key of VARIANT_FILES), if any."""
    ari = _first_run(path).get("ari", {})
    return next((kind for kind in VARIANT_FILES if kind in ari), None)


def variant_table(paths: list[str], kind: str) -> None:
    """Each variant's ARI per dataset (with the cluster counts where recorded), and
    leave-one-dataset-out among the choices."""
    variants, choices = VARIANT_FILES[kind]
    runs = list(_read_runs(paths).values())
    per = table(runs, variants)
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for name, n in run.get("clusters", {}).items():
            counts[run["dataset"]][name].append(n)
    folds = lodo(per, choices)
    head = ["dataset", "seeds", *variants, "LODO (variant)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for d in per:
        variant, values = folds[d]
        cells = [
            fmt(per[d][n]) + (f" (k {_span(counts[d][n])})" if counts[d][n] else "")
            for n in variants
        ]
        print(f"| {d} | {len(per[d][variants[0]])} | " + " | ".join(cells)
              + f" | {fmt(values)} ({variant}) |")  # fmt: skip
    means = [f"{np.mean([np.mean(per[d][n]) for d in per]):.3f}" for n in variants]
    lodo_mean = np.mean([np.mean(values) for _, values in folds.values()])
    print(f"| mean | | {' | '.join(means)} | {lodo_mean:.3f} |")


def main(paths: list[str]) -> None:
    variants = [p for p in paths if _variant_kind(p)]
    for kind in VARIANT_FILES:
        of_kind = [p for p in variants if _variant_kind(p) == kind]
        if of_kind:
            variant_table(of_kind, kind)
            print()
    auto = [p for p in paths if _is_auto(p)]
    paths = [p for p in paths if p not in auto and p not in variants]
    if not paths:
        return
    runs = list(_read_runs(paths, with_partitions=True).values())
    rules = RULES
    if any("medoid" not in run for run in runs):
        rules = tuple(r for r in RULES if r not in PARTITION_RULES)
        print(f"(some runs have no saved partitions: {', '.join(PARTITION_RULES)} left out)\n")
    per = table(runs, rules)
    folds = lodo(per, rules)
    names = sorted(per, key=lambda d: -runs[[r["dataset"] for r in runs].index(d)]["n_cells"])
    head = ["dataset", "cells / k", "seeds", *BASELINES, *rules, "LODO (rule)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    sizes = {r["dataset"]: f"{r['n_cells']:,} / {r['k']}" for r in runs}
    met, means = 0, defaultdict(list)
    for d in names:
        best = max(np.mean(per[d][b]) for b in BASELINES)
        rule, values = folds[d]
        met += np.mean(values) >= best - 0.02
        cells = [fmt(per[d][n]) for n in (*BASELINES, *rules)]
        row = [d, sizes[d], str(len(per[d]["encoder"])), *cells, f"{fmt(values)} ({rule})"]
        print("| " + " | ".join(row) + " |")
        for n in (*BASELINES, *rules):
            means[n].append(np.mean(per[d][n]))
        means["best baseline"].append(best)
        means["LODO"].append(np.mean(values))
    print()
    print(
        "| mean over datasets | " + " | ".join(f"{k}: {np.mean(v):.3f}" for k, v in means.items())
    )
    print()
    print(f"LODO within 0.02 of the best baseline on {met} of {len(names)} datasets;")
    lodo_mean, best_mean = np.mean(means["LODO"]), np.mean(means["best baseline"])
    print(f"LODO mean {lodo_mean:.3f} vs the per-dataset best baseline's mean {best_mean:.3f}")
    if auto:
        print()
        auto_table(auto, {d: float(np.mean(per[d]["encoder"])) for d in per})


if __name__ == "__main__":
    main(sys.argv[1:])
