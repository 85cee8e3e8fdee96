"""Per-cell calls (`cellmodel annotate --per-cell`) against the groups' calls, end to end.

    python scripts/exp_annotate_cells.py --root STORE [--clusters DIR] [--seeds 3]

For each registry dataset of `cellmodel.bench.annotate_eval.DATASETS`: `cellmodel cluster`
(expression only, seed 0; reused from DIR, the folder `exp_annotate.py --out` keeps them in), then
`annotate --per-cell` on the clusters. Scored against each cell's CL id (labels only score): the
share of cells named exactly by their cluster's call and by their own call, and, of the cells
whose own call differs from their cluster's, the share each gets right. Methods: the default
(combined) and knowledge over the dataset's own CL terms and the default over all CL terms;
knowledge with shuffled gene vectors (seeds 0..N-1) is the control. Prints a Markdown table (the
runs are `cellmodel.bench.annotate_eval`'s; this file reads the command line).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cellmodel.bench.annotate_eval import PER_CELL_HEADER, per_cell_rows

LABEL_MAP = Path(__file__).resolve().parent / "annotate_label_map.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--clusters", type=Path, help="folder of cached clusters")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the shuffled control")
    args = parser.parse_args()
    print("\n".join(PER_CELL_HEADER))
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    for row in per_cell_rows(args.root, args.clusters, args.seeds, LABEL_MAP, log):
        print(row, flush=True)


if __name__ == "__main__":
    main()
