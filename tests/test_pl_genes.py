"""`cm.pl.umap(adata, color=GENE)`, as scanpy users write it: a gene is drawn on a colour scale
from `.raw` where present (else X, or a layer), found by var name or `gene_symbols=`; a name
that is neither an obs column nor one gene is refused in words, naming both kinds of choice."""

from __future__ import annotations

import anndata as ad
import matplotlib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import cellmodel as cm
from genekb.errors import UsageError
from tests.test_hostile_notebook3 import _cells

matplotlib.use("Agg")


def _drawn(ax) -> np.ndarray:
    """The colour values of the panel's scatter on a scale (its colour bar's mappable)."""
    [bar] = [c for c in ax.collections if c.get_array() is not None]
    return np.asarray(bar.get_array())


def test_a_gene_is_drawn_on_a_colour_scale_with_its_expression():
    adata = _cells()
    adata.X = sp.csr_matrix(adata.X)
    ax = cm.pl.umap(adata, "G0", rep="X_rep", show=False)
    assert ax.get_title() == "G0"
    assert sorted(_drawn(ax)) == sorted(adata.X[:, 0].toarray().ravel())
    assert len(ax.figure.axes) == 2  # the panel and its colour bar
    a, b = cm.pl.umap(adata, ["grp", "G5"], rep="X_rep", show=False)  # obs and gene side by side
    assert (a.get_title(), b.get_title()) == ("grp", "G5")


def test_raw_is_read_first_then_x_or_a_layer_and_symbols_by_column():
    adata = _cells()
    adata.var["symbol"] = [f"S{i}" for i in range(adata.n_vars)]
    adata.layers["counts"] = adata.X * 10
    adata.raw = adata.copy()
    adata.X = np.zeros_like(adata.X)  # scaled or emptied X: the raw values are drawn
    raw = adata.raw.X[:, 2]
    assert sorted(_drawn(cm.pl.umap(adata, "G2", rep="X_rep", show=False))) == sorted(raw)
    zeros = _drawn(cm.pl.umap(adata, "G2", rep="X_rep", use_raw=False, show=False))
    assert not zeros.any()
    layer = _drawn(cm.pl.umap(adata, "S2", rep="X_rep", layer="counts", gene_symbols="symbol",
                              show=False))  # fmt: skip
    assert sorted(layer) == sorted(raw * 10)


def test_a_name_neither_obs_nor_one_gene_is_refused_in_words():
    adata = _cells()
    with pytest.raises(UsageError, match=r"obs column.*a gene of X's var names, e\.g\. G0"):
        cm.pl.umap(adata, "CD3E", rep="X_rep", show=False)
    twice = ad.AnnData(adata.X, obs=adata.obs, var=pd.DataFrame(index=["G0"] * adata.n_vars))
    twice.obsm["X_rep"] = adata.obsm["X_rep"]
    with pytest.raises(UsageError, match="names 12 genes"):
        cm.pl.umap(twice, "G0", rep="X_rep", show=False)
    with pytest.raises(UsageError, match="layer='nope' is not a layer"):
        cm.pl.umap(adata, "G0", rep="X_rep", layer="nope", show=False)
    with pytest.raises(UsageError, match=r"no \.raw"):
        cm.pl.umap(adata, "G0", rep="X_rep", use_raw=True, show=False)
    with pytest.raises(UsageError, match="gene_symbols='sym' is not a var column"):
        cm.pl.umap(adata, "G0", rep="X_rep", gene_symbols="sym", show=False)
