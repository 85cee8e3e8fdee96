"""AnnData objects as scanpy pipelines leave them (round 2): multiome var, scaled X, backed
files, views, odd dtypes; each passed to the `cm.tl` steps, which must read them right or say
in one line what to do."""

from __future__ import annotations

import re

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import cellmodel as cm
from cellmodel.formats import FeaturesLeftOutWarning
from cellmodel.io import expression
from genekb.errors import GenekbError, UsageError
from tests.conftest import FAST_FIT, three_groups


def _multiome(adata: ad.AnnData) -> ad.AnnData:
    """`adata`'s genes with peaks and antibody tags beside them, as sc.read_10x_h5(...,
    gex_only=False) or a multiome pipeline leaves them: one X, var["feature_types"] apart."""
    rng = np.random.default_rng(3)
    n_peaks, n_tags = 30, 4
    extra = rng.poisson(40.0, (adata.n_obs, n_peaks + n_tags)).astype(np.float32)
    names = [f"chr1:{i}00-{i}50" for i in range(n_peaks)]
    names += [f"CD{i}_TotalSeqB" for i in range(n_tags)]
    kinds = ["Gene Expression"] * adata.n_vars + ["Peaks"] * n_peaks
    kinds += ["Antibody Capture"] * n_tags
    out = ad.AnnData(
        np.hstack([adata.X, extra]),
        obs=adata.obs.copy(),
        var=pd.DataFrame({"feature_types": kinds}, index=[*adata.var_names, *names]),
    )
    out.var["gene_ids"] = out.var_names
    return out


def test_multiome_peaks_and_tags_are_not_read_as_genes():
    genes = three_groups()
    mixed = _multiome(genes)
    # Peaks and antibody counts were normalised with the genes (their counts in each cell's
    # total) and clustered as genes; the file readers left them out, an AnnData kept them.
    with pytest.warns(FeaturesLeftOutWarning, match=r"34 features .*Peaks: 30"):
        expr = expression(mixed)
    assert expr.genes == list(genes.var_names)
    np.testing.assert_allclose(expr.X, expression(genes).X, rtol=1e-6)


@pytest.mark.slow
def test_multiome_clusters_as_its_genes_alone(one_torch_thread):
    genes = three_groups()
    mixed = _multiome(genes)
    kwargs = {"n_clusters": 3, "use_semantic": False, **FAST_FIT}
    with pytest.warns(FeaturesLeftOutWarning):
        cm.tl.cluster(mixed, **kwargs)
    cm.tl.cluster(genes, **kwargs)
    np.testing.assert_allclose(mixed.obsm["X_pca_expr"], genes.obsm["X_pca_expr"], rtol=1e-5)


def test_normalize_of_a_multiome_gives_its_genes(tmp_path):
    mixed = _multiome(three_groups())
    with pytest.warns(FeaturesLeftOutWarning), pytest.raises(UsageError, match="copy=True"):
        cm.pp.normalize(mixed)
    with pytest.warns(FeaturesLeftOutWarning):
        out = cm.pp.normalize(mixed, copy=True)
    assert out.n_vars == 12 and set(out.var["feature_types"]) == {"Gene Expression"}
    assert out.layers["counts"].shape == (60, 12)
    out.write_h5ad(tmp_path / "genes.h5ad")


def test_repeated_names_of_raw_get_advice_that_mends_raw():
    adata = three_groups()
    adata.var_names = [f"G{i // 2}" for i in range(adata.n_vars)]  # each name twice
    adata.raw = adata  # as a notebook sets it, before making X's names unique
    adata.var_names_make_unique()
    adata.X = adata.X - adata.X.mean(axis=0)  # scaled: the values come from .raw
    with pytest.raises(GenekbError, match="occur more than once") as caught:
        cm.tl.classify(adata, "grp", per_class=5, refine=False)
    # The advice was adata.var_names_make_unique(), which leaves .raw's names repeated: the
    # same refusal again. The one given now is run as it is said.
    advice = re.search(r"make them unique \((.*)\) or choose", str(caught.value)).group(1)
    exec(advice.replace("; ", "\n"), {"adata": adata})
    cm.tl.classify(adata, "grp", per_class=5, refine=False)
    assert adata.obs["cellmodel_pred"].notna().all()


def test_cells_named_twice_by_a_concat_get_advice_that_keeps_them():
    import scanpy as sc

    one = three_groups()
    both = sc.concat([one, one], label="sample")  # no index_unique=: each barcode twice
    with pytest.raises(GenekbError, match="occur more than once") as caught:
        cm.tl.cluster(both, n_clusters=3, use_semantic=False, **FAST_FIT)
    # It said "rename, sum or drop the repeats": summing merges two samples' cells, dropping
    # loses one; the call it names now keeps every cell.
    assert "sum or drop" not in str(caught.value)
    advice = re.search(r"unique first \((.*)\)$", str(caught.value)).group(1)
    exec(advice, {"adata": both})
    assert both.obs_names.is_unique and both.n_obs == 120
