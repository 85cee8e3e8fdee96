"""Hostile input to `cellmodel classify`, `explain` and `annotate` (the ninth sweep): a train mask
with gaps, a reference of one class or few shared genes, groups of empty cells, and group names
that would break the Markdown report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import blobs, one_line_error, run_cellmodel


@pytest.fixture(scope="module")
def cells(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 cells of three well-separated groups, with train-mask columns of several kinds."""
    adata = blobs(20, dim=30, counts=True)
    every_third = np.arange(adata.n_obs) % 3 == 0
    gappy = pd.array(every_third, dtype="boolean")
    gappy[4] = pd.NA  # a nullable column with one cell left blank
    adata.obs["gappy"] = gappy
    adata.obs["answer"] = np.where(every_third, "yes", "no")
    adata.obs["nobody"] = False
    path = tmp_path_factory.mktemp("cm9") / "cells.h5ad"
    adata.write_h5ad(path)
    return path


@pytest.mark.parametrize(
    ("column", "says"),
    [
        ("gappy", "the train mask has no value for 1 of 60 cell(s); mark each cell True"),
        ("answer", "must hold booleans (True for training cells), not 'yes', 'no'"),
        ("nobody", "the train mask selects no cell; mark the training cells True"),
    ],
)
def test_a_train_mask_that_is_no_boolean_split_is_one_usage_line(
    cells: Path, column: str, says: str
) -> None:
    args = ["classify", str(cells), "--label-key", "group", "--train-mask", column]
    result = run_cellmodel(*args, "--no-refine", "--markers", "0")
    # gappy was "unexpected TypeError: boolean value of NA is ambiguous" (exit 1); nobody said
    # "the training cells cover fewer than 2 classes"
    assert says in one_line_error(result, 2)


def _with_labels(tmp_path: Path, name: str, labels: object) -> Path:
    reference = blobs(20, dim=30, counts=True)
    reference.obs["group"] = labels
    reference.obsm["X_semantic_w"] = np.random.default_rng(0).normal(size=(60, 8))
    path = tmp_path / name
    reference.write_h5ad(path)
    return path


@pytest.mark.parametrize(
    ("labels", "says"),
    [(np.nan, "holds no labels"), ("a", "holds only the class 'a'")],
)
def test_a_reference_of_fewer_than_two_classes_is_refused_in_memory_and_out_of_core(
    cells: Path, tmp_path: Path, labels: object, says: str
) -> None:
    reference = _with_labels(tmp_path, "reference.h5ad", labels)
    query = _with_labels(tmp_path, "query.h5ad", "b")  # its own labels only score
    args = ["classify", str(query), "--reference", str(reference), "--label-key", "group"]
    out = tmp_path / "out.h5ad"
    chunked = ["--view", "semantic", "--chunk-size", "20", "--root", str(tmp_path / "store")]
    for extra in ([], chunked):
        result = run_cellmodel(*args, *extra, "-o", str(out), "--json")
        line = one_line_error(result)  # out of core, one class was predicted for every cell
        assert f"the reference's label column 'group' {says}" in line, line
        assert "--label-key" in line and result.stdout == "" and not out.exists()


def test_a_reference_sharing_few_genes_is_warned_of(cells: Path, tmp_path: Path) -> None:
    reference = blobs(20, dim=30, counts=True, seed=1)  # not the query's cells (h24's warning)
    reference.var_names = [f"G{i}" if i < 3 else f"OTHER{i}" for i in range(30)]
    path = tmp_path / "reference.h5ad"
    reference.write_h5ad(path)
    args = ["classify", str(cells), "--reference", str(path), "--label-key", "group"]
    result = run_cellmodel(*args, "--no-refine", "--markers", "0", "--json")
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)  # the warning stays on stderr
    warning = [ln for ln in result.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warning) == 1, result.stderr  # was silent: a transfer on 3 of 30 genes
    assert "share only 3 gene names" in warning[0] and "--gene-key" in warning[0]


WEIRD = {"b": "beta/1", "a": "alpha\nline2 | pipe", "d": "# **delta** [x](y) <b>"}


