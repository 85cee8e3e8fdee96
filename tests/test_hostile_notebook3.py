"""Still more hostile but plausible AnnData through the notebook API (`cm.pp`, `cm.tl`, `cm.pl`):
records in uns edited by hand or left by another tool, a lazy (dask) matrix, obsm and obs
columns of another kind than the run's. Each works, or is refused in words before any work."""

from __future__ import annotations

import json

import anndata as ad
import matplotlib
import numpy as np
import pytest
import scipy.sparse as sp

import cellmodel as cm
from genekb.errors import GenekbError, UsageError
from tests.conftest import FAST_FIT, three_groups

matplotlib.use("Agg")


def _cells(n: int = 60, n_genes: int = 12) -> ad.AnnData:
    """The second sweep's three groups of cells, with a small obsm matrix to lay out."""
    adata = three_groups(n, n_genes)
    adata.obsm["X_rep"] = np.random.default_rng(0).random((n, 3))
    return adata


def _fingerprint(adata: ad.AnnData) -> tuple:
    return list(adata.obs.columns), sorted(adata.obsm), sorted(adata.uns)


def test_umap_lays_out_again_over_an_edited_record_and_a_foreign_dataset_entry():
    adata = _cells()
    adata.obsm["X_umap_cellmodel"] = np.zeros((adata.n_obs, 2))
    adata.uns["X_umap_cellmodel"] = "edited"  # was an AttributeError ('str' ... 'get')
    adata.uns["dataset"] = "pbmc, batch 2"  # another tool's note; was an AttributeError
    adata.obs["cellmodel_cluster"] = adata.obs["grp"]
    cm.pl.umap(adata, rep="X_rep", show=False)
    assert np.ptp(adata.obsm["X_umap_cellmodel"]) > 0  # laid out, not the zeros read back
    adata.uns["X_umap_cellmodel"] = {"params": "edited"}  # was dict()'s ValueError
    cm.pl.umap(adata, "grp", rep="X_rep", show=False)
    assert adata.uns["X_umap_cellmodel"]["params"]["rep"] == "X_rep"


def test_umap_reads_a_sparse_rep_and_refuses_one_of_text():
    adata = _cells()
    adata.obsm["X_sparse"] = sp.csr_matrix(adata.obsm["X_rep"])  # was numpy's ValueError
    cm.pl.umap(adata, "grp", rep="X_sparse", show=False)
    adata.obsm["X_text"] = np.full((adata.n_obs, 2), "a", dtype=object)
    with pytest.raises(GenekbError, match=r"obsm\['X_text'\] holds object values, not numbers"):
        cm.pl.umap(adata, "grp", rep="X_text", show=False)  # was "could not convert string"


def test_a_numeric_column_of_many_values_is_drawn_on_a_colour_bar():
    adata = _cells()
    adata.obs["total"] = np.arange(adata.n_obs, dtype=float)
    adata.obs.loc["c0", "total"] = np.nan  # drawn grey, not dropped
    adata.obs["few"] = adata.obs["grp"].cat.codes.astype(int)  # three numbers: a legend
    a, b = cm.pl.umap(adata, ["total", "few"], rep="X_rep", show=False)
    assert a.get_legend() is None and len(a.figure.axes) == 3  # two panels and one colour bar
    assert len(b.get_legend().get_texts()) == 3  # was one legend entry per value (60)


@pytest.mark.parametrize("size", ["big", -3, 0, float("nan"), True])
def test_a_point_size_that_is_no_positive_number_is_refused_before_the_layout(size):
    adata = _cells()
    before = _fingerprint(adata)
    with pytest.raises(UsageError, match="must be a positive number"):  # was matplotlib's
        cm.pl.umap(adata, "grp", rep="X_rep", size=size, show=False)  # TypeError, after it
    assert _fingerprint(adata) == before  # the layout was computed and kept first


@pytest.mark.parametrize(
    "record",
    ["edited", {"report_json": "{not json"}, {"report_json": "[]"}, {"method": "combined"}],
)
@pytest.mark.parametrize("function", ["calls", "markers"])
def test_an_edited_annotation_record_is_named_not_a_traceback(function, record):
    adata = _cells()
    adata.uns["cellmodel"] = {"annotate": record}  # TypeError, JSONDecodeError or KeyError
    with pytest.raises(GenekbError, match=r"uns\['cellmodel'\]\['annotate'\] is not the record"):
        getattr(cm.pl, function)(adata, show=False)
    adata.uns["cellmodel"] = "edited"
    with pytest.raises(GenekbError, match=r"uns\['cellmodel'\] holds a str"):
        getattr(cm.pl, function)(adata, show=False)


def test_markers_without_the_annotated_groups_column_says_so():
    adata = _cells()
    report = {"groupby": "cellmodel_cluster", "method": "combined", "groups": []}
    adata.uns["cellmodel"] = {"annotate": {"report_json": json.dumps(report)}}
    with pytest.raises(GenekbError, match=r"obs\['cellmodel_cluster'\], which this AnnData no"):
        cm.pl.markers(adata, show=False)  # was a KeyError from pandas


def test_a_batch_key_that_is_no_string_is_named_as_a_missing_column():
    adata = _cells()
    before = _fingerprint(adata)
    with pytest.raises(UsageError, match=r"batch_key=3 is not an obs column; choose from: grp"):
        cm.tl.cluster(adata, n_clusters=3, use_semantic=False, batch_key=3)  # 'int'... 'lower'
    assert _fingerprint(adata) == before


def test_a_lazy_matrix_of_sparse_chunks_is_read(one_torch_thread):
    da = pytest.importorskip("dask.array")
    adata = _cells()
    adata.X = da.from_array(sp.csr_matrix(adata.X), chunks=(20, 12))  # anndata's lazy reading
    out = cm.pp.normalize(adata, copy=True)  # was numpy's "setting an array element with a
    assert sp.issparse(out.X) and out.uns["cellmodel_pp"]["kind"] == "counts"  # sequence"
    cm.tl.cluster(adata, n_clusters=3, use_semantic=False, **FAST_FIT)
    assert adata.obs["cellmodel_cluster"].nunique() == 3


def test_markers_reads_the_layer_and_gene_names_the_annotation_read(tmp_path):
    adata = _cells()
    adata.var["symbol"] = adata.var_names
    adata.var_names = [f"probe{i}" for i in range(adata.n_vars)]
    adata.layers["counts"] = adata.X
    adata.X = None
    kwargs = {"groupby": "grp", "candidates": ["T cell", "B cell"], "model": "fake"}
    cm.tl.annotate(adata, tmp_path, layer="counts", gene_key="symbol", **kwargs)
    ax = cm.pl.markers(adata, show=False)  # was "the input has no X matrix; pass ... layer="
    assert {t.get_text() for t in ax.get_xticklabels()} <= set(adata.var["symbol"])
    adata.X = adata.layers["counts"]
    cm.pl.markers(adata, show=False)  # was "none of the report's genes is named in the data"


def test_explain_refuses_a_store_that_is_no_path_even_where_it_reads_none():
    adata = _cells()
    adata.obs["cellmodel_cluster"] = adata.obs["grp"]  # clustered without the semantic view
    with pytest.raises(UsageError, match="a store root is a path, not int"):
        cm.tl.explain(adata, 3)  # was taken and ignored, as annotate and embed refuse it
    assert "cellmodel_explain" not in adata.uns
