"""Seeded random subsamples of registry datasets, for checking the clustering defaults on small
files (the registry's files hold 184 to 3,274 cells; many users' files are smaller).

    .venv/bin/python scripts/make_subsamples.py --out runs/subsamples \\
        baron-human:300 baron-human:800 baron-mouse:250 pbmc68k-reduced:200

Each NAME:N writes OUT/NAME-N.h5ad: N cells drawn without replacement (seed 123), all genes, the
dataset's label column kept for scoring (obs "label"), no batch column.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from cellmodel import datasets
from genekb.fileio import atomic_path

SEED = 123


def subsample(name: str, n: int) -> ad.AnnData:
    adata = datasets.load(name)
    entry = datasets.get(name)
    rows = np.sort(np.random.default_rng(SEED).choice(adata.n_obs, n, replace=False))
    out = ad.AnnData(
        X=adata.X[rows].copy(),
        obs=pd.DataFrame({"label": adata.obs[entry.label_key].astype(str).to_numpy()[rows]}),
        var=pd.DataFrame(index=adata.var_names.copy()),
    )
    out.obs_names = [str(i) for i in range(n)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="+", help="NAME:N")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for spec in args.specs:
        name, n = spec.split(":")
        path = args.out / f"{name}-{n}.h5ad"
        with atomic_path(path, suffix=".part.h5ad") as tmp:
            subsample(name, int(n)).write_h5ad(tmp)
        print(path)


if __name__ == "__main__":
    main()
