"""The one synthetic generator's model settings (cellmodel.datasets.synthetic.CountModel)."""

from __future__ import annotations

import numpy as np

from cellmodel.datasets.synthetic import CountModel, synthetic_counts


def test_default_model_is_the_default() -> None:
    a = synthetic_counts(200, n_genes=300, n_groups=4, seed=5)
    b = synthetic_counts(200, n_genes=300, n_groups=4, seed=5, model=CountModel())
    assert (a.X != b.X).nnz == 0


def _log_ratio(model: CountModel) -> tuple[np.ndarray, np.ndarray]:
    """Cells' depths, and log(g0's share / g1's share) of each gene."""
    adata = synthetic_counts(3000, n_genes=600, n_groups=3, seed=0, model=model)
    groups = adata.obs["group"].to_numpy()
    means = np.vstack([np.asarray(adata.X[groups == g].mean(axis=0)).ravel() for g in ("g0", "g1")])
    share = means / means.sum(axis=1, keepdims=True)
    return np.asarray(adata.X.sum(axis=1)).ravel(), np.log(share[0] / share[1])


def test_depth_and_raised_markers_only() -> None:
    raised = CountModel(fold=1.5, fold_sd=0.0, lower=False, theta=5.0, depth=3000.0)
    depth, ratio = _log_ratio(raised)
    # size factors are log-normal(0, 0.4): the median cell sits near `depth`
    assert 2700 < np.median(depth) < 3300
    # each group raises its own 2% (12 genes) by e^1.5 and lowers none: g0's 12 markers stand
    # out above g1, g1's 12 below, and no other gene moves by half that
    assert (ratio > 1.0).sum() == 12 and (ratio < -1.0).sum() == 12
    assert ((np.abs(ratio) > 0.75) & (np.abs(ratio) < 1.0)).sum() == 0
    _, both_ways = _log_ratio(CountModel(fold=1.5, fold_sd=0.0, theta=5.0, depth=3000.0))
    assert (both_ways > 1.0).sum() > 12 and (both_ways < -1.0).sum() > 12
