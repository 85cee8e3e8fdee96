"""A notebook that mixes scanpy and cellmodel on one AnnData: what cellmodel leaves must be what
scanpy expects (copies that are copies, its graph and its marks kept), and what scanpy leaves
must be read right or refused in words."""

from __future__ import annotations

import re
from contextlib import nullcontext

import anndata as ad
import numpy as np
import pytest

import cellmodel as cm
from cellmodel.arguments import UnlabelledCellsWarning
from genekb.errors import GenekbError, UsageError
from tests.conftest import FAST_FIT, three_groups


def _scanpy_state(adata: ad.AnnData) -> None:
    """What sc.pp.pca and sc.pp.neighbors leave: obsm, obsp and their records in uns."""
    rng = np.random.default_rng(1)
    adata.obsm["X_pca"] = rng.random((adata.n_obs, 5))
    graph = np.eye(adata.n_obs, k=1)
    adata.obsp["connectivities"] = graph
    adata.obsp["distances"] = graph
    adata.uns["neighbors"] = {
        "connectivities_key": "connectivities",
        "distances_key": "distances",
        "params": {"n_neighbors": 15, "method": "umap"},
    }


def test_normalize_copy_of_raw_genes_is_a_copy_that_keeps_the_graph():
    adata = three_groups()
    adata.raw = adata  # the counts, all genes; X then 8 genes scaled (sc.pp.scale of the HVGs)
    adata = adata[:, :8].copy()
    adata.X = adata.X - adata.X.mean(axis=0)
    _scanpy_state(adata)
    out = cm.pp.normalize(adata, copy=True)
    assert out.n_vars == 12
    # The neighbour graph was dropped while uns['neighbors'] still named it: sc.tl.umap and
    # sc.tl.leiden failed on the copy ("No 'connectivities' in .obsp").
    assert set(out.obsp) == {"connectivities", "distances"}
    # obsm arrays and uns dicts were the original's own objects: an edit of one edited both.
    out.obsm["X_pca"][0, 0] = 99.0
    out.uns["neighbors"]["params"]["n_neighbors"] = 5
    assert adata.obsm["X_pca"][0, 0] != 99.0
    assert adata.uns["neighbors"]["params"]["n_neighbors"] == 15


def test_normalize_marks_the_log_as_scanpy_does():
    adata = three_groups()
    cm.pp.normalize(adata)
    # Without scanpy's mark, a following sc.pp.log1p took the log again without its warning.
    assert adata.uns["log1p"] == {"base": None}
    logged = adata.copy()
    del logged.uns["log1p"]
    cm.pp.normalize(logged)  # values already on the log scale: nothing taken, nothing marked
    assert "log1p" not in logged.uns


@pytest.mark.parametrize("missing", ["Unknown", ""])
def test_classify_hint_for_unlabelled_cells_names_a_mask_that_works(missing):
    adata = three_groups()
    labels = adata.obs["grp"].astype(str).to_numpy(dtype=object)
    labels[::2] = missing
    labels[1::6] = None
    adata.obs["few"] = labels
    with pytest.raises(UsageError, match="have no label") as caught:
        cm.tl.classify(adata, "few", refine=False)
    # The hint was "(adata.obs['few'].notna())", which marks the "Unknown" cells as labelled:
    # following it was refused again ("training cell(s) have no label").
    hint = re.search(r"where a cell has one \((.*)\)$", str(caught.value)).group(1)
    mask = eval(hint, {"adata": adata})
    with pytest.warns(UnlabelledCellsWarning) if missing else nullcontext():
        cm.tl.classify(adata, "few", train_mask=mask.to_numpy(), refine=False)
    assert adata.obs["cellmodel_pred_train"].sum() == int(mask.sum()) > 0


def test_annotate_does_not_replace_a_scanpy_record_under_its_key(tmp_path):
    adata = three_groups()
    _scanpy_state(adata)
    kwargs = {"groupby": "grp", "candidates": ["T cell", "B cell"], "model": "fake"}
    # uns['neighbors'] was replaced by the report: sc.tl.umap then found no graph's keys.
    with pytest.raises(UsageError, match=r"would overwrite uns\['neighbors'\]"):
        cm.tl.annotate(adata, tmp_path / "store", key_added="neighbors", **kwargs)
    assert adata.uns["neighbors"]["connectivities_key"] == "connectivities"
    assert "neighbors" not in adata.obs
    cm.tl.annotate(adata, tmp_path / "store", key_added="names", **kwargs)
    cm.tl.annotate(adata, tmp_path / "store", key_added="names", **kwargs)  # its own: again
    assert "names" in adata.obs and "report_json" in adata.uns["names"]


