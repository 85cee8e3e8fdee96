"""Hostile values through the notebook API (`cm.tl`, `cm.pl`): each is refused before any work
with a GenekbError / UsageError that says what to do, never a TypeError, IndexError or
AttributeError from inside numpy, scikit-learn, umap or matplotlib."""

from __future__ import annotations

import anndata as ad
import matplotlib
import numpy as np
import pandas as pd
import pytest

import cellmodel as cm
from genekb.errors import GenekbError, UsageError
from tests.conftest import run_cellmodel

matplotlib.use("Agg")


def _cells(n: int = 30) -> ad.AnnData:
    rng = np.random.default_rng(0)
    adata = ad.AnnData(
        rng.poisson(2, (n, 12)).astype(np.float32),
        var=pd.DataFrame(index=[f"G{i}" for i in range(12)]),
    )
    adata.obs_names = [f"c{i}" for i in range(n)]
    adata.obs["grp"] = pd.Categorical(np.array(["a", "b", "c"])[np.arange(n) % 3])
    return adata


def test_classify_refuses_a_key_that_would_overwrite_its_labels():
    adata = _cells()
    adata.obs["split"] = np.arange(adata.n_obs) < 15
    with pytest.raises(UsageError, match="would overwrite the label column obs\\['grp'\\]; copy"):
        cm.tl.classify(adata, "grp", per_class=3, key_added="grp")
    with pytest.raises(UsageError, match="train mask column obs\\['split'\\]"):
        cm.tl.classify(adata, "grp", train_mask="split", key_added="split")
    assert list(adata.obs["grp"][:3]) == ["a", "b", "c"]  # the labels are as they were


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"per_class": 2.5}, "per-class count must be a whole number"),
        ({"per_class": "3"}, "per-class count must be a whole number"),
        ({"train_fraction": "0.3"}, "train fraction must lie strictly between 0 and 1"),
        ({"per_class": 3, "seed": "x"}, "seed='x' must be a whole number"),
        ({"per_class": 3, "seed": -1}, "seed=-1 must be a whole number"),
        ({"per_class": 3, "bogus": 1}, "unknown classify option\\(s\\) bogus; known: .*vote"),
        ({"per_class": 3, "k": 2.5}, "k=2.5 must be a whole number, at least 1"),  # sklearn's
        ({"per_class": 3, "k": True}, "k=True must be a whole number"),  # was read as k=1
        ({"per_class": 3, "key_added": 5}, "key_added=5 must name the obs column"),
        ({"per_class": 3, "key_added": " "}, "key_added=' ' must name the obs column"),
    ],
)
def test_classify_refuses_values_of_the_wrong_kind_in_words(kwargs, says):
    adata = _cells()
    with pytest.raises(UsageError, match=says):
        cm.tl.classify(adata, "grp", **kwargs)
    assert list(adata.obs.columns) == ["grp"]


@pytest.mark.parametrize(
    ("step", "known"), [("annotate", "n_markers"), ("embed", "sentence_top_n")]
)
def test_an_unknown_option_names_the_known_ones(tmp_path, step, known):
    with pytest.raises(UsageError, match=f"unknown {step} option\\(s\\) bogus; known: .*{known}"):
        getattr(cm.tl, step)(_cells(), tmp_path / "store", bogus=1)


def test_an_option_the_step_sets_itself_is_not_offered():
    from cellmodel.arguments import refuse_unknown_options
    from cellmodel.embed import embed
    from cellmodel.tools import embed as tl_embed

    with pytest.raises(UsageError) as refused:
        refuse_unknown_options(["bogus"], tl_embed, embed, passed=("progress",))
    assert "progress" not in str(refused.value) and "model" not in str(refused.value)


@pytest.mark.parametrize("function", ["umap", "markers", "calls"])
def test_plots_refuse_what_is_not_an_anndata(function):
    with pytest.raises(UsageError, match="adata must be an AnnData, not ndarray"):
        getattr(cm.pl, function)(np.zeros((3, 3)), show=False)
    with pytest.raises(UsageError, match="adata must be an AnnData, not str"):
        cm.pl.confusion("cells.h5ad", "grp", show=False)


@pytest.mark.parametrize(
    ("latent", "says"),
    [
        (np.full((30, 3), np.nan), "NaN or infinite values"),
        (np.zeros((2, 3)), "at least 4 cells"),
        (np.zeros((30, 0)), "and one dimension"),  # was scikit-learn's ValueError
    ],
)
def test_umap_refuses_a_layout_it_cannot_compute(latent, says):
    adata = _cells(len(latent))
    adata.obsm["X_bad"] = latent
    with pytest.raises(GenekbError, match=says):
        cm.pl.umap(adata, "grp", rep="X_bad", show=False)


