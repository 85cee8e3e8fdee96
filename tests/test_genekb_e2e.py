"""The real default encoder (minilm) on real gene records: the semantic sanity checks."""

from __future__ import annotations

import time

import pyarrow.compute as pc
import pytest

from genekb.build import build
from genekb.gene_lists import gene_names_of
from genekb.query import similar
from genekb.sources.bundled import load_bundled
from genekb.store.store import Store
from genekb.templates import TEMPLATES, render
from tests.conftest import TCELL_PANEL

TCR_COMPLEX = {"CD3D", "CD3G", "CD247"}


def test_bundled_human_protein_coding_genes_all_have_text():
    table = load_bundled("human").table
    coding = table.filter(pc.equal(table.column("gene_type"), "protein-coding"))
    assert coding.num_rows >= 19_000
    rows = coding.to_pylist()
    for template in TEMPLATES:
        texts = render(template, rows)
        # Every card says more than the bare symbol.
        informative = sum(len(t) > len(r["symbol"]) + 10 for t, r in zip(texts, rows, strict=True))
        assert informative >= 19_000


@pytest.mark.slow
def test_similar_cd3e_ranks_tcr_complex_first(tmp_path):
    store = Store.open(tmp_path, create=True)
    report = build(store, model="minilm", genes=TCELL_PANEL)
    assert report["n_genes"] == len(TCELL_PANEL) and report["genes_unmatched"] == 0
    hits = [h["symbol"] for h in similar(store.embedding(report["tag"]), "CD3E", 5)["hits"]]
    assert set(hits[:3]) == TCR_COMPLEX, hits


@pytest.mark.slow
def test_the_default_build_is_minilm_and_tfidf_lsa_side_by_side(tmp_path):
    store = Store.open(tmp_path, create=True)
    report = build(store, genes=TCELL_PANEL)
    assert report["tag"] == "human/ncbi-card/minilm+tfidf-lsa" and report["dim"] == 384 + 256
    assert [v["tag"] for v in report["views"]] == [
        "human/ncbi-card/minilm", "human/ncbi-card/tfidf-lsa",
    ]  # fmt: skip
    hits = [h["symbol"] for h in similar(store.embedding(report["tag"]), "CD3E", 5)["hits"]]
    assert set(hits[:3]) == TCR_COMPLEX, hits
    assert all(r["ok"] for r in store.verify())


@pytest.mark.slow
def test_pbmc68k_gene_build_verifies_and_rebuild_is_free(tmp_path):
    import scanpy as sc

    genes = gene_names_of(sc.datasets.pbmc68k_reduced())
    store = Store.open(tmp_path, create=True)
    start = time.perf_counter()
    first = build(store, model="minilm", genes=genes)
    first_seconds = time.perf_counter() - start
    assert first["n_genes"] >= 0.95 * len(genes) and first["embedded"] == first["n_genes"]
    assert all(r["ok"] for r in store.verify())
    start = time.perf_counter()
    again = build(store, model="minilm", genes=genes)
    again_seconds = time.perf_counter() - start
    assert again["embedding_id"] == first["embedding_id"] and again["embedded"] == 0
    assert again_seconds < 0.25 * first_seconds, (again_seconds, first_seconds)


@pytest.mark.slow
def test_two_encoders_one_text_version_and_incremental_rebuild(tmp_path):
    """minilm and minilm-bf16 share the text version; 1% changed texts re-embed only that 1%."""
    import pyarrow as pa
    import scanpy as sc

    from genekb.records import GeneTable

    genes = gene_names_of(sc.datasets.pbmc68k_reduced())
    store = Store.open(tmp_path, create=True)
    first = build(store, model="minilm", genes=genes)
    bf16 = build(store, model="minilm-bf16", genes=genes)
    assert bf16["text_id"] == first["text_id"] and bf16["embedding_id"] != first["embedding_id"]
    assert len(store.embeddings()) == 2 and len(store.texts()) == 1

    # Change the names of 1% of the genes: a new source snapshot, so a new text version.
    base = load_bundled("human")
    ids = store.text(first["text_id"]).table(["gene_id"]).column("gene_id").to_pylist()
    changed = set(ids[:: len(ids) // max(len(ids) // 100, 1)][: max(len(ids) // 100, 1)])
    table = base.table
    names = [
        f"{n} (revised)" if g in changed else n
        for g, n in zip(
            table.column("gene_id").to_pylist(), table.column("name").to_pylist(), strict=True
        )
    ]
    table = table.set_column(
        table.schema.get_field_index("name"), "name", pa.array(names, pa.string())
    )
    revised = GeneTable(
        table, base.snapshot.__class__(**{**base.snapshot.to_dict(), "date": "2099-01-01"})
    )
    again = build(store, model="minilm", genes=genes, gene_table=revised)
    assert again["text_id"] != first["text_id"]
    assert (again["embedded"], again["reused"]) == (len(changed), first["n_genes"] - len(changed))
    manifest = store.embedding(again["embedding_id"]).manifest
    first_embed = store.embedding(first["embedding_id"]).manifest["timing"]["embed_seconds"]
    assert manifest["timing"]["embed_seconds"] * 20 < first_embed