def test_normalize_never_writes_raw_values_under_other_genes_of_x():
    adata = three_groups()
    adata.var["gene_symbols"] = [f"S{i}" for i in range(adata.n_vars)]
    adata.raw = adata
    adata = adata[:, adata.var_names[::-1]].copy()  # X's genes reordered; .raw keeps its order
    adata.X = adata.X - adata.X.mean(axis=0)  # scaled: the values come from .raw
    # With gene_key, the same count of genes passed as X's genes: gene G11's column got G0's.
    with pytest.raises(UsageError, match="whose genes are not X's"):
        cm.pp.normalize(adata, gene_key="gene_symbols")
    out = cm.pp.normalize(adata, gene_key="gene_symbols", copy=True)
    assert list(out.var_names) == list(adata.raw.var_names)


def test_values_scaled_without_centring_are_not_read_as_log_values():
    import scanpy as sc

    adata = three_groups(90)
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    scaled = sc.pp.scale(adata, zero_center=False, max_value=10, copy=True)
    # No negative value is left, so they passed as log-normalized and were clustered as such.
    with pytest.raises(GenekbError, match=r"holds scaled values \(sc.pp.scale"):
        cm.pp.normalize(scaled)
    scaled.raw = adata  # where scanpy keeps the log values: read from there, as for centred X
    out = cm.pp.normalize(scaled, copy=True)
    assert out.uns["cellmodel_pp"]["source"] == "raw"
    np.testing.assert_allclose(out.X, adata.X, rtol=1e-6)


def test_clustering_again_drops_scanpys_results_on_the_old_clusters(one_torch_thread):
    import scanpy as sc

    adata = three_groups()
    cm.tl.cluster(adata, n_clusters=3, use_semantic=False, **FAST_FIT)
    sc.tl.rank_genes_groups(adata, "cellmodel_cluster", method="t-test")
    sc.tl.rank_genes_groups(adata, "grp", method="t-test", key_added="rank_grp")
    sc.tl.dendrogram(adata, "cellmodel_cluster")
    cm.tl.cluster(adata, n_clusters=2, use_semantic=False, seed=1, **FAST_FIT)
    # They stayed: sc.pl.rank_genes_groups_dotplot drew the old clusters' markers as the new ones'.
    assert "rank_genes_groups" not in adata.uns
    assert "dendrogram_cellmodel_cluster" not in adata.uns
    assert "rank_grp" in adata.uns  # of another grouping: kept
    assert any("scanpy's results" in note for note in adata.uns["cellmodel"]["notes"])


def test_a_gene_key_missing_from_raw_names_the_genes_raw_has():
    adata = three_groups()
    adata.raw = adata  # set before the ids: .raw's var keeps the symbols as its names
    adata.var["gene_symbols"] = adata.var_names.astype(str)
    adata.var_names = [f"id{i}" for i in range(adata.n_vars)]
    adata.X = adata.X - adata.X.mean(axis=0)  # scaled: the values come from .raw
    # Said only "columns: none", though the column is in var and .raw names the genes itself.
    said = r"not of raw\.var.*leave out gene_key= to map raw's var names"
    with pytest.raises(GenekbError, match=said):
        cm.pp.normalize(adata, gene_key="gene_symbols", copy=True)


def test_annotating_again_drops_scanpys_results_on_the_last_names(tmp_path):
    import scanpy as sc

    adata = three_groups()
    kwargs = {"groupby": "grp", "model": "fake"}
    cm.tl.annotate(adata, tmp_path / "store", candidates=["T cell", "B cell", "NK cell"], **kwargs)
    sc.tl.rank_genes_groups(adata, "cellmodel_annotation", method="t-test")
    cm.tl.annotate(adata, tmp_path / "store", candidates=["T cell", "B cell"], **kwargs)
    # The markers of the last names' cells stayed under names that now group other cells.
    assert "rank_genes_groups" not in adata.uns


def test_classifying_again_drops_scanpys_results_on_the_last_predictions():
    import scanpy as sc

    adata = three_groups()
    cm.tl.classify(adata, "grp", per_class=5, refine=False)
    sc.tl.rank_genes_groups(adata, "cellmodel_pred", method="t-test")
    cm.tl.classify(adata, "grp", per_class=8, refine=False, seed=1)
    assert "rank_genes_groups" not in adata.uns  # the last predictions' markers stayed


def test_clustering_again_drops_scanpys_graph_on_the_old_latent(one_torch_thread):
    import scanpy as sc

    adata = three_groups()
    cm.tl.cluster(adata, n_clusters=3, use_semantic=False, **FAST_FIT)
    sc.pp.neighbors(adata, use_rep="X_cellmodel", n_neighbors=5)
    sc.pp.neighbors(adata, use_rep="X", n_neighbors=5, key_added="on_x")
    cm.tl.cluster(adata, n_clusters=2, use_semantic=False, seed=1, **FAST_FIT)
    # The old latent's graph stayed: sc.tl.leiden and sc.tl.umap read it as the new one's.
    assert "neighbors" not in adata.uns and "connectivities" not in adata.obsp
    assert "on_x" in adata.uns and "on_x_connectivities" in adata.obsp  # on X: kept
    assert any("sc.pp.neighbors again" in note for note in adata.uns["cellmodel"]["notes"])
