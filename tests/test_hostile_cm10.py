"""Hostile input to `cellmodel classify`, `explain` and `bench` (the tenth sweep): scores that
could not mean anything are said to, a run that scores nothing says so, and flags a run would
ignore are refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import blobs, one_line_error, run_cellmodel

QUIET = ("--no-refine", "--markers", "0")


def _warnings(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("warning:")]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A reference labelled 0, 1, 2; other cells of the same groups labelled "type 0" …; those
    cells without labels; and one file whose held-out cells carry no label. (Other cells: a
    query of the reference's own cells is warned of, `ReferenceCellsWarning`.)"""
    folder = tmp_path_factory.mktemp("cm10")
    reference = blobs(20, dim=30, counts=True)
    paths = {name: folder / f"{name}.h5ad" for name in ("reference", "renamed", "bare", "part")}
    reference.write_h5ad(paths["reference"])
    renamed = blobs(20, dim=30, counts=True, seed=1)
    renamed.obs["group"] = renamed.obs["group"].astype(str).map(lambda s: f"type {s}")
    renamed.write_h5ad(paths["renamed"])
    bare = blobs(20, dim=30, counts=True, seed=1)
    bare.obs = bare.obs.drop(columns="group")
    bare.write_h5ad(paths["bare"])
    part = reference.copy()
    train = np.arange(part.n_obs) % 3 == 0
    part.obs["train"] = train
    part.obs["group"] = pd.Categorical(part.obs["group"].astype(object).where(train))
    part.write_h5ad(paths["part"])
    return paths


def test_scores_against_labels_of_another_vocabulary_are_said_to_be_zero(files):
    # accuracy 0.000 was printed with no word: the note that no query class is a reference
    # class stayed in the JSON record.
    args = ["classify", str(files["renamed"]), "--reference", str(files["reference"])]
    for json_ in ([], ["--json"]):
        result = run_cellmodel(*args, "--label-key", "group", *QUIET, *json_)
        assert result.exit_code == 0, result.output
        (warning,) = _warnings(result.stderr)
        assert "cannot be predicted: type 0, type 1, type 2" in warning
        assert "no scored class is a training class (0, 1, 2), so every score is 0" in warning
    assert json.loads(result.stdout)["scores"]["accuracy"] == 0.0


def test_the_library_warns_of_classes_no_training_cell_has(files):
    import anndata as ad

    import cellmodel as cm
    from cellmodel.classify.pipeline import UnseenClassesWarning

    adata = ad.read_h5ad(files["reference"])
    adata.obs["group"] = adata.obs["group"].cat.rename_categories({"2": "rare"})
    mask = (adata.obs["group"] != "rare").to_numpy() & (np.arange(adata.n_obs) % 2 == 0)
    with pytest.warns(UnseenClassesWarning, match="cannot be predicted: rare$"):
        cm.tl.classify(adata, "group", train_mask=mask, refine=False, n_markers=0)


@pytest.mark.parametrize(
    ("name", "extra", "says"),
    [
        ("bare", ["--reference", "{reference}"], "60 cell(s) predicted, none scored"),
        ("part", ["--train-mask", "train"], "40 cell(s) predicted, none scored"),
    ],
)
def test_a_run_with_nothing_to_score_says_so(files, tmp_path, name, extra, says):
    # Both printed nothing at all and exited 0: the run's only outcome was silence.
    args = [a.format(reference=files["reference"]) for a in extra]
    base = ["classify", str(files[name]), "--label-key", "group", *args, *QUIET]
    result = run_cellmodel(*base)
    assert result.exit_code == 0, result.output
    line = result.stderr.strip()
    assert says in line and "has a label in --label-key 'group'" in line
    assert "not kept: pass -o FILE" in line
    out = tmp_path / "out.h5ad"
    result = run_cellmodel(*base, "-o", str(out))
    assert f"the predictions are written to {out}" in result.stderr and out.exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--datasets", "pbmc68k-reduced", "--label-key", "louvain"], "--label-key 'louvain'"),
        (["--datasets", "synthetic-60", "--batch-key", "plate"], "--batch-key 'plate'"),
        (["--scale", "100,200", "--label-key", "group"], "--label-key 'group'"),
    ],
)
def test_bench_refuses_column_flags_no_dataset_reads(tmp_path, args, says):
    # They were ignored: the run scored pbmc68k-reduced against its own 'bulk_labels' (and
    # corrected for no batch) while the recorded command line said --label-key louvain.
    out = tmp_path / "out"
    result = run_cellmodel("bench", *args, "--methods", "pca-kmeans", "--out", str(out))
    line = one_line_error(result, 2)
    assert f"{says} names a column of a dataset file, but none of the datasets is a file" in line
    assert "is scored against its own" in line and not out.exists()


def test_bench_keeps_the_column_flags_beside_a_file(tmp_path):
    from cellmodel.bench import parse_datasets

    path = tmp_path / "cells.h5ad"
    blobs(20, dim=30, counts=True).write_h5ad(path)
    refs = parse_datasets(f"synthetic-60,{path}", "group")  # the registry's own key for the first
    assert [(r.kind, r.label_key) for r in refs] == [("synthetic", "group"), ("file", "group")]


def test_labels_differing_only_in_case_or_spaces_are_warned_of(files, tmp_path):
    # 'T cell', 'T cell ' and 't cell' were three classes, silently: each scored the others'
    # cells as misses (and a reference so typed split one cell type three ways).
    import anndata as ad

    from cellmodel.classify.labels import label_array, lookalike_classes

    adata = ad.read_h5ad(files["reference"])
    typed = {"0": "T cell", "1": "T cell ", "2": "t  cell"}
    adata.obs["typed"] = adata.obs["group"].astype(str).map(typed)
    path = tmp_path / "typed.h5ad"
    adata.write_h5ad(path)
    for args in (
        ["classify", str(path), "--label-key", "typed", "--train-fraction", "0.5"],
        ["classify", str(files["bare"]), "--reference", str(path), "--label-key", "typed"],
    ):
        result = run_cellmodel(*args, *QUIET)
        assert result.exit_code == 0, result.output
        (warning,) = _warnings(result.stderr)
        assert "'T cell', 'T cell ', 't  cell' of obs['typed'] differ only in case" in warning
    assert lookalike_classes(label_array(["B", "b", "NK", "nk ", "T"])) == [
        ("B", "b"),
        ("NK", "nk "),
    ]
    assert lookalike_classes(label_array(["B", "T", None])) == []


def test_a_train_mask_of_the_words_true_and_false_is_named_as_text():
    # It said "must hold booleans …, not 'True', 'False'; write it as a True/False column":
    # the column looked like just that.
    from cellmodel.classify import split
    from genekb.errors import UsageError

    labels = ["a", "a", "b", "b"]
    with pytest.raises(UsageError, match="holds the words 'True', 'False', text rather than"):
        split(labels, train_mask=np.array(["True", "False", "True", "False"], dtype=object))
    with pytest.raises(UsageError, match=r"must hold booleans .* not 'yes', 'no'"):
        split(labels, train_mask=["yes", "no", "yes", "no"])


@pytest.mark.parametrize("top_n", [0, -1, True, 2.5])
def test_explain_refuses_a_count_of_genes_as_a_usage_error(top_n):
    # It raised GenekbError (exit 1, "the data"), where every other step's counts are
    # UsageErrors.
    import cellmodel as cm
    from genekb.errors import UsageError

    adata = blobs(20, dim=30, counts=True)
    with pytest.raises(UsageError, match=f"top_n={top_n!r} must be a whole number"):
        cm.tl.explain(adata, cluster_key="group", top_n=top_n)
