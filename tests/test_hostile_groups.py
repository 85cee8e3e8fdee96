"""Hostile group and label columns for `annotate`, `explain` and `classify`: numbers and
categoricals (whose order the outputs keep), values that read alike as text, and columns with
no group at all or with blank ones."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from cellmodel.annotate import annotate, report_of
from cellmodel.annotate.inputs import groups_of
from cellmodel.classify.pipeline import classify_cells
from cellmodel.explain import explain
from genekb.errors import GenekbError
from tests.conftest import blobs, one_line_error, run_cellmodel
from tests.test_annotate import ALPHA, BETA, DELTA, _islets, _planted, _TextEncoder

pytestmark = pytest.mark.filterwarnings(
    "ignore::cellmodel.annotate.signatures.UncheckedLineageWarning"
)
CANDIDATES = "type B pancreatic cell;pancreatic A cell;CL:0000173"


def _annotated(adata: ad.AnnData, groupby: str, fake_spec: object) -> ad.AnnData:
    return annotate(
        adata, _planted(fake_spec), groupby=groupby, candidates=[BETA, ALPHA, DELTA],
        n_markers=5, top_k=2, n_background=200, load_encoder=_TextEncoder, model="fake",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("column", "order"),
    [(pd.Categorical(np.repeat(["d", "b", "a"], 30), categories=["d", "z", "b", "a"]),
      ["d", "b", "a"]),
     (np.repeat([3, 1, 10], 30), ["1", "3", "10"]),
     (pd.array(np.repeat([3, 1, 10], 30), dtype="Int64"), ["1", "3", "10"])],
)  # fmt: skip
def test_annotate_keeps_a_categorical_s_order_and_numbers_by_value(
    fake_spec: object, column: object, order: list[str]
) -> None:
    # The groups were read as text, so the report and the calls' categories came in text
    # order (a, b, d; 1, 10, 3) where explain and the column itself say d, b, a; 1, 3, 10.
    adata = _islets()
    adata.obs["g"] = column
    out = _annotated(adata, "g", fake_spec)
    assert [e["group"] for e in report_of(out)["groups"]] == order
    called = {e["group"]: e["label"] for e in report_of(out)["groups"]}
    assert list(out.obs["cellmodel_annotation"].cat.categories) == [called[g] for g in order]
    assert [c["cluster"] for c in explain(adata, None, cluster_key="g")["clusters"]] == order


def test_the_command_line_keeps_the_order_of_groups_and_classes(tmp_path: Path) -> None:
    adata = _islets()
    adata.obs["g"] = pd.Categorical(adata.obs["kind"].astype(str), categories=["d", "b", "a"])
    source = tmp_path / "cells.h5ad"
    adata.write_h5ad(source)
    args = ["annotate", str(source), "--groupby", "g", "--root", str(tmp_path / "store")]
    result = run_cellmodel(*args, "--model", "fake", "--candidates", CANDIDATES, "--json")
    assert result.exit_code == 0, result.output
    assert [e["group"] for e in json.loads(result.stdout)["groups"]] == ["d", "b", "a"]
    out = tmp_path / "classified.h5ad"
    args = ["classify", str(source), "--label-key", "g", "--train-fraction", "0.5", "-o", str(out)]
    result = run_cellmodel(*args, "--no-refine", "--markers", "0")
    assert result.exit_code == 0, result.output
    # was a, b, d: the predictions' classes sorted as text, whatever the labels' order
    assert list(ad.read_h5ad(out).obs["cellmodel_pred"].cat.categories) == ["d", "b", "a"]


def test_classify_keeps_the_label_column_s_order_in_and_across_files() -> None:
    adata = blobs(20, dim=30, counts=True)
    adata.obs["n"] = adata.obs["group"].map({"0": 3, "1": 1, "2": 10}).astype(int)
    classify_cells(adata, label_key="n", train_fraction=0.5, refine_view=False)
    assert list(adata.obs["cellmodel_pred"].cat.categories) == ["1", "3", "10"]  # was 1, 10, 3
    query = blobs(20, dim=30, counts=True, seed=1)  # the same obs names as the reference's
    classify_cells(query, reference=adata, reference_label_key="n", refine_view=False)
    assert list(query.obs["cellmodel_pred"].cat.categories) == ["1", "3", "10"]
    assert list(query.obs_names) == list(adata.obs_names)


def _mixed(n_per: int = 30) -> np.ndarray:
    return np.array([1] * n_per + ["1"] * n_per + ["x"] * n_per, dtype=object)


def test_groups_that_read_alike_as_text_are_refused(fake_spec: object) -> None:
    # annotate merged 1 and '1' into one group of 60 cells; explain reported two clusters
    # both named '1'; classify trained and scored them as one class.
    adata = _islets()
    adata.obs["g"] = _mixed()
    says = "holds the {}s 1 and '1', which read alike as text; make the column one kind"
    with pytest.raises(GenekbError, match=says.format("group")):
        _annotated(adata, "g", fake_spec)
    with pytest.raises(GenekbError, match=says.format("cluster")):
        explain(adata, None, cluster_key="g")
    cells = blobs(20, dim=30, counts=True)
    cells.obs["g"] = _mixed(20)
    with pytest.raises(GenekbError, match="the labels 1 and '1' are different values that read"):
        classify_cells(cells, label_key="g", train_fraction=0.5, refine_view=False)
    cells.obs["g"] = np.array([True] * 30 + ["True"] * 30, dtype=object)
    with pytest.raises(GenekbError, match="the labels True and 'True'"):
        classify_cells(cells, label_key="g", train_fraction=0.5, refine_view=False)


def test_a_column_with_no_group_says_so_rather_than_to_pass_the_others(tmp_path: Path) -> None:
    adata = _islets()
    adata.obs["none"] = np.nan
    adata.obs["blank"] = np.repeat(["", "a", "b"], 30)
    with pytest.raises(GenekbError, match=r"obs\['none'\] holds no groups \(every value is"):
        groups_of(adata, "none")  # was "no group for 90 of 90 cell(s) ... pass the others only"
    # A blank name was a group named '' (a report section without a name); notna() keeps it,
    # so the hint to pass the others only is not given as code.
    says = r"no cluster for 30 of 90 cell\(s\) \(missing or blank\)"
    with pytest.raises(GenekbError, match=says) as caught:
        explain(adata, None, cluster_key="blank")
    assert "notna" not in str(caught.value)
    source = tmp_path / "cells.h5ad"
    adata.write_h5ad(source)
    line = one_line_error(run_cellmodel("explain", str(source), "--cluster-key", "none"))
    assert "obs['none'] holds no clusters (every value is missing or blank)" in line
    line = one_line_error(run_cellmodel("annotate", str(source), "--groupby", "blank"))
    assert "obs['blank'] has no group for 30 of 90 cell(s)" in line


def test_out_of_core_transfer_keeps_the_reference_s_order(tmp_path: Path) -> None:
    pytest.importorskip("dask")
    from cellmodel.chunked import embed_h5ad
    from cellmodel.chunked.classify import classify_h5ad
    from cellmodel.datasets.synthetic import write_synthetic_h5ad
    from tests.fakes import FakeEmbedding

    counts = write_synthetic_h5ad(tmp_path / "cells.h5ad", 300, n_genes=60, n_groups=3, seed=3)
    reference = ad.read_h5ad(counts)
    ev = FakeEmbedding(tmp_path, list(reference.var_names), dim=16)
    query = tmp_path / "query.h5ad"
    embed_h5ad(counts, ev, output=query, chunk_size=100, n_hvg=40)
    order = sorted(reference.obs["group"].astype(str).unique(), reverse=True)
    reference.obs["group"] = pd.Categorical(reference.obs["group"].astype(str), categories=order)
    out = tmp_path / "pred.h5ad"
    classify_h5ad(
        query, reference, output=out, reference_label_key="group", store=ev, chunk_size=100,
        workers=1,
    )  # fmt: skip
    assert list(ad.read_h5ad(out).obs["cellmodel_pred"].cat.categories) == order


@pytest.mark.parametrize(
    ("labels", "says"),
    [([f"c{i}" for i in range(60)], "gives each of its 60 labelled cells a class of its own"),
     ([np.nan] * 60, r"holds no labels \(every value is missing or blank\); choose the column")],
)  # fmt: skip
def test_labels_that_name_no_cell_types_are_refused_in_words(labels: list, says: str) -> None:
    # A copy of the cell ids was "class 'c0' has 1 cell(s) but 2 are needed ... (and 59 more);
    # ... or cap them", and capping then failed; no labels at all said "label cells of a
    # second class".
    cells = blobs(20, dim=30, counts=True)
    cells.obs["label"] = labels
    with pytest.raises(GenekbError, match=says):
        classify_cells(cells, label_key="label", per_class=1, refine_view=False)


def test_explain_says_why_a_cluster_of_empty_cells_has_no_markers(tmp_path: Path) -> None:
    adata = blobs(20, dim=30, counts=True)
    adata.X[(adata.obs["group"] == "2").to_numpy()] = 0.0
    source = tmp_path / "cells.h5ad"
    adata.write_h5ad(source)
    result = run_cellmodel("explain", str(source), "--cluster-key", "group", "--json")
    assert result.exit_code == 0, result.output
    entry = json.loads(result.stdout)["clusters"][2]
    assert "markers" not in entry or entry["markers"] == []
    assert "its 20 cells hold no counts in the genes read" in entry["note"]  # was no word


def test_the_confusion_matrix_draws_no_class_of_the_unlabelled_and_keeps_the_order() -> None:
    from cellmodel.pl import confusion_table

    labels = pd.Series(pd.Categorical(["b", "b", "a", None, "a", "c"], categories=["c", "b", "a"]))
    table = confusion_table(labels, ["1", "1", "2", "2", "2", "3"])
    assert list(table.index) == ["c", "b", "a"]  # was a, b, c and a row named 'nan'
    assert table.to_numpy().sum() == 5
    numbers = confusion_table(pd.Series([3.0, 3.0, 1.0, np.nan, 10.0]), ["x", "x", "y", "y", "z"])
    assert list(numbers.index) == ["1", "3", "10"]  # by value; 1.0 is the class "1" (class_order)


def test_umap_keeps_the_groups_order_and_draws_missing_values_as_na() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import cellmodel as cm

    adata = ad.AnnData(np.zeros((40, 2), np.float32))
    adata.obsm["X_cellmodel"] = np.random.default_rng(0).normal(size=(40, 5))
    groups = np.repeat(["a", "b", "z", None], 10)
    adata.obs["g"] = pd.Categorical(groups, categories=["z", "unused", "b", "a"])
    ax = cm.pl.umap(adata, "g", show=False)
    ax = ax[0] if isinstance(ax, (list, tuple, np.ndarray)) else ax
    # was a, b, nan, z: the groups sorted as text and the missing drawn as a group named 'nan'
    assert ax.get_legend_handles_labels()[1] == ["z", "b", "a", "NA"]


def test_a_blank_label_is_no_class_in_the_scores_either() -> None:
    from cellmodel.metrics import check_labels, cluster_metrics

    labels = pd.Series(["a"] * 4 + ["b"] * 4 + ["", " "])
    assert check_labels(labels, "kind").tolist() == [True] * 8 + [False, False]
    # was 3 classes: the two blank cells were the class '' (and ' '), which classify, annotate
    # and explain do not count
    assert cluster_metrics(labels, ["1"] * 4 + ["2"] * 4 + ["3", "3"])["acc"] == 1.0
    with pytest.raises(GenekbError, match="holds no labels \\(every value is missing or blank\\)"):
        check_labels(pd.Series(["", " ", ""]), "kind")


def test_groups_that_no_gene_tells_apart_are_left_unnamed(fake_spec: object) -> None:
    from genekb.errors import GenekbWarning

    adata = _islets()
    adata.X[:] = 5.0  # every gene the same in every cell: no group has a marker
    said = "groups 'a', 'b', 'd' of obs\\['kind'\\] left unassigned: no gene"  # one line for all
    with pytest.warns(GenekbWarning, match=said):
        out = _annotated(adata, "kind", fake_spec)
    # each was called CL:0000169, the first candidate, at score 0 and margin 0
    assert [e["label"] for e in report_of(out)["groups"]] == [None, None, None]
    assert set(out.obs["cellmodel_annotation"]) == {"unassigned"}
    notes = [c.get("note") for c in explain(adata, None, cluster_key="kind")["clusters"]]
    assert notes == ["no gene is higher in these cells than in the rest"] * 3  # was no word
