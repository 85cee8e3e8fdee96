"""Mean expression of canonical marker genes in each labelled group of a registry dataset: the
check behind a registry `relabel` (a file whose labels its own markers contradict).

    python scripts/label_marker_means.py decoupler-pbmc-160 --genes CD3E,IL7R,S100A4,LYZ,CD14,CST3
    python scripts/label_marker_means.py decoupler-pbmc-160 --genes ... --shipped  # shipped labels

Values are the mean of log(1 + count per 10,000) over each group's cells (the file's own values
where it ships log-normalized ones).
"""

from __future__ import annotations

import argparse

import numpy as np

from cellmodel import datasets
from cellmodel.io import expression


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("--genes", required=True, help="comma-separated gene symbols")
    parser.add_argument("--root", default=None, help="store root (datasets under ROOT/datasets)")
    parser.add_argument("--shipped", action="store_true", help="group by the file's own labels")
    args = parser.parse_args()
    cache = None if args.root is None else f"{args.root}/datasets"
    adata = datasets.load(args.dataset, cache_dir=cache)
    expr = expression(adata)  # log scale, whatever the file holds
    key = datasets.get(args.dataset).label_key
    if args.shipped and f"{key}_shipped" in adata.obs:
        key = f"{key}_shipped"
    index = {g: i for i, g in enumerate(expr.genes)}
    genes = [g for g in args.genes.split(",") if g in index]
    labels = adata.obs[key].astype(str).to_numpy()
    print(f"| {key} | cells | " + " | ".join(genes) + " |")
    print("|---|---|" + "---|" * len(genes))
    for label in sorted(set(labels)):
        rows = expr.X[labels == label][:, [index[g] for g in genes]]
        rows = rows.toarray() if hasattr(rows, "toarray") else np.asarray(rows)
        means = " | ".join(f"{v:.2f}" for v in rows.mean(axis=0))
        n = int((labels == label).sum())
        print(f"| {label} | {n} | {means} |")


if __name__ == "__main__":
    main()
