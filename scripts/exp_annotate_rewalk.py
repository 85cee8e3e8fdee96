"""Score the design set's groups over the whole Cell Ontology once, then call them again and again
from the saved rankings: how each naming rule of the walk moves the figures, in seconds a run.

    python scripts/exp_annotate_rewalk.py save --root STORE --out RANKINGS [--datasets a,b]
    python scripts/exp_annotate_rewalk.py walk --rankings RANKINGS [--datasets a,b] [-v]

`save` scores each file as `exp_annotate_ontology.py` does (real gene vectors; every channel over
all 3,324 CL cell types; `ontology_runs.scored_matrices`) and keeps, per file, the rankings, the
lineage signatures, the species read from the genes and the groups' truths
(`RANKINGS/<file>.pkl`). `walk` calls every saved file with the walk as the code now has it
(`ontology_runs.calls_of`: the tissue inferred, the left-out terms, the signatures) and prints
exact / exact + partial / wrong lineage per side of docs/annotate_ontology.md; with `-v` each
group's call. A rule's effect is the difference between two commits' `walk` on the same saved
rankings. Labels only score.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

from cellmodel.annotate import ontology
from cellmodel.bench.annotate_eval import ontology_runs as runs
from genekb.store.store import Store

HERE = Path(__file__).resolve().parent
LABEL_MAP = HERE / "annotate_label_map.csv"
RANKINGS = ("combined", "knowledge", "markerdb")


def save(root: Path, out: Path, names: list[str]) -> None:
    store = Store.open(root, create=True)
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        adata, label_key, truth = runs.load_groups(name, root / "datasets", LABEL_MAP)
        matrices, cl_ids, groups, seconds, sig, taxon = runs.scored_matrices(
            adata, label_key, store, gene_vectors="real", seed=0
        )
        kept = {
            "matrices": {r: matrices[r] for r in RANKINGS},
            "cl_ids": cl_ids,
            "groups": groups,
            "truth": truth,
            "signature": sig,
            "taxon": taxon,
        }
        part = out / f"{name}.pkl.part"
        part.write_bytes(pickle.dumps(kept))
        part.replace(out / f"{name}.pkl")
        print(f"{name}: {len(groups)} groups scored in {seconds:.1f} s", file=sys.stderr)


def walk(rankings: Path, names: list[str], verbose: bool) -> None:
    label = ontology.parser().get_term_label
    totals: dict[tuple[str, str], list[int]] = {}
    for name in names:
        path = rankings / f"{name}.pkl"
        if not path.exists():
            continue
        saved = pickle.loads(path.read_bytes())
        for ranking in RANKINGS:
            sig = saved["signature"] if ranking != "knowledge" else None
            table = saved["matrices"]["markerdb"] if ranking == "combined" else None
            calls = runs.calls_of(
                saved["matrices"][ranking], saved["cl_ids"], True, sig, saved["taxon"], table
            )
            graded = runs.grade_calls(calls, saved["groups"], saved["truth"])
            tally = totals.setdefault((runs.side_of(name), ranking), [0, 0, 0, 0])
            tally[0] += graded["exact"]
            tally[1] += graded["exact"] + graded["partial"]
            tally[2] += graded["wrong_lineage"]
            tally[3] += graded["n_groups"]
            if verbose and ranking == "combined":
                for group, g in graded["groups"].items():
                    call = label(g["call"]) if g["call"] else None
                    print(
                        f"{name[:18]:18} {group[:24]:24} {g['grade']:8} "
                        f"truth={label(g['truth'])[:40]:40} call={call}"
                    )
    print("| side | ranking | exact | exact + partial | wrong lineage | groups |")
    print("|---|---|---|---|---|---|")
    for (side, ranking), (ex, ep, wl, n) in sorted(totals.items()):
        print(f"| {side} | {ranking} | {ex / n:.0%} | {ep / n:.0%} | {wl / n:.0%} | {n} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["save", "walk"])
    parser.add_argument("--root", type=Path, help="store root (save): datasets under ROOT/datasets")
    parser.add_argument("--out", "--rankings", dest="rankings", type=Path, required=True)
    parser.add_argument("--datasets", default=None, help="only these, comma-separated")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each group's call")
    args = parser.parse_args()
    names = args.datasets.split(",") if args.datasets else list(runs.DESIGN)
    if args.step == "save":
        if args.root is None:
            parser.error("save needs --root")
        save(args.root, args.rankings, names)
    else:
        walk(args.rankings, names, args.verbose)


if __name__ == "__main__":
    main()
