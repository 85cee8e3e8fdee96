"""Name the design set's true groups over restricted Cell Ontology candidates (a tissue's terms,
a subtree; `RUNS`), as a user does with `--tissue` or `--subtree`, and over a user's list that
leaves most of a blood file's kinds out (`LISTS`), and count the calls that cross into another
lineage: where a group's own kind has no candidate, it should get no name.

    python scripts/exp_annotate_restricted.py --root STORE [--out CALLS.json]

Prints exact / partial / wrong / unnamed and wrong-lineage counts for each of the two sets of
runs; `--out` keeps
each group's call. Run it at two commits to compare. Labels only score.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from pathlib import Path

from cellmodel.annotate import annotate, kinds, ontology, report_of
from cellmodel.bench.annotate_eval import ontology_runs as runs
from genekb.store.store import Store

LABEL_MAP = Path(__file__).resolve().parent / "annotate_label_map.csv"
# (file, the restriction): each tissue file with its own tissue, two blood files with the
# leukocyte and the T-cell subtrees
RUNS: tuple[tuple[str, dict[str, str]], ...] = (
    ("baron-human", {"tissue": "pancreas"}),
    ("baron-mouse", {"tissue": "pancreas"}),
    ("cellhint-pancreas", {"tissue": "pancreas"}),
    ("tabula-sapiens-lung-1000", {"tissue": "lung"}),
    ("travaglini2020-lung-1000", {"tissue": "lung"}),
    ("tirosh2016-184", {"tissue": "brain"}),
    ("wang2018-starmap-3704", {"tissue": "brain"}),
    ("pbmc68k-reduced", {"ontology_subtree": "CL:0000738"}),
    ("swanson2021-teaseq-5048", {"ontology_subtree": "CL:0000738"}),
    ("pbmc68k-reduced", {"ontology_subtree": "CL:0000084"}),
    ("swanson2021-teaseq-5048", {"ontology_subtree": "CL:0000084"}),
)
# a user's list that leaves out most of the file's kinds: T, B and NK cells (CL ids)
LYMPHOCYTES = ["CL:0000084", "CL:0000236", "CL:0000623"]
LISTS: tuple[tuple[str, dict[str, list[str]]], ...] = (
    ("pbmc68k-reduced", {"candidates": LYMPHOCYTES}),
    ("swanson2021-teaseq-5048", {"candidates": LYMPHOCYTES}),
    ("decoupler-pbmc-160", {"candidates": LYMPHOCYTES}),
)


def score_runs(store: Store, root: Path, runs_: tuple, calls: dict[str, dict]) -> Counter[str]:
    """Annotate each (file, restriction) and grade every group's call (`grade_calls`) into
    `calls`; a group with no name counts as unnamed, not wrong."""
    label = ontology.parser().get_term_label
    tally: Counter[str] = Counter()
    for name, restriction in runs_:
        adata, key, truth = runs.load_groups(name, root / "datasets", LABEL_MAP)
        annotate(adata, store, groupby=key, **restriction)
        entries = report_of(adata)["groups"]
        names = [e["group"] for e in entries]
        graded = runs.grade_calls([{"cl_id": e["cl_id"]} for e in entries], names, truth)
        where = next(iter(restriction.values()))
        for entry, group in zip(entries, names, strict=True):
            got, want = entry["cl_id"], truth[group]
            grade = graded["groups"][group]["grade"] if got else "unnamed"
            crosses = grade == "wrong" and kinds.crosses_lineage(got, want)
            tally[grade] += 1
            tally["wrong lineage"] += crosses
            tally["groups"] += 1
            calls[f"{name} | {where} | {group}"] = {
                "grade": grade,
                "wrong_lineage": crosses,
                "call": label(got) if got else None,
                "truth": label(want),
                "why": entry.get("lineage", {}).get("why", "") or entry.get("not_named", ""),
            }
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="store root, datasets under it")
    parser.add_argument("--out", type=Path, default=None, help="each group's call (JSON)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    store = Store.open(args.root)
    calls: dict[str, dict] = {}
    for what, runs_ in (("restricted candidates", RUNS), ("a user's list", LISTS)):
        tally = score_runs(store, args.root, runs_, calls)
        counts = ", ".join(
            f"{k} {tally[k]}" for k in ("exact", "partial", "wrong", "unnamed", "wrong lineage")
        )
        print(f"{what}: {tally['groups']} groups in {len(runs_)} runs: {counts}")
    if args.out:
        args.out.write_text(json.dumps(calls, indent=1))


if __name__ == "__main__":
    main()
