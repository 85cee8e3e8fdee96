"""The file annotate's speed is measured on: 2,000 cells drawn with a fixed seed from the ten
largest cell types of a labelled file (baron-human, pancreas: 10 groups).

    cellmodel datasets fetch baron-human --root STORE   # once: STORE/datasets/baron-human.h5ad
    python scripts/annotate_speed_file.py STORE/datasets/baron-human.h5ad --out baron2000.h5ad
    /usr/bin/time cellmodel annotate baron2000.h5ad --groupby cell_type1 --root FRESH --json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import anndata as ad
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a labelled .h5ad")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--key", default="cell_type1")
    parser.add_argument("--cells", type=int, default=2000)
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    adata = ad.read_h5ad(args.source)
    largest = adata.obs[args.key].value_counts().index[: args.groups]
    pool = np.flatnonzero(adata.obs[args.key].isin(largest).to_numpy())
    rng = np.random.default_rng(args.seed)
    picked = np.sort(rng.choice(pool, size=min(args.cells, len(pool)), replace=False))
    sample = adata[picked].copy()
    sample.obs[args.key] = sample.obs[args.key].astype(str).astype("category")
    sample.write_h5ad(args.out)
    print(f"{args.out}: {sample.n_obs} cells, {sample.obs[args.key].nunique()} groups")


if __name__ == "__main__":
    main()
