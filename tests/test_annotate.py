"""`cellmodel annotate`: hubness correction, pooling, the Cell Ontology, the marker table, the
library call on planted data, and the command line (fake encoder; the real one is marked slow)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from cellmodel.annotate import METHODS, annotate, ontology, report_of, score, to_markdown
from cellmodel.annotate.evaluate import group_truth, score_report
from cellmodel.annotate.kinds import LEVELS, grade
from cellmodel.annotate.markerdb import score_groups
from cellmodel.annotate.signatures import UncheckedLineageWarning
from tests.conftest import one_line_error as _one_line_error
from tests.conftest import run_cellmodel as run

BETA, ALPHA, DELTA = "CL:0000169", "CL:0000171", "CL:0000173"
MARKERS = {BETA: ["INS", "IAPP"], ALPHA: ["GCG", "TTR"], DELTA: ["SST", "HHEX"]}
FILLER = ["ACTB", "GAPDH", "B2M", "MALAT1", "TMSB4X", "EEF1A1", "FTL", "RPLP0", "TPT1", "MYL6"]


# ------------------------------------------------------------------------------- score


def test_zscore_hubness_stops_a_hub_label_winning_every_group() -> None:
    rng = np.random.default_rng(1)
    dim = 32
    common = rng.standard_normal(dim)
    background = common + 0.8 * rng.standard_normal((300, dim))
    own = rng.standard_normal((2, dim))
    labels = np.vstack([own, common])  # label 2 is the hub: near every gene
    genes = np.vstack([common + 0.8 * rng.standard_normal(dim) + 0.6 * own[g] for g in (0, 1)])
    raw = score.corrected_similarity(genes, labels, background, "none")
    fixed = score.corrected_similarity(genes, labels, background, "zscore")
    assert (raw.argmax(axis=1) == 2).all()  # without correction the hub names both genes
    assert list(fixed.argmax(axis=1)) == [0, 1]


def test_topk_pooling_keeps_a_few_strong_markers_that_the_mean_dilutes() -> None:
    sims = np.zeros((50, 2))
    sims[:, 1] = 0.3  # every marker slightly closer to candidate 1
    sims[:3, 0] = 5.0  # three markers strongly name candidate 0
    assert score.pool(sims, "topk", 5).argmax() == 0
    assert score.pool(sims, "mean").argmax() == 1
    assert list(score.evidence(sims[:, 0], 3)) == [0, 1, 2]


def test_combine_keeps_text_where_the_table_has_no_entry() -> None:
    text = np.array([[1.0, 0.0, 2.0]])
    db = np.array([[5.0, 1.0, np.nan]])
    both = score.combine(text, db)
    assert np.isfinite(both).all() and both[0, 0] > both[0, 1]


def test_a_channel_with_a_natural_zero_counts_an_unscored_candidate_as_no_evidence() -> None:
    # the text fits candidates 0 and 1 alike; 0's text names no data gene, 1's named genes are
    # a little down in the group, 2's far down (a hormone's, in a duct)
    text = np.array([[1.0, 1.0, 0.0]])
    named = np.array([[np.nan, -0.1, -2.0]])
    centred = score.combine(text, named)
    assert centred[0].argmax() == 1  # centred, 'less down than the others' reads as evidence
    anchored = score.combine(text, named, natural_zero=[False, True])
    assert anchored[0].argmax() == 0  # from 0, a little down is a little against
    assert anchored[0, 1] > anchored[0, 2]  # and the channel's own order is kept
    assert np.allclose(
        score.standardise_rows(named, natural_zero=True) * np.nanstd(named), named, equal_nan=True
    )
    with pytest.raises(ValueError):  # one flag per matrix, or none
        score.combine(text, named, named, natural_zero=[False, True])


def test_a_group_without_text_scores_is_carried_by_the_other_channels() -> None:
    # group 1 has no marker with a gene card: its text row is nan (was: every group's text
    # turned nan under the across-group standardisation, and with it every combined call)
    text = score.standardise_columns(np.array([[1.0, 0.0], [np.nan, np.nan], [0.0, 1.0]]))
    assert np.isnan(text[1]).all() and np.isfinite(text[[0, 2]]).all()
    table = np.array([[2.0, 0.0], [0.0, 3.0], [0.0, 1.0]])
    both = score.combine(text, table)
    assert np.isfinite(both).all()
    assert both[1].argmax() == 1  # the table alone names group 1
    assert np.isnan(score.combine(text, np.full((3, 2), np.nan))[1]).all()  # nothing scores it


def test_context_prior_favours_the_candidate_the_whole_data_fits() -> None:
    from cellmodel.annotate.methods import channels_of
    from genekb.errors import UsageError

    # group 0 fits candidates 0 and 1 alike; the other groups (same tissue) fit 1, not 0
    text = np.array([[2.0, 2.0, 0.0], [-1.0, 1.0, 0.5], [-1.0, 1.5, 0.0]])
    prior = score.context(text)
    assert np.allclose(prior, np.broadcast_to(text.mean(axis=0), text.shape))
    assert score.combine(text, prior)[0].argmax() == 1
    assert score.rank(text[0]).best == 0  # without the prior the tie goes to the first
    off = score.context(text, on=False)  # no prior: the text alone decides
    assert np.isnan(off).all()
    assert np.allclose(score.combine(text, off), score.standardise_rows(text))
    assert channels_of("text+context") == ("text", "context")
    with pytest.raises(UsageError, match="context"):
        channels_of("context")  # the same ranking for every group is no method


# ------------------------------------------------------------------------------- ontology


def test_ontology_resolves_ids_labels_and_synonyms() -> None:
    assert ontology.lookup("CL_0000169") == BETA
    assert ontology.lookup("type B pancreatic cell") == BETA
    assert ontology.lookup("Pancreatic beta cell") == BETA  # an exact synonym, any case
    assert ontology.lookup("no such cell") is None
    cands = ontology.from_user(["beta cell of pancreatic islet", "my own words", "CL:0000171"])
    assert [c.given for c in cands] == ["beta cell of pancreatic islet", "my own words", ALPHA]
    assert [c.cl_id for c in cands] == [BETA, None, ALPHA]
    text = ontology.candidate_text(cands[0])
    assert text.startswith("type B pancreatic cell.") and "insulin" in text
    assert ontology.candidate_text(cands[1]) == "my own words"


def test_ontology_restrictions_and_credit() -> None:
    found = ontology.from_ontology(tissue="pancreatic")
    pancreas = {c.cl_id for c in found}
    assert next(c.given for c in found if c.cl_id == BETA) == "type B pancreatic cell"
    assert {BETA, ALPHA, DELTA} <= pancreas and "CL:0000084" not in pancreas
    t_cells = {c.cl_id for c in ontology.from_ontology(subtree="T cell")}
    assert "CL:0000625" in t_cells and BETA not in t_cells
    assert ontology.credit(BETA, BETA) == (True, True)
    parent = sorted(ontology.parents(BETA))[0]
    assert ontology.credit(parent, BETA) == (False, True)
    assert ontology.credit(ALPHA, BETA) == (False, False)


def test_unknown_cl_id_and_too_few_candidates_fail_clearly() -> None:
    from genekb.errors import GenekbError, UsageError

    with pytest.raises(GenekbError, match="not a live Cell Ontology term"):
        ontology.from_user(["CL:9999999", "B cell"])
    with pytest.raises(UsageError, match="at least two"):
        ontology.from_user(["B cell"])


def test_candidates_file_and_list(tmp_path: Path) -> None:
    f = tmp_path / "cands.txt"
    f.write_text("# pancreas\nB cell\n\nCL:0000169\n")
    assert ontology.parse_candidates(str(f)) == ["B cell", "CL:0000169"]
    assert ontology.parse_candidates("B cell; T cell") == ["B cell", "T cell"]


# ------------------------------------------------------------------------------- marker table


def test_marker_table_names_islet_cells_from_their_hormones() -> None:
    data = [g for m in MARKERS.values() for g in m] + FILLER + ["CD3E", "PTPRC", "PECAM1"]
    db = score_groups([MARKERS[BETA], MARKERS[ALPHA]], data, [ALPHA, BETA, None])
    assert np.isnan(db.scores[:, 2]).all() and list(db.covered) == [True, True, False]
    assert np.nanargmax(db.scores[0]) == 1 and np.nanargmax(db.scores[1]) == 0
    assert "INS" in db.overlap(0, 1)


# ------------------------------------------------------------------------------- library


class _EV:
    """An embedding version whose gene and text vectors are planted: each candidate's text
    vector points along its own axis and its markers' vectors lie near that axis."""

    id = "emb-planted"
    tag = "human/ncbi-card/fake"
    store = None

    def __init__(self, spec, ids: np.ndarray, symbols: dict[int, str], dim: int = 24) -> None:
        from genekb.sources.bundled import load_bundled

        self.spec = spec
        self.dim = dim
        rng = np.random.default_rng(1)
        self.ids = np.asarray(ids, dtype=np.int64)
        self.M = rng.standard_normal((len(self.ids), dim)).astype(np.float32)
        for axis, cl in enumerate(MARKERS):
            for gene in MARKERS[cl]:
                gid = next(i for i, s in symbols.items() if s == gene)
                row = int(np.flatnonzero(self.ids == gid)[0])
                self.M[row] = 0.3 * rng.standard_normal(dim)
                self.M[row, axis] += 4.0
        from genekb.templates import render

        frame = load_bundled("human").table.to_pandas()
        self.frame = frame[frame["gene_id"].isin(self.ids)].reset_index(drop=True)
        self.frame["text"] = render("ncbi-card", self.frame.to_dict("records"))

    def matrix(self):
        return self.ids, self.M

    def vectors(self, genes):
        row = {int(g): i for i, g in enumerate(self.ids)}
        rows = np.array([row.get(int(g), -1) for g in genes])
        out = np.zeros((len(rows), self.dim), dtype=np.float32)
        out[rows >= 0] = self.M[rows[rows >= 0]]
        return out, rows >= 0

    def genes(self):
        return self.frame


