"""Resampled calls over the whole Cell Ontology (`annotate(..., resamples=N)`): how often a call
keeps its term and lineage when a fifth of the cells are left out, and what calling the shared
term where the calls cross lineages does to the figures.

    python scripts/exp_annotate_resample.py run --root STORE --out RUNS.json [--resamples 4]
    python scripts/exp_annotate_resample.py table --out RUNS.json [-v]

`run` names each file of the annotate design set (`ontology_runs.load_groups`: groups of at
least 10 cells, whole ontology, no candidates, no --tissue, real gene vectors) with `annotate`
and `resamples` (seed 0), and keeps per group its truth, the run's own call (before the
resamples are read) and the call after them. `table` prints per side of docs/annotate_ontology.md
exact / exact + partial / wrong lineage for both calls, and for the calls the resamples left
alone and those they did not, how often each is right. Labels only score.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cellmodel.annotate import annotate, kinds, ontology, report_of
from cellmodel.bench.annotate_eval import ontology_runs as runs
from genekb.store.store import Store

HERE = Path(__file__).resolve().parent
LABEL_MAP = HERE / "annotate_label_map.csv"


def run(root: Path, out: Path, names: list[str], resamples: int) -> None:
    store = Store.open(root, create=True)
    kept = json.loads(out.read_text()) if out.exists() else {}
    for name in names:
        adata, label_key, truth = runs.load_groups(name, root / "datasets", LABEL_MAP)
        began = time.perf_counter()
        annotate(adata, store, groupby=label_key, resamples=resamples)
        groups = report_of(adata)["groups"]
        kept[name] = [
            {"group": g["group"], "truth": truth[g["group"]], "call": g["cl_id"],
             "stability": g["lineage"]["stability"]}
            for g in groups
        ]  # fmt: skip
        part = out.with_suffix(".part")
        part.write_text(json.dumps(kept, indent=1))
        part.replace(out)
        print(f"{name}: {time.perf_counter() - began:.1f} s", file=sys.stderr)


def _grade(call: str | None, truth: str) -> tuple[bool, bool, bool]:
    g = kinds.grade(call, truth)
    return g == "exact", g != "wrong", g == "wrong" and kinds.crosses_lineage(call, truth)


def table(path: Path, verbose: bool) -> None:
    label = ontology.parser().get_term_label
    totals: dict[tuple[str, str], list[int]] = {}
    for name, groups in json.loads(path.read_text()).items():
        side = runs.side_of(name)
        for g in groups:
            own, stab = g["stability"]["own_call"], g["stability"]
            steady = "kept term" if stab["same_term"] == len(stab["calls"]) else "term moved"
            for rule, call in (("own call", own), ("after resamples", g["call"]),
                               (f"own call, {steady}", own)):  # fmt: skip
                row = totals.setdefault((side, rule), [0, 0, 0, 0])
                for i, hit in enumerate(_grade(call, g["truth"])):
                    row[i] += hit
                row[3] += 1
            if verbose and g["call"] != own:
                now = label(g["call"]) if g["call"] else None
                print(
                    f"{name[:18]:18} {g['group'][:22]:22} truth={label(g['truth'])[:34]:34}"
                    f" own={label(own) if own else None} -> {now}"
                )
    print("| side | calls | exact | exact + partial | wrong lineage | groups |")
    print("|---|---|---|---|---|---|")
    for (side, rule), (ex, ep, wl, n) in sorted(totals.items()):
        print(
            f"| {side} | {rule} | {ex / n:.0%} ({ex}) | {ep / n:.0%} ({ep}) |"
            f" {wl / n:.0%} ({wl}) | {n} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["run", "table"])
    parser.add_argument("--root", type=Path, help="store root (run): datasets under ROOT/datasets")
    parser.add_argument("--out", type=Path, required=True, help="the runs' JSON")
    parser.add_argument("--resamples", type=int, default=4)
    parser.add_argument("--datasets", default=None, help="only these, comma-separated")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each changed call")
    args = parser.parse_args()
    if args.step == "run":
        if args.root is None:
            parser.error("run needs --root")
        names = args.datasets.split(",") if args.datasets else list(runs.DESIGN)
        run(args.root, args.out, names, args.resamples)
    else:
        table(args.out, args.verbose)


if __name__ == "__main__":
    main()
