"""The annotate experiments' evaluation (cellmodel.bench.annotate_eval) on hand-made inputs with
known answers: truth, scoring of named groups, the runs around `annotate` (faked), the tables and
sums the pages print, and per-cell scoring. No dataset and no encoder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pytest

from cellmodel.annotate import ontology
from cellmodel.annotate.evaluate import METHOD_KEYS
from cellmodel.bench import annotate_eval
from cellmodel.bench.annotate_eval import cases, runs, tables
from cellmodel.bench.annotate_eval.cells import format_cells, score_cells
from cellmodel.bench.annotate_eval.default import default_table

BETA, ALPHA, DELTA = "CL:0000169", "CL:0000171", "CL:0000173"
PARENT = sorted(ontology.parents(BETA))[0]  # ontology-aware credit for BETA, not exact


# ------------------------------------------------------------------------------ truth


def test_cells_truth_reads_the_cl_column_or_maps_labels(tmp_path: Path) -> None:
    table = tmp_path / "map.csv"
    table.write_text(
        "dataset,label,cl_id,reason\npbmc68k-reduced,CD14+ Monocyte,CL:0001054,r\n"
        "pbmc68k-reduced,CD19+ B,CL:0000236,r\nother,x,CL:1,r\n"
    )
    pbmc = ad.AnnData(np.zeros((3, 1)))
    pbmc.obs["bulk_labels"] = ["CD19+ B", "CD14+ Monocyte", "CD19+ B"]
    truth = annotate_eval.cells_truth(pbmc, "pbmc68k-reduced", table)
    assert list(truth) == ["CL:0000236", "CL:0001054", "CL:0000236"]
    baron = ad.AnnData(np.zeros((2, 1)))  # Baron carries its own CL ids; the table is not read
    baron.obs["cell_type1"] = ["beta", "alpha"]
    baron.obs["cell_ontology_id"] = [BETA, ALPHA]
    assert list(annotate_eval.cells_truth(baron, "baron-human", tmp_path / "none.csv")) == [
        BETA,
        ALPHA,
    ]


def test_cluster_truth_is_each_clusters_majority() -> None:
    clustered = ad.AnnData(np.zeros((5, 1)))
    clustered.obs["cellmodel_cluster"] = ["0", "0", "0", "1", "1"]
    clustered.obs["_truth"] = [BETA, ALPHA, BETA, DELTA, ALPHA]
    assert annotate_eval.cluster_truth(clustered) == {"0": BETA, "1": ALPHA}  # tie: smaller id


def test_merge_results_orders_by_datasets_and_later_runs_win() -> None:
    first = {"seeds": 3, "cl_version": "v1", "data": {"wu2020-200": 1, "baron-mouse": 2}}
    second = {"seeds": 1, "data": {"baron-human": 3, "baron-mouse": 4}}
    merged = annotate_eval.merge_results([first, second])
    assert merged == {
        "seeds": 3,
        "cl_version": "v1",
        "data": {"baron-human": 3, "baron-mouse": 4, "wu2020-200": 1},
    }
    assert list(merged["data"]) == ["baron-human", "baron-mouse", "wu2020-200"]


# ---------------------------------------------------------------- runs (annotate faked)


def _top(*ids: str | None) -> dict[str, Any]:
    return {"top": [{"cl_id": i, "score": None if i is None else 1.0} for i in ids]}


def _report(calls: dict[str, dict[str, tuple]]) -> dict[str, Any]:
    """A report whose groups rank, per method, the given ids (methods not given: nothing)."""
    methods = [*METHOD_KEYS, *(m for _, m in annotate_eval.CHANNEL_SUMS)]
    groups = [
        {"group": g, **{m: _top(*by_method.get(m, ())) for m in methods}}
        for g, by_method in calls.items()
    ]
    return {
        "groups": groups,
        "context": {"top": [{"label": "pancreatic A cell"}], "used": True},
        "candidates": {"n": 7},
    }


@pytest.fixture
def fake_annotate(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """`annotate` replaced by a recorder; every call gets the same hand-made report."""
    calls: list[dict[str, Any]] = []
    report = _report(
        {
            "g1": {"text": (BETA,), "knowledge": (ALPHA, DELTA, BETA), "combined": (PARENT,)},
            "g2": {
                "text": (DELTA, ALPHA),
                "knowledge": (ALPHA,),
                "combined": (ALPHA,),
                "text+mentions": (ALPHA,),
            },
            "g3": {"text": (None, BETA), "markerdb": (DELTA,)},  # no score: not a call
        }
    )
    monkeypatch.setattr(runs, "annotate", lambda adata, store, **kw: calls.append(kw) or adata)
    monkeypatch.setattr(runs, "report_of", lambda out: report)
    return calls


TRUTH = {"g1": BETA, "g2": ALPHA, "g3": DELTA}


def test_score_run_counts_exact_and_aware_credit(fake_annotate) -> None:
    scores, seconds, report = runs.score_run(None, None, "group", [BETA], TRUTH, method="text")
    assert seconds >= 0 and report["candidates"]["n"] == 7
    assert fake_annotate == [{"groupby": "group", "candidates": [BETA], "copy": True,
                              "method": "text"}]  # fmt: skip
    text = scores["text"]
    # g1 named exactly; g2's best is wrong, its truth second; g3's first entry has no score
    assert {k: text[k] for k in ("exact@1", "aware@1", "exact@3", "aware@3")} == {
        "exact@1": 1, "aware@1": 1, "exact@3": 2, "aware@3": 2
    }  # fmt: skip
    assert text["calls"] == {"g1": BETA, "g2": DELTA, "g3": BETA} and text["n_groups"] == 3
    knowledge = scores["knowledge"]  # g1's truth third, g2 exact
    assert (knowledge["exact@1"], knowledge["exact@3"]) == (1, 2)
    combined = scores["combined"]  # g1's parent: aware, not exact
    assert (combined["exact@1"], combined["aware@1"]) == (1, 2)
    assert scores["markerdb"]["exact@1"] == 1 and scores["mentions"]["aware@3"] == 0


def test_control_scores_run_each_control_over_the_seeds(fake_annotate) -> None:
    out = runs.control_scores(None, None, "group", None, TRUTH, seeds=2)
    assert [(c.get("gene_vectors"), c.get("seed")) for c in fake_annotate] == [
        (None, None), ("bag-of-words", None), ("shuffled", 0), ("shuffled", 1),
        ("random", 0), ("random", 1),
    ]  # fmt: skip
    assert len(out["shuffled"]) == len(out["random"]) == 2
    assert out["real"]["text"]["exact@1"] == 1 and out["context"] == ["pancreatic A cell"]
    assert set(out) == {"real", "seconds_real", "context", "bag-of-words", "shuffled", "random"}


def test_channel_scores_keep_each_sums_two_credits(fake_annotate) -> None:
    out = runs.channel_scores(None, None, "group", [BETA, ALPHA], TRUTH)
    assert [c["method"] for c in fake_annotate] == [m for _, m in annotate_eval.CHANNEL_SUMS]
    assert out["knowledge"] == {"exact@1": 1, "aware@3": 2}
    assert out["combined"] == {"exact@1": 1, "aware@3": 2}
    assert out["text+mentions"] == {"exact@1": 1, "aware@3": 1}
    assert out["text+context"] == {"exact@1": 0, "aware@3": 0}  # ranks nothing: names none


# --------------------------------------------------------------------- tables and sums


def _scores(value: int, **by_method: int) -> dict[str, dict[str, Any]]:
    credits = ("exact@1", "aware@1", "exact@3", "aware@3")
    return {
        m: {**{k: by_method.get(m, value) for k in credits}, "n_groups": 4, "calls": {}}
        for m in METHOD_KEYS
    }


def _block(real: dict, shuffled: tuple[int, ...] = (0, 1)) -> dict[str, Any]:
    return {
        "real": real,
        "seconds_real": 1.5,
        "context": ["t1", "t2", "t3", "t4"],
        "bag-of-words": _scores(1),
        "shuffled": [_scores(s) for s in shuffled],
        "random": [_scores(0)],
    }


def _entry(real: dict, summed: int = 5) -> dict[str, Any]:
    channels = {m: {"exact@1": summed, "aware@3": summed + 1} for _, m in cases.CHANNEL_SUMS}
    return {
        "n_cells": 100,
        "n_groups": 4,
        "own_terms": [BETA],
        "true_own": _block(real),
        "true_all": _block(real),
        "channels_own": channels,
        "channels_all": channels,
        "ablation": {label: {"exact@1": 2} for label, _ in cases.ABLATIONS},
        "cluster_seconds": None,
        "cluster_defaults": "abc",
        "n_clusters": 3,
        "clusters_own": _block(real),
        "clusters_all": _block(real),
    }


RESULTS = {
    "cl_version": "v2026",
    "seeds": 2,
    "data": {
        "baron-human": _entry(_scores(2, markerdb=3, combined=4)),
        "baron-mouse": _entry(_scores(1, text=3, knowledge=3), summed=2),
        "paul2015-2660": _entry(_scores(0, mentions=1)),  # held out
    },
}


def test_sum_line_sums_real_scores_and_averages_controls() -> None:
    dev = tables.subsets(RESULTS)["summed over the development datasets"]
    line = tables.sum_line(dev, "true_own", "exact@1", "dev")
    assert line.startswith("dev (8 groups): text 5 (shuffled 1.0, bag of words 2); mentions 3")
    assert "marker table 4; knowledge + table 5 (with shuffled knowledge 1.0)." in line
    assert "clusters" not in line and tables.sum_line(dev, "clusters_own", "exact@1", "c")[:14] == (
        "c (6 groups): "
    )


def test_subsets_split_development_from_held_out_and_drop_empty_ones() -> None:
    split = tables.subsets(RESULTS)
    assert [len(v) for v in split.values()] == [2, 1]
    only_dev = {"data": {n: RESULTS["data"][n] for n in ("baron-human", "baron-mouse")}}
    assert list(tables.subsets(only_dev)) == ["summed over the development datasets"]


def test_best_table_names_the_best_single_ranking_and_its_ties() -> None:
    rows = [r for r in tables.best_table(RESULTS) if r.startswith("| baron")]
    assert rows[0].startswith(
        "| baron-human | best 3 (marker table), default **4**, sum 5 | best 3 (marker table),"
    )
    assert rows[1].startswith("| baron-mouse | best 3 (text/knowledge), default **1**, sum 2 |")


def test_channel_table_sums_development_and_held_out_apart() -> None:
    table = tables.channel_table(RESULTS)
    row = next(r for r in table if r.startswith("| knowledge: text"))
    # baron-human 5 / 6, baron-mouse 2 / 3 (development), paul2015 5 / 6 (held out)
    assert row.endswith("| 5 / 6 | 2 / 3 | 5 / 6 | 7 / 9 | 5 / 6 |")


def test_score_table_prints_controls_as_mean_and_std() -> None:
    table = tables.score_table(RESULTS, "true_own", ["exact@1"], "n_groups")
    row = next(r for r in table if r.startswith("| baron-human |"))
    assert row.startswith("| baron-human | 4 | **2** | 0.5 ± 0.5 | 0.0 ± 0.0 | 1 | 2 | 0.5 ± 0.5 |")


def test_experiments_markdown_reads_its_sums_from_the_results() -> None:
    page = annotate_eval.experiments_markdown(RESULTS, "python x --seeds 2")
    assert page.startswith("# Annotate: naming cell groups from gene knowledge, zero-shot\n\n")
    assert "`python x --seeds 2` (Cell Ontology v2026 from" in page and "seeds 0..1," in page
    assert "- true groups, own terms, exact@1, summed over the development datasets (8 groups):" \
        " text 5 " in page  # fmt: skip
    assert "development datasets: knowledge 9 → 9, the default 9 → 9" in page  # context prior
    assert "baron-human: t1, t2, t3;" in page
    assert "| top_k 3 | 2 | 2 | 2 |" in page and "| paul2015-2660 | 100 | 1.5 | 1.5 |" in page
    assert page.index("## Reading") < page.index("## Each channel's share")


def test_default_table_marks_the_best_ranking_and_the_controls() -> None:
    data = {
        "baron-human": {
            "n_groups": 4,
            "true": {**_block(_scores(2, markerdb=3, combined=4)), "summed": {"exact@1": 1}},
        },
        "wu2020-200": {"n_groups": 6, "true": {"real": _scores(1), "summed": {"exact@1": 1}}},
    }
    table = default_table({"data": data}, "true", "exact@1")
    assert table[2] == (
        "| baron-human | 4 | 2 | 2 | 2 | 2 | 0.5 ± 0.5 | 0.0 ± 0.0 | 3 | 3 (table) | 1 | **4** |"
        " 0.5 ± 0.5 |"
    )
    assert table[3].startswith("| wu2020-200 | 6 | 1 | 1 | 1 | 1 | — | — | 1 |")
    assert "(text/mentions/processes/knowledge/table)" in table[3]
    assert default_table({"data": data}, "clusters", "exact@1")[1:] == [table[1], ""]  # none


# -------------------------------------------------------------------------------- cells


def test_score_cells_compares_the_groups_and_the_cells_calls() -> None:
    out = ad.AnnData(np.zeros((6, 1)))
    out.obs["cellmodel_annotation"] = ["beta", "beta", "beta", "alpha", "alpha", "alpha"]
    out.obs["cellmodel_annotation_cell"] = ["beta", "alpha", "beta", "alpha", "beta", "delta"]
    named = {"beta": BETA, "alpha": ALPHA, "delta": DELTA, None: None}
    report = {"groups": [{"label": label, "cl_id": cl_id} for label, cl_id in named.items()]}
    out.uns["cellmodel"] = {"annotate": {"report_json": json.dumps(report)}}
    truth = np.array([BETA, ALPHA, BETA, ALPHA, ALPHA, DELTA])
    # group calls right: cells 0, 2, 3, 4 (4/6); own calls right: 0, 1, 2, 3, 5 (5/6);
    # 3 cells differ (1, 4, 5): of those the group is right on 1 (cell 4), the cell on 2
    assert score_cells(out, truth) == pytest.approx([4 / 6, 5 / 6, 3.0, 1 / 3, 2 / 3])
    same = out.copy()
    same.obs["cellmodel_annotation_cell"] = same.obs["cellmodel_annotation"]
    scored = score_cells(same, truth)
    assert scored[2] == 0 and np.isnan(scored[3]) and np.isnan(scored[4])


def test_format_cells_one_run_as_is_several_as_mean_and_std() -> None:
    assert format_cells([[0.5, 0.25, 10.0, 0.125, np.nan]]) == [
        "0.500", "0.250", "10", "0.125", "nan"
    ]  # fmt: skip
    assert format_cells([[0.5, 0.2, 10, 0.1, 0.3], [0.7, 0.2, 12, 0.3, 0.3]]) == [
        "0.600 ± 0.141", "0.200 ± 0.000", "11.000 ± 1.414", "0.200 ± 0.141", "0.300 ± 0.000"
    ]  # fmt: skip


def test_ontology_tables_keep_development_seen_and_new_held_out_apart() -> None:
    from cellmodel.bench.annotate_eval import ontology_page, ontology_runs

    assert ontology_runs.side_of("decoupler-pbmc-160") == "seen2"  # the third round read it
    assert ontology_runs.side_of("paul2015-2660") == "seen"
    assert ontology_runs.side_of("baron-human") == "development"
    assert set(ontology_runs.NEW_HELD_OUT) <= set(ontology_runs.DESIGN)

    def run(exact: int, partial: int, crossed: int) -> dict:
        graded = {"exact": exact, "partial": partial, "wrong": 4 - exact - partial}
        return {**graded, "wrong_lineage": crossed, "abstained": 0, "n_groups": 4, "groups": {}}

    def result(side: str, exact: int) -> dict:
        keys = [f"{r}|{w}" for r in ontology_runs.RANKINGS for w in ("walk", "flat")]
        out: dict = {"side": side, "n_groups": 4}
        for key in keys:
            out[key + "|real"] = [run(exact, 1, 1)]
            out[key + "|shuffled"] = [run(0, 1, 0), run(0, 3, 0)]
            out[key + "|random"] = [run(0, 0, 0), run(0, 0, 0)]
        return out

    results = {"a": result("development", 3), "b": result("held out", 1)}
    lines = ontology_page.summary_table(results)
    dev = [x for x in lines if x.startswith("| development | **default**")]
    held = [x for x in lines if x.startswith("| new held out | **default**")]
    assert dev == [
        "| development | **default** | lineage first | 75 % | 100 % | 25 % | 4"
        " | 50 ± 25 % | 0 ± 0 % |"
    ]
    assert held[0].split(" | ")[3:5] == ["25 %", "50 %"]
    assert not [x for x in lines if x.startswith("| seen")]  # no seen file: no rows
    # results written before the second round carry only `held_out`: they read as seen
    assert ontology_page._side({"held_out": True}) == "seen"
