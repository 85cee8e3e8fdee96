"""Hostile input to few-label classification and label transfer (`cellmodel classify`,
`cm.tl.classify`): what a user brings, from partly labelled files to another species' genes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import blobs, one_line_error, run_cellmodel

QUIET = ("--no-refine", "--markers", "0")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A labelled file, and the same cells where only a third are labelled (the `train` column
    says which): the rest are the cells to predict."""
    folder = tmp_path_factory.mktemp("hostile_classify")
    cells = blobs(20, dim=30, counts=True)
    paths = {name: folder / f"{name}.h5ad" for name in ("cells", "partial")}
    cells.write_h5ad(paths["cells"])
    part = cells.copy()
    train = np.arange(part.n_obs) % 3 == 0
    part.obs["train"] = train
    part.obs["group"] = pd.Categorical(part.obs["group"].astype(object).where(train))
    part.write_h5ad(paths["partial"])
    return paths


def test_the_json_keeps_its_keys_when_nothing_is_scored(files):
    # Predicting the unlabelled cells of a file scores none of them: "accuracy", "macro_f1" and
    # "scores" vanished from the JSON (an .h5ad's uns keeps no None), so `doc["accuracy"]` failed.
    scored = run_cellmodel("classify", str(files["cells"]), "--label-key", "group",
                           "--per-class", "5", *QUIET, "--json")  # fmt: skip
    unscored = run_cellmodel("classify", str(files["partial"]), "--label-key", "group",
                             "--train-mask", "train", *QUIET, "--json")  # fmt: skip
    assert scored.exit_code == 0 and unscored.exit_code == 0, unscored.output
    full, empty = json.loads(scored.stdout), json.loads(unscored.stdout)
    assert set(empty) == set(full)
    assert empty["accuracy"] is None and empty["macro_f1"] is None and empty["scores"] is None
    assert empty["n_scored"] == 0 and set(empty["params"]) == set(full["params"])


HUMAN = ["CD3E", "CD3D", "CD4", "CD8A", "MS4A1", "CD19", "CD14", "LYZ", "INS", "GCG", "ALB"]
HUMAN += ["HBB", "KRT18", "COL1A1", "MYH7", "TTN", "ACTB", "GAPDH", "PTPRC", "NKG7", "GNLY"]
HUMAN += ["FCGR3A", "CST3", "PPBP", "IL7R", "CCR7", "S100A8", "S100A9", "FOXP3", "CD79A"]


def test_a_human_reference_and_a_mouse_query_are_told_apart(tmp_path):
    # CD3E against Cd3e: "reference and query share 0 gene name(s); check --gene-key on both",
    # though no gene key helps and the two files are two species.
    reference, query = blobs(20, dim=30, counts=True), blobs(20, dim=30, counts=True, seed=1)
    reference.var_names = HUMAN
    query.var_names = [g[0] + g[1:].lower() for g in HUMAN]
    paths = tmp_path / "human.h5ad", tmp_path / "mouse.h5ad"
    reference.write_h5ad(paths[0])
    query.write_h5ad(paths[1])
    args = ["classify", str(paths[1]), "--reference", str(paths[0]), "--label-key", "group"]
    line = one_line_error(run_cellmodel(*args, *QUIET))
    assert "30 match ignoring case, written 'CD3E' in the reference and 'Cd3e' in the query" in line
    assert "the reference's names read as human genes, the query's as mouse" in line
    assert "orthologs" in line and "--gene-key" in line


