"""The real default encoder (minilm) on real gene records: the semantic sanity checks."""

from __future__ import annotations

import time

import pyarrow.compute as pc
import pytest

from genekb.build import build, gene_names_of
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
