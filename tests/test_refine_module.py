"""The pure-torch cell–gene refinement: shapes, training lowers the loss, batches stay small."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from cellmodel.module import refine as R
from cellmodel.pp import graph


def _toy(n: int = 400, n_genes: int = 60, k: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    centres = rng.normal(0, 2, (k, n_genes)) * (rng.random((k, n_genes)) < 0.2)
    X = (centres[labels] + rng.normal(0, 1, (n, n_genes))).astype(np.float32)
    knn = graph.knn_graph(graph.pca(X, 10), 8)
    genes = R.gene_features(X, 16, seed)
    corr = np.corrcoef(X.T)
    np.fill_diagonal(corr, -np.inf)
    top = np.argsort(-corr, axis=1)[:, :5]
    rows = np.repeat(np.arange(n_genes), 5)
    gene_adj = sp.csr_matrix((np.ones(rows.size), (rows, top.ravel())), shape=(n_genes,) * 2)
    return X, knn.adjacency, genes, gene_adj.maximum(gene_adj.T), labels


def test_fit_shapes_and_loss_decreases():
    X, adj, genes, gene_adj, _ = _toy()
    config = R.RefineConfig(max_steps=120, min_steps=120, batch_size=128, out_dim=8)
    fit = R.fit(X, R.propagate(X, adj), adj, genes, gene_adj, config)
    assert fit.embedding.shape == (X.shape[0], 8)
    assert np.allclose(np.linalg.norm(fit.embedding, axis=1), 1.0, atol=1e-4)
    assert fit.steps == 120
    assert np.mean(fit.history[-10:]) < 0.7 * fit.history[0]


def test_batches_never_hold_all_cells(monkeypatch):
    X, adj, genes, gene_adj, _ = _toy(n=1500)
    seen: list[tuple[int, int]] = []
    original = R.losses

    def spy(h1, h2, z1, z2, sub, config):
        seen.append(tuple(sub.shape))
        return original(h1, h2, z1, z2, sub, config)

    monkeypatch.setattr(R, "losses", spy)
    config = R.RefineConfig(max_steps=5, min_steps=5, batch_size=64)
    R.fit(X, R.propagate(X, adj), adj, genes, gene_adj, config)
    assert seen and max(max(s) for s in seen) <= 64  # B × B, never n × n


def test_batches_carry_knn_pairs():
    _, adj, *_ = _toy()
    rows = R._batch(sp.csr_matrix(adj), 64, np.random.default_rng(0))
    assert adj[rows][:, rows].nnz > 0


def test_pairwise_kl_matches_rowwise():
    import torch

    p = torch.log_softmax(torch.randn(5, 4), dim=1)
    q = torch.log_softmax(torch.randn(5, 4), dim=1)
    pair = R.pairwise_sym_kl(p, q)
    assert torch.allclose(pair.diagonal(), R._sym_kl(p, q), atol=1e-5)
    assert (pair >= -1e-6).all()


def test_propagate_is_sparse_and_smooths():
    X, adj, *_ = _toy()
    smooth = R.propagate(X, adj)
    assert smooth.shape == X.shape
    assert smooth.var(axis=0).mean() < X.var(axis=0).mean()
