"""Rewrite the repository's docs/benchmarks.md from a `cellmodel bench` run.

    .venv/bin/cellmodel bench --out runs/bench            # the registry datasets
    .venv/bin/python scripts/bench_docs.py runs/bench/bench.json
    .venv/bin/cellmodel bench --scale 10000,30000,100000 --out runs/bench-scale
    .venv/bin/python scripts/bench_docs.py runs/bench-scale/bench.json
    .venv/bin/python scripts/bench_docs.py runs/robust/bench.json --section robust

The header (protocol, method list) is written anew; the run's section (bench or scale) is
replaced and the other section is kept as the last run of its kind left it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cellmodel.bench.docs import DOCS_MARKERS, write_docs

DEFAULT_DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="bench.json of a `cellmodel bench` run")
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="the file to rewrite")
    parser.add_argument(
        "--section", choices=sorted(DOCS_MARKERS), help="section to replace (default: by the run)"
    )
    args = parser.parse_args()
    report = json.loads(args.report.read_text())
    print(write_docs(report, args.docs, args.section))


if __name__ == "__main__":
    main()
