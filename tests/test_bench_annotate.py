"""`cellmodel bench --task annotate`: a labelled file's groups named over the whole Cell Ontology
and graded, the truth read from a CL id column, a label map or the labels, beside the controls;
the command's refusals."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cellmodel.annotate import annotate, report_of
from cellmodel.bench.annotate_eval.user_files import evaluate_file, file_truth
from cellmodel.bench.annotate_eval.user_report import markdown, summary
from cli.bench_annotate import read_label_map
from genekb.errors import GenekbError, UsageError
from tests.conftest import one_line_error, run_cellmodel
from tests.test_annotate import ALPHA, BETA, DELTA, _AnyTextEncoder, _islets, _planted

SETTINGS = dict(n_markers=5, top_k=2, n_background=200, load_encoder=_AnyTextEncoder, model="fake")


@pytest.fixture(scope="module")
def graded(fake_spec) -> dict:
    return evaluate_file(_islets(), "kind", _planted(fake_spec), seeds=1, **SETTINGS)


@pytest.mark.filterwarnings("ignore::genekb.errors.GenekbWarning")
def test_the_grades_are_those_of_the_calls_annotate_makes(fake_spec, graded) -> None:
    # the evaluation walks the rankings itself; its default calls must be the command's own
    named = annotate(_islets(), _planted(fake_spec), groupby="kind", copy=True, **SETTINGS)
    calls = {e["group"]: e["cl_id"] for e in report_of(named)["groups"]}
    assert {r["group"]: r["call"] for r in graded["calls"]} == calls
    assert graded["truth"]["source"] == "obs['truth']"  # the CL id column was found
    truth = {"b": BETA, "a": ALPHA, "d": DELTA}
    assert {r["group"]: r["truth"] for r in graded["calls"]} == truth
    real = graded["combined|real"][0]
    assert real["n_groups"] == 3 and real["exact"] + real["partial"] + real["wrong"] == 3
    assert real["exact"] == sum(calls[g] == truth[g] for g in truth)
    assert len(graded["combined|shuffled"]) == len(graded["combined|random"]) == 1


def test_the_summary_pools_files_and_the_page_shows_every_ranking(graded) -> None:
    rows = summary({"one": graded, "two": graded})
    assert rows["all files"]["n_groups"] == 6
    for ranking in ("combined", "knowledge", "markerdb"):
        assert rows["all files"][ranking]["exact_pct"] == rows["one"][ranking]["exact_pct"]
    page = markdown({"command": "", "seeds": 1, "files": {"one": graded}, "summary": rows})
    assert page.count("| one | 3 |") == 3 + 1 and page.count("| all files | 6 |") == 3  # + the list
    assert "type B pancreatic cell (CL:0000169)" in page


def test_truth_from_labels_from_a_map_and_what_is_left_unscored() -> None:
    adata = _islets()
    del adata.obs["truth"]
    names = {"b": "type B pancreatic cells", "a": "pancreatic A cell", "d": "no such kind xyz"}
    adata.obs["label"] = adata.obs["kind"].map(names).astype(str)
    adata.obs.loc[adata.obs_names[:3], "label"] = "rare"  # a group of 3 cells
    kept, truth, how = file_truth(adata, "label")
    assert truth == {"type B pancreatic cells": BETA, "pancreatic A cell": ALPHA}
    assert how["source"] == "labels read as CL terms"
    assert how["unscored"]["rare"].startswith("3 cells")
    assert how["unscored"]["no such kind xyz"] == "not read as a Cell Ontology term"
    # a group left ungraded, small or not, is still one of the groups named (its markers shape
    # the others', as in `annotate --groupby label`)
    assert {"no such kind xyz", "rare"} <= set(kept.obs["label"])
    mapped = {"type B pancreatic cells": BETA, "no such kind xyz": DELTA}
    _, truth, how = file_truth(adata, "label", label_map=mapped)
    assert truth == {"type B pancreatic cells": BETA, "no such kind xyz": DELTA}
    assert how["unscored"]["pancreatic A cell"] == "not in the label map"


def test_bad_truth_is_refused_in_one_line() -> None:
    adata = _islets()
    adata.obs["ids"] = adata.obs["truth"].astype(str).replace({BETA: "CL:9999999"})
    with pytest.raises(UsageError, match="no Cell Ontology id"):
        file_truth(adata, "kind", ontology_key="ids")
    with pytest.raises(UsageError, match="no Cell Ontology id"):
        file_truth(adata, "kind", label_map={"b": "beta"})
    del adata.obs["truth"], adata.obs["ids"]
    adata.obs["code"] = adata.obs["kind"].map({"a": "x1", "b": "x2", "d": "zz"})
    with pytest.raises(GenekbError, match="no group of obs\\['code'\\] can be scored"):
        file_truth(adata, "code")  # codes read as no term


def test_a_label_map_file_is_read_with_or_without_a_header(tmp_path) -> None:
    csv_file = tmp_path / "map.csv"
    csv_file.write_text('label,cl_id\nbeta,CL:0000169\n"A, alpha",cl:0000171\n')
    assert read_label_map(csv_file) == {"beta": "CL:0000169", "A, alpha": "CL:0000171"}
    tsv_file = tmp_path / "map.tsv"
    tsv_file.write_text("beta\tCL:0000169\n")
    assert read_label_map(tsv_file) == {"beta": "CL:0000169"}
    tsv_file.write_text("beta\tCL:0000169\tmore\n")
    with pytest.raises(UsageError, match="two columns"):
        read_label_map(tsv_file)
    tsv_file.write_text("beta\tCL:0000169\nbeta\tCL:0000171\n")
    with pytest.raises(UsageError, match="mapped twice"):
        read_label_map(tsv_file)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--task", "annotate", "--datasets", "baron-human", "--methods", "leiden"], "--methods"),
        (["--task", "annotate"], "needs --datasets"),
        (["--task", "annotate", "--datasets", "synthetic-300"], "no cell types"),
        (["--task", "name"], "unknown --task"),
        (["--datasets", "baron-human", "--ontology-key", "cl"], "--ontology-key"),
    ],
)
def test_the_command_refuses_options_that_cannot_act(args: list[str], said: str) -> None:
    assert said in one_line_error(run_cellmodel("bench", *args), code=2)


def test_the_command_grades_a_file_and_writes_its_page(tmp_path, monkeypatch, fake_spec) -> None:
    adata = _islets()
    adata.write_h5ad(tmp_path / "islets.h5ad")
    store = _planted(fake_spec)
    import cli.bench_annotate as shell
    from genekb.store.store import Store

    monkeypatch.setattr(Store, "open", lambda *a, **k: store)
    monkeypatch.setattr(shell, "DEFAULT_SEEDS", 1)
    import cellmodel.bench.annotate_eval.user_report as lib  # the command imports it late

    evaluate = lib.evaluate_files
    monkeypatch.setattr(lib, "evaluate_files", lambda *a, **k: evaluate(*a, **{**k, **SETTINGS}))
    out = tmp_path / "out"
    args = ["--task", "annotate", "--datasets", str(tmp_path / "islets.h5ad")]
    result = run_cellmodel("bench", *args, "--label-key", "kind", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["summary"]["islets"]["n_groups"] == 3
    assert (out / "annotate_eval.md").read_text().startswith("# Naming true groups")
    again = run_cellmodel("bench", *args, "--label-key", "kind", "--out", str(out))
    assert "--force" in one_line_error(again)
    assert np.isfinite(report["summary"]["all files"]["combined"]["exact_pct"])
    assert "--task annotate" in report["command"] and pd.notna(report["seconds"])


@pytest.mark.filterwarnings("ignore::genekb.errors.GenekbWarning")
def test_the_own_list_counts_the_groups_each_ranking_names_exactly(fake_spec, graded) -> None:
    own = graded["own_list"]
    assert own["n_candidates"] == 3 and own["n_groups"] == 3
    named = annotate(
        _islets(), _planted(fake_spec), groupby="kind", candidates=[ALPHA, BETA, DELTA],
        copy=True, **SETTINGS,
    )  # fmt: skip
    truth = {"b": BETA, "a": ALPHA, "d": DELTA}
    calls = {e["group"]: e["cl_id"] for e in report_of(named)["groups"]}
    assert own["exact"]["combined"] == sum(calls[g] == truth[g] for g in truth)
    best = own["best_single"]
    singles = ("text", "mentions", "processes", "markerdb")
    assert best["exact"] == max(own["exact"][c] for c in singles)


def test_a_list_of_one_term_is_not_run(fake_spec) -> None:
    from cellmodel.bench.annotate_eval.user_lists import own_list

    adata = _islets()
    out = own_list(adata, "kind", _planted(fake_spec), {"b": BETA}, **SETTINGS)
    assert out == {"n_candidates": 1, "n_groups": 1, "exact": None}


def test_a_label_map_with_more_columns_is_read_by_its_header(tmp_path) -> None:
    # the design set's own map: dataset,label,cl_id,reason (a reason may hold commas, quoted)
    path = tmp_path / "map.csv"
    path.write_text('dataset,label,cl_id,reason\nmine,beta,CL:0000169,"insulin, IAPP"\n')
    assert read_label_map(path) == {"beta": "CL:0000169"}
    path.write_text("dataset,name,id,reason\nmine,beta,CL:0000169,x\n")  # no column named so
    with pytest.raises(UsageError, match="header naming them"):
        read_label_map(path)


def test_a_map_written_in_other_case_or_spacing_still_gives_the_truth() -> None:
    adata = _islets()
    del adata.obs["truth"]
    adata.obs["label"] = adata.obs["kind"].map({"b": "Beta  Cells", "a": "alpha", "d": "delta"})
    mapped = {"beta cells": BETA, "Alpha": ALPHA, "ALPHA": DELTA}  # "alpha" two ways: no truth
    _, truth, how = file_truth(adata, "label", label_map=mapped)
    assert truth == {"Beta  Cells": BETA}
    assert how["unscored"] == {"alpha": "not in the label map", "delta": "not in the label map"}