def test_umap_colour_must_name_columns():
    adata = _cells()
    adata.obsm["X_rep"] = np.random.default_rng(0).random((adata.n_obs, 3))
    with pytest.raises(UsageError, match="color= takes an obs column name"):
        cm.pl.umap(adata, color=5, rep="X_rep", show=False)


def test_labels_that_do_not_pair_are_refused():
    with pytest.raises(GenekbError, match="3 reference labels but 2 predicted"):
        cm.pl.confusion_table(["a", "b", "a"], ["1", "2"])
    with pytest.raises(GenekbError, match="no cells to score"):
        cm.pl.confusion_table([], [])


def test_a_format_matplotlib_cannot_write_is_refused_and_nothing_is_written(tmp_path):
    adata = _cells()
    adata.obs["cluster"] = adata.obs["grp"]
    target = tmp_path / "confusion.docx"
    with pytest.raises(UsageError, match=r"cannot write '\.docx' files; use one of .*\.png"):
        cm.pl.confusion(adata, "grp", "cluster", save=target)
    assert list(tmp_path.iterdir()) == []


def test_the_command_line_refuses_a_label_column_its_results_would_overwrite(tmp_path):
    adata = _cells()
    adata.obs["cellmodel_pred"] = adata.obs["grp"]  # a file classified before, labelled so
    source, target = tmp_path / "in.h5ad", tmp_path / "out.h5ad"
    adata.write_h5ad(source)
    args = ["classify", str(source), "--label-key", "cellmodel_pred", "--per-class", "3"]
    result = run_cellmodel(*args, "-o", str(target))
    assert result.exit_code == 2
    assert "copy that column under another name" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not target.exists()


@pytest.mark.parametrize(
    ("candidates", "says"),
    [("T cell;B cell", r"list of labels, e.g. \['T cell', 'B cell'\], not 'T cell;B cell'"),
     (["T cell", 1], r"candidates\[1\] is 1: not a label; candidates must be a list of labels")],
)  # fmt: skip
def test_candidates_that_are_not_a_list_of_labels_are_refused(candidates, says):
    from cellmodel.annotate.ontology import from_user

    with pytest.raises(UsageError, match=says):  # a string was read letter by letter
        from_user(candidates)


@pytest.mark.parametrize(
    ("settings", "says"),
    [({"seed": "x"}, "seed='x' must be a whole number"),
     ({"n_markers": 2.5}, r"whole numbers ≥ 1 .*\(got 2\.5, ")],
)  # fmt: skip
def test_annotate_settings_of_the_wrong_kind_are_refused(settings, says):
    from cellmodel.annotate.params import AnnotateParams

    with pytest.raises(UsageError, match=says):
        AnnotateParams(groupby="grp", **settings).check()


def test_explain_and_read_refuse_values_of_the_wrong_kind():
    adata = _cells()
    with pytest.raises(GenekbError, match="top_n='5' must be a whole number"):
        cm.tl.explain(adata, None, cluster_key="grp", top_n="5")
    with pytest.raises(UsageError, match="source must be a path or a dataset name, not int"):
        cm.pp.read(5)
    with pytest.raises(UsageError, match="a store root is a path, not int"):
        cm.pp.read("pbmc68k-reduced", root=3)  # was pathlib's TypeError
    adata.uns["cellmodel"] = {"embedding_id": "emb-0", "store_root": "/nowhere"}
    with pytest.raises(UsageError, match="a store root is a path, not int"):
        cm.tl.explain(adata, 5, cluster_key="grp")  # was pathlib's TypeError


def test_clusters_are_never_scored_against_the_column_they_are_written_to(tmp_path):
    adata = _cells()
    adata.obs["cellmodel_cluster"] = adata.obs["grp"]  # a file clustered before
    says = r"'cellmodel_cluster' is the column this run writes its clusters to"
    with pytest.raises(UsageError, match=says):  # it scored them against themselves: ACC 1.0
        cm.tl.cluster(adata, use_semantic=False, n_clusters=3, label_key="cellmodel_cluster")
    source, target = tmp_path / "in.h5ad", tmp_path / "out.h5ad"
    adata.write_h5ad(source)
    args = ["cluster", str(source), "--no-semantic", "--label-key", "cellmodel_cluster"]
    result = run_cellmodel(*args, "-o", str(target))
    assert result.exit_code == 2 and "copy the reference labels" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not target.exists()


