"""A scanpy user's habits through the notebook API (the fifth sweep): the tutorial's
`adata.raw = adata` before `sc.pp.scale`, a symbols column added after .raw was set, a rep
scanpy writes, a notebook cell run twice, leiden's key_added and resolution, per-cell sizes,
the public helpers (umap_coordinates, confusion_table) given what a session holds. Each works
as a scanpy user expects, or is refused in one line that names what to do."""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pytest
import scanpy as sc

import cellmodel as cm
from genekb.errors import GenekbError, UsageError
from tests.conftest import blobs, three_groups

matplotlib.use("Agg")


def _scaled_over_shared_raw():
    adata = blobs(20, counts=True)
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    adata.raw = adata  # keeps X's own dense array: the next line scales .raw as well
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.pp.scale(adata)
    return adata


def test_a_raw_scaled_with_x_is_named_not_called_missing():
    adata = _scaled_over_shared_raw()
    assert adata.raw is not None
    # Was "the file holds no other (no layers, no .raw)" to a user looking at adata.raw.
    with pytest.raises(GenekbError, match=r"\.raw shares X's array.*adata\.raw = adata\.copy\(\)"):
        cm.pp.normalize(adata)


def test_a_symbols_column_added_after_raw_was_set_is_pointed_at():
    adata = three_groups()
    adata.raw = adata.copy()  # .raw keeps var as it is now
    adata.var["symbol"] = [f"S{i}" for i in range(adata.n_vars)]  # added afterwards: X's only
    adata.obsm["X_umap"] = np.random.default_rng(0).random((adata.n_obs, 2))
    # Was "not a var column of .raw; choose from: none", and for S3 no hint at all.
    with pytest.raises(UsageError, match=r"X's var has it: pass use_raw=False"):
        cm.pl.umap(adata, "S3", rep="X_umap", gene_symbols="symbol", show=False)
    with pytest.raises(UsageError, match=r"gene_symbols='symbol', use_raw=False"):
        cm.pl.umap(adata, "S3", rep="X_umap", show=False)
    ax = cm.pl.umap(adata, "S3", rep="X_umap", gene_symbols="symbol", use_raw=False, show=False)
    assert ax.get_title() == "S3"  # the advice works


def test_a_missing_rep_other_than_the_clusterings_is_not_sent_to_cluster():
    adata = three_groups()
    adata.obsm["X_umap"] = np.random.default_rng(0).random((adata.n_obs, 2))
    # rep='X_pca' before sc.pp.pca said "run cm.tl.cluster first", which writes no X_pca.
    with pytest.raises(GenekbError, match=r"no obsm\['X_pca'\]") as caught:
        cm.pl.umap(adata, "grp", rep="X_pca", show=False)
    assert "cm.tl.cluster" not in str(caught.value)
    assert "pass rep= one of obsm's keys: X_umap" in str(caught.value)
    with pytest.raises(GenekbError, match=r"run cm.tl.cluster first or pass rep= one of obsm"):
        cm.pl.umap(adata, "grp", show=False)  # the clustering's own rep: cluster is the remedy


@pytest.mark.parametrize("sparse", [False, True])
def test_normalize_run_again_keeps_the_record_of_what_it_did(sparse, tmp_path):
    import anndata as ad
    import scipy.sparse as sp

    adata = blobs(20, counts=True)
    if sparse:
        adata.X = sp.csr_matrix(adata.X)
    cm.pp.normalize(adata)
    first = dict(adata.uns["cellmodel_pp"])
    assert first["kind"] == "counts"
    cm.pp.normalize(adata)  # a notebook cell run twice, here and after a save
    # Was replaced by kind 'log', "none (already log-normalized)": how X was made was lost.
    assert dict(adata.uns["cellmodel_pp"]) == first
    adata.write_h5ad(tmp_path / "a.h5ad")
    again = ad.read_h5ad(tmp_path / "a.h5ad")
    cm.pp.normalize(again)
    assert again.uns["cellmodel_pp"]["normalization"] == first["normalization"]
    again.X = again.X * 2  # another X: the old record no longer describes it
    cm.pp.normalize(again)
    assert again.uns["cellmodel_pp"]["normalization"].startswith("none")


