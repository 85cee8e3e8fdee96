"""More hostile but realistic AnnData through the notebook API (`cm.tl`, `cm.pl`): a single gene,
a step run again on its own outputs, and plots saved where a file is or no folder is. Each
either works and leaves only this run's outputs, or is refused in words before any work."""

from __future__ import annotations

import anndata as ad
import matplotlib
import numpy as np
import pytest

import cellmodel as cm
from genekb.errors import UsageError
from tests.conftest import FAST_FIT, three_groups

matplotlib.use("Agg")


def test_equal_values_have_no_dip_and_no_singular_kernel():
    from cellmodel.cluster.moves import lowest_density_between

    # float32's mean of equal values rounds: np.std came out above 0 and the KDE raised
    # numpy's LinAlgError ("singular data covariance matrix").
    values = np.full(129, 0.3949769, np.float32)
    assert lowest_density_between(values, 0.3949769, 0.3949769) == 1.0


def test_clustering_again_drops_the_scores_names_and_explanation_of_the_old_clusters(
    one_torch_thread,
):
    from cellmodel.tools import explain_record

    adata = three_groups()
    cm.tl.cluster(adata, n_clusters=3, use_semantic=False, label_key="grp", **FAST_FIT)
    # What annotate and explain leave, kept short: the run's record of each, and the names.
    adata.uns["cellmodel"]["annotate"] = {"params": {"groupby": "cellmodel_cluster"}}
    adata.obs["cellmodel_annotation"] = "T cell"
    adata.obs["cellmodel_annotation_cell"] = "T cell"
    report = {"cluster_key": "cellmodel_cluster", "n_clusters": 3, "clusters": []}
    adata.uns["cellmodel_explain"] = explain_record(report)
    cm.tl.cluster(adata, n_clusters=2, use_semantic=False, seed=1, **FAST_FIT)
    record = adata.uns["cellmodel"]
    # The first run's scores read as the second's: label_key and metrics stayed.
    assert "metrics" not in record and "label_key" not in record and "annotate" not in record
    assert "cellmodel_explain" not in adata.uns
    assert list(adata.obs.columns) == ["grp", "cellmodel_cluster"]
    assert any("names of the previous clusters were removed" in n for n in record["notes"])


def test_clustering_again_keeps_the_names_of_other_groups(one_torch_thread, monkeypatch):
    import cellmodel.cluster.job as job

    adata = three_groups()
    adata.uns["cellmodel"] = {"annotate": {"params": {"groupby": "cellmodel_cluster"}}}
    adata.obs["cellmodel_annotation"] = "T cell"

    def stopped(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patched, pytest.raises(KeyboardInterrupt):
        patched.setattr(job, "fit_clusters", stopped)
        cm.tl.cluster(adata, n_clusters=3, use_semantic=False)
    assert "annotate" in adata.uns["cellmodel"] and "cellmodel_annotation" in adata.obs  # undone
    adata.uns["cellmodel"] = {"annotate": {"params": {"groupby": "grp"}}, "metrics": {"acc": 1.0}}
    cm.tl.cluster(adata, n_clusters=3, use_semantic=False, **FAST_FIT)
    assert adata.uns["cellmodel"]["annotate"] == {"params": {"groupby": "grp"}}
    assert "metrics" not in adata.uns["cellmodel"] and "cellmodel_annotation" in adata.obs


def test_clustering_a_view_again_drops_the_old_names_there_and_not_in_its_parent(
    one_torch_thread,
):
    parent = three_groups()
    parent.uns["cellmodel"] = {"annotate": {"params": {"groupby": "cellmodel_cluster"}}}
    view = parent[:45]
    cm.tl.cluster(view, n_clusters=3, use_semantic=False, **FAST_FIT)
    assert "annotate" not in view.uns["cellmodel"]  # a deletion from a view's uns was lost
    assert "annotate" in parent.uns["cellmodel"]


def _clustered() -> ad.AnnData:
    adata = three_groups()
    adata.obs["cluster"] = adata.obs["grp"]
    adata.obsm["X_rep"] = np.random.default_rng(0).random((adata.n_obs, 3))
    return adata


def test_save_replaces_a_file_and_creates_missing_folders(tmp_path):
    adata = _clustered()
    existing = tmp_path / "confusion.png"
    existing.write_bytes(b"an older picture")
    cm.pl.confusion(adata, "grp", "cluster", save=existing)  # matplotlib's and scanpy's way
    assert existing.read_bytes()[:4] == b"\x89PNG"
    nested = tmp_path / "figures" / "run1" / "confusion.pdf"
    cm.pl.confusion(adata, "grp", "cluster", save=nested)  # was "No such file or directory"
    assert nested.read_bytes()[:4] == b"%PDF"


@pytest.mark.parametrize(
    ("save", "says"),
    [("umap.docx", r"cannot write '\.docx' files"),
     ("folder.png", "is a folder; name a file in it"),
     ("a_file/umap.png", "a_file is a file, not a folder")],
)  # fmt: skip
def test_a_save_that_cannot_be_written_is_refused_before_the_layout(tmp_path, save, says):
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "a_file").write_text("not a folder")
    adata = _clustered()
    with pytest.raises(UsageError, match=says):  # the layout was computed (and kept) first
        cm.pl.umap(adata, "grp", rep="X_rep", save=tmp_path / save)
    assert "X_umap_cellmodel" not in adata.obsm


def test_annotate_and_embed_again_leave_no_output_of_the_last_run(tmp_path):
    adata = three_groups()
    store = tmp_path / "store"
    kwargs = {"groupby": "grp", "candidates": ["T cell", "B cell"], "model": "fake"}
    cm.tl.annotate(adata, store, per_cell=True, **kwargs)
    assert "cellmodel_annotation_cell" in adata.obs
    cm.tl.annotate(adata, store, **kwargs)
    assert list(adata.obs.columns) == ["grp", "cellmodel_annotation"]  # the per-cell calls stayed
    cm.tl.embed(adata, store, model="fake", sentence_top_n=3)
    cm.tl.embed(adata, store, model="fake", sentence_top_n=0)
    assert "X_semantic_s" not in adata.obsm  # the first run's sentence view stayed
