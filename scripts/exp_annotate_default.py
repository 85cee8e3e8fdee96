"""The annotate default against each ranking alone and against the equal-weight sum it replaced,
on the registry datasets' true groups with their own CL terms; regenerates docs/annotate_default.md.

    python scripts/exp_annotate_default.py --root STORE [--seeds 3] [--datasets a,b] [--out DIR]
    python scripts/exp_annotate_default.py --from-json DIR/results-*.json

Groups, truth and controls as in scripts/exp_annotate.py (which measures everything else); the
`cellmodel cluster` clusters are scored too where that script has left them in --clusters. Labels
only score.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from cellmodel import datasets
from cellmodel.annotate.evaluate import group_truth
from genekb.store.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
import exp_annotate as base

SINGLE = ("text", "mentions", "processes", "knowledge", "markerdb")
NAMES = {**base._METHOD_NAMES, "markerdb": "table"}


def _scores(adata, store, groupby, own, truth, seeds: int | None) -> dict[str, Any]:
    """Every ranking (with controls when `seeds`) and the equal-weight sum, on one grouping."""
    if seeds:
        out = base._controls(adata, store, groupby, own, truth, seeds)
    else:
        out = {"real": base._run(adata, store, groupby, own, truth)[0]}
    summed = base._run(adata, store, groupby, own, truth, method=base.SUMMED_ALL)[0]
    out["summed"] = summed[base.SUMMED_ALL]
    return out


def run(root: Path, seeds: int, names: list[str] | None, clusters: Path | None, log) -> dict:
    store = Store.open(root, create=True)
    cache = datasets.default_cache_dir(root)
    results: dict[str, Any] = {"seeds": seeds, "data": {}}
    for name, (label_key, _) in base.DATASETS.items():
        if names and name not in names:
            continue
        adata = datasets.load(name, cache_dir=cache)
        adata.obs["_truth"] = base.cells_truth(adata, name).to_numpy()
        truth = group_truth(adata.obs[label_key], adata.obs["_truth"])
        own = sorted(set(truth.values()))
        true = _scores(adata, store, label_key, own, truth, seeds)
        entry: dict[str, Any] = {"n_groups": len(truth), "true": true}
        stem = f"clusters-{name}-seed0-{base._cluster_defaults_id()}.csv"
        if clusters is not None and (clusters / stem).exists():
            grouped, _ = base._cluster(adata, name, clusters)
            ctruth = group_truth(grouped.obs["cellmodel_cluster"], grouped.obs["_truth"])
            entry["n_clusters"] = len(ctruth)
            entry["clusters"] = _scores(grouped, store, "cellmodel_cluster", own, ctruth, None)
        results["data"][name] = entry
        log(f"{name}: done")
    return results


def _control(block: dict[str, Any], which: str, key: str, method: str = "knowledge") -> str:
    values = [r[method][key] for r in block.get(which, [])]
    return f"{np.mean(values):.1f} ± {np.std(values):.1f}" if values else "—"


def _table(results: dict[str, Any], part: str, key: str) -> list[str]:
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


def to_markdown(results: dict[str, Any]) -> str:
    held = ", ".join(base.HELD_OUT)
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
        base.WEIGHTING + f" (Held out: {held}.)",
        "",
        "## True groups, own CL terms, exact@1",
        "",
        *_table(results, "true", "exact@1"),
        "## True groups, own CL terms, aware@3",
        "",
        *_table(results, "true", "aware@3"),
    ]
    if any("clusters" in e for e in results["data"].values()):
        lines += [
            "## `cellmodel cluster` clusters, own CL terms, exact@1 (no controls)",
            "",
            *_table(results, "clusters", "exact@1"),
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="Store root (built as needed).")
    parser.add_argument("--seeds", type=int, default=3, help="Seeds of each control.")
    parser.add_argument("--datasets", default=None, help="Only these, comma-separated.")
    parser.add_argument("--clusters", type=Path, default=None, help="exp_annotate's --out.")
    parser.add_argument("--out", type=Path, default=None, help="Where results.json goes.")
    parser.add_argument("--from-json", type=Path, nargs="+", default=None)
    here = Path(__file__).resolve().parent
    parser.add_argument("--docs", type=Path, default=here.parent / "docs" / "annotate_default.md")
    args = parser.parse_args()
    if args.from_json:
        parts = [json.loads(p.read_text()) for p in args.from_json]
        data = {k: v for p in parts for k, v in p["data"].items()}
        order = {n: data[n] for n in base.DATASETS if n in data}
        results = {**parts[0], "data": order}
    else:
        if args.root is None:
            parser.error("--root is required unless --from-json is given")
        names = args.datasets.split(",") if args.datasets else None
        log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
        results = run(args.root, args.seeds, names, args.clusters, log)
        out = args.out or args.root / "annotate-default"
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    args.docs.write_text(to_markdown(results) + "\n")
    print(f"wrote {args.docs}", file=sys.stderr)


if __name__ == "__main__":
    main()
