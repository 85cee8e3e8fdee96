"""The annotate default against each ranking alone and against the equal-weight sum it replaced,
on the registry datasets' true groups with their own CL terms; regenerates docs/annotate_default.md.

    python scripts/exp_annotate_default.py --root STORE [--seeds 3] [--datasets a,b] [--out DIR]
    python scripts/exp_annotate_default.py --from-json DIR/results-*.json

Groups, truth and controls as in scripts/exp_annotate.py (which measures everything else); the
`cellmodel cluster` clusters are scored too where that script has left them in --clusters. Labels
only score.
The runs and the page are `cellmodel.bench.annotate_eval`'s; this file reads the command line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cellmodel.bench.annotate_eval import default_markdown, merge_results, run_default

HERE = Path(__file__).resolve().parent
LABEL_MAP = HERE / "annotate_label_map.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="Store root (built as needed).")
    parser.add_argument("--seeds", type=int, default=3, help="Seeds of each control.")
    parser.add_argument("--datasets", default=None, help="Only these, comma-separated.")
    parser.add_argument("--clusters", type=Path, default=None, help="exp_annotate's --out.")
    parser.add_argument("--out", type=Path, default=None, help="Where results.json goes.")
    parser.add_argument("--from-json", type=Path, nargs="+", default=None)
    parser.add_argument("--docs", type=Path, default=HERE.parent / "docs" / "annotate_default.md")
    args = parser.parse_args()
    if args.from_json:
        results = merge_results([json.loads(p.read_text()) for p in args.from_json])
    else:
        if args.root is None:
            parser.error("--root is required unless --from-json is given")
        names = args.datasets.split(",") if args.datasets else None
        log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
        results = run_default(args.root, args.seeds, names, args.clusters, LABEL_MAP, log)
        out = args.out or args.root / "annotate-default"
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    args.docs.write_text(default_markdown(results) + "\n")
    print(f"wrote {args.docs}", file=sys.stderr)


if __name__ == "__main__":
    main()
