"""Name true groups over the whole Cell Ontology (no candidates, no --tissue) on the design set
of docs/annotate_ontology.md, and write its tables.

    python scripts/exp_annotate_ontology.py --root STORE [--seeds 2] [--datasets a,b]
    python scripts/exp_annotate_ontology.py --from-json RESULTS.json [...]

For each file: every ranking (the default, the knowledge alone, the marker table alone) called
flat and lineage-first, with real gene vectors and with shuffled / random ones (seeds
0..N-1), graded exact / partial / wrong with wrong-lineage calls apart; and, with the file's own
CL terms as the candidate list, the groups each ranking names exactly. Labels only score.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cellmodel.bench.annotate_eval.ontology_page import ontology_markdown
from cellmodel.bench.annotate_eval.ontology_runs import DESIGN, run_design_file
from genekb.store.store import Store

HERE = Path(__file__).resolve().parent
LABEL_MAP = HERE / "annotate_label_map.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="Store root (gene vectors built as needed).")
    parser.add_argument("--seeds", type=int, default=2, help="Seeds of each control.")
    parser.add_argument("--datasets", default=None, help="Only these, comma-separated.")
    parser.add_argument("--out", type=Path, default=None, help="results.json (default: ROOT/).")
    parser.add_argument("--from-json", type=Path, nargs="+", default=None)
    parser.add_argument("--tables", type=Path, default=None, help="Write the tables here.")
    args = parser.parse_args()
    results: dict = {}
    if args.from_json:
        for path in args.from_json:
            results.update(json.loads(path.read_text())["data"])
    else:
        if args.root is None:
            parser.error("--root is required unless --from-json is given")
        store = Store.open(args.root, create=True)
        out = args.out or args.root / "annotate-ontology.json"
        names = args.datasets.split(",") if args.datasets else list(DESIGN)
        for name in names:
            results[name] = run_design_file(
                name, store, args.root / "datasets", LABEL_MAP, args.seeds, _log
            )
            out.write_text(json.dumps({"seeds": args.seeds, "data": results}, default=str))
        _log(f"wrote {out}")
    text = ontology_markdown(results)
    if args.tables:
        args.tables.write_text(text + "\n")
    else:
        sys.stdout.write(text + "\n")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