@pytest.mark.parametrize(("word", "says"), [("resolution", "n_clusters=")])  # key_added: h49
def test_scanpys_leiden_words_say_what_to_do_here(word, says):
    adata = blobs(20, counts=True)
    adata.obs["cellmodel_cluster"] = adata.obs["group"]
    with pytest.raises(UsageError, match=says) as caught:
        cm.tl.cluster(adata, use_semantic=False, **{word: 1})
    # Was "unknown clustering option(s) key_added; known: alignment_weight, balance, ..." (30
    # tunables of the fit), which read as a misspelling and said nothing of keeping the first.
    assert "known:" not in str(caught.value)
    assert adata.obs["cellmodel_cluster"].equals(adata.obs["group"])


def test_the_settings_say_at_which_verbosity_a_store_write_is_told(capsys):
    import sys

    from genekb.progress import notice

    before = cm.settings.verbosity
    try:
        cm.settings.verbosity = 1
        notice("wrote embedding version x")  # as a step that builds vectors tells it
        assert "wrote embedding version x" in capsys.readouterr().err
    finally:
        cm.settings.verbosity = before
    levels = sys.modules["genekb.settings"].__doc__.split("`verbosity`:")[1]
    # Said "2 also one line per store write", while the default 1 wrote it.
    told_at_one = levels.split(", 2 ")[0]
    assert "store write" in told_at_one


def test_umap_coordinates_reads_what_umap_reads_and_checks_its_seed(monkeypatch):
    import scipy.sparse as sp
    import umap

    given = []

    class Layout:  # umap-learn's UMAP without its minute of compiling: what reaches it
        def __init__(self, **_settings):
            pass

        def fit_transform(self, X):
            given.append(X)
            return np.asarray(X)[:, :2]

    monkeypatch.setattr(umap, "UMAP", Layout)
    latent = sp.random(20, 4, density=0.6, format="csr", random_state=0, dtype=np.float32)
    xy = cm.pl.umap_coordinates(latent, seed=0)  # was "got shape ()": a 0-d array of objects
    assert xy.shape == (20, 2)
    np.testing.assert_array_equal(given[0], latent.toarray())  # as cm.pl.umap reads obsm
    with pytest.raises(UsageError, match=r"seed=-1 must be a whole number"):
        cm.pl.umap_coordinates(latent, seed=-1)  # was umap-learn's ValueError
    with pytest.raises(GenekbError, match=r"holds <U1 values, not numbers"):
        cm.pl.umap_coordinates(np.array([["a", "b"]] * 10))  # was numpy's TypeError


@pytest.mark.parametrize("given", [None, "a", 3])
def test_confusion_table_refuses_what_is_no_list_of_labels(given):
    # Was Python's "object of type 'NoneType' has no len()" or pandas' TypeError.
    with pytest.raises(UsageError, match=r"labels_true must be a list of labels, one per cell"):
        cm.pl.confusion_table(given, ["x", "y"])
    with pytest.raises(UsageError, match=r"labels_pred must be a list of labels"):
        cm.pl.confusion_table(["x", "y"], given)


def test_a_size_of_one_per_cell_is_refused_in_one_line():
    adata = three_groups()
    adata.obsm["X_umap"] = np.random.default_rng(0).random((adata.n_obs, 2))
    # scanpy takes a size per cell; the refusal printed the whole array over many lines
    with pytest.raises(UsageError) as caught:
        cm.pl.umap(adata, "grp", rep="X_umap", size=np.ones(adata.n_obs), show=False)
    assert "\n" not in str(caught.value) and "<ndarray of 60>" in str(caught.value)


def test_classify_says_where_an_unrefined_run_leaves_no_refined_view():
    adata = blobs(20, counts=True)
    cm.tl.classify(adata, "group", per_class=5, refine=False)
    assert "X_classify" not in adata.obsm
    # The docstring listed obsm["X_classify"] among what every run writes.
    said = " ".join(cm.tl.classify.__doc__.split())
    assert 'obsm["X_classify"]` (the refined view; with `refine=False` none' in said


@pytest.mark.parametrize("draw", ["markers", "calls"])
def test_a_key_added_that_is_no_name_is_refused_not_sent_to_annotate(draw):
    adata = three_groups()
    # Was "no annotation in this AnnData; run cm.tl.annotate(adata, key_added=3) first", a call
    # annotate itself refuses.
    with pytest.raises(UsageError, match=r"key_added=3 must name the annotation to read"):
        getattr(cm.pl, draw)(adata, key_added=3, show=False)
