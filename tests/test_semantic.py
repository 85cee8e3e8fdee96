"""Semantic views: the weighted path by hand, controls, isotropy, sentences, cache, embed()."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from cellmodel import semantic
from cellmodel import sentences as sentence_path
from cellmodel.embed import embed
from genekb.encoders.base import Encoder, EncoderSpec, Progress, l2_normalize
from tests.fakes import FakeEmbedding

# --------------------------------------------------------------------------- weighted path


def test_weighted_mean_equals_hand_computation() -> None:
    X = sp.csr_matrix(np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 4.0]], dtype=np.float32))
    V = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    w = semantic.gene_weights(X, np.array([True, True, True]), "mean")
    out = semantic.weighted_path(X, V, w)
    # cell 0: (1*[1,0] + 2*[0,1]) / 3 ; cell 1: 4*[1,1] / 4
    np.testing.assert_allclose(out, [[1 / 3, 2 / 3], [1.0, 1.0]], rtol=1e-6)
    # The weight matrix explains the same vectors gene by gene.
    np.testing.assert_allclose(w.matrix(X) @ V, out, rtol=1e-6)


def test_unmatched_genes_carry_no_weight_and_tfidf_drops_ubiquitous_genes() -> None:
    X = np.array([[1.0, 2.0, 5.0], [3.0, 0.0, 5.0]], dtype=np.float32)
    V = np.array([[1.0, 0.0], [0.0, 1.0], [7.0, 7.0]], dtype=np.float32)
    matched = np.array([True, True, False])
    out = semantic.weighted_path(X, V, semantic.gene_weights(X, matched, "mean"))
    np.testing.assert_allclose(out, [[1 / 3, 2 / 3], [1.0, 0.0]], rtol=1e-6)
    tfidf = semantic.gene_weights(X, np.ones(3, bool), "tfidf")
    # gene 0 and 2 are in every cell: idf = log(2/2) = 0; gene 1 in one of two: log 2.
    np.testing.assert_allclose(tfidf.scale, [0.0, np.log(2), 0.0], rtol=1e-6)


def test_scaled_weighting_divides_by_gene_std() -> None:
    X = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]], dtype=np.float32)
    V = np.eye(2, dtype=np.float32)
    w = semantic.gene_weights(X, np.ones(2, bool), "scaled")
    np.testing.assert_allclose(w.scale, 1 / X.std(axis=0), rtol=1e-5)
    assert not w.average
    np.testing.assert_allclose(semantic.weighted_path(X, V, w), X / X.std(axis=0), rtol=1e-5)


def test_finish_centres_and_normalizes() -> None:
    view = semantic.finish(np.array([[1.0, 1.0], [3.0, 1.0], [2.0, 4.0]]))
    np.testing.assert_allclose(np.linalg.norm(view, axis=1), 1.0, rtol=1e-6)
    centred = np.array([[-1.0, -1.0], [1.0, -1.0], [0.0, 2.0]])
    np.testing.assert_allclose(view, centred / np.linalg.norm(centred, axis=1, keepdims=True))


def test_abtt_removes_top_directions_and_whiten_equalizes() -> None:
    rng = np.random.default_rng(0)
    M = rng.standard_normal((200, 6)) * np.array([10, 5, 1, 1, 1, 1]) + 3.0
    fitted = semantic.fit_isotropy(M, "abtt", n_remove=2)
    out = fitted.apply(M)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-4)
    _, _, vt = np.linalg.svd(M - M.mean(axis=0), full_matrices=False)
    np.testing.assert_allclose(out @ vt[:2].T, 0.0, atol=1e-3)
    white = semantic.fit_isotropy(M, "whiten").apply(M)
    np.testing.assert_allclose(np.cov(white.T), np.eye(6), atol=1e-3)


# ------------------------------------------------------------------------------- controls


def test_controls_differ_from_real_and_are_seeded() -> None:
    rng = np.random.default_rng(1)
    V = rng.standard_normal((6, 4)).astype(np.float32)
    matched = np.array([True, True, True, True, False, True])
    V[~matched] = 0
    shuffled = semantic.control_vectors(V, matched, "shuffled", seed=3)
    assert not np.allclose(shuffled, V)
    # Same set of vectors, on other genes; unmatched rows untouched.
    assert sorted(map(tuple, shuffled[matched])) == sorted(map(tuple, V[matched]))
    np.testing.assert_array_equal(shuffled[~matched], 0)
    random = semantic.control_vectors(V, matched, "random", seed=3)
    assert not np.allclose(random[matched], V[matched])
    np.testing.assert_array_equal(random[~matched], 0)
    np.testing.assert_array_equal(random, semantic.control_vectors(V, matched, "random", seed=3))
    assert not np.allclose(random, semantic.control_vectors(V, matched, "random", seed=4))
    assert semantic.control_vectors(V, matched, "real", seed=3) is V
    names = ["A", "B", "C", "D", None, "F"]
    shuffled_names = semantic.control_symbols(names, matched, "shuffled", seed=3)
    assert shuffled_names != names and sorted(filter(None, shuffled_names)) == list("ABCDF")
    random_names = semantic.control_symbols(names, matched, "random", seed=3)
    assert random_names[4] is None and not set(random_names) & set("ABCDF")


# ------------------------------------------------------------------------------ sentences


def test_sentences_rank_by_expression_or_relative_expression() -> None:
    # RPL11 is high everywhere; CD3E is high only in cell 0 relative to its mean.
    X = sp.csr_matrix(
        np.array(
            [[5.0, 3.0, 0.0, 1.0], [5.2, 0.0, 2.0, 1.0], [4.8, 0.0, 0.0, 0.0]], dtype=np.float32
        )
    )
    symbols = ["RPL11", "CD3E", "MS4A1", None]
    by_expr = sentence_path.cell_sentences(X, symbols, top_n=2, ranking="expression")
    assert by_expr == ["RPL11 CD3E", "RPL11 MS4A1", "RPL11"]
    relative = sentence_path.cell_sentences(X, symbols, top_n=2, ranking="relative")
    assert relative[0] == "CD3E RPL11" and relative[1] == "MS4A1 RPL11"


class CountingEncoder(Encoder):
    """A deterministic fake: a text's vector comes from its hash; counts encode calls."""

    def __init__(self, dim: int = 8) -> None:
        super().__init__(
            EncoderSpec(name="fake", backend="sentence-transformers", model_id="f", dim=dim)
        )
        self.calls = 0
        self.texts = 0

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None
    ) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        seeds = [int(hashlib.sha256(t.encode()).hexdigest()[:8], 16) for t in texts]
        rows = [np.random.default_rng(s).standard_normal(self.dim) for s in seeds]
        return l2_normalize(np.array(rows, dtype=np.float32).reshape(len(texts), self.dim))


