"""Hostile input to few-label classification, second round (`cellmodel classify`,
`cm.tl.classify`): labels typed two ways, labels files written by other tools, a reference
without its label column named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import blobs, one_line_error, run_cellmodel

QUIET = ("--no-refine", "--markers", "0")


def test_a_class_too_small_because_it_is_another_typed_with_a_space_says_so():
    # "B cell " (a trailing space) and "b cell" beside "B cell": refused as "class 'B cell ' has
    # 1 cell(s) but 4 are needed", which sent the user to label more cells, not to fix a typo.
    import cellmodel as cm
    from genekb.errors import GenekbError

    adata = blobs(20, dim=30, counts=True)
    labels = adata.obs["group"].astype(str).map({"0": "B cell", "1": "T cell", "2": "NK"})
    labels = labels.to_numpy(dtype=object)
    labels[1], labels[4] = "B cell ", "b cell"
    adata.obs["lab"] = labels
    with pytest.raises(GenekbError, match=r"'B cell ' differs from 'B cell' and 'b cell' only in"):
        cm.tl.classify(adata, "lab", per_class=3, refine=False, n_markers=0)


def _cells(folder: Path, suffix: str = "") -> Path:
    adata = blobs(20, dim=30, counts=True)
    adata.obs_names = [f"{name}{suffix}" for name in adata.obs_names]
    del adata.obs["group"]
    path = folder / "cells.h5ad"
    adata.write_h5ad(path)
    return path


@pytest.mark.parametrize(
    ("data_suffix", "file_ids", "says"),
    [
        ("", "c{i}-1", "differ by the suffix '-1' ('c0-1' in the file, 'c0' in the data)"),
        ("-1", "c{i}", "differ by the suffix '-1' ('c0' in the file, 'c0-1' in the data)"),
    ],
)
def test_labels_whose_ids_differ_by_a_barcode_suffix_are_refused_saying_so(
    tmp_path, data_suffix, file_ids, says
):
    # 10x writes "AAAC…-1", other tools drop the "-1": "none of its 60 cell ids names a cell of
    # the data", with no word of the suffix that was the only difference.
    cells = _cells(tmp_path, data_suffix)
    labels = tmp_path / "labels.csv"
    rows = "".join(f"{file_ids.format(i=i)},t{i % 3}\n" for i in range(60))
    labels.write_text("cell,cell_type\n" + rows)
    args = ["classify", str(cells), "--labels", str(labels), "--per-class", "3", *QUIET]
    assert says in one_line_error(run_cellmodel(*args))


def test_labels_written_by_pandas_with_its_row_numbers_first_point_to_the_id_column(tmp_path):
    # DataFrame.to_csv() writes the row numbers 0, 1, … first: "the file's '0', the data's 'c0';
    # the first column must hold the data's cell ids", as if the file held no ids at all.
    import pandas as pd

    cells = _cells(tmp_path)
    labels = tmp_path / "labels.csv"
    frame = pd.DataFrame(
        {"cell": [f"c{i}" for i in range(60)], "ct": [f"t{i % 3}" for i in range(60)]}
    )
    frame.to_csv(labels)
    args = ["classify", str(cells), "--labels", str(labels), "--label-key", "ct"]
    line = one_line_error(run_cellmodel(*args, "--per-class", "3", *QUIET))
    assert "its field 2 holds the data's cell ids ('c0'), not the first" in line


def test_a_reference_without_a_named_label_column_is_a_usage_error(tmp_path):
    # No --label-key beside --reference exited 1 (bad input) though an option was missing; in
    # Python, label_key='typo' was refused as "reference_label_key='typo'", a parameter not
    # passed, and neither key as "reference_label_key=None is not an obs column".
    import cellmodel as cm
    from genekb.errors import UsageError

    reference, query = blobs(20, dim=30, counts=True), blobs(20, dim=30, counts=True, seed=1)
    paths = tmp_path / "reference.h5ad", tmp_path / "query.h5ad"
    reference.write_h5ad(paths[0])
    query.write_h5ad(paths[1])
    line = one_line_error(run_cellmodel("classify", str(paths[1]), "--reference", str(paths[0]),
                                        *QUIET), 2)  # fmt: skip
    assert "--label-key" in line
    with pytest.raises(UsageError, match=r"^label_key='typo' is not an obs column of the ref"):
        cm.tl.classify(query, "typo", reference=reference, refine=False, n_markers=0)
    with pytest.raises(UsageError, match=r"^give label_key= \(or reference_label_key=\).*'group'"):
        cm.tl.classify(query, reference=reference, refine=False, n_markers=0)
    assert np.all(query.obs.columns == ["group"])  # nothing written


def test_query_labels_typed_otherwise_than_the_references_are_named_in_the_warning():
    # A query labelled "b cell" against a reference's "B cell" scored 0 with "no scored class is
    # a training class (B cell, NK, T cell)": the lists looked alike and said nothing of case.
    import cellmodel as cm
    from cellmodel.classify.labels import UnseenClassesWarning

    reference, query = blobs(20, dim=30, counts=True), blobs(20, dim=30, counts=True, seed=1)
    reference.obs["group"] = reference.obs["group"].cat.rename_categories(["B cell", "NK", "T"])
    query.obs["group"] = query.obs["group"].cat.rename_categories(["b cell", "NK", "T"])
    with pytest.warns(UnseenClassesWarning, match=r"e\.g\. 'B cell', 'b cell' differ only in case"):
        cm.tl.classify(query, "group", reference=reference, refine=False, n_markers=0)


@pytest.mark.parametrize(
    ("key", "says"),
    [("pred/x", r"must name the obs column of the predictions \(no '/'\)"),
     ("_index", r"would write obs\['_index'\], the name under which the file keeps the cell")],
)  # fmt: skip
def test_a_key_added_no_h5ad_can_hold_is_refused_before_the_run(key, says):
    # key_added="pred/x" wrote columns anndata writes with a FutureWarning ("will be
    # disallowed"); "_index" wrote columns the .h5ad could not hold: write_h5ad failed after
    # the whole run ("'_index' is a reserved name for dataframe columns").
    import cellmodel as cm
    from genekb.errors import UsageError

    adata = blobs(20, dim=30, counts=True)
    with pytest.raises(UsageError, match=says):
        cm.tl.classify(adata, "group", per_class=3, key_added=key, refine=False, n_markers=0)
    assert list(adata.obs.columns) == ["group"]


def test_a_labels_column_named_as_the_cell_names_is_refused_before_the_run(tmp_path):
    # A labels file whose header named its label column "_index" ran the whole job, then failed
    # writing -o: "unexpected ValueError: '_index' is a reserved name for dataframe columns".
    cells = _cells(tmp_path)
    labels = tmp_path / "labels.csv"
    labels.write_text("cell,_index\n" + "".join(f"c{i},t{i % 3}\n" for i in range(60)))
    out = tmp_path / "out.h5ad"
    args = ["classify", str(cells), "--labels", str(labels), "--per-class", "3", "-o", str(out)]
    line = one_line_error(run_cellmodel(*args, *QUIET), 2)
    assert "would be the obs column '_index'" in line and "--label-key" in line
    assert not out.exists()
    ok = run_cellmodel(*args, "--label-key", "cell_type", *QUIET)
    assert ok.exit_code == 0, ok.output


def test_a_key_added_over_columns_no_classify_run_wrote_is_refused():
    # key_added="pred" replaced the user's own obs["pred_confidence"] (key_added="leiden" the
    # clustering) without a word; annotate refuses the same. A run's own columns are replaced.
    import cellmodel as cm
    from genekb.errors import UsageError

    adata = blobs(20, dim=30, counts=True)
    adata.obs["pred_confidence"] = "mine"
    with pytest.raises(UsageError, match=r"would overwrite obs\['pred_confidence'\], which no"):
        cm.tl.classify(adata, "group", per_class=3, key_added="pred", refine=False, n_markers=0)
    assert (adata.obs["pred_confidence"] == "mine").all()
    cm.tl.classify(adata, "group", per_class=3, key_added="p2", refine=False, n_markers=0)
    cm.tl.classify(adata, "group", per_class=3, key_added="p2", refine=False, n_markers=0, seed=1)
    assert adata.uns["p2"]["params"]["seed"] == 1  # its own record, under its key (h49)


def test_labels_some_of_whose_ids_carry_a_barcode_suffix_are_warned_of_it(tmp_path):
    # Half the ids written "c1-1": "30 of its 60 cell ids name no cell of the data (e.g.
    # 'c1-1')", and half the labels dropped with no word of why.
    from cellmodel.classify.label_table import UnmatchedLabelsWarning, read_labels

    labels = tmp_path / "labels.csv"
    labels.write_text("".join(f"c{i}{'-1' * (i % 2)},t{i % 3}\n" for i in range(60)))
    with pytest.warns(UnmatchedLabelsWarning, match=r"'c1-1' in the file and 'c1' in the data"):
        read_labels(labels, [f"c{i}" for i in range(60)])


def test_train_on_labelled_where_every_cell_has_a_label_says_what_to_do(tmp_path):
    # "every cell is in the training set; leave some cells to classify": a training set the
    # user never chose, and no word of the options that score a held-out part.
    cells = tmp_path / "cells.h5ad"
    blobs(20, dim=30, counts=True).write_h5ad(cells)
    args = ["classify", str(cells), "--label-key", "group", "--train-on-labelled"]
    line = one_line_error(run_cellmodel(*args, "-o", str(tmp_path / "out.h5ad"), *QUIET), 2)
    assert "every cell has a label in --label-key 'group'" in line and "--per-class" in line


def test_a_labels_column_named_as_an_obs_column_points_past_label_key_when_it_must(tmp_path):
    # A file of id, donor, group beside an input with obs["group"]: --label-key group was refused
    # as "already an obs column ... name the labels another way with --label-key", and any other
    # --label-key as "none is named ...": a loop with no way out but the file's header.
    cells = tmp_path / "cells.h5ad"
    blobs(20, dim=30, counts=True).write_h5ad(cells)  # obs["group"]
    labels = tmp_path / "labels.csv"
    labels.write_text("cell,donor,group\n" + "".join(f"c{i},d1,t{i % 3}\n" for i in range(60)))
    args = ["classify", str(cells), "--labels", str(labels), "--label-key", "group"]
    line = one_line_error(run_cellmodel(*args, "--per-class", "3", *QUIET), 2)
    assert "already has an obs column 'group'" in line and "or in the file's header" in line


@pytest.mark.parametrize("kind", ["counts", "fraction"])
def test_a_measurement_column_given_as_labels_is_refused_as_one(kind):
    # --label-key n_counts (or percent_mito): "class '2141' has 1 cell(s) but 4 are needed ...
    # (and 624 more)", which pointed to small_classes='cap', and capped it ran to accuracy 0.003.
    import cellmodel as cm
    from genekb.errors import GenekbError

    adata = blobs(20, dim=30, counts=True)
    total = np.asarray(adata.X.sum(axis=1)).ravel()
    adata.obs["measured"] = total if kind == "counts" else total / 1e4
    for small in ("error", "cap"):
        with pytest.raises(GenekbError, match=r"different numbers for 60 labelled cells .*: a me"):
            cm.tl.classify(adata, "measured", per_class=3, small_classes=small, refine=False)


def test_one_labelled_cell_per_class_predicts_the_unlabelled_rest(tmp_path):
    # One labelled cell of each type and the rest to predict, the few-label case itself, was
    # refused: "the label key gives each of its 3 labelled cells a class of its own (a cell
    # id?)", in Python with a train mask and with --train-on-labelled alike.
    import anndata as ad

    import cellmodel as cm

    adata = blobs(20, dim=30, counts=True)
    labels = adata.obs["group"].astype(object).to_numpy()
    labels[~np.isin(np.arange(60), [0, 20, 40])] = None
    adata.obs["lab"] = labels
    path, out = tmp_path / "cells.h5ad", tmp_path / "out.h5ad"
    adata.write_h5ad(path)
    cm.tl.classify(adata, "lab", train_mask=adata.obs["lab"].notna(), refine=False, n_markers=0)
    assert (adata.obs["cellmodel_pred"].astype(str) == adata.obs["group"].astype(str)).mean() > 0.9
    args = ["classify", str(path), "--label-key", "lab", "--train-on-labelled", "-o", str(out)]
    result = run_cellmodel(*args, *QUIET)
    assert result.exit_code == 0, result.output
    assert ad.read_h5ad(out).obs["cellmodel_pred_train"].sum() == 3


def test_a_train_mask_over_cells_labelled_na_names_the_word():
    # A mask over a cell labelled "NA" (R's missing string) was refused as "1 training cell(s)
    # have no label", beside a column that shows one.
    import cellmodel as cm
    from genekb.errors import GenekbError

    adata = blobs(20, dim=30, counts=True)
    labels = adata.obs["group"].astype(str).to_numpy(dtype=object)
    labels[0] = "NA"
    adata.obs["lab"] = labels
    mask = np.arange(60) % 3 == 0
    with pytest.raises(GenekbError, match=r"1 training cell\(s\) have no label \('NA' read as no"):
        cm.tl.classify(adata, "lab", train_mask=mask, refine=False, n_markers=0)


def test_a_missing_reference_is_named_as_the_reference(tmp_path):
    # "input /x/ref.h5ad does not exist": the input was there; the --reference file was not.
    query = tmp_path / "query.h5ad"
    blobs(20, dim=30, counts=True).write_h5ad(query)
    missing = tmp_path / "ref.h5ad"
    args = ["classify", str(query), "--reference", str(missing), "--label-key", "group"]
    line = one_line_error(run_cellmodel(*args, *QUIET))
    assert f"--reference file {missing} does not exist" in line


def test_a_store_given_to_the_pca_view_is_refused_not_ignored(tmp_path):
    # cm.tl.classify(adata, "group", store=root) ran on the expression PCA and never read the
    # store, without a word (the command line refuses --model beside --view pca).
    import cellmodel as cm
    from genekb.errors import UsageError

    adata = blobs(20, dim=30, counts=True)
    for given in ({"store": str(tmp_path)}, {"model": "biobert"}):
        with pytest.raises(UsageError, match=r"which view='pca' leaves out: give view='semantic'"):
            cm.tl.classify(adata, "group", per_class=3, refine=False, **given)
    assert list(adata.obs.columns) == ["group"]