def test_annotate_never_groups_by_a_column_it_overwrites(tmp_path):
    adata = _cells()
    adata.obs["cellmodel_annotation"] = adata.obs["grp"]
    with pytest.raises(UsageError, match="groups would be overwritten by their names; copy it"):
        cm.tl.annotate(
            adata, tmp_path / "store", groupby="cellmodel_annotation", candidates=["a", "b"]
        )
    assert list(adata.obs["cellmodel_annotation"][:3]) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("function", "kwargs", "says"),
    [("markers", {"n_genes": "3"}, "n_genes must be a whole number"),
     ("calls", {"n_top": 1.5}, "n_top and ncols must be whole numbers"),
     ("calls", {"ncols": 0}, "n_top and ncols must be whole numbers")],
)  # fmt: skip
def test_plot_sizes_of_the_wrong_kind_are_refused(function, kwargs, says):
    with pytest.raises(UsageError, match=says):
        getattr(cm.pl, function)(_cells(), show=False, **kwargs)


@pytest.mark.parametrize(("shape", "says"), [((30, 0), "is empty"), ((30, 12), "only zeros")])
def test_an_empty_or_zero_matrix_says_where_to_look(shape, says):
    adata = ad.AnnData(np.zeros(shape, np.float32))
    with pytest.raises(GenekbError, match=f"{says}.*choose another layer with layer="):
        cm.pp.normalize(adata)  # the message said "nothing to embed", to someone normalizing


def test_confusion_and_umap_refuse_what_they_cannot_use():
    adata = _cells()
    adata.obs["cluster"] = adata.obs["grp"]
    adata.obsm["X_rep"] = np.random.default_rng(0).random((adata.n_obs, 3))
    with pytest.raises(GenekbError, match=r"held_out=True needs obs\['cluster_train'\]"):
        cm.pl.confusion(adata, "grp", "cluster", held_out=True, show=False)  # was a KeyError
    with pytest.raises(UsageError, match="seed='x' must be a whole number"):
        cm.pl.umap(adata, "grp", rep="X_rep", seed="x", show=False)


def _fingerprint(adata: ad.AnnData) -> tuple:
    """What a refused step must leave as it was: every obs, obsm and uns key."""
    return list(adata.obs.columns), sorted(adata.obsm), sorted(adata.uns)


def test_cluster_refuses_what_is_not_an_anndata_in_words():
    with pytest.raises(UsageError, match="adata must be an AnnData, not ndarray"):
        cm.tl.cluster(np.ones((5, 5)), n_clusters=2)  # was an AttributeError on var_names


@pytest.mark.parametrize(
    ("setting", "says"),
    [({"n_hvg": 2.5}, "n_hvg=2.5 must be a whole number, at least 1"),  # scanpy's IndexError
     ({"n_hvg": 0}, "n_hvg=0 must be a whole number, at least 1"),
     ({"n_neighbors": True}, "n_neighbors=True must be a whole number"),  # read as 1 neighbour
     ({"n_pcs": 0}, "n_pcs must be a whole number, at least 1, or 'auto', not 0")],
)  # fmt: skip
def test_cluster_settings_of_the_wrong_kind_are_named(setting, says):
    adata = _cells()
    before = _fingerprint(adata)
    with pytest.raises(UsageError, match=says):
        cm.tl.cluster(adata, n_clusters=3, use_semantic=False, **setting)
    assert _fingerprint(adata) == before


def test_cluster_refuses_the_columns_the_command_line_refuses():
    adata = _cells()
    adata.obs["batch"] = pd.Categorical(["x", None] * 15)  # was clustered with a batch "nan"
    with pytest.raises(GenekbError, match="batch key 'batch' has no value for 15 of 30 cells"):
        cm.tl.cluster(adata, n_clusters=3, use_semantic=False, batch_key="batch")
    adata.obs["one"] = "t"  # was scored against a single class (ARI 0)
    with pytest.raises(GenekbError, match="label key 'one' holds a single class"):
        cm.tl.cluster(adata, n_clusters=3, use_semantic=False, label_key="one")
    assert "cellmodel_cluster" not in adata.obs


def test_a_backed_anndata_is_refused_in_words_with_copy(tmp_path):
    path = tmp_path / "cells.h5ad"
    _cells().write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    with pytest.raises(UsageError, match="adata is backed"):  # was anndata's ValueError on copy
        cm.tl.cluster(backed, n_clusters=3, use_semantic=False, copy=True)
    with pytest.raises(UsageError, match="adata is backed"):
        cm.tl.classify(backed, "grp", per_class=3, copy=True)


