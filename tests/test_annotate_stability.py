"""Resampled calls (`cellmodel.annotate.stability`): the draw, the record each call carries, and
the shared term where resampled cells name a group in another lineage."""

from __future__ import annotations

import numpy as np
import pytest

from cellmodel.annotate.lineage import Walk
from cellmodel.annotate.stability import (
    RESAMPLE_FRACTION,
    resample_codes,
    resampled_sums,
    settle,
)
from cellmodel.markers import group_sums
from genekb.errors import UsageError

NEUTROPHIL, MONOCYTE, MYELOID = "CL:0000775", "CL:0000576", "CL:0000766"
CLASSICAL, NONCLASSICAL = "CL:0000860", "CL:0000875"  # monocyte subsets
CD4_T, CD8_T = "CL:0000624", "CL:0000625"
INDEX = {c: i for i, c in enumerate([NEUTROPHIL, MONOCYTE, MYELOID, CD4_T, CD8_T])}


def test_the_draw_keeps_four_in_five_cells_the_same_way_every_time() -> None:
    codes = np.repeat(np.arange(4), 500)
    first, again = resample_codes(codes, 3, seed=7), resample_codes(codes, 3, seed=7)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    kept = [(c >= 0).mean() for c in first]
    assert all(abs(k - RESAMPLE_FRACTION) < 0.03 for k in kept)
    assert not np.array_equal(first[0], first[1])  # each resample its own draw
    assert set(np.unique(first[0])) == {-1, 0, 1, 2, 3}  # a left-out cell is -1, codes kept


def test_resampled_sums_are_the_sums_of_the_cells_drawn() -> None:
    rng = np.random.default_rng(0)
    X, codes = rng.poisson(2.0, size=(60, 5)).astype(float), rng.integers(0, 3, 60)
    drawn = resample_codes(codes, 1, seed=1)[0]
    sums = resampled_sums(X, codes, 3, 1, seed=1)[0]
    kept = drawn >= 0
    expected = group_sums(X[kept], codes[kept], 3)
    np.testing.assert_array_equal(sums.sums, expected.sums)
    np.testing.assert_array_equal(sums.sizes, expected.sizes)


def test_calls_that_cross_lineages_fall_back_to_the_term_they_share() -> None:
    # a neutrophil and a monocyte share only "myeloid leukocyte", a generic term: no name
    own = Walk(NEUTROPHIL, INDEX[NEUTROPHIL], ["hematopoietic", "myeloid", "granulocyte"], 0.4)
    out = settle([own], [[Walk(MONOCYTE, 1)], [Walk(NEUTROPHIL, 0)]], INDEX)[0]
    assert out.cl_id is None and out.index is None and out.abstained
    assert "other lineages" in out.why and "monocyte" in out.why and "neutrophil" in out.why
    assert "not named" in out.why
    assert out.stability == {
        "resamples": 2, "same_term": 1, "same_lineage": 1, "calls": [MONOCYTE, NEUTROPHIL],
        "own_call": NEUTROPHIL,
    }  # fmt: skip


def test_a_shared_term_that_names_a_kind_is_the_call(monkeypatch) -> None:
    """Calls in two lineages share a generic term in CL as it is; where a shared term names a
    kind (were two lineages to meet below the generic terms) it is the call."""
    from cellmodel.annotate import stability

    monkeypatch.setattr(stability, "crosses_lineage", lambda a, b: a != b)
    index = {CLASSICAL: 0, NONCLASSICAL: 1, MONOCYTE: 2}
    out = settle([Walk(CLASSICAL, 0)], [[Walk(NONCLASSICAL, 1)]], index)[0]
    assert out.cl_id == MONOCYTE and out.index == 2 and out.abstained
    assert out.why.endswith("called the deepest term all share")


def test_calls_within_one_lineage_keep_the_runs_own_call() -> None:
    own = Walk(CD4_T, INDEX[CD4_T])
    out = settle([own], [[Walk(CD8_T, 4)], [Walk(None, None)]], INDEX)[0]
    assert out.cl_id == CD4_T and not out.abstained
    # a resample that drew too few cells to name the group counts for nothing
    assert out.stability["calls"] == [CD8_T] and out.stability["same_lineage"] == 1
    assert out.stability["same_term"] == 0 and out.to_dict()["stability"]["resamples"] == 2


