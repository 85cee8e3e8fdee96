"""How `cellmodel.annotate.free_labels` reads label names as Cell Ontology terms, graded against
hand mappings: the design set's labels (`annotate_label_map.csv`, development) and a held-out set
fixed before the reader was written (`free_label_heldout.csv`).

    python scripts/exp_free_labels.py [-v]

Per side: labels read as a term, and of them exact (the hand mapping's id), partial (an is_a
ancestor or descendant that is not generic), wrong; labels CL already names exactly are counted
apart. Labels only score.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from cellmodel.annotate import free_labels, kinds, ontology

HERE = Path(__file__).resolve().parent
SIDES = {
    "development": HERE / "annotate_label_map.csv",
    "held out": HERE / "free_label_heldout.csv",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="every label's reading")
    verbose = parser.parse_args().verbose
    label = ontology.parser().get_term_label
    print(
        "| side | labels | CL names exactly | read as a term | exact | partial | wrong"
        " | left free |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for side, path in SIDES.items():
        rows = list(csv.DictReader(path.open()))
        tally = dict.fromkeys(("direct", "read", "exact", "partial", "wrong", "free"), 0)
        for row in rows:
            if ontology.lookup(row["label"]):
                tally["direct"] += 1
                continue
            cl, how = free_labels.read_label(row["label"])
            if cl is None:
                tally["free"] += 1
                grade = "free"
            else:
                tally["read"] += 1
                grade = kinds.grade(cl, row["cl_id"])
                tally[grade] += 1
            if verbose:
                call = f"{label(cl)} ({how})" if cl else "-"
                truth = label(row["cl_id"])
                print(f"{side:11} {row['label'][:30]:30} {grade:8} {call}  [truth {truth}]")
        print(
            f"| {side} | {len(rows)} | {tally['direct']} | {tally['read']} | {tally['exact']} |"
            f" {tally['partial']} | {tally['wrong']} | {tally['free']} |"
        )


if __name__ == "__main__":
    main()