@pytest.mark.parametrize(
    ("setting", "says"),
    [({"seed": 2.5}, "seed=2.5 must be a whole number"),  # was taken
     ({"sentence_top_n": 1.5}, "sentence_top_n=1.5 must be a whole number, at least 0")],
)  # fmt: skip
def test_embed_settings_of_the_wrong_kind_are_named(tmp_path, setting, says):
    adata = _cells()
    with pytest.raises(UsageError, match=says):
        cm.tl.embed(adata, tmp_path, model="fake", **setting)
    assert not adata.obsm and not adata.uns


def test_plots_refuse_axes_and_paths_of_the_wrong_kind():
    adata = _cells()
    adata.obsm["X_rep"] = np.random.default_rng(0).random((adata.n_obs, 3))
    adata.obs["cluster"] = adata.obs["grp"]
    with pytest.raises(UsageError, match=r"ax= takes matplotlib axes .*, not int"):
        cm.pl.umap(adata, "grp", rep="X_rep", ax=5, show=False)  # was an AttributeError
    with pytest.raises(UsageError, match=r"ax= takes matplotlib axes .*, not str"):
        cm.pl.confusion(adata, "grp", "cluster", ax="left", show=False)
    with pytest.raises(UsageError, match=r"save= takes a file path .*, not int"):
        cm.pl.umap(adata, "grp", rep="X_rep", save=5, show=False)  # was pathlib's TypeError
    with pytest.raises(UsageError, match="n_neighbors=0 must be a whole number, at least 2"):
        cm.pl.umap_coordinates(adata.obsm["X_rep"], n_neighbors=0)  # was umap-learn's ValueError
    assert "X_umap_cellmodel" not in adata.obsm


def test_umap_lays_out_again_when_its_matrix_changed():
    adata = _cells()
    rng = np.random.default_rng(0)
    adata.obsm["X_rep"] = rng.random((adata.n_obs, 3))
    cm.pl.umap(adata, "grp", rep="X_rep", show=False)
    first = adata.obsm["X_umap_cellmodel"].copy()
    cm.pl.umap(adata, "grp", rep="X_rep", show=False)
    assert np.array_equal(adata.obsm["X_umap_cellmodel"], first)  # the same matrix: kept
    adata.obsm["X_rep"] = rng.random((adata.n_obs, 3))  # e.g. clustered again in place
    cm.pl.umap(adata, "grp", rep="X_rep", show=False)
    assert not np.array_equal(adata.obsm["X_umap_cellmodel"], first)  # was the old layout


def test_groups_of_no_cells_are_named_as_such():
    from cellmodel.markers import cell_groups

    empty = _cells()[:0].copy()
    with pytest.raises(GenekbError, match=r"obs\['grp'\] has no cells; pass cells of two"):
        cell_groups(empty.obs["grp"], "grp")  # was "has one group"


@pytest.mark.parametrize(
    ("call", "says"),
    [(lambda a: cm.pp.normalize(a, copy="yes"), "copy='yes' must be True or False"),
     (lambda a: cm.tl.cluster(a, n_clusters=3, use_semantic=False, ensemble="x"),
      "ensemble='x' must be True or False"),
     (lambda a: cm.tl.cluster(a, n_clusters=3, use_semantic="no"),
      "use_semantic='no' must be True or False"),
     (lambda a: cm.tl.classify(a, "grp", per_class=3, refine=1), "refine=1 must be True or"),
     (lambda a: cm.tl.annotate(a, groupby="grp", candidates=["T cell", "B cell"], per_cell="yes"),
      "per_cell='yes' must be True or False")],
)  # fmt: skip
def test_a_switch_that_is_no_bool_is_refused_before_any_work(call, says):
    # A string is truthy: copy="no" would have copied, ensemble="x" turned the ensemble on.
    adata = _cells()
    before = adata.copy()
    with pytest.raises(UsageError, match=says):
        call(adata)
    assert sorted(adata.obsm) == sorted(before.obsm) and sorted(adata.uns) == sorted(before.uns)
    assert list(adata.obs.columns) == list(before.obs.columns)


def test_show_that_is_no_bool_is_refused():
    adata = _cells()
    adata.obsm["X_pca"] = np.random.default_rng(0).normal(size=(adata.n_obs, 3))
    with pytest.raises(UsageError, match="show='no' must be True, False or None"):
        cm.pl.umap(adata, "grp", rep="X_pca", show="no")
