"""More hostile but realistic AnnData through the notebook API (`cm.tl`, `cm.pl`): a single gene,
a step run again on its own outputs, and plots saved where a file is or no folder is. Each
either works and leaves only this run's outputs, or is refused in words before any work."""

from __future__ import annotations

import anndata as ad
import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")


def _cells(n: int = 60, n_genes: int = 12) -> ad.AnnData:
    rng = np.random.default_rng(0)
    groups = np.arange(n) % 3
    means = np.where(np.arange(n_genes)[None] // 4 == groups[:, None], 8.0, 1.0)
    adata = ad.AnnData(
        rng.poisson(means).astype(np.float32),
        var=pd.DataFrame(index=[f"G{i}" for i in range(n_genes)]),
    )
    adata.obs_names = [f"c{i}" for i in range(n)]
    adata.obs["grp"] = pd.Categorical(np.array(["a", "b", "c"])[groups])
    return adata


def test_equal_values_have_no_dip_and_no_singular_kernel():
    from cellmodel.cluster.moves import lowest_density_between

    # float32's mean of equal values rounds: np.std came out above 0 and the KDE raised
    # numpy's LinAlgError ("singular data covariance matrix").
    values = np.full(129, 0.3949769, np.float32)
    assert lowest_density_between(values, 0.3949769, 0.3949769) == 1.0