class _Store:
    root = None  # no on-disk caches

    def __init__(self, ev: _EV) -> None:
        self.ev = ev

    def tags(self):
        return {self.ev.tag: self.ev.id}

    def embedding(self, ref: str) -> _EV:
        assert ref == self.ev.tag
        return self.ev


class _TextEncoder:
    """Candidate text -> the axis of the cell type it names (by a word of its CL label)."""

    words: ClassVar[dict[str, int]] = {"type B": 0, "pancreatic A": 1, "pancreatic D": 2}

    def encode(self, texts, batch_size: int = 64):
        out = np.zeros((len(texts), 24), dtype=np.float32)
        for i, t in enumerate(texts):
            axis = next(a for w, a in self.words.items() if t.startswith(w))
            out[i, axis] = 1.0
            out[i, 3 + i % 5] = 0.2
        return out


def _islets(n_per: int = 30, seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    genes = [g for m in MARKERS.values() for g in m] + FILLER
    groups = np.repeat(["b", "a", "d"], n_per)
    means = np.full((len(groups), len(genes)), 3.0)
    for g, cl in zip("bad", MARKERS, strict=True):
        for gene in MARKERS[cl]:
            means[groups == g, genes.index(gene)] = 40.0
    adata = ad.AnnData(rng.poisson(means).astype(np.float32))
    adata.var_names = genes
    adata.obs_names = [f"c{i}" for i in range(len(groups))]
    adata.obs["kind"] = pd.Categorical(groups)
    adata.obs["truth"] = pd.Categorical(
        np.array([BETA, ALPHA, DELTA])[pd.Series(groups).map({"b": 0, "a": 1, "d": 2})]
    )
    return adata


def _planted(fake_spec) -> _Store:
    from cellmodel.annotate.inputs import background_ids
    from genekb.sources.bundled import load_bundled

    ref = load_bundled("human").table.select(["gene_id", "symbol"]).to_pandas()
    wanted = {g for m in MARKERS.values() for g in m} | set(FILLER)
    hits = ref[ref["symbol"].isin(wanted)].drop_duplicates("symbol")
    symbols = dict(zip(hits["gene_id"].astype(int), hits["symbol"], strict=True))
    ids = np.unique(np.concatenate([list(symbols), background_ids(200)]))
    return _Store(_EV(fake_spec, ids, symbols))


def test_annotate_names_planted_groups_and_controls_do_not(fake_spec) -> None:
    store = _planted(fake_spec)
    cands = [BETA, ALPHA, DELTA]
    adata = annotate(
        _islets(), store, groupby="kind", candidates=cands, n_markers=5, top_k=2,
        n_background=200, load_encoder=_TextEncoder, model="fake",
    )  # fmt: skip
    report = report_of(adata)
    named = {e["group"]: e["cl_id"] for e in report["groups"]}
    assert named == {"b": BETA, "a": ALPHA, "d": DELTA}
    assert adata.obs["cellmodel_annotation"].dtype == "category"
    # a CL id given is written to obs as its term's name (the id is the report's cl_id)
    b_calls = adata.obs["cellmodel_annotation"].astype(str)[adata.obs["kind"] == "b"]
    assert (b_calls == "type B pancreatic cell").all()
    beta = next(e for e in report["groups"] if e["group"] == "b")
    assert {g["gene"] for g in beta["evidence"][:2]} == {"INS", "IAPP"}
    assert beta["margin"] > 0 and len(beta["top"]) == 3
    assert beta["markerdb"]["top"][0]["cl_id"] == BETA  # the table knows insulin too
    assert "INS" in beta["markerdb"]["overlap"]
    truth = group_truth(adata.obs["kind"], adata.obs["truth"].astype(str))
    assert score_report(report, truth)["text"]["exact@1"] == 3
    table = adata.uns["cellmodel"]["annotate"]["groups"]
    assert list(table["label"]) == [ontology.term(named[g]).label for g in table["group"]]
    assert report["context"] == {"used": False, "top": []}  # a user's list: no context prior

    for control in ("shuffled", "random"):
        ctrl = report_of(
            annotate(
                _islets(),
                store,
                groupby="kind",
                candidates=cands,
                n_markers=5,
                top_k=2,
                n_background=200,
                load_encoder=_TextEncoder,
                gene_vectors=control,
                model="fake",
            )
        )
        hits = score_report(ctrl, truth)["text"]["exact@1"]
        assert hits < 3, control  # planted knowledge gone, the calls no longer follow it


class _AnyTextEncoder(_TextEncoder):
    """The planted axes for the three islet terms; any other text a small seeded vector."""

    def encode(self, texts, batch_size: int = 64):
        out = np.zeros((len(texts), 24), dtype=np.float32)
        for i, t in enumerate(texts):
            axis = next((a for w, a in self.words.items() if t.startswith(w)), None)
            if axis is None:
                out[i, 8:] = 0.3 * np.random.default_rng(len(t)).standard_normal(16)
            else:
                out[i, axis] = 1.0
        return out


def test_context_prior_is_used_over_the_whole_ontology_only(fake_spec) -> None:
    store = _planted(fake_spec)
    kw = dict(
        groupby="kind", n_markers=5, top_k=2, n_background=200, load_encoder=_AnyTextEncoder,
        model="fake",
    )  # fmt: skip
    whole = report_of(annotate(_islets(), store, **kw))
    assert whole["candidates"]["n"] > 1000 and whole["context"]["used"]
    assert len(whole["context"]["top"]) == 5
    calls = {e["group"]: e for e in whole["groups"]}
    assert calls["b"]["cl_id"] == BETA and calls["d"]["cl_id"] == DELTA
    # two planted genes give the table no alpha cell: the call goes no deeper than both support
    assert grade(calls["a"]["cl_id"], ALPHA) == "partial"
    assert "the marker table alone calls" in calls["a"]["lineage"]["why"]
    assert "Context (used in the calls)" in to_markdown(whole)
    # a tissue already restricts the candidates to the data's kind: no prior
    tissue = report_of(annotate(_islets(), store, tissue="pancreatic", **kw))
    assert tissue["context"] == {"used": False, "top": []}
    assert "Context" not in to_markdown(tissue)


def test_whole_ontology_calls_go_lineage_first_and_say_what_was_inferred(fake_spec) -> None:
    store = _planted(fake_spec)
    kw = dict(
        groupby="kind", n_markers=5, top_k=2, n_background=200, load_encoder=_AnyTextEncoder,
        model="fake",
    )  # fmt: skip
    with pytest.warns(UncheckedLineageWarning, match="any tissue lineage"):
        adata = annotate(_islets(), store, **kw)
    report = report_of(adata)
    beta = next(e for e in report["groups"] if e["group"] == "b")
    assert beta["lineage"]["lineage"][0] == "epithelial"
    assert beta["lineage"]["confidence"] is not None
    assert adata.obs["cellmodel_annotation_confidence"].notna().all()
    assert report["inferred"]["taxon"] == "human"
    assert report["inferred"]["taxon_from"] == "gene names"
    assert report["inferred"]["tissue"]["tissue"] == "pancreas"
    assert "Lineage: epithelial" in to_markdown(report)
    # the toy file measures too few genes for any lineage's signature: the report says so
    assert report["inferred"]["unsigned_lineages"] == list(LEVELS[0])
    assert "> Note: lineage not checked from expression for any tissue lineage" in to_markdown(
        report
    )
    assert beta["lineage"]["checked"] is False  # and each such call says so
    assert "tissue lineage not checked from expression." in to_markdown(report)
    # a note on the way is not called a broader term unless the call is one
    beta["lineage"].update(why="a note", abstained=False)
    assert "How it was called: a note." in to_markdown(report)
    beta["lineage"]["abstained"] = True
    assert "Stopped at a broader term: a note." in to_markdown(report)
    # a user's list is called flat, as before
    listed = report_of(annotate(_islets(), store, candidates=[BETA, ALPHA, DELTA], **kw))
    assert all("lineage" not in e for e in listed["groups"])
    flat = annotate(_islets(), store, lineage="off", **kw)
    assert "cellmodel_annotation_confidence" not in flat.obs
    assert report_of(flat)["inferred"]["unsigned_lineages"] == []  # no check, nothing to say


def test_bag_of_words_control_matches_the_cards_words_without_the_encoder(fake_spec) -> None:
    from cellmodel.annotate.words import bag_of_words
    from genekb.eval.probe import tfidf

    genes, cands = bag_of_words(
        ["INS: insulin. Process: insulin secretion.", "GAPDH: glyceraldehyde dehydrogenase."],
        ["A cell that secretes insulin.", "A cell that makes glucagon.", "A neuron."],
    )
    assert np.allclose(np.linalg.norm(genes, axis=1), 1) and (genes @ cands.T >= 0).all()
    assert genes[0] @ cands[0] > 0.3 and genes[0] @ cands[1] == 0 == genes[1] @ cands[2]
    # A word on several cards and one candidate still counts, with the cosine of the full vectors.
    cards = ["insulin secretion", "insulin receptor", "actin"]
    genes, cands = bag_of_words(cards, ["secretes insulin"])
    full = tfidf(min_df=1).fit(cards)
    a, b = full.transform(cards).toarray(), full.transform(["secretes insulin"]).toarray()
    assert np.allclose(genes @ cands.T, a @ b.T) and (genes[:2] @ cands.T > 0).all()

    # On the planted groups the real gene cards share the hormones' names with the CL texts, so
    # words name beta and delta cells; the planted vectors and the encoder play no part. (The D
    # cell's text also says "glucagon", which is where words alone go wrong.)
    class Unused:
        def encode(self, texts, batch_size: int = 64):
            raise AssertionError("the bag-of-words control must not call the encoder")

    adata = annotate(
        _islets(), _planted(fake_spec), groupby="kind", candidates=[BETA, ALPHA, DELTA],
        n_markers=5, top_k=2, n_background=200, load_encoder=Unused, model="fake",
        gene_vectors="bag-of-words", method="text",
    )  # fmt: skip
    report = report_of(adata)
    assert report["params"]["gene_vectors"] == "bag-of-words"
    named = {e["group"]: e["cl_id"] for e in report["groups"]}
    assert named["b"] == BETA and named["d"] == DELTA
    beta = next(e for e in report["groups"] if e["group"] == "b")
    assert beta["evidence"][0]["gene"] == "INS"


def test_each_method_writes_its_own_top_call_and_combined_is_the_default(fake_spec) -> None:
    store = _planted(fake_spec)
    kw = dict(
        groupby="kind", candidates=[BETA, ALPHA, DELTA], n_markers=5, top_k=2,
        n_background=200, load_encoder=_TextEncoder, model="fake",
    )  # fmt: skip
    for method in (None, *METHODS, "text+markerdb", "text+context"):
        chosen = {} if method is None else {"method": method}
        report = report_of(annotate(_islets(), store, **kw, **chosen))
        assert report["method"] == (method or "combined")
        for e in report["groups"]:
            best = e[report["method"]]["top"][0]
            # a method that scores no candidate for the group (no process names these) calls none
            assert e["label"] == (best["label"] if best["score"] is not None else None)
            assert e["top"] == e[report["method"]]["top"]
            # the evidence is the gene text behind the label written, whichever method chose it
            assert e["evidence"][0]["similarity"] >= e["evidence"][-1]["similarity"]
            # every ranking reports its own call and margin; the default its experts' weights
            for name in ("text", "mentions", "processes", "knowledge", "markerdb", "combined"):
                entry = e[name]
                score = entry["top"][0]["score"]
                evidence = 0 if name in ("mentions", "processes", "markerdb") else -np.inf
                assert (entry["call"] is not None) == (score is not None and score > evidence)
                assert entry["call"] is None or entry["call"]["cl_id"] == entry["top"][0]["cl_id"]
                assert entry["margin"] is None or entry["margin"] >= 0
            weights = e["combined"]["weights"]
            assert weights is None or set(weights) == {"markerdb", "knowledge"}


def test_per_cell_calls_find_the_cells_a_group_does_not_fit(fake_spec) -> None:
    store = _planted(fake_spec)
    adata = _islets()
    misplaced = np.flatnonzero(adata.obs["kind"] == "a")[:6]  # alpha cells filed under beta
    kind = adata.obs["kind"].astype(str).to_numpy()
    kind[misplaced] = "b"
    adata.obs["kind"] = pd.Categorical(kind)
    out = annotate(
        adata, store, groupby="kind", candidates=[BETA, ALPHA, DELTA], n_markers=5, top_k=2,
        n_background=200, load_encoder=_TextEncoder, model="fake", per_cell=True,
    )  # fmt: skip
    group_calls = out.obs["cellmodel_annotation"].astype(str).to_numpy()
    cell_calls = out.obs["cellmodel_annotation_cell"].astype(str).to_numpy()
    beta, alpha = ontology.term(BETA).label, ontology.term(ALPHA).label  # as obs writes ids
    assert (group_calls[misplaced] == beta).all()  # the group is still mostly beta
    assert (cell_calls[misplaced] == alpha).all()  # each misplaced cell is named by its own genes
    truth = np.array([ontology.term(t).label for t in out.obs["truth"].astype(str)])
    assert (cell_calls == truth).mean() > (group_calls == truth).mean()
    assert np.isfinite(out.obs["cellmodel_annotation_cell_score"]).all()
    report = report_of(out)
    beta = next(e for e in report["groups"] if e["group"] == "b")
    assert {"INS", "IAPP"} <= set(beta["signature"])
    # the misplaced cells, and at most a stray cell or two of this 16-gene toy
    differing = report["per_cell"]["n_cells_differing_from_group"]
    assert len(misplaced) <= differing <= len(misplaced) + 2
    assert set(report["per_cell"]["signatures"]) == {ontology.term(t).label for t in MARKERS}


def test_annotate_refuses_missing_groups_and_mixed_candidate_sources(fake_spec) -> None:
    from genekb.errors import UsageError

    store = _planted(fake_spec)
    with pytest.raises(UsageError, match="groupby="):
        annotate(_islets(), store, candidates=[BETA, ALPHA])
    with pytest.raises(UsageError, match="not both"):
        annotate(_islets(), store, groupby="kind", candidates=[BETA, ALPHA], tissue="pancreatic")


# ------------------------------------------------------------------------------- command line


def test_cli_annotates_with_a_real_store_and_refuses_to_overwrite(tmp_path: Path) -> None:
    adata = _islets()
    src = tmp_path / "islets.h5ad"
    adata.write_h5ad(src)
    root = tmp_path / "store"
    out = tmp_path / "out.h5ad"
    args = [
        "annotate", str(src), "--groupby", "kind", "--root", str(root), "--model", "fake",
        "--candidates", "type B pancreatic cell;pancreatic A cell;CL:0000173", "-o", str(out),
    ]  # fmt: skip
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_groups"] == 3 and report["candidates"]["with_cl_id"] == 3
    assert {e["label"] for e in report["groups"]} <= {
        "type B pancreatic cell", "pancreatic A cell", "pancreatic D cell",
    }  # fmt: skip
    from genekb.store.store import Store

    assert Store.open(root).tags() == {}  # the vectors it needed were written; no tag was set
    written = ad.read_h5ad(out)
    assert written.obs["cellmodel_annotation"].dtype == "category"
    assert json.loads(written.uns["cellmodel"]["annotate"]["report_json"])["n_groups"] == 3
    _one_line_error(run(*args), 1)  # out.h5ad exists and no --force
    _one_line_error(run(*args[:-2], "--candidates", "B cell"), 2)  # one candidate: usage
    bad = run("annotate", str(src), "--root", str(root), "--model", "fake", "--candidates", "x;y")
    assert "--groupby" in _one_line_error(bad, 2)
    bogus = run(*args[:-2], "--hubness", "bogus")
    assert "zscore" in _one_line_error(bogus, 2)  # the message lists the choices
    chunked = run(*args, "--force", "--per-cell", "--chunk-size", "10")
    assert "--chunk-size" in _one_line_error(chunked, 2)
    cells = run(*args, "--force", "--per-cell")
    assert cells.exit_code == 0, cells.output
    assert "Per-cell calls" in cells.stdout
    assert ad.read_h5ad(out).obs["cellmodel_annotation_cell"].dtype == "category"


# ------------------------------------------------------------------------------- real encoder


@pytest.mark.slow
def test_real_minilm_names_islet_hormone_groups(tmp_path: Path) -> None:
    """The real encoder and gene cards: hormone-marked groups get their islet cell type among the
    five islet types. (With T cell and acinar cell added, the delta group is called a T cell:
    somatostatin's card sits near T-cell text; docs/annotate_experiments.md shows such misses.)"""
    from genekb.store.store import Store

    adata = annotate(
        _islets(), Store.open(tmp_path, create=True), groupby="kind",
        candidates=[BETA, ALPHA, DELTA, "CL:0002275", "CL:0005019"],  # the islet types
        n_markers=3, top_k=2, n_background=100, method="text",  # the gene text alone
    )  # fmt: skip
    named = {e["group"]: e["cl_id"] for e in report_of(adata)["groups"]}
    assert named == {"b": BETA, "a": ALPHA, "d": DELTA}


def test_an_unknown_method_lists_the_choices(fake_spec) -> None:
    from genekb.errors import UsageError

    for bad in ("texts", "text+text", "text+nothing"):
        with pytest.raises(UsageError, match="choose one of text, mentions, processes"):
            annotate(_islets(), _planted(fake_spec), groupby="kind", candidates=[BETA], method=bad)


def test_mitochondrial_transcripts_are_no_group_markers(fake_spec) -> None:
    # MT-CO1 and MT-ND1 (HGNC's names, as 10x files write them) highest in the alpha cells: they
    # match their genes, but say how the cells fared, so the alpha markers are GCG and TTR
    adata = _islets()
    mito = np.zeros((adata.n_obs, 2), dtype=np.float32)
    mito[(adata.obs["kind"] == "a").to_numpy()] = 400.0
    adata = ad.concat([adata, ad.AnnData(mito, obs=adata.obs[[]])], axis=1, merge="first")
    adata.var_names = [*adata.var_names[:-2], "MT-CO1", "MT-ND1"]
    adata.obs = _islets().obs
    named = annotate(
        adata, _planted(fake_spec), groupby="kind", candidates=[BETA, ALPHA, DELTA],
        n_markers=3, top_k=2, n_background=200, load_encoder=_TextEncoder, model="fake",
    )  # fmt: skip
    report = report_of(named)
    alpha = next(e for e in report["groups"] if e["group"] == "a")
    assert set(alpha["markers"][:2]) == {"GCG", "TTR"}
    assert not {"COX1", "ND1"} & set(alpha["markers"])
    assert report["gene_match"]["n_matched"] == adata.n_vars  # matched all the same