def test_a_copy_of_the_reference_as_query_is_warned_of(files, tmp_path):
    # Only the same path was warned of: a copy of the file (or the AnnData itself in Python)
    # scored 1.0 without a word, each cell voting for its own label.
    import anndata as ad

    import cellmodel as cm
    from cellmodel.classify.views import ReferenceCellsWarning

    copy = tmp_path / "copy.h5ad"
    copy.write_bytes(files["cells"].read_bytes())
    args = ["classify", str(copy), "--reference", str(files["cells"]), "--label-key", "group"]
    result = run_cellmodel(*args, *QUIET)
    assert result.exit_code == 0, result.output
    assert "60 of 60 query cells are cells of the reference" in result.stderr
    adata = ad.read_h5ad(files["cells"])
    with pytest.warns(ReferenceCellsWarning, match="drop reference= and give train_fraction="):
        cm.tl.classify(adata, "group", reference=adata.copy(), refine=False, n_markers=0)


def _labels_file(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def test_labels_kept_in_a_csv_beside_a_table_classify_it(files, tmp_path):
    # A CSV of counts or a 10x folder holds no labels, and classify read them only from obs:
    # "--label-key 'cell_type' is not an obs column; choose from: none", with no way to give them.
    import anndata as ad

    cells = ad.read_h5ad(files["cells"])
    table = tmp_path / "cells.csv"
    pd.DataFrame(cells.X, index=cells.obs_names, columns=cells.var_names).to_csv(table)
    pairs = [f" {c} , type {g}" for c, g in zip(cells.obs_names, cells.obs["group"], strict=True)]
    labels = _labels_file(tmp_path / "labels.csv", ["cell,cell_type", *pairs, "c999,type 0"])
    out = tmp_path / "out.h5ad"
    args = ["classify", str(table), "--labels", str(labels), "--per-class", "5", "-o", str(out)]
    result = run_cellmodel(*args, *QUIET, "--json")
    assert result.exit_code == 0, result.output
    assert "1 of its 61 cell ids name no cell of the data (e.g. 'c999')" in result.stderr
    assert json.loads(result.stdout)["n_scored"] == 45
    written = ad.read_h5ad(out)
    assert (written.obs["cell_type"] == "type " + cells.obs["group"].astype(str)).all()


@pytest.mark.parametrize(
    ("lines", "says"),
    [
        (["cell,cell_type", "c0,a", "c1,b", "c0,b"], "gives cell 'c0' two labels ('a' and 'b')"),
        (["cell,cell_type", "C0,a", "C1,b"], "match the data's only ignoring case ('C0' in the"),
        (["cell,cell_type", "s1_c0,a"], "none of its 1 cell ids names a cell of the data (the"),
        (["cell,donor,cell_type", "c0,d1,a"], "has 3 columns; choose the label column, one of"),
        (["cell," + ",".join(f"g{i}" for i in range(30)), "c0" + ",1" * 30], "… (30 in all)"),
    ],
)
def test_a_labels_file_that_cannot_be_matched_is_refused_in_words(files, tmp_path, lines, says):
    labels = _labels_file(tmp_path / "labels.csv", lines)
    args = ["classify", str(files["cells"]), "--labels", str(labels), "--per-class", "2"]
    line = one_line_error(run_cellmodel(*args, *QUIET))
    assert says in line and "--label-key" in line if "columns" in says else says in line


def test_the_confusion_of_a_classifier_keeps_each_class_under_its_own_name():
    # The columns were ordered by a Hungarian match, as for clusters: a classifier that called
    # every 'a' cell 'b' and every 'b' cell 'a' drew a full diagonal, every call looking right.
    import anndata as ad
    import matplotlib

    matplotlib.use("Agg")
    import cellmodel as cm

    adata = ad.AnnData(np.zeros((6, 2), np.float32))
    adata.obs["truth"] = pd.Categorical(["a", "a", "b", "b", "c", "c"])
    adata.obs["cellmodel_pred"] = pd.Categorical(["b", "b", "a", "a", "c", "c"])
    adata.obs["cellmodel_pred_train"] = False
    ax = cm.pl.confusion(adata, "truth", key="cellmodel_pred", show=False)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    drawn = {(round(t.get_position()[1]), round(t.get_position()[0])) for t in ax.texts}
    assert drawn == {(0, 1), (1, 0), (2, 2)}  # a called b, b called a, c right
    assert "Hungarian" not in ax.get_xlabel()


def test_a_label_key_no_obs_column_holds_points_to_a_labels_file(files, tmp_path):
    # A table's or 10x folder's cells have no obs column: "choose from: none", and no word of
    # where else labels could come from.
    import anndata as ad

    import cellmodel as cm
    from genekb.errors import UsageError

    cells = ad.read_h5ad(files["cells"])
    table = tmp_path / "cells.csv"
    pd.DataFrame(cells.X, index=cells.obs_names, columns=cells.var_names).to_csv(table)
    line = one_line_error(run_cellmodel("classify", str(table), "--label-key", "cell_type",
                                        "--per-class", "3", *QUIET), 2)  # fmt: skip
    assert "choose from: none; or give them in a file of cell id -> label with --labels" in line
    with pytest.raises(UsageError, match=r"or read them from a file .*read_labels\)"):
        cm.tl.classify(ad.AnnData(cells.X), "cell_type", per_class=3, refine=False)


def test_a_partly_labelled_file_predicts_its_unlabelled_cells_on_the_command_line(files, tmp_path):
    # The way to predict a half-empty label column's empty half was Python only: "give as the
    # train mask a column True where a cell has one (adata.obs['group'].notna())".
    import anndata as ad

    base = ["classify", str(files["partial"]), "--label-key", "group", *QUIET]
    line = one_line_error(run_cellmodel(*base), 2)
    assert "40 cell(s) have no label: to predict them from the labelled ones, pass" in line
    assert line.endswith("pass --train-on-labelled") and "notna" not in line
    out = tmp_path / "out.h5ad"
    result = run_cellmodel(*base, "--train-on-labelled", "-o", str(out))
    assert result.exit_code == 0, result.output
    written = ad.read_h5ad(out)
    truth = ad.read_h5ad(files["cells"]).obs["group"]
    assert written.obs["cellmodel_pred_train"].sum() == 20
    assert (written.obs["cellmodel_pred"].astype(str) == truth.astype(str)).all()
    both = run_cellmodel(*base, "--train-on-labelled", "--per-class", "2")
    assert "--per-class acts on choosing the training cells" in one_line_error(both, 2)


def test_a_refused_matrix_says_whether_it_is_the_reference_or_the_query(files, tmp_path):
    # "the matrix (X) has negative values ..." named neither file; an empty reference was said to
    # hold "no labels" in its label column.
    import anndata as ad

    cells = ad.read_h5ad(files["cells"])
    scaled = cells.copy()
    scaled.X = scaled.X - scaled.X.mean(axis=0)
    paths = {"scaled": tmp_path / "scaled.h5ad", "empty": tmp_path / "empty.h5ad"}
    scaled.write_h5ad(paths["scaled"])
    cells[:0].copy().write_h5ad(paths["empty"])
    for query, reference, says in [
        (files["cells"], paths["scaled"], f"the reference {paths['scaled']}: the matrix (X) has"),
        (paths["scaled"], files["cells"], f"the query {paths['scaled']}: the matrix (X) has"),
        (files["cells"], paths["empty"], f"the reference {paths['empty']} holds no cells"),
    ]:
        args = ["classify", str(query), "--reference", str(reference), "--label-key", "group"]
        assert says in one_line_error(run_cellmodel(*args, *QUIET))


def test_a_transfer_scores_its_query_cells_and_says_so(files, tmp_path):
    # "accuracy 1.000 ... on 60 held-out cells": no query cell was held out of anything.
    query = tmp_path / "query.h5ad"
    blobs(20, dim=30, counts=True, seed=1).write_h5ad(query)
    args = ["classify", str(query), "--reference", str(files["cells"]), "--label-key", "group"]
    result = run_cellmodel(*args, *QUIET)
    assert result.exit_code == 0, result.output
    assert "on 60 query cells" in result.stderr and "held-out" not in result.stderr


def test_a_label_column_of_numbers_in_a_count_table_is_not_read_silently_as_a_gene(tmp_path):
    # Cluster ids 0, 1, 2 in a "cell_type" column were a gene's counts: no word, and the labels
    # then steered every view (and `classify --label-key cell_type` found no such column).
    from cellmodel.tables import MetadataColumnWarning, read_table

    cells = blobs(10, dim=8, counts=True)
    frame = pd.DataFrame(cells.X, index=cells.obs_names, columns=cells.var_names)
    frame["cell_type"] = cells.obs["group"].astype(int).to_numpy()
    frame.to_csv(tmp_path / "cells.csv")
    with pytest.warns(MetadataColumnWarning, match="'cell_type' read as gene"):
        read_table(tmp_path / "cells.csv")


def test_a_train_mask_series_in_another_order_marks_the_cells_it_names():
    # A mask built in another frame's order was read by position: "16 training cell(s) have no
    # label" for a mask that was exactly the labelled cells (or, with every cell labelled, a
    # training set of other cells than those named, without a word).
    import cellmodel as cm
    from genekb.errors import UsageError

    adata = blobs(20, dim=30, counts=True)
    adata.obs["lab"] = adata.obs["group"].astype(object).where(np.arange(60) % 3 == 0)
    mask = adata.obs["lab"].notna()
    cm.tl.classify(adata, "lab", train_mask=mask.sample(frac=1, random_state=0), refine=False,
                   n_markers=0)  # fmt: skip
    assert (adata.obs["cellmodel_pred_train"] == mask).all()
    other = mask.rename(lambda c: f"x{c}" if c == "c5" else c)
    with pytest.raises(UsageError, match=r"keyed by 60 cell name.*'xc5' is no cell"):
        cm.tl.classify(adata, "lab", train_mask=other, refine=False, n_markers=0)


def test_the_out_of_core_record_holds_the_in_memory_score_keys(tmp_path):
    # The chunked record had "scores" alone: `doc["accuracy"]`, `doc["n_scored"]` of the same
    # command's JSON failed under --chunk-size.
    pytest.importorskip("dask")
    import anndata as ad

    from cellmodel.chunked import embed_h5ad
    from cellmodel.chunked.classify import classify_h5ad
    from cellmodel.datasets.synthetic import write_synthetic_h5ad
    from tests.fakes import FakeEmbedding

    counts = write_synthetic_h5ad(tmp_path / "cells.h5ad", 300, n_genes=120, seed=1)
    ev = FakeEmbedding(tmp_path, list(ad.read_h5ad(counts, backed="r").var_names), dim=16)
    query = tmp_path / "query.h5ad"
    embed_h5ad(counts, ev, output=query, chunk_size=150, n_hvg=60)
    record = classify_h5ad(
        query, ad.read_h5ad(counts), output=tmp_path / "pred.h5ad", reference_label_key="group",
        label_key="group", store=ev, chunk_size=150, workers=1,
    )  # fmt: skip
    in_memory = {"accuracy", "macro_f1", "n_train", "n_scored", "scores", "comparisons"}
    assert in_memory | {"refinement", "params", "seconds", "notes"} <= set(record)
    assert record["accuracy"] == record["scores"]["accuracy"] and record["n_scored"] == 300


def test_a_reference_that_is_no_anndata_is_named_as_the_reference(files):
    # reference="ref.h5ad" (a path) was refused as "adata must be an AnnData, not str", though
    # adata was one.
    import anndata as ad

    import cellmodel as cm
    from genekb.errors import UsageError

    adata = ad.read_h5ad(files["cells"])
    with pytest.raises(UsageError, match=r"^reference must be an AnnData, not str"):
        cm.tl.classify(adata, "group", reference=str(files["cells"]), refine=False)


def test_a_labels_file_a_spreadsheet_wrote_with_semicolons_is_read(files, tmp_path):
    # "c0;T cell" read as one field: "no label field ... separated by ',' (--sep)", and --sep
    # beside an .h5ad input is refused (it names the input table's separator).
    import anndata as ad

    cells = ad.read_h5ad(files["cells"])
    pairs = [f"{c};type {g}" for c, g in zip(cells.obs_names, cells.obs["group"], strict=True)]
    labels = _labels_file(tmp_path / "labels.csv", ["cell;cell_type", *pairs])
    args = ["classify", str(files["cells"]), "--labels", str(labels), "--per-class", "5"]
    result = run_cellmodel(*args, *QUIET, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accuracy"] == 1.0


def test_plots_of_a_run_that_scores_nothing_leave_its_output_written(files, tmp_path):
    # --plots with only unlabelled cells predicted failed after the whole run ("no cell has a
    # reference label to score against"), exit 1, and the -o file was never written.
    out, plots = tmp_path / "out.h5ad", tmp_path / "plots"
    args = ["classify", str(files["partial"]), "--label-key", "group", "--train-on-labelled"]
    result = run_cellmodel(*args, "--plots", str(plots), "-o", str(out), *QUIET)
    assert result.exit_code == 0, result.output
    assert "no confusion matrix drawn, none of the predicted cells has a label" in result.stderr
    assert out.exists() and not (plots / "classify_confusion.png").exists()


def test_the_labels_themselves_given_as_the_label_key_are_refused_in_words():
    # cm.tl.classify(adata, adata.obs["group"]) died in numpy: "The truth value of a Series is
    # ambiguous"; an array of labels likewise.
    import cellmodel as cm
    from genekb.errors import UsageError

    adata = blobs(20, dim=30, counts=True)
    for labels in (adata.obs["group"], adata.obs["group"].to_numpy()):
        with pytest.raises(UsageError, match=r"label_key= names an obs column, not its values"):
            cm.tl.classify(adata, labels, per_class=3, refine=False, n_markers=0)
    with pytest.raises(UsageError, match=r"^reference_label_key= names an obs column"):
        cm.tl.classify(adata, reference=adata.copy(), reference_label_key=adata.obs["group"],
                       refine=False)  # fmt: skip


@pytest.mark.parametrize(("target", "warned"), [(1e6, True), (None, True), (1e4, False)])
def test_a_query_log_normalized_to_another_total_than_the_references_counts(target, warned):
    # Counts in the reference (brought to 10,000 per cell) against a query log-normalized to a
    # million (CPM) or to the median total: transferred without a word, on unlike values.
    import warnings

    import scanpy as sc

    import cellmodel as cm
    from cellmodel.classify.views import ScaleMismatchWarning

    reference, query = blobs(20, dim=30, counts=True), blobs(20, dim=30, counts=True, seed=1)
    sc.pp.normalize_total(query, target_sum=target)
    sc.pp.log1p(query)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cm.tl.classify(query, "group", reference=reference, refine=False, n_markers=0)
    said = [str(w.message) for w in caught if w.category is ScaleMismatchWarning]
    assert bool(said) == warned, said
    if target == 1e6:
        assert "the query holds values log-normalized to about 1,000,000 per cell" in said[0]


def test_cells_alike_by_chance_are_not_taken_for_the_references_own():
    # Where reference cells share one expression (few shared genes, cells without counts), a
    # query cell of that expression is no single reference cell: no ReferenceCellsWarning.
    import warnings

    import cellmodel as cm
    from cellmodel.classify.views import ReferenceCellsWarning

    reference = blobs(20, dim=30, counts=True)
    reference.X[1::2] = reference.X[0::2]  # each expression twice
    with warnings.catch_warnings():
        warnings.simplefilter("error", ReferenceCellsWarning)
        cm.tl.classify(reference.copy(), "group", reference=reference, refine=False, n_markers=0)
