"""A first run against a store: only the genes the view reads are embedded, reading never moves a
tag, writes are said and can be refused, and the answer does not depend on the store's history."""

from __future__ import annotations

import numpy as np
import pytest

from cellmodel.embed import embed
from genekb.build import build
from genekb.errors import GenekbError, UsageError
from genekb.store import Store

OPTIONS = {"model": "fake", "sentence_top_n": 0, "n_hvg": 120, "taxon": "human"}


@pytest.fixture(scope="module")
def pbmc():
    import scanpy as sc

    return sc.datasets.pbmc68k_reduced()


def halves(adata):
    """Two datasets with different genes: the first and the second half of pbmc's genes."""
    raw = adata.raw.to_adata()
    cut = raw.n_vars // 2
    return raw[:, :cut].copy(), raw[:, cut:].copy()


def test_a_run_embeds_only_the_genes_its_view_reads(fake_spec, tmp_path, pbmc):
    store = Store.open(tmp_path / "store", create=True)
    notes: list[str] = []
    out = embed(pbmc, store, notify=notes.append, copy=True, **OPTIONS)
    record = out.uns["cellmodel"]
    n_used = record["weights"]["n_genes_used"]
    assert record["vectors"]["n_genes"] == n_used == 120
    assert record["vectors"]["built"]["embedding_id"] == record["embedding_id"]
    assert record["reference_genes"]["n_genes"] == n_used
    assert len(record["reference_genes"]["gene_ids"]) == n_used
    assert any("no tag moves" in n for n in notes) and any(
        record["embedding_id"] in n for n in notes
    )
    # No tag was set, and a second run reads the same version without writing.
    assert store.tags() == {}
    before = sorted(v.id for v in store.embeddings())
    again = embed(pbmc, store, notify=notes.append, copy=True, **OPTIONS)
    assert sorted(v.id for v in store.embeddings()) == before
    assert again.uns["cellmodel"]["vectors"]["built"] == {}
    np.testing.assert_array_equal(again.obsm["X_semantic"], out.obsm["X_semantic"])
    # Every matched gene on request; the default view loses nothing against it.
    full = embed(pbmc, store, all_genes=True, copy=True, **OPTIONS)
    assert full.uns["cellmodel"]["vectors"]["n_genes"] > n_used
    np.testing.assert_allclose(full.obsm["X_semantic"], out.obsm["X_semantic"], atol=1e-5)


def test_reading_never_moves_a_tag(fake_spec, tmp_path, pbmc):
    store = Store.open(tmp_path / "store", create=True)
    first, _ = halves(pbmc)
    report = build(store, model="fake", genes=list(first.var_names[:30]))
    tags = store.tags()
    assert tags == {report["tag"]: report["embedding_id"]}
    embed(pbmc, store, copy=True, **OPTIONS)
    assert store.tags() == tags


def test_same_answer_whatever_the_store_holds(fake_spec, tmp_path, pbmc):
    """Embed A, grow the store with B (a run, then a tagged build of everything), embed A again:
    the same obsm, fitted on the same recorded reference genes."""
    a, b = halves(pbmc)
    store = Store.open(tmp_path / "store", create=True)
    before = embed(a, store, copy=True, **OPTIONS)
    embed(b, store, all_genes=True, copy=True, **OPTIONS)
    build(store, model="fake", genes=list(pbmc.raw.var_names))
    after = embed(a, store, copy=True, **OPTIONS)
    for key in ("X_semantic_w", "X_semantic"):
        np.testing.assert_array_equal(after.obsm[key], before.obsm[key])
    ref_before = before.uns["cellmodel"]["reference_genes"]
    ref_after = after.uns["cellmodel"]["reference_genes"]
    assert ref_before["sha256"] == ref_after["sha256"]
    np.testing.assert_array_equal(ref_before["gene_ids"], ref_after["gene_ids"])


def test_no_build_refuses_and_writes_nothing(fake_spec, tmp_path, pbmc):
    store = Store.open(tmp_path / "store", create=True)
    with pytest.raises(GenekbError, match="pass build=True"):
        embed(pbmc, store, build_missing=False, copy=True, **OPTIONS)
    assert store.embeddings() == [] and store.tags() == {}
    # A store that already covers the genes serves a --no-build run.
    build(store, model="fake", genes=list(pbmc.raw.var_names))
    out = embed(pbmc, store, build_missing=False, copy=True, **OPTIONS)
    assert out.uns["cellmodel"]["embedding_id"] == store.tags()["human/ncbi-card/fake"]


