"""A scanpy user's habits through the notebook API (the fourth sweep): `sc.settings`' names set on
`cm.settings`, scanpy's own 2-d layout passed to `cm.pl.umap`, classify's `key_added` aimed at
another step's columns. Each works as a scanpy user expects, or is refused in words before any
work."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

import cellmodel as cm
from genekb.errors import GenekbError, UsageError
from tests.conftest import FAST_FIT, three_groups

matplotlib.use("Agg")


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("n_jobs", 4, "OMP_NUM_THREADS"),
        ("device", "cuda", "device="),
        ("verbosty", 0, "settings are verbosity and progress_delay"),  # a typo
        ("progress_delay", "2s", "must be a number of seconds"),  # was tqdm's TypeError later
        ("progress_delay", -1, "must be a number of seconds"),
    ],
)
def test_a_setting_cellmodel_has_not_is_refused_not_kept_to_no_effect(name, value, says):
    before = repr(cm.settings)
    with pytest.raises(UsageError, match=says):  # was kept silently and changed nothing
        setattr(cm.settings, name, value)
    assert repr(cm.settings) == before
    assert name == "progress_delay" or not hasattr(cm.settings, name)
    delay = cm.settings.progress_delay
    cm.settings.progress_delay = 0  # a number of seconds is still taken
    cm.settings.progress_delay = delay


def test_umap_draws_a_two_column_rep_as_it_is():
    adata = three_groups()
    layout = np.random.default_rng(1).random((adata.n_obs, 2)).astype(np.float32)
    adata.obsm["X_umap"] = layout  # sc.tl.umap's coordinates
    ax = cm.pl.umap(adata, "grp", rep="X_umap", show=False)
    drawn = np.concatenate([c.get_offsets() for c in ax.collections])
    # Was a UMAP of the UMAP: another picture than sc.pl.umap's, and a layout kept in obsm.
    assert sorted(map(tuple, drawn)) == sorted(map(tuple, layout.astype(float)))
    assert "X_umap_cellmodel" not in adata.obsm


@pytest.mark.parametrize("key_added", ["cellmodel_cluster", "cellmodel_annotation"])
def test_classify_refuses_to_write_over_the_clusters_or_their_names(key_added):
    adata = three_groups()
    adata.obs["cellmodel_cluster"] = pd.Categorical(adata.obs["grp"].cat.codes.astype(str))
    adata.obs["cellmodel_annotation"] = pd.Categorical(["T cell"] * adata.n_obs)
    before = adata.obs.copy()
    with pytest.raises(UsageError, match=rf"key_added='{key_added}' would write obs\["):
        cm.tl.classify(adata, "grp", per_class=5, refine=False, key_added=key_added)
    pd.testing.assert_frame_equal(adata.obs, before)  # was overwritten by the predictions


def _drawn_colours(ax) -> dict[str, str]:
    from matplotlib.colors import to_hex

    return {
        c.get_label(): to_hex(c.get_facecolor()[0]) for c in ax.collections if len(c.get_offsets())
    }


def test_umap_draws_a_column_in_the_colours_scanpy_keeps_for_it():
    adata = three_groups()
    adata.obsm["X_umap"] = np.random.default_rng(1).random((adata.n_obs, 2))
    adata.uns["grp_colors"] = np.array(["#ff0000", "#00ff00", "#0000ff"])  # as an .h5ad holds them
    drawn = _drawn_colours(cm.pl.umap(adata, "grp", rep="X_umap", show=False))
    assert drawn == {"a": "#ff0000", "b": "#00ff00", "c": "#0000ff"}  # was tab10's, not these
    subset = adata[adata.obs["grp"] != "a"]  # anndata drops "a" and its colour alike
    drawn = _drawn_colours(cm.pl.umap(subset, "grp", rep="X_umap", show=False))
    assert drawn == {"b": "#00ff00", "c": "#0000ff"}
    adata.uns["grp_colors"] = ["#ff0000", "#00ff00"]  # too few, as scanpy: the default palette
    drawn = _drawn_colours(cm.pl.umap(adata, "grp", rep="X_umap", show=False))
    assert drawn == {"a": "#1f77b4", "b": "#ff7f0e", "c": "#2ca02c"}
    # A dict there is no list of colours: its keys were read as colours ("b" blue, ...).
    adata.obs["rgb"] = adata.obs["grp"].cat.rename_categories(["b", "g", "r"])
    adata.uns["rgb_colors"] = {"b": "#000000", "g": "#000000", "r": "#000000"}
    drawn = _drawn_colours(cm.pl.umap(adata, "rgb", rep="X_umap", show=False))
    assert drawn == {"b": "#1f77b4", "g": "#ff7f0e", "r": "#2ca02c"}


def test_umap_colours_by_a_gene_of_a_lazy_matrix_of_sparse_chunks():
    import scipy.sparse as sp

    da = pytest.importorskip("dask.array")
    adata = three_groups()
    adata.obsm["X_umap"] = np.random.default_rng(1).random((adata.n_obs, 2))
    expected = np.asarray(adata.X[:, 0], dtype=float)
    adata.X = da.from_array(sp.csr_matrix(adata.X), chunks=(20, 12))  # anndata's lazy reading
    ax = cm.pl.umap(adata, "G0", rep="X_umap", show=False)  # was "is object, not numbers"
    assert sorted(ax.collections[-1].get_array()) == sorted(expected)


def test_verbosity_zero_is_errors_only_and_one_shows_warnings_again(recwarn):
    from genekb.errors import warn

    before = cm.settings.verbosity
    try:
        cm.settings.verbosity = "error"  # was still shown: the setting told no warning apart
        warn("hidden at zero")
        cm.settings.verbosity = 0  # set twice, undone once
        cm.settings.verbosity = 1
        warn("shown at one")
    finally:
        cm.settings.verbosity = before
    assert [str(w.message) for w in recwarn] == ["shown at one"]


def test_a_notebook_without_clusters_is_told_the_notebook_step(tmp_path):
    from tests.conftest import one_line_error, run_cellmodel

    adata = three_groups()
    with pytest.raises(GenekbError, match=r"run cm\.tl\.cluster\(adata\) first"):
        cm.tl.explain(adata)  # was "run `cellmodel cluster IN -o OUT.h5ad` first"
    with pytest.raises(UsageError, match=r"run cm\.tl\.cluster\(adata\) first"):
        cm.tl.annotate(adata, tmp_path / "store")
    adata.write_h5ad(tmp_path / "cells.h5ad")
    line = one_line_error(run_cellmodel("explain", str(tmp_path / "cells.h5ad")))
    assert "run `cellmodel cluster IN -o OUT.h5ad` first" in line  # the command line's words


def test_markers_of_a_file_of_ensembl_ids_draws_its_markers_labelled_by_symbol(tmp_path):
    from genekb.sources.bundled import load_bundled

    panel = {"T": ["CD3E", "CD3D", "CD2", "IL7R"], "B": ["MS4A1", "CD79A", "CD19", "CD79B"],
             "M": ["LYZ", "CD14", "S100A8", "FCN1"]}  # fmt: skip
    symbols = [g for genes in panel.values() for g in genes]
    table = load_bundled("human").table.to_pandas().set_index("symbol")
    adata = three_groups(60, len(symbols))  # group a, b, c high in genes 0-3, 4-7, 8-11
    adata.var_names = [str(table.loc[g, "ensembl"][0]) for g in symbols]  # as read_10x gene_ids
    candidates = ["T cell", "B cell", "monocyte"]
    cm.tl.annotate(adata, tmp_path, groupby="grp", candidates=candidates, model="fake")
    ax = cm.pl.markers(adata, n_genes=4, show=False)
    drawn = [t.get_text() for t in ax.get_xticklabels()]
    # Was only the genes behind each name, labelled by Ensembl id: the markers, kept by symbol
    # in the report, were not found among the data's names and were left out.
    assert sorted(drawn) == sorted(symbols)


def test_show_takes_numpy_bools_as_copy_does():
    adata = three_groups()
    adata.obsm["X_umap"] = np.random.default_rng(1).random((adata.n_obs, 2))
    ax = cm.pl.umap(adata, "grp", rep="X_umap", show=np.bool_(False))  # was refused, and
    assert ax.get_title() == "grp"  # np.False_ is not `False`: it would have shown


def test_annotate_takes_numpy_whole_numbers(tmp_path):
    adata = three_groups()
    kwargs = {"groupby": "grp", "candidates": ["T cell", "B cell"], "model": "fake"}
    sizes = {"n_markers": np.int64(5), "top_k": np.int64(2), "seed": np.int64(0)}  # from arrays
    cm.tl.annotate(adata, tmp_path, **kwargs, **sizes)  # was JSON's TypeError after the run
    assert adata.uns["cellmodel"]["annotate"]["params"]["n_markers"] == 5


def test_cluster_takes_numpy_numbers_for_its_fit_options(one_torch_thread):
    adata = three_groups()
    fit = {key: np.int64(value) for key, value in FAST_FIT.items()}  # from a grid in an array
    cm.tl.cluster(adata, n_clusters=3, use_semantic=False, dropout=np.float32(0.1), **fit)
    assert adata.obs["cellmodel_cluster"].nunique() == 3  # was "hidden_dim must be a whole
    # number of at least 1 (got np.int64(64))", and np.float32 "must be a finite number"


def test_classify_again_leaves_no_refined_view_of_the_last_run_and_names_its_columns():
    adata = three_groups()
    adata.obsm["X_classify"] = np.zeros((adata.n_obs, 4))  # a refined run's view, before
    cm.tl.classify(adata, "grp", per_class=5, refine=False)
    assert "X_classify" not in adata.obsm  # was kept beside this run's record
    # (another key_added's run keeps its own record and view apart since h49)
    assert adata.uns["cellmodel_classify"]["params"]["key_added"] == "cellmodel_pred"


def test_a_gene_named_by_symbol_on_ensembl_var_names_is_pointed_at_gene_symbols():
    adata = three_groups()
    adata.obsm["X_umap"] = np.random.default_rng(1).random((adata.n_obs, 2))
    adata.var["gene_symbols"] = adata.var_names  # as sc.read_10x_mtx(var_names="gene_ids")
    adata.var_names = [f"ENSG{i:011d}" for i in range(adata.n_vars)]
    with pytest.raises(UsageError, match=r"in var\['gene_symbols'\]: pass gene_symbols="):
        cm.pl.umap(adata, "G3", rep="X_umap", show=False)  # said only "not an obs column"
    cm.pl.umap(adata, "G3", rep="X_umap", gene_symbols="gene_symbols", show=False)


def test_a_store_made_with_the_class_not_open_is_refused_in_words(tmp_path):
    import genekb as gk

    with pytest.raises(UsageError, match=r"gk\.Store\.open\("):  # was a TypeError ('str' / 'str')
        cm.tl.explain(three_groups(), gk.Store(str(tmp_path)))  # at the step's first read of it


def test_a_train_mask_series_is_read_by_cell_not_by_position():
    adata = three_groups()
    train = pd.Series(np.arange(adata.n_obs) % 4 == 0, index=adata.obs_names)
    cm.tl.classify(adata, "grp", train_mask=train.sort_values(), refine=False)  # False first
    assert (adata.obs["cellmodel_pred_train"] == train).all()  # was the sorted order's values
    other = pd.Series(train.to_numpy(), index=[f"x{i}" for i in range(adata.n_obs)])
    with pytest.raises(UsageError, match="index is not this AnnData's cells"):
        cm.tl.classify(adata, "grp", train_mask=other, refine=False)