def _unescaped_pipes(line: str) -> int:
    return line.replace("\\|", "").count("|")


@pytest.mark.filterwarnings("ignore::cellmodel.annotate.signatures.UncheckedLineageWarning")
def test_group_names_stay_literal_text_in_the_markdown_reports(fake_spec) -> None:
    from cellmodel.annotate import annotate, report_of, to_markdown
    from cellmodel.explain import explain
    from cellmodel.explain import to_markdown as explain_markdown
    from tests.test_annotate import ALPHA, BETA, DELTA, _islets, _planted, _TextEncoder

    adata = _islets()
    adata.obs["weird"] = pd.Categorical(adata.obs["kind"].map(WEIRD).astype(str))
    out = annotate(
        adata, _planted(fake_spec), groupby="weird", candidates=[BETA, ALPHA, DELTA],
        n_markers=5, top_k=2, n_background=200, load_encoder=_TextEncoder, model="fake",
    )  # fmt: skip
    text = to_markdown(report_of(out))
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and "cells" not in ln]
    summary = [ln for ln in rows if _unescaped_pipes(ln) == 9]  # the 8-column table
    assert len(summary) == 3, text  # the newline split a row, its '|' added a column
    assert any(r.startswith("| alpha line2 \\| pipe |") for r in summary)
    assert "## # \\*\\*delta\\*\\* \\[x](y) \\<b>: " in text  # no bold, link or HTML
    assert not any(ln.startswith("line2") for ln in text.splitlines())
    report = explain(adata, None, cluster_key="weird", top_n=2)
    text = explain_markdown(report)
    assert "## Cluster alpha line2 \\| pipe (30 cells)" in text, text
    assert not any(ln.startswith("line2") for ln in text.splitlines())


@pytest.mark.filterwarnings("ignore::cellmodel.annotate.signatures.UncheckedLineageWarning")
def test_a_group_of_cells_without_counts_is_left_unassigned(fake_spec) -> None:
    from cellmodel.annotate import annotate, report_of, to_markdown
    from genekb.errors import GenekbWarning
    from tests.test_annotate import ALPHA, BETA, DELTA, _islets, _planted, _TextEncoder

    adata = _islets()
    empty = (adata.obs["kind"] == "d").to_numpy()
    adata.X[empty] = 0.0
    with pytest.warns(GenekbWarning, match="group 'd' of obs\\['kind'\\] left unassigned"):
        out = annotate(
            adata, _planted(fake_spec), groupby="kind", candidates=[BETA, ALPHA, DELTA],
            n_markers=5, top_k=2, n_background=200, load_encoder=_TextEncoder, model="fake",
        )  # fmt: skip
    entry = next(e for e in report_of(out)["groups"] if e["group"] == "d")
    # was named CL:0000173 with the highest score and margin of the three groups
    assert entry["label"] is None and entry["score"] is None and entry["markers"] == []
    assert set(out.obs.loc[empty, "cellmodel_annotation"]) == {"unassigned"}
    assert "## d: unassigned" in to_markdown(report_of(out))
    assert "hold no counts" in entry["not_named"]


def test_classifying_the_reference_itself_is_warned_of(cells: Path) -> None:
    args = ["classify", str(cells), "--reference", str(cells), "--label-key", "group"]
    result = run_cellmodel(*args, "--no-refine", "--markers", "0", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["scores"]["accuracy"] == 1.0  # each cell found itself
    warning = [ln for ln in result.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warning) == 1, warning
    assert "60 of 60 query cells are cells of the reference" in warning[0]


def test_groups_with_missing_values_say_how_many_and_what_to_do() -> None:
    import pandas as pd

    from cellmodel.markers import cell_groups
    from genekb.errors import GenekbError

    column = pd.Series(["a", None, "b", "a", None, "b"])
    with pytest.raises(GenekbError) as caught:
        cell_groups(column, "kind")
    message = str(caught.value)
    assert "no group for 2 of 6 cell(s)" in message and "fill them in" in message
    assert "adata[adata.obs['kind'].notna()]" in message