def test_model_may_be_a_store_tag_or_id_used_as_is(fake_spec, tmp_path, pbmc):
    store = Store.open(tmp_path / "store", create=True)
    report = build(store, model="fake", genes=list(pbmc.raw.var_names[:400]), tag="imported/x")
    options = {**OPTIONS, "model": "imported/x"}
    by_tag = embed(pbmc, store, copy=True, **options)
    by_id = embed(pbmc, store, copy=True, **{**options, "model": report["embedding_id"]})
    assert [v.id for v in store.embeddings()] == [report["embedding_id"]]
    assert by_tag.uns["cellmodel"]["embedding_id"] == report["embedding_id"]
    assert by_tag.uns["cellmodel"]["vectors"]["source"] == "store version"
    np.testing.assert_array_equal(by_tag.obsm["X_semantic"], by_id.obsm["X_semantic"])
    with pytest.raises(UsageError, match="neither an encoder nor a tag"):
        embed(pbmc, store, copy=True, **{**options, "model": "no-such-thing"})


def test_progress_outside_a_terminal_is_a_line_every_interval_with_rate_and_time_left():
    from cli.progress import LogProgress

    now = [0.0]
    lines: list[str] = []
    bar = LogProgress("build", 1000, interval=10, clock=lambda: now[0], write=lines.append)
    for _ in range(100):  # 10 texts per second, one batch a second
        now[0] += 1.0
        bar.advance(10)
    assert len(lines) == 10  # one line per 10 s, the last one at 1000/1000
    assert lines[0] == "build: 100/1000 (10%), 10.0 texts/s, about 1 min 30 s left"
    assert lines[-1] == "build: 1000/1000 (100%), 10.0 texts/s, 1 min 40 s"


def test_time_left_weighs_texts_by_their_cost_when_long_ones_come_first():
    from cli.progress import LogProgress
    from genekb.encoders.base import encoding_costs

    # 100 texts of 240 tokens, then 900 of 8 (+16 each for overhead): the long tenth is 54 %.
    costs = encoding_costs([8] * 900 + [240] * 100, max_length=256)
    assert costs[0] == 256.0 and costs[-1] == 24.0
    now = [0.0]
    lines: list[str] = []
    bar = LogProgress("build", 1000, interval=1, clock=lambda: now[0], write=lines.append,
                      costs=costs)  # fmt: skip
    now[0] = 30.0  # the 100 long texts took 30 s: the 900 short ones 30 * 21600 / 25600 s
    bar.advance(100)
    assert lines == ["build: 100/1000 (10%), 3.3 texts/s, about 25 s left"]  # not 4 min 30 s


def test_cluster_cli_no_build_refuses_in_one_line_and_writes_nothing(fake_spec, tmp_path, pbmc):
    from tests.conftest import one_line_error, run_cellmodel

    path = tmp_path / "pbmc.h5ad"
    pbmc.write_h5ad(path)
    root = tmp_path / "store"
    args = ("cluster", str(path), "--root", str(root), "--model", "fake", "--no-build")
    assert "--no-build" in one_line_error(run_cellmodel(*args, "-k", "3"))
    assert not (root / "embeddings").exists()


def test_explain_of_a_run_that_read_few_vectors_matches_the_all_genes_run(
    fake_spec, tmp_path, pbmc
):
    """explain weighs the genes the view weighed and describes markers the version lacks."""
    from cellmodel.explain import explain

    store = Store.open(tmp_path / "store", create=True)
    reports = []
    for all_genes in (False, True):
        out = embed(pbmc, store, all_genes=all_genes, copy=True, **OPTIONS)
        out.obs["cellmodel_cluster"] = out.obs["bulk_labels"].astype(str).astype("category")
        reports.append(explain(out, store, top_n=8))
    assert reports[0]["clusters"] == reports[1]["clusters"]
    markers = [m for c in reports[0]["clusters"] for m in c["markers"]]
    assert all(m["description"] for m in markers)


def test_stage_progress_weighs_a_stage_when_told_its_costs():
    from cli.progress import stage_progress

    now = [0.0]
    lines: list[str] = []
    report = stage_progress(interval=1, clock=lambda: now[0], write=lines.append)
    report.weigh("build", [256.0] * 100 + [24.0] * 900)  # type: ignore[attr-defined]
    report("build", 0, 1000)
    report("cluster", 0, 1000)  # a stage never weighed counts items
    now[0] = 30.0
    report("build", 100, 1000)
    report("cluster", 100, 1000)
    assert lines[-2:] == [
        "build: 100/1000 (10%), 3.3 texts/s, about 25 s left",
        "cluster: 100/1000 (10%), 3.3 texts/s, about 4 min 30 s left",
    ]


@pytest.mark.slow
def test_tfidf_lsa_runs_cellmodel_with_the_whole_sources_fit(pbmc, tmp_path):
    store = Store.open(tmp_path, create=True)
    out = embed(pbmc, store, copy=True, model="tfidf-lsa", n_hvg=120, taxon="human")
    assert out.obsm["X_semantic_s"].shape[0] == pbmc.n_obs  # the sentence path reads the fit
    run = store.embedding(out.uns["cellmodel"]["embedding_id"])
    few = build(store, model="tfidf-lsa", genes=["CD3E", "INS"])
    assert run.spec.weights_sha256 == store.embedding(few["embedding_id"]).spec.weights_sha256
