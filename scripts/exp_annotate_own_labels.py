"""Naming each file's groups from a candidate list of the file's own label names, as a user who
types the labels they expect would give it ("CD14+ Monocyte", "T.CD4.Naive", "alpha"): how many
groups get their own label, with the free labels read as Cell Ontology terms
(`cellmodel.annotate.free_labels`) or, on an older tree, kept as words.

    python scripts/exp_annotate_own_labels.py --root STORE [--datasets a,b] [--out FILE]
    PYTHONPATH=OLD_TREE python scripts/exp_annotate_own_labels.py --root STORE   # before

The groups are the design set's (`ontology_runs.load_groups`: labels with at least 10 cells);
the candidates are exactly those labels. Real gene vectors; `--gene-vectors shuffled` gives the
control. Labels only score: a group is right when its call is its own label.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cellmodel.annotate import annotate, report_of
from cellmodel.bench.annotate_eval.ontology_runs import DESIGN, load_groups
from genekb.store.store import Store

LABEL_MAP = Path(__file__).resolve().parent / "annotate_label_map.csv"


def run(root: Path, name: str, gene_vectors: str) -> dict:
    adata, key, _ = load_groups(name, root / "datasets", LABEL_MAP)
    own = [str(g) for g in adata.obs[key].cat.categories]
    out = annotate(adata, Store.open(root), groupby=key, candidates=own, gene_vectors=gene_vectors)
    report = report_of(out)
    calls = {str(g["group"]): g["label"] for g in report["groups"]}
    cands = report["candidates"]
    return {
        "dataset": name,
        "gene_vectors": gene_vectors,
        "groups": len(own),
        "own_label": sum(calls[g] == g for g in own),
        "with_cl_id": cands["with_cl_id"],
        "calls": calls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--datasets", default=",".join(DESIGN))
    parser.add_argument("--gene-vectors", default="real")
    parser.add_argument("--out", type=Path, help="append each file's record (JSON lines)")
    args = parser.parse_args()
    total = [0, 0]
    print("| file | groups | candidates with a CL id | named with their own label |")
    print("|---|---|---|---|")
    for name in args.datasets.split(","):
        rec = run(args.root, name, args.gene_vectors)
        total[0] += rec["groups"]
        total[1] += rec["own_label"]
        print(f"| {name} | {rec['groups']} | {rec['with_cl_id']} | {rec['own_label']} |")
        sys.stdout.flush()
        if args.out:
            with args.out.open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
    print(f"| total | {total[0]} |  | {total[1]} |")


if __name__ == "__main__":
    main()
