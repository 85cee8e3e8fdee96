"""Multi-view versions and the RefSeq source: what they write, what they refuse."""

from __future__ import annotations

import numpy as np
import pytest

from genekb.build import build
from genekb.errors import GenekbError, UsageError
from genekb.sources import load_source, refseq
from genekb.store.store import Store
from genekb.views import combine
from tests.conftest import make_genes


def test_combine_puts_normalised_views_side_by_side(tmp_path):
    store = Store.open(tmp_path, create=True)
    genes = make_genes()
    card = build(store, model="fake", gene_table=genes)
    go = build(store, model="fake", gene_table=genes, template="go-terms")
    build(store, model="fake", gene_table=genes, genes=["GENE1", "GENE2"], tag="few")
    report = combine(store, [card["tag"], go["tag"]])
    assert report["dim"] == card["dim"] + go["dim"] and report["n_genes"] == 40
    assert report["tag"] == "human/views/fake+fake"
    version = store.embedding(report["embedding_id"])
    _ids, matrix = version.matrix()
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1, atol=1e-5)
    _, first = store.embedding(card["tag"]).matrix()
    assert np.allclose(matrix[:, : card["dim"]] * np.sqrt(2), first, atol=1e-5)
    assert [v["id"] for v in version.manifest["views"]] == report["views"]
    assert combine(store, [card["tag"], go["tag"]])["created"] is False
    # The first view sets the genes: fewer genes first is fine, the reverse is refused.
    assert combine(store, ["few", card["tag"]], tag="few-views")["n_genes"] == 2
    # The default tag names 40 genes: a 2-gene version takes it only with force, as after a build.
    with pytest.raises(GenekbError, match=r"holds 38 gene\(s\) this build lacks; pass --force"):
        combine(store, ["few", card["tag"]])
    assert store.tags()[report["tag"]] == report["embedding_id"]
    with pytest.raises(GenekbError, match="lacks 38 of the 40 genes"):
        combine(store, [card["tag"], "few"])
    with pytest.raises(UsageError):
        combine(store, [card["tag"]])


def test_refseq_source_fills_summaries_and_checks_its_file(monkeypatch):
    genes = load_source("refseq", "human")
    summary = dict(
        zip(
            genes.table.column("symbol").to_pylist(),
            genes.table.column("summary").to_pylist(),
            strict=True,
        )
    )
    assert summary["INS"].startswith("This gene encodes insulin")
    details = genes.snapshot.details["refseq"]
    assert details["sha256"] == refseq.FILE_SHA256 and details["filled"] > 15_000
    assert genes.snapshot.source == "bundled+refseq"
    refseq.load_table.cache_clear()
    monkeypatch.setattr(refseq, "FILE_SHA256", "0" * 64)
    with pytest.raises(GenekbError, match="not the shipped"):
        load_source("refseq", "mouse")
    refseq.load_table.cache_clear()


def test_combine_command(tmp_path):
    from tests.conftest import one_line_error, run_genekb

    store = Store.open(tmp_path, create=True)
    a = build(store, model="fake", gene_table=make_genes())["tag"]
    b = build(store, model="fake", gene_table=make_genes(), template="kv")["tag"]
    result = run_genekb("combine", a, b, "--tag", "both", "--root", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "both -> emb-" in result.stderr and "dim 32, 2 views" in result.stderr
    assert "two or more" in one_line_error(run_genekb("combine", a, "--root", str(tmp_path)), 2)


def test_a_multi_view_build_makes_each_view_then_their_combination(tmp_path):
    from tests.conftest import one_line_error, run_genekb
    from tests.test_tfidf_lsa import _genes as worded_genes  # the LSA fit needs shared words

    store = Store.open(tmp_path, create=True)
    report = build(store, model="fake+tfidf-lsa", gene_table=worded_genes())
    assert report["tag"] == "human/ncbi-card/fake+tfidf-lsa" and report["model"] == "fake+tfidf-lsa"
    fake, lsa = (store.embedding(f"human/ncbi-card/{m}") for m in ("fake", "tfidf-lsa"))
    assert [v["embedding_id"] for v in report["views"]] == [fake.id, lsa.id]
    assert report["dim"] == fake.dim + lsa.dim and report["n_genes"] == 40
    combined = store.embedding(report["tag"])
    assert [v["id"] for v in combined.manifest["views"]] == [fake.id, lsa.id]
    assert report["bytes"] > sum(v["bytes"] for v in report["views"])
    again = build(store, model="fake+tfidf-lsa", gene_table=worded_genes())
    assert again["embedding_id"] == report["embedding_id"] and again["embedded"] == 0
    assert not again["embedding_created"]
    with pytest.raises(UsageError, match="once"):
        build(store, model="fake+fake", gene_table=make_genes())
    line = one_line_error(run_genekb("build", "--model", "minilm+nope", "--root", str(tmp_path)), 2)
    assert "nope" in line and "minilm" in line
