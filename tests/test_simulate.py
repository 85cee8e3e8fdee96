"""Counts drawn from a model fitted to a labelled count file (cellmodel.datasets.simulate)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from cellmodel.datasets.simulate import draw_counts, fit_count_model
from genekb.errors import UsageError


def _two_types(n: int = 200, genes: int = 40) -> ad.AnnData:
    rng = np.random.default_rng(0)
    base = rng.gamma(2.0, 1.0, genes)
    up = base.copy()
    up[:5] *= 8  # type "b" expresses the first five genes eight times more
    types = np.array(["a", "b"])[np.arange(n) % 2]
    means = np.where((types == "b")[:, None], up, base) * rng.uniform(0.5, 2, n)[:, None]
    X = sp.csr_matrix(rng.poisson(means).astype(np.float32))
    obs = pd.DataFrame({"kind": pd.Categorical(types)}, index=[f"c{i}" for i in range(n)])
    return ad.AnnData(X, obs=obs, var=pd.DataFrame(index=[f"G{i}" for i in range(genes)]))


def _fold(adata: ad.AnnData, key: str = "cell_type") -> float:
    """How much more of its counts type "b" spends on the first five genes than type "a"."""
    X = adata.X.toarray()
    share = X[:, :5].sum(axis=1) / X.sum(axis=1)
    b = (adata.obs[key] == "b").to_numpy()
    return float(share[b].mean() / share[~b].mean())


def test_a_fitted_model_draws_the_types_it_was_fitted_to_and_overlap_narrows_them():
    real = _two_types()
    model = fit_count_model(real, "kind", n_genes=40, source="toy")
    assert model.types == ["a", "b"] and np.allclose(model.proportions, [0.5, 0.5])
    assert np.allclose(model.profiles.sum(axis=1), 1)
    sim = draw_counts(model, 400, seed=1)
    assert sim.shape == (400, 40) and set(sim.obs["cell_type"]) == {"a", "b"}
    assert np.array_equal(sim.X.data, np.round(sim.X.data))  # counts
    assert _fold(sim) == pytest.approx(_fold(real, "kind"), rel=0.15)  # the fitted difference
    assert _fold(draw_counts(model, 400, overlap=0.9, seed=1)) < 2
    again = draw_counts(model, 400, seed=1)
    assert (again.X != sim.X).nnz == 0  # a seed draws the same file
    assert sim.uns["simulation"]["source"] == "toy"


def test_stimulation_and_plates_are_recorded_as_the_design():
    model = fit_count_model(_two_types(), "kind", n_genes=40)
    sim = draw_counts(model, 300, overlap=0.5, stimulation=1.5, plates=3, seed=0)
    assert set(sim.obs["condition"]) == {"control", "stimulated"}
    assert set(sim.obs["plate"]) == {"plate1", "plate2", "plate3"}
    assert sim.uns["simulation"]["plates"] == 3


def test_what_is_not_counts_or_not_a_setting_is_refused():
    logged = _two_types()
    logged.X = np.log1p(logged.X.toarray())
    with pytest.raises(UsageError, match="needs raw counts"):
        fit_count_model(logged, "kind")
    model = fit_count_model(_two_types(), "kind")
    with pytest.raises(UsageError, match=r"overlap must be in \[0, 1\)"):
        draw_counts(model, 100, overlap=1.0)
