"""Label transfer across two files on the semantic view: does the reference lie in the query's
space? Splits a registry dataset's cells at random into halves (seed 0), writes them, then runs
`cellmodel classify QUERY --reference REF --view semantic` as a user would, with the kNN alone
(`--no-refine --markers 0`) and with every default, and prints accuracy and macro-F1.

    python scripts/exp_transfer_space.py --root STORE --out OUT \
        --datasets baron-human:cell_type1,tabula-sapiens-lung-1000:cell_type

Run it at two commits (with that commit's code first on PYTHONPATH) to compare. Labels only score.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from cellmodel import datasets

SETTINGS = {"knn alone": ["--no-refine", "--markers", "0"], "default": []}


def halves(name: str, out: Path) -> tuple[Path, Path]:
    adata = datasets.load(name)
    order = np.random.default_rng(0).permutation(adata.n_obs)
    half = adata.n_obs // 2
    ref, query = out / f"{name}_ref.h5ad", out / f"{name}_query.h5ad"
    adata[order[:half]].copy().write_h5ad(ref)
    adata[order[half:]].copy().write_h5ad(query)
    return ref, query


def transfer(root: Path, ref: Path, query: Path, key: str, extra: list[str]) -> dict:
    args = [sys.executable, "-m", "cli.cellmodel_app", "classify", str(query), "--reference",
            str(ref), "--label-key", key, "--view", "semantic", *extra, "--root", str(root),
            "--json", "-o", str(query.with_suffix(".pred.h5ad")), "--force"]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, env=os.environ, check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="store root")
    parser.add_argument("--out", type=Path, required=True, help="folder for the halves")
    parser.add_argument("--datasets", required=True, help="NAME:LABEL_KEY, comma-separated")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print("| dataset | reference / query cells | setting | accuracy | macro-F1 |")
    print("|---|---|---|---|---|")
    for item in args.datasets.split(","):
        name, key = item.split(":")
        ref, query = halves(name, args.out)
        for setting, extra in SETTINGS.items():
            report = transfer(args.root, ref, query, key, extra)
            sizes = f"{report['params']['n_reference']} / {report['params']['n_query']}"
            print(
                f"| {name} | {sizes} | {setting} | {report['accuracy']:.3f}"
                f" | {report['macro_f1']:.3f} |"
            )


if __name__ == "__main__":
    main()
