"""Hostile input to `annotate` (the sixth sweep): a file of a few genes, near-duplicate candidates,
abbreviations in a candidate list, CL ids given as candidates."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cellmodel.annotate import annotate, report_of
from cellmodel.annotate.readable import TooFewGenesWarning, readability
from genekb.errors import UsageError
from tests.test_annotate import ALPHA, BETA, DELTA, FILLER, MARKERS, _islets, _planted, _TextEncoder


def _run(adata: object, fake_spec: object, cands: list[str], **kw: object) -> object:
    return annotate(
        adata, _planted(fake_spec), groupby="kind", candidates=cands, n_markers=5, top_k=2,
        n_background=200, load_encoder=_TextEncoder, model="fake", copy=True, **kw,
    )  # fmt: skip


def test_typical_genes_read_a_small_panel_but_not_genes_of_no_candidate() -> None:
    # The islets' 16 genes hold a few of each candidate's typical genes: more than chance.
    panel = [g for m in MARKERS.values() for g in m] + FILLER
    assert readability(panel, [BETA, ALPHA, DELTA]).too_few is False
    assert readability(FILLER[3:], [BETA, ALPHA, DELTA]).too_few is True
    assert readability(FILLER[3:], ["free text", None]).too_few is False  # nothing to judge by


def test_a_file_of_a_few_genes_no_candidate_is_typical_of_names_no_group(fake_spec) -> None:
    # A file cut to a few genes still has markers, and every group got a confident name from
    # them (a pancreas file of 50 random genes: alpha cells 'early spermatid'). Here each group
    # is marked by a housekeeping gene only.
    adata = _islets()
    kinds = adata.obs["kind"].astype(str).to_numpy()
    adata = adata[:, FILLER].copy()
    for group, gene in zip("bad", ("TMSB4X", "FTL", "RPLP0"), strict=True):
        adata.X[np.ix_(kinds == group, adata.var_names == gene)] = 60.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        named = _run(adata, fake_spec, [BETA, ALPHA, DELTA])
    said = [str(w.message) for w in caught if issubclass(w.category, TooFewGenesWarning)]
    assert len(said) == 1 and "too few genes to tell cell types apart" in said[0]
    groups = report_of(named)["groups"]
    assert [e["label"] for e in groups] == [None, None, None]
    assert all("too few genes" in e["not_named"] for e in groups)
    assert set(named.obs["cellmodel_annotation"].astype(str)) == {"unassigned"}
    assert report_of(named)["inferred"]["readable"]["too_few_genes"] is True


@pytest.mark.filterwarnings("ignore::genekb.errors.GenekbWarning")
def test_the_islets_panel_is_still_named(fake_spec) -> None:
    named = _run(_islets(), fake_spec, [BETA, ALPHA, DELTA])
    assert [e["cl_id"] for e in report_of(named)["groups"]] == [ALPHA, BETA, DELTA]
    assert report_of(named)["inferred"]["readable"]["too_few_genes"] is False


@pytest.mark.parametrize(
    ("label", "cl_id"),
    [("AT1", "CL:0002062"), ("AT2 cells", "CL:0002063"), ("cDC1", "CL:0002394"),
     ("cDC2", "CL:0002399"), ("NKT", "CL:0000814"), ("iNKT", "CL:0000921"),
     ("NPC", "CL:0011020"), ("Treg cells", "CL:0000815"), ("HSPC", "CL:0008001"),
     ("CD8 TEM", "CL:0000913"), ("type II NKT", "CL:0000922")],  # as written first
)  # fmt: skip
def test_cell_type_abbreviations_read_as_their_terms(label: str, cl_id: str) -> None:
    # Read as no term, each was scored by its letters alone: no marker table, no lineage check.
    from cellmodel.annotate.free_labels import read_label, user_candidates

    assert read_label(label)[0] == cl_id
    assert user_candidates([label, "B cell"])[0].cl_id == cl_id


def test_a_label_written_twice_is_warned_and_called_by_one_name() -> None:
    # "monocytes" beside "Monocyte": the second read as a term the first had, so it stayed free
    # text, scored by its words alone, and one kind's groups were split between the two names.
    from cellmodel.annotate.free_labels import NearDuplicateWarning, user_candidates
    from cellmodel.annotate.ontology import called

    with pytest.warns(NearDuplicateWarning, match="'monocytes' repeats 'Monocyte'"):
        cands = user_candidates(["monocytes", "Monocyte", "B cell"])
    assert called(cands, 0).name == "Monocyte" and called(cands, 0).cl_id == "CL:0000576"
    with pytest.warns(NearDuplicateWarning, match="'B cells' repeats 'B cell'"):
        cands = user_candidates(["T cell", "B cells", "B cell"])
    assert called(cands, 1).name == "B cell"
    # two names of one term are no pair: a label set may mean two cell types by them
    with warnings.catch_warnings():
        warnings.simplefilter("error", NearDuplicateWarning)
        user_candidates(["DC2", "Plasmacytoid DCs", "B cell"])
    with pytest.raises(UsageError, match="'B cells' repeats 'B cell': one cell type"):
        user_candidates(["B cell", "B cells"])


@pytest.mark.filterwarnings("ignore::genekb.errors.GenekbWarning")
def test_groups_of_a_label_written_twice_get_one_name(fake_spec) -> None:
    named = _run(_islets(), fake_spec, ["type B pancreatic cells", BETA, ALPHA, DELTA])
    calls = set(named.obs["cellmodel_annotation"].astype(str))
    assert calls == {"type B pancreatic cell", "pancreatic A cell", "pancreatic D cell"}
    assert [e["cl_id"] for e in report_of(named)["groups"]] == [ALPHA, BETA, DELTA]


@pytest.mark.filterwarnings("ignore::genekb.errors.GenekbWarning")
def test_cl_ids_given_are_written_to_obs_as_their_names(fake_spec) -> None:
    # obs held "CL:0000169" where a label in words was written as given: a table of ids.
    named = _run(_islets(), fake_spec, [BETA, ALPHA, DELTA], per_cell=True)
    report = report_of(named)
    obs = named.obs
    by_group = dict(zip(obs["kind"].astype(str), obs["cellmodel_annotation"], strict=True))
    assert by_group == {"b": "type B pancreatic cell", "a": "pancreatic A cell",
                        "d": "pancreatic D cell"}  # fmt: skip
    assert {e["group"]: e["cl_id"] for e in report["groups"]} == {"a": ALPHA, "b": BETA, "d": DELTA}
    assert "type B pancreatic cell" in set(named.obs["cellmodel_annotation_cell"].astype(str))
    assert report["groups"][0]["top"][0]["label"] == "pancreatic A cell"