def test_sentence_cache_hit_makes_no_encoder_call(tmp_path: Path) -> None:
    encoder = CountingEncoder()
    loads: list[int] = []

    def load() -> Encoder:
        loads.append(1)
        return encoder

    cache = sentence_path.SentenceCache.under(tmp_path)
    sentences = ["CD3E CD3D", "LYZ S100A8", "CD3E CD3D", "MS4A1"]
    first, stats = sentence_path.embed_sentences(
        sentences, spec=encoder.spec, load_encoder=load, cache=cache, batch_size=2
    )
    assert stats.n_unique == 3 and stats.n_embedded == 3 and encoder.calls == 2
    np.testing.assert_array_equal(first[0], first[2])
    assert cache.count(encoder.spec.spec_sha256()) == 3
    assert (tmp_path / "cache" / "sentences" / "sentences.sqlite").exists()
    again, stats2 = sentence_path.embed_sentences(
        sentences, spec=encoder.spec, load_encoder=load, cache=cache
    )
    assert loads == [1] and encoder.calls == 2 and stats2.n_cached == 3 and stats2.n_embedded == 0
    np.testing.assert_array_equal(first, again)
    # Another spec is another key: nothing is shared across encoders.
    other = encoder.spec.with_(max_length=128)
    _, stats3 = sentence_path.embed_sentences(["MS4A1"], spec=other, load_encoder=load, cache=cache)
    assert stats3.n_embedded == 1 and encoder.calls == 3


# -------------------------------------------------------------------------------- embed()


