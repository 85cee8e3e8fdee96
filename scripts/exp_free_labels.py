"""How `cellmodel.annotate.free_labels` reads label names as Cell Ontology terms, graded against
hand mappings: the design set's labels (`annotate_label_map.csv`, development), a held-out set
fixed before the reader was written (`free_label_heldout.csv`) and public label vocabularies
mapped before they were read (`free_label_vocabularies.csv`). Each file's labels are read
together, as one candidate list (`user_candidates`), as a run reads them.

    python scripts/exp_free_labels.py [-v]

Per side: labels read as a term, and of them exact (the hand mapping's id), partial (an is_a
ancestor or descendant that is not generic), wrong; labels CL already names exactly are counted
apart. Labels only score. Labels the hand mapping finds no CL term for (cl_id "none") are
graded apart too: left free, read as a generic term, or read as a specific term (a wrong reading).
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

from cellmodel.annotate import free_labels, kinds, ontology

HERE = Path(__file__).resolve().parent
SIDES = {
    "development": HERE / "annotate_label_map.csv",
    "held out": HERE / "free_label_heldout.csv",
    # Public label vocabularies mapped by hand and committed before the reader read them.
    "vocabularies": HERE / "free_label_vocabularies.csv",
    # More public vocabularies (other tissues and species), mapped by hand and committed before
    # the reader read them; labels CL has no term for carry cl_id "none".
    "held out 3": HERE / "free_label_heldout3.csv",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="every label's reading")
    parser.add_argument("--side", choices=list(SIDES), action="append", help="only these sides")
    args = parser.parse_args()
    verbose = args.verbose
    label = ontology.parser().get_term_label
    print(
        "| side | labels | CL names exactly | read as a term | exact | partial | wrong"
        " | left free | no CL term: free / generic / specific |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for side, path in SIDES.items():
        if args.side and side not in args.side:
            continue
        rows = list(csv.DictReader(path.open()))
        files: dict[str, list[dict[str, str]]] = defaultdict(list)
        for row in rows:
            files[row["dataset"]].append(row)
        tally = dict.fromkeys(("direct", "read", "exact", "partial", "wrong", "free"), 0)
        none = dict.fromkeys(("free", "generic", "specific"), 0)
        for part in files.values():
            cands = free_labels.user_candidates([r["label"] for r in part])
            for row, cand in zip(part, cands, strict=True):
                direct = bool(cand.cl_id and not cand.read_as)
                grade = "free" if cand.cl_id is None else kinds.grade(cand.cl_id, row["cl_id"])
                if row["cl_id"] == "none":
                    grade = _no_term(cand.cl_id)
                    none[grade] += 1
                elif direct:
                    tally["direct"] += 1
                else:
                    tally["read"] += cand.cl_id is not None
                    tally[grade] += 1
                if verbose:
                    grade = f"CL:{grade}" if direct else grade  # CL's own label or synonym
                    call = f"{label(cand.cl_id)} ({cand.read_as})" if cand.cl_id else "-"
                    truth = "none" if row["cl_id"] == "none" else label(row["cl_id"])
                    print(f"{side:11} {row['label'][:30]:30} {grade:8} {call}  [truth {truth}]")
        print(
            f"| {side} | {len(rows)} | {tally['direct']} | {tally['read']} | {tally['exact']} |"
            f" {tally['partial']} | {tally['wrong']} | {tally['free']} | {_nones(none)} |"
        )


def _no_term(cl_id: str | None) -> str:
    """How a label with no CL term was read: left free, generic, or a specific (wrong) term."""
    if cl_id is None:
        return "free"
    return "generic" if kinds.is_generic(cl_id) else "specific"


def _nones(none: dict[str, int]) -> str:
    return " / ".join(str(n) for n in none.values()) if any(none.values()) else "-"


if __name__ == "__main__":
    main()
