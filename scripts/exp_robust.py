"""Leave-one-dataset-out view of the clustering defaults, from a `cellmodel bench` run.

    .venv/bin/cellmodel bench --datasets pbmc68k-reduced,baron-human,wu2020-200,baron-mouse,\\
        tirosh2016-184,paul2015-2660,cellhint-pancreas \\
        --methods pca-kmeans,leiden,leiden-k,structure,cellmodel-ensemble \\
        --seeds 5 --out runs/robust
    .venv/bin/python scripts/exp_robust.py runs/robust/bench.json

For each dataset held out, the default among the candidate configurations (`--candidates`) is the
one with the highest mean ARI over the other datasets; the table gives its ARI on the held-out
dataset and the gap to the best baseline there. Labels only score: they pick nothing inside a run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from cellmodel.bench.aggregate import BASELINES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="bench.json of a `cellmodel bench` run")
    parser.add_argument("--candidates", default="structure,cellmodel-ensemble")
    args = parser.parse_args()
    summary = json.loads(args.report.read_text())["summary"]
    ari = {(r["dataset"], r["method"]): r["ari"]["mean"] for r in summary if r["status"] == "ok"}
    datasets = list(dict.fromkeys(r["dataset"] for r in summary))
    candidates = args.candidates.split(",")
    print("| held out | default chosen on the others | its ARI | best baseline | gap |")
    print("| --- | --- | --- | --- | --- |")
    gaps = []
    for held in datasets:
        others = [d for d in datasets if d != held]
        pick = max(candidates, key=lambda m: np.mean([ari[(d, m)] for d in others]))
        base = max((ari[(held, b)], b) for b in BASELINES if (held, b) in ari)
        gap = ari[(held, pick)] - base[0]
        gaps.append(gap)
        score = ari[(held, pick)]
        print(f"| {held} | {pick} | {score:.3f} | {base[1]} {base[0]:.3f} | {gap:+.3f} |")
    print(f"\nmean gap {np.mean(gaps):+.3f}, worst {min(gaps):+.3f}")


if __name__ == "__main__":
    main()
