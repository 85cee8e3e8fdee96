"""Hostile cells for `annotate`, `classify` and `cluster`: groups of a cell or two, labels
stored as floats, references whose genes half match, hundreds of classes, more clusters than
cells, and data a new user might hand over as it came."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from cellmodel.annotate import annotate, report_of
from cellmodel.annotate.naming import SmallGroupWarning
from cellmodel.annotate.report import to_markdown
from cellmodel.arguments import class_order
from cellmodel.classify.labels import UnseenClassesWarning
from cellmodel.classify.pipeline import classify_cells
from cellmodel.classify.views import FewSharedGenesWarning, shared_expression
from cellmodel.pl.confusion import confusion_table
from genekb.errors import GenekbError, UsageError
from tests.conftest import blobs, one_line_error, run_cellmodel
from tests.test_annotate import ALPHA, BETA, DELTA, _islets, _planted, _TextEncoder

pytestmark = pytest.mark.filterwarnings(
    "ignore::cellmodel.annotate.signatures.UncheckedLineageWarning"
)


def _named(adata: ad.AnnData, groupby: str, fake_spec: object) -> ad.AnnData:
    return annotate(
        adata, _planted(fake_spec), groupby=groupby, candidates=[BETA, ALPHA, DELTA],
        n_markers=5, top_k=2, n_background=200, load_encoder=_TextEncoder, model="fake",
    )  # fmt: skip


def test_groups_of_one_or_two_cells_are_left_unnamed_and_small_ones_said(fake_spec) -> None:
    # A group of 2 beta cells was called delta with a margin of 1.3: one cell's noise, named.
    adata = _islets()
    g = adata.obs["kind"].astype(str).to_numpy().copy()
    g[:2], g[30:35] = "x", "y"
    adata.obs["g"] = pd.Categorical(g)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = _named(adata, "g", fake_spec)
    groups = {e["group"]: e for e in report_of(out)["groups"]}
    assert groups["x"]["label"] is None and groups["x"]["cl_id"] is None
    assert groups["x"]["not_named"].startswith("only 2 cells: too few for markers")
    assert (out.obs["cellmodel_annotation"].astype(str)[:2] == "unassigned").all()
    assert groups["y"]["label"] is not None and groups["y"]["few_cells"] is True
    assert groups["b"]["few_cells"] is False and "not_named" not in groups["b"]
    small = [str(w.message) for w in caught if issubclass(w.category, SmallGroupWarning)]
    assert len(small) == 1 and "'y' (5)" in small[0] and "'x'" not in small[0]
    text = to_markdown(report_of(out))
    assert "Small group: named from 5 cells only" in text


def test_a_reference_labelled_in_floats_scores_a_query_labelled_in_integers() -> None:
    # The reference's 1.0, 2.0 and the query's 1, 2 were other classes: every cell "wrong",
    # accuracy 0 and the warning that no scored class is a training class.
    ref, query = blobs(30, counts=True, dim=30, seed=0), blobs(15, counts=True, dim=30, seed=1)
    ref.obs["t"] = ref.obs["group"].astype(int).astype(float) + 1.0
    query.obs["t"] = query.obs["group"].astype(int) + 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnseenClassesWarning)
        result = classify_cells(query, label_key="t", reference=ref, view="pca")
    assert result.scores.accuracy == 1.0
    assert list(query.obs["cellmodel_pred"].cat.categories) == ["1", "2", "3"]
    assert class_order(ref.obs["t"]) == ["1", "2", "3"]
    # the confusion matrix's rows, which follow class_order, of a float column
    query.obs["t"] = query.obs["t"].astype(float)
    table = confusion_table(query.obs["t"], query.obs["cellmodel_pred"])
    assert list(table.index) == ["1", "2", "3"] and int(np.trace(table.to_numpy())) == 45


def test_a_low_gene_match_is_said_once_per_file_and_names_the_file(tmp_path) -> None:
    # Both files matched a third of their genes: "only 33.3% of genes matched the human store"
    # twice, the same words, neither saying which file it was about.
    from cellmodel.datasets.synthetic import synthetic_symbols
    from genekb.build import build
    from genekb.store.store import Store
    from tests.conftest import make_genes

    root = tmp_path / "store"
    build(Store.open(root, create=True), model="fake", gene_table=make_genes(60))
    names = list(synthetic_symbols(60))[:20] + [f"FOO{i}" for i in range(40)]
    paths = []
    for seed, stem in ((0, "ref"), (1, "query")):
        cells = blobs(25 if seed == 0 else 10, dim=60, seed=seed, counts=True)
        cells.var_names = names
        paths.append(tmp_path / f"{stem}.h5ad")
        cells.write_h5ad(paths[-1])
    result = run_cellmodel(
        "classify", str(paths[1]), "--reference", str(paths[0]), "--label-key", "group",
        "--view", "fused", "--model", "fake", "--root", str(root), "--no-refine", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    said = [ln for ln in result.stderr.splitlines() if "of genes matched" in ln]
    assert len(said) == 2, said
    assert {ln.split(": ")[1] for ln in said} == {str(p) for p in paths}


def test_a_confusion_of_hundreds_of_classes_draws_the_largest_and_pools_the_rest() -> None:
    # 300 classes were drawn whole: a 300 × 300 picture with a count in each cell, ~19 s.
    import matplotlib

    matplotlib.use("Agg")
    from cellmodel.pl.confusion import MAX_DRAWN, confusion

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 300, 3000).astype(str)
    adata = ad.AnnData(np.zeros((3000, 2), np.float32))
    adata.obs["t"] = pd.Categorical(truth)
    adata.obs["p"] = pd.Categorical(np.where(rng.random(3000) < 0.8, truth, "0"))
    ax = confusion(adata, "t", key="p", show=False)
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert len(rows) == MAX_DRAWN + 1 and rows[-1] == f"other ({300 - MAX_DRAWN})"
    assert len(ax.get_xticklabels()) <= MAX_DRAWN + 1
    assert "largest of 300 classes" in ax.get_title() and "pooled" in ax.get_title()
    assert sum(int(t.get_text()) for t in ax.texts) == 3000  # every cell still counted


def _never(*args: object, **kwargs: object) -> None:
    raise AssertionError("reached the load before the refusal")


@pytest.mark.parametrize(("k", "said"), [("30", "between 1 and the 24 cells"), ("24", "equals")])
def test_k_at_or_past_the_cells_is_refused_before_the_file_is_read(
    tmp_path, monkeypatch, k: str, said: str
) -> None:
    # Refused (exit 2) only once the whole file was read: minutes for a large one.
    path = tmp_path / "cells.h5ad"
    blobs(8, counts=True).write_h5ad(path)
    monkeypatch.setattr("cli.cluster_cmd.load_input", _never)
    monkeypatch.setattr("cli.cluster_chunked.run_chunked", _never)
    for extra in ([], ["--chunk-size", "10"]):
        line = one_line_error(
            run_cellmodel("cluster", str(path), "--no-semantic", "-k", k, *extra), 2
        )
        assert said in line and "--n-clusters" in line


@pytest.mark.parametrize("genes_in_x", [0, 20])
def test_an_x_left_empty_beside_the_data_in_raw_names_raw(tmp_path, genes_in_x: int) -> None:
    # "holds only zeros ... choose another layer with --layer": which layer, the user had to find.
    cells = blobs(10, counts=True)
    empty = ad.AnnData(np.zeros((cells.n_obs, genes_in_x), np.float32), obs=cells.obs)
    empty.var_names = cells.var_names[:genes_in_x]
    empty.raw = cells
    path = tmp_path / "raw_only.h5ad"
    empty.write_h5ad(path)
    line = one_line_error(run_cellmodel("explain", str(path), "--cluster-key", "group"))
    assert line.endswith("with --layer (layers present: raw)"), line


def test_a_reference_of_versioned_ensembl_ids_shares_its_genes_with_a_query_without() -> None:
    # "reference and query share 0 gene name(s); check gene_key= on both": the same genes, one
    # file writing GENCODE's versions (and a stray space), the other not.
    ref, query = blobs(30, counts=True, dim=30, seed=0), blobs(15, counts=True, dim=30, seed=1)
    ref.var_names = [f"ENSG{i:011d}.{i % 5 + 1}" for i in range(30)]
    query.var_names = [f"ENSG{i:011d} " for i in range(30)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FewSharedGenesWarning)
        result = classify_cells(query, label_key="group", reference=ref, view="pca")
    assert result.scores.accuracy == 1.0
    # names that the key would make one are matched as written
    ref.var_names = ["ENSG00000000001.1", "ENSG00000000001.2", *ref.var_names[2:]]
    query.var_names = ref.var_names
    assert shared_expression(ref, query)[2] == list(ref.var_names)


def test_groups_all_under_three_cells_are_refused_before_any_scoring() -> None:
    # Each group was left unnamed, one warning apiece, after the store and the encoder had run.
    adata = _islets()[[0, 1, 30, 31, 60, 61]].copy()
    with pytest.raises(GenekbError, match=r"every group of obs\['kind'\] has fewer than 3 cells"):
        annotate(adata, None, groupby="kind", candidates=[BETA, ALPHA, DELTA])  # type: ignore[arg-type]


def test_a_semantic_view_of_text_is_refused_in_the_projects_words() -> None:
    # obsm["X_semantic"] of strings: numpy's "could not convert string to float" (ValueError).
    cells = blobs(30, counts=True, dim=30)
    cells.obsm["X_semantic"] = np.array([["x"] * 3] * cells.n_obs)
    with pytest.raises(UsageError, match="must be a cells × features matrix of numbers"):
        classify_cells(cells, label_key="group", per_class=5, view="semantic")


def test_a_umap_of_hundreds_of_groups_names_the_largest_in_its_legend(monkeypatch) -> None:
    # 300 legend entries in one column: the plot squeezed to nothing ("constrained_layout not
    # applied because axes sizes collapsed to zero", matplotlib's own warning) and no name legible.
    import matplotlib

    matplotlib.use("Agg")
    import cellmodel as cm
    from cellmodel._settings import MAX_DRAWN
    from cellmodel.pl import embedding

    rng = np.random.default_rng(0)
    adata = ad.AnnData(np.zeros((3000, 2), np.float32))
    adata.obs["t"] = pd.Categorical(rng.integers(0, 300, 3000).astype(str))
    xy = rng.normal(size=(3000, 2))
    monkeypatch.setattr(embedding, "_coordinates", lambda *args: xy)
    from cellmodel.pl.colours import SharedColourWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Past the palette's 102 colours the groups share colours, and say so; nothing else warns
        warnings.simplefilter("ignore", SharedColourWarning)
        ax = cm.pl.umap(adata, "t", show=False)
        ax.figure.canvas.draw()  # the layout runs (and warned) here
    assert len(ax.get_legend().get_texts()) == MAX_DRAWN
    assert ax.get_title() == f"t (legend: the {MAX_DRAWN} largest of 300)"


def test_the_out_of_core_classify_says_a_gene_match_warning_is_the_references(tmp_path) -> None:
    # Only the reference is embedded there; its low gene match was said with no file named.
    pytest.importorskip("dask")
    from cellmodel.chunked import embed_h5ad
    from cellmodel.chunked.classify import classify_h5ad
    from cellmodel.datasets.synthetic import write_synthetic_h5ad
    from cellmodel.knowledge.genes import LowMatchWarning
    from tests.fakes import FakeEmbedding

    counts = write_synthetic_h5ad(tmp_path / "cells.h5ad", 300, n_genes=120, seed=1)
    whole = ad.read_h5ad(counts)
    ev = FakeEmbedding(tmp_path, list(whole.var_names), dim=16)
    query = tmp_path / "query.h5ad"
    embed_h5ad(counts, ev, output=query, chunk_size=150, n_hvg=60)
    whole.var_names = [f"FOO{i}" if i % 3 else g for i, g in enumerate(whole.var_names)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        classify_h5ad(
            query, whole, output=tmp_path / "pred.h5ad", reference_label_key="group",
            store=ev, chunk_size=150, workers=1,
        )  # fmt: skip
    said = [str(w.message) for w in caught if issubclass(w.category, LowMatchWarning)]
    assert len(said) == 1 and said[0].startswith("the reference: only "), said
