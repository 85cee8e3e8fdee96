"""Grade saved whole-ontology calls again with some groups' truths replaced, and print the rows
of docs/annotate_ontology.md's summary table for that file.

    python scripts/exp_annotate_regrade.py RESULTS.json FILE GROUP=CL:ID [GROUP=CL:ID ...]

Used where a source's labels are found wrong after its run (docs/annotate_ontology.md: the
new held-out file names two groups the other way round): the calls stay as they were made;
only the truth they are graded against changes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from cellmodel.annotate import kinds
from cellmodel.bench.annotate_eval.ontology_runs import RANKINGS


def counts(run: dict, truths: dict[str, str]) -> tuple[int, int, int]:
    exact = either = crossed = 0
    for group, graded in run["groups"].items():
        truth = truths.get(group, graded["truth"])
        grade = kinds.grade(graded["call"], truth)
        exact += grade == "exact"
        either += grade != "wrong"
        crossed += grade == "wrong" and kinds.crosses_lineage(graded["call"], truth)
    return exact, either, crossed


def main() -> None:
    path, name, *pairs = sys.argv[1:]
    truths = dict(p.split("=", 1) for p in pairs)
    result = json.loads(Path(path).read_text())["data"][name]
    n = result["n_groups"]
    for ranking, title in RANKINGS.items():
        for way, how in (("walk", "lineage first"), ("flat", "flat best term")):
            exact, either, crossed = counts(result[f"{ranking}|{way}|real"][0], truths)
            cells = [f"{100 * exact / n:.0f} %", f"{100 * either / n:.0f} %"]
            cells += [f"{100 * crossed / n:.0f} %", str(n)]
            for control in ("shuffled", "random"):
                runs = result[f"{ranking}|{way}|{control}"]
                share = [100 * counts(r, truths)[1] / n for r in runs]
                cells.append(f"{np.mean(share):.0f} ± {np.std(share):.0f} %")
            print(f"| {name}, regraded | {title} | {how} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
