"""`cellmodel bench --task annotate` on labelled files as users and public atlases write them: the
calls graded must be the very calls `annotate --groupby KEY` makes on the file, and a truth no
call can match is refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cellmodel.annotate import annotate, report_of
from cellmodel.bench.annotate_eval.user_files import evaluate_file, file_truth
from cli.bench_annotate import read_label_map
from genekb.errors import GenekbError, GenekbWarning, UsageError
from tests.conftest import run_cellmodel
from tests.test_annotate import ALPHA, BETA, DELTA, _AnyTextEncoder, _islets, _planted

SETTINGS = dict(n_markers=5, top_k=2, n_background=200, load_encoder=_AnyTextEncoder, model="fake")


def _with_small_and_unknown_groups():
    """The islets with 5 delta cells labelled 'x' and 12 beta cells 'unknown' (both named by
    `annotate`, neither gradable)."""
    adata = _islets()
    label = adata.obs["kind"].astype(str).to_numpy().copy()
    label[60:65] = "x"
    label[:12] = "unknown"
    adata.obs["label"] = pd.Categorical(label)
    return adata


@pytest.mark.filterwarnings("ignore::genekb.errors.GenekbWarning")
def test_the_calls_graded_are_annotates_own_beside_small_and_unlabelled_groups(fake_spec) -> None:
    # Dropping the small and 'unknown' groups before naming changed the others' markers, so the
    # evaluation graded calls `annotate --groupby label` does not make on the same file.
    adata = _with_small_and_unknown_groups()
    store = _planted(fake_spec)
    graded = evaluate_file(adata, "label", store, seeds=0, **SETTINGS)
    named = annotate(adata, store, groupby="label", copy=True, **SETTINGS)
    calls = {e["group"]: e["cl_id"] for e in report_of(named)["groups"]}
    assert {r["group"]: r["call"] for r in graded["calls"]} == {
        g: calls[g] for g in ("a", "b", "d")
    }
    assert graded["n_cells"] == adata.n_obs  # every cell named, as annotate names them
    assert graded["truth"]["unscored"] == {
        "x": "5 cells (fewer than 10)",
        "unknown": "read as unlabelled",
    }


def test_labels_differing_only_in_spaces_stay_the_two_groups_annotate_names() -> None:
    adata = _islets()
    label = adata.obs["kind"].astype(str).to_numpy().copy()
    label[:12] = "b "  # a trailing space: annotate names "b " and "b" apart
    adata.obs["label"] = label
    kept, truth, how = file_truth(adata, "label")
    assert set(kept.obs["label"]) == {"b ", "b", "a", "d"}
    assert truth["b "] == truth["b"] == BETA and how["labels"]["b "]["n_cells"] == 12


def test_cells_without_a_label_are_left_out_and_said() -> None:
    adata = _islets()
    adata.obs["label"] = adata.obs["kind"].astype(object)
    adata.obs.loc[adata.obs_names[:4], "label"] = np.nan
    adata.obs.loc[adata.obs_names[4:6], "label"] = " "
    kept, truth, how = file_truth(adata, "label")
    assert kept.n_obs == adata.n_obs - 6 and how["n_left_out"] == 6
    assert truth["d"] == DELTA


def test_an_obsolete_cl_id_as_truth_is_refused_with_its_reason() -> None:
    # An obsolete term is no call's: every group it is the truth of was graded wrong.
    adata = _islets()
    adata.obs["ids"] = adata.obs["truth"].astype(str).replace({BETA: "CL:0000003"})
    with pytest.raises(UsageError, match="CL:0000003: obsolete"):
        file_truth(adata, "kind", ontology_key="ids")
    with pytest.raises(UsageError, match="CL:0000003: obsolete"):
        file_truth(adata, "kind", label_map={"b": "CL:0000003", "a": BETA})


def test_a_file_of_small_groups_is_told_to_group_coarser_not_to_give_ids() -> None:
    adata = _islets(n_per=6)
    with pytest.raises(GenekbError, match="coarser column") as said:
        file_truth(adata, "kind")
    assert "--ontology-key" not in str(said.value)


def test_the_command_says_each_step_of_a_scoring_under_way(tmp_path, monkeypatch, fake_spec):
    # A scoring takes minutes (its gene cards, first, many); the command said one line per
    # scoring and nothing while one ran.
    _islets().write_h5ad(tmp_path / "islets.h5ad")
    _islets(seed=1).write_h5ad(tmp_path / "other.h5ad")
    store = _planted(fake_spec)
    import cellmodel.bench.annotate_eval.user_report as lib  # the command imports it late
    import cli.bench_annotate as shell
    from genekb.store.store import Store

    monkeypatch.setattr(Store, "open", lambda *a, **k: store)
    monkeypatch.setattr(shell, "DEFAULT_SEEDS", 0)  # the real vectors' scoring alone
    evaluate = lib.evaluate_files
    monkeypatch.setattr(lib, "evaluate_files", lambda *a, **k: evaluate(*a, **{**k, **SETTINGS}))
    files = f"{tmp_path / 'islets.h5ad'},{tmp_path / 'other.h5ad'}"
    args = ["--task", "annotate", "--datasets", files, "--label-key"]
    result = run_cellmodel("bench", *args, "kind", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    for name in ("islets", "other"):
        assert f"{name}: the store's vectors: annotate: matching genes" in result.stderr
    assert "(0%)" not in result.stderr  # the second file's stages were counted on the first's


def test_a_label_map_keeps_its_first_line_where_ids_are_written_cl_underscore(tmp_path) -> None:
    # The first line was taken for a header unless its id began "CL:": the user's first label
    # was dropped without a word (then listed as "not in the label map").
    path = tmp_path / "map.csv"
    path.write_bytes(b"\xef\xbb\xbfb,CL_0000169\r\na,http://purl.obolibrary.org/obo/CL_0000171\r\n")
    assert read_label_map(path) == {"b": BETA, "a": ALPHA}


def test_two_cl_id_columns_that_differ_are_refused_and_ones_that_agree_are_read() -> None:
    # Two columns of ids (an author's beside CELLxGENE's) made neither the truth: the labels were
    # read as CL terms instead, without a word.
    adata = _islets()
    adata.obs["cell_type_ontology_term_id"] = adata.obs["truth"].astype(str).str.replace(":", "_")
    _, truth, how = file_truth(adata, "kind")
    assert truth == {"b": BETA, "a": ALPHA, "d": DELTA} and how["source"] == "obs['truth']"
    adata.obs["cell_type_ontology_term_id"] = adata.obs["truth"].astype(str).replace({DELTA: BETA})
    with pytest.raises(UsageError, match="--ontology-key"):
        file_truth(adata, "kind")
    _, truth, _ = file_truth(adata, "kind", ontology_key="cell_type_ontology_term_id")
    assert truth["d"] == BETA


@pytest.mark.parametrize(
    ("names", "truth", "unscored"),
    [
        # a list may not hold one term twice: the file's labels were refused as candidates
        ({"b": "B cell", "a": "b cell", "d": "T-cell"}, {"B cell": "CL:0000236"}, {}),
        ({"b": "B cell", "a": "B cells", "d": "B cell"}, {"B cells": "CL:0000236"}, {}),
        ({"b": "CD14 Mono", "a": "CD14 Mono", "d": "CD14 Mono"}, {"CD14 Mono": "CL:0001054"}, {}),
        # labels no candidate list may hold read as no term, not as a refusal of the file
        ({"b": "CD4; naive", "a": "B cell", "d": "unassigned"}, {"B cell": "CL:0000236"},
         {"CD4; naive", "unassigned"}),
    ],
)  # fmt: skip
def test_labels_as_users_write_them_read_as_terms(names, truth, unscored) -> None:
    adata = _islets()
    del adata.obs["truth"]
    adata.obs["label"] = adata.obs["kind"].map(names).astype(str)
    _, read, how = file_truth(adata, "label")
    assert truth.items() <= read.items()
    assert set(how["unscored"]) == set(unscored)


@pytest.mark.filterwarnings("ignore::genekb.errors.GenekbWarning")
def test_a_cellxgene_file_is_told_of_its_column_of_symbols(fake_spec) -> None:
    # CELLxGENE's var_names are Ensembl ids and its symbols sit in var['feature_name']:
    # `annotate` says to pass --gene-key feature_name; the evaluation read fewer genes unsaid.
    from genekb.sources.bundled import load_bundled

    adata = _islets()
    ref = load_bundled("human").table.select(["symbol", "ensembl"]).to_pandas()
    ensembl = dict(zip(ref["symbol"], ref["ensembl"], strict=True))
    adata.var["feature_name"] = pd.Categorical(adata.var_names)
    # one filler gene's id is unknown: the symbols match clearly more genes
    adata.var_names = [
        f"ENSG0000099{i:04d}" if g == "MYL6" else ensembl[g][0]
        for i, g in enumerate(adata.var_names)
    ]
    with pytest.warns(GenekbWarning, match="--gene-key feature_name"):
        graded = evaluate_file(adata, "kind", _planted(fake_spec), seeds=0, **SETTINGS)
    assert "--gene-key feature_name" in graded["input"]["notes"][-1]


def test_a_file_with_nothing_to_grade_is_refused_by_name_before_any_scoring(
    tmp_path, monkeypatch
) -> None:
    # The second file's refusal came after the first file's scoring (minutes), not naming it.
    import cellmodel.bench.annotate_eval.user_report as lib
    from cellmodel.bench import parse_datasets

    _islets().write_h5ad(tmp_path / "good.h5ad")
    _islets(n_per=6).write_h5ad(tmp_path / "small.h5ad")
    refs = parse_datasets(f"{tmp_path / 'good.h5ad'},{tmp_path / 'small.h5ad'}", "kind")
    monkeypatch.setattr(lib, "evaluate_file", lambda *a, **k: pytest.fail("scored"))
    with pytest.raises(GenekbError, match=r"^small: no group of obs\['kind'\] can be scored"):
        lib.evaluate_files(refs, store=None)  # type: ignore[arg-type]
