"""The annotate default against each ranking alone and against the equal-weight sum it replaced,
on the registry datasets' true groups with their own CL terms (with the vector controls), and on
the `cellmodel cluster` clusters where the experiments have cached them: docs/annotate_default.md.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cellmodel import datasets
from cellmodel.bench.annotate_eval.cases import (
    DATASETS,
    HELD_OUT,
    METHOD_NAMES,
    SINGLE,
    SUMMED_ALL,
    cluster_truth,
    load_case,
)
from cellmodel.bench.annotate_eval.prose import WEIGHTING
from cellmodel.bench.annotate_eval.runs import control_scores, score_run
from cellmodel.bench.clusters import cache_file, cached_cluster
from genekb.store.store import Store

# How this page's tables name each ranking.
NAMES = {**METHOD_NAMES, "markerdb": "table"}


def default_scores(adata, store, groupby, own, truth, seeds: int | None) -> dict[str, Any]:
    """Every ranking (with controls when `seeds`) and the equal-weight sum, on one grouping."""
    if seeds:
        out = control_scores(adata, store, groupby, own, truth, seeds)
    else:
        out = {"real": score_run(adata, store, groupby, own, truth)[0]}
    summed = score_run(adata, store, groupby, own, truth, method=SUMMED_ALL)[0]
    out["summed"] = summed[SUMMED_ALL]
    return out


def run_default(
    root: Path,
    seeds: int,
    names: list[str] | None,
    clusters: Path | None,
    label_map: Path,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Every dataset of `DATASETS` (or of `names`): true groups with controls over `seeds`
    seeds, and the clusters `run_experiments` left in `clusters` (without controls)."""
    store = Store.open(root, create=True)
    cache = datasets.default_cache_dir(root)
    results: dict[str, Any] = {"seeds": seeds, "data": {}}
    for name in DATASETS:
        if names and name not in names:
            continue
        case = load_case(name, cache, label_map)
        true = default_scores(case.adata, store, case.label_key, case.own, case.truth, seeds)
        entry: dict[str, Any] = {"n_groups": len(case.truth), "true": true}
        if clusters is not None and cache_file(clusters, name).exists():
            grouped, _ = cached_cluster(case.adata, name, clusters)
            ctruth = cluster_truth(grouped)
            entry["n_clusters"] = len(ctruth)
            entry["clusters"] = default_scores(
                grouped, store, "cellmodel_cluster", case.own, ctruth, None
            )
        results["data"][name] = entry
        log(f"{name}: done")
    return results


def _control(block: dict[str, Any], which: str, key: str, method: str = "knowledge") -> str:
    values = [r[method][key] for r in block.get(which, [])]
    return f"{np.mean(values):.1f} ± {np.std(values):.1f}" if values else "—"


def default_table(results: dict[str, Any], part: str, key: str) -> list[str]:
    lines = [
        f"| dataset | {'groups' if part == 'true' else 'clusters'} | text | mentions | processes"
        " | knowledge | knowledge (shuffled) | knowledge (random) | table | best alone |"
        " sum (before) | **default** | default (shuffled knowledge) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, e in results["data"].items():
        if part not in e:
            continue
        block = e[part]
        real = block["real"]
        best = max(real[m][key] for m in SINGLE)
        which = "/".join(NAMES[m] for m in SINGLE if real[m][key] == best)
        n = e["n_groups" if part == "true" else "n_clusters"]
        cells = " | ".join(str(real[m][key]) for m in SINGLE[:4])
        lines.append(
            f"| {name} | {n} | {cells} | {_control(block, 'shuffled', key)} |"
            f" {_control(block, 'random', key)} | {real['markerdb'][key]} | {best} ({which}) |"
            f" {block['summed'][key]} | **{real['combined'][key]}** |"
            f" {_control(block, 'shuffled', key, 'combined')} |"
        )
    return [*lines, ""]


def default_markdown(results: dict[str, Any]) -> str:
    """docs/annotate_default.md from `run_default`'s results."""
    held = ", ".join(HELD_OUT)
    lines = [
        "# The annotate default against its best single ranking",
        "",
        "`cellmodel annotate` keeps five rankings per group (the gene text, the genes a"
        " candidate's text names, the GO processes that name it, knowledge = those three summed,"
        " the CellConsensus marker table) and calls by default with `combined`. For a"
        " candidate list (here each dataset's own CL terms) `combined` weighs two experts per"
        " group: the marker table, its −log10 p counted only where it clears the Bonferroni"
        " threshold over the candidates the table scores, and the knowledge, each standardised"
        " per group and multiplied by its own margin there. 'sum (before)' is the equal-weight"
        " sum of all rankings that the default was until this version (and still is over the"
        " whole Cell Ontology). 'default (shuffled knowledge)': the default with the knowledge's"
        " gene vectors shuffled and its named and process genes read from random data genes,"
        " the table unchanged: what the table carries alone inside the default. Method:"
        " `cellmodel/annotate/fusion.py`; everything else about annotate:"
        " docs/annotate_experiments.md.",
        "",
        "Regenerate: `python scripts/exp_annotate_default.py --root STORE --seeds"
        f" {results['seeds']} --clusters DIR` (DIR: where scripts/exp_annotate.py kept its"
        " `cellmodel cluster` clusters; clusters are scored only where it has). True groups,"
        " truth and credit as in docs/annotate_experiments.md; controls: seeds"
        f" 0..{results['seeds'] - 1}, mean ± std.",
        "",
        WEIGHTING + f" (Held out: {held}.)",
        "",
        "## True groups, own CL terms, exact@1",
        "",
        *default_table(results, "true", "exact@1"),
        "## True groups, own CL terms, aware@3",
        "",
        *default_table(results, "true", "aware@3"),
    ]
    if any("clusters" in e for e in results["data"].values()):
        lines += [
            "## `cellmodel cluster` clusters, own CL terms, exact@1 (no controls)",
            "",
            *default_table(results, "clusters", "exact@1"),
        ]
    return "\n".join(lines)
