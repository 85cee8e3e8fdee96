"""Measure `cellmodel annotate` on the registry datasets; regenerates docs/annotate_experiments.md.

    python scripts/exp_annotate.py --root /tmp/annot_store [--seeds 3] [--out DIR] [--docs FILE]

For each dataset: groups are (a) the reference labels and (b) `cellmodel cluster` clusters
(label-free, seed 0, expression only; each cluster's truth is its majority label). Candidates are
the dataset's own CL terms, or every Cell Ontology cell type. Every score is printed for the text
method with real gene vectors, with shuffled and random vectors (seeds 0..N-1, mean ± std), for
the CellConsensus marker-table baseline, and for their combination; then each sum of channels
(with and without the context prior), the CL terms naming the tissue on the pancreas datasets
(`--tissue`), and an ablation of the text method's parts on true-label groups with the dataset's
own terms. Labels only score.
The runs and the page are `cellmodel.bench.annotate_eval`'s; this file reads the command line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cellmodel.bench.annotate_eval import experiments_markdown, merge_results, run_experiments

HERE = Path(__file__).resolve().parent
LABEL_MAP = HERE / "annotate_label_map.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="Store root (built as needed).")
    parser.add_argument("--seeds", type=int, default=3, help="Seeds of each control.")
    parser.add_argument("--out", type=Path, default=None, help="Folder for results.json.")
    parser.add_argument(
        "--docs", type=Path, default=HERE.parent / "docs" / "annotate_experiments.md"
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        nargs="+",
        default=None,
        help="Only rewrite the docs from results.json files (several: runs of --datasets).",
    )
    parser.add_argument(
        "--datasets", default=None, help="Only these datasets, comma-separated (default: all)."
    )
    args = parser.parse_args()
    command = f"python scripts/exp_annotate.py --root STORE --seeds {args.seeds}"
    out = args.out or args.root / "annotate-experiments"
    out.mkdir(parents=True, exist_ok=True)

    def save(results: dict[str, Any]) -> None:
        (out / "results.json").write_text(json.dumps(results, indent=1, default=str))

    if args.from_json is not None:
        results = merge_results([json.loads(p.read_text()) for p in args.from_json])
    else:
        log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
        names = args.datasets.split(",") if args.datasets else None
        results = run_experiments(
            args.root, args.seeds, LABEL_MAP, log, save=save, cluster_cache=out, names=names
        )
        save(results)
    args.docs.write_text(experiments_markdown(results, command) + "\n")
    print(f"wrote {out / 'results.json'} and {args.docs}", file=sys.stderr)


if __name__ == "__main__":
    main()