def toy_cells(n_cells: int = 60, n_genes: int = 40) -> ad.AnnData:
    rng = np.random.default_rng(0)
    groups = np.repeat([0, 1, 2], n_cells // 3)
    rates = rng.gamma(1.0, 1.0, (3, n_genes))
    counts = rng.poisson(rates[groups] * 3).astype(np.float32)
    names = [f"GENE{i}" for i in range(n_genes)]
    return ad.AnnData(X=sp.csr_matrix(counts), var=pd.DataFrame(index=names))


def test_embed_writes_three_views_and_provenance(tmp_path: Path) -> None:
    cells = toy_cells()
    ev = FakeEmbedding(tmp_path, [f"GENE{i}" for i in range(35)])  # 5 genes unknown to the store
    encoder = CountingEncoder(dim=ev.dim)
    stages: list[tuple[str, int, int]] = []
    out = embed(
        cells,
        ev,
        n_hvg=20,
        sentence_top_n=5,
        load_encoder=lambda: encoder,
        progress=lambda s, d, t: stages.append((s, d, t)),
        copy=True,
    )
    assert "X_semantic" not in cells.obsm  # copy=True left the input alone
    assert out.obsm["X_semantic_w"].shape == (60, 16)
    assert out.obsm["X_semantic_s"].shape == (60, 16)
    assert out.obsm["X_semantic"].shape == (60, 32)
    for key in ("X_semantic_w", "X_semantic_s", "X_semantic"):
        assert np.isfinite(out.obsm[key]).all()
    info = out.uns["cellmodel"]
    assert info["embedding_id"] == "emb-1" and info["text_id"] == "txt-1"
    assert info["gene_match"]["n_matched"] == 35 and info["input"]["kind"] == "counts"
    assert info["params"]["gene_vectors"] == "real" and info["params"]["sentence_top_n"] == 5
    assert stages and stages[-1][0] == "sentences" and stages[-1][1] == stages[-1][2]
    path = tmp_path / "out.h5ad"
    out.write_h5ad(path)  # uns must hold only h5ad-writable values
    assert ad.read_h5ad(path).uns["cellmodel"]["gene_match"]["n_genes"] == 40
    # A second run reads every sentence from the cache under the store root.
    calls = encoder.calls
    again = embed(cells, ev, n_hvg=20, sentence_top_n=5, load_encoder=lambda: encoder, copy=True)
    assert encoder.calls == calls and again.uns["cellmodel"]["sentences"]["n_embedded"] == 0
    np.testing.assert_allclose(again.obsm["X_semantic"], out.obsm["X_semantic"], atol=1e-6)


@pytest.mark.parametrize("control", ["shuffled", "random"])
def test_embed_controls_differ_from_real(tmp_path: Path, control: str) -> None:
    cells = toy_cells()
    ev = FakeEmbedding(tmp_path, [f"GENE{i}" for i in range(40)])
    real = embed(cells, ev, sentence_top_n=0, weighting="mean", copy=True)
    ctrl = embed(cells, ev, sentence_top_n=0, weighting="mean", gene_vectors=control, copy=True)
    assert "X_semantic_s" not in real.obsm
    assert not np.allclose(real.obsm["X_semantic_w"], ctrl.obsm["X_semantic_w"], atol=1e-3)
    assert ctrl.uns["cellmodel"]["params"]["gene_vectors"] == control
    same = embed(cells, ev, sentence_top_n=0, weighting="mean", gene_vectors=control, copy=True)
    np.testing.assert_array_equal(ctrl.obsm["X_semantic_w"], same.obsm["X_semantic_w"])


@pytest.mark.slow
def test_embed_pbmc68k_reduced_with_minilm(tmp_path: Path) -> None:
    """End to end: build a MiniLM store for the data's genes, then all three views."""
    from cellmodel.datasets import load
    from genekb.store import Store

    cells = load("pbmc68k-reduced")[:120].copy()
    store = Store.open(tmp_path / "store", create=True)
    out = embed(cells, store, sentence_top_n=16)
    info = out.uns["cellmodel"]
    assert info["gene_match"]["match_rate"] >= 0.95
    assert info["input"]["kind"] == "log" and info["model"] == "minilm"
    # Vectors for the genes the view reads, written as a new version without a tag.
    assert info["vectors"]["built"]["embedding_id"] == info["embedding_id"] and not store.tags()
    for key, dim in (("X_semantic_w", 384), ("X_semantic_s", 384), ("X_semantic", 768)):
        assert out.obsm[key].shape == (120, dim) and np.isfinite(out.obsm[key]).all()


def test_tied_genes_at_the_cut_are_chosen_by_column_whatever_the_storage_order() -> None:
    values = np.array([[2.0, 1.0, 1.0, 1.0, 3.0]], dtype=np.float32)
    symbols = ["A", "B", "C", "D", "E"]
    forward = sp.csr_matrix(values)
    # The same matrix with its entries stored in reverse column order.
    backward = sp.csr_matrix(
        (forward.data[::-1], forward.indices[::-1], forward.indptr), shape=forward.shape
    )
    for X in (forward, backward):
        assert sentence_path.cell_sentences(X, symbols, top_n=3) == ["E A B"]


def test_whitening_with_fewer_genes_than_dimensions_keeps_the_dimension() -> None:
    M = np.random.default_rng(2).standard_normal((5, 8))
    out = semantic.fit_isotropy(M, "whiten").apply(M)
    assert out.shape == (5, 8) and np.isfinite(out).all()