def test_a_shared_term_that_is_no_candidate_leaves_the_group_unnamed() -> None:
    index = {NEUTROPHIL: 0, MONOCYTE: 1}  # "myeloid leukocyte" is not among them
    out = settle([Walk(NEUTROPHIL, 0)], [[Walk(MONOCYTE, 1)]], index)[0]
    assert out.cl_id is None and out.index is None and out.abstained


def test_resamples_are_refused_where_no_call_is_walked(tmp_path) -> None:
    from cellmodel.annotate.params import AnnotateParams, setup

    with pytest.raises(UsageError, match="whole number from 0 to 50"):
        AnnotateParams("g", resamples=-1).check()
    with pytest.raises(UsageError, match="whole number from 0 to 50"):
        AnnotateParams("g", resamples=2.5).check()
    with pytest.raises(UsageError, match="candidate list or lineage='off'"):
        setup("g", ["B cell", "T cell"], None, None, resamples=2)
    with pytest.raises(UsageError, match="candidate list or lineage='off'"):
        setup("g", None, None, None, resamples=2, lineage="off")


def test_each_walked_call_says_how_its_resamples_named_it(fake_spec, tmp_path) -> None:
    import anndata as ad

    from cellmodel.annotate import annotate, report_of, to_markdown
    from cellmodel.chunked.annotate import annotate_h5ad
    from tests.test_annotate import _AnyTextEncoder, _islets, _planted

    store = _planted(fake_spec)
    kw = dict(
        groupby="kind", n_markers=5, top_k=2, n_background=200, load_encoder=_AnyTextEncoder,
        model="fake",
    )  # fmt: skip
    with pytest.warns(UserWarning):
        plain = report_of(annotate(_islets(), store, **kw))
    with pytest.warns(UserWarning):
        adata = annotate(_islets(), store, resamples=3, **kw)
    report = report_of(adata)
    for before, after in zip(plain["groups"], report["groups"], strict=True):
        record = after["lineage"]["stability"]
        assert record["resamples"] == 3 and len(record["calls"]) == 3
        assert record["own_call"] == before["cl_id"]  # the resamples do not move the run's own
        assert 0 <= record["same_term"] <= record["same_lineage"] <= 3
        if not after["lineage"]["abstained"]:
            assert after["cl_id"] == before["cl_id"]
        elif after["lineage"]["stability"] and "not named" in after["lineage"]["why"]:
            assert after["cl_id"] is None and after["label"] is None
    assert "Resampled (3 draws of 4 in 5 cells):" in to_markdown(report)
    assert report["params"]["resamples"] == 3
    adata.write_h5ad(tmp_path / "named.h5ad")  # the record is written with the rest
    again = report_of(ad.read_h5ad(tmp_path / "named.h5ad"))
    assert again["groups"][0]["lineage"]["stability"] == report["groups"][0]["lineage"]["stability"]
    # out of core the cells are not drawn: refused in a line, nothing written
    path, out = tmp_path / "cells.h5ad", tmp_path / "out.h5ad"
    _islets().write_h5ad(path)
    with pytest.raises(UsageError, match="resamples draws the cells in memory"):
        annotate_h5ad(path, store, output=out, groupby="kind", resamples=2)
    assert not out.exists()


def test_the_command_line_refuses_resamples_out_of_core(tmp_path) -> None:
    from tests.conftest import one_line_error, run_cellmodel
    from tests.test_annotate import _islets

    src = tmp_path / "cells.h5ad"
    _islets().write_h5ad(src)
    args = ("annotate", str(src), "--groupby", "kind", "--root", str(tmp_path / "store"))
    out = str(tmp_path / "o.h5ad")
    chunked = run_cellmodel(*args, "--resamples", "2", "--chunk-size", "10", "-o", out)
    assert "--chunk-size" in one_line_error(chunked, 2)
    assert "--resamples" in one_line_error(run_cellmodel(*args, "--resamples", "-1"), 2)
    assert not (tmp_path / "o.h5ad").exists()


def test_a_group_its_resamples_leave_unnamed_loses_the_rankings_best_term() -> None:
    """Without a term, the walk left the entry's flat best candidate in place, so the group kept
    a name its own resamples put in doubt."""
    from cellmodel.annotate.lineage import apply_walk

    entry = {"label": "neutrophil", "cl_id": NEUTROPHIL}
    walk = settle([Walk(NEUTROPHIL, 0)], [[Walk(MONOCYTE, 1)]], INDEX)[0]
    apply_walk(entry, walk, [])
    assert entry["label"] is None and entry["cl_id"] is None
    assert entry["lineage"]["abstained"] and entry["lineage"]["stability"]["own_call"] == NEUTROPHIL
