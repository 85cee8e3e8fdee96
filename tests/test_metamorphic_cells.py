"""Metamorphic checks: the same cells with their genes in another order must give the same cell
sentences, explanations and whitened views, and a reference's own view is reused only when the
same encoder and weighting made it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp


def _counts(n_cells: int = 80, n_genes: int = 120, seed: int = 0) -> np.ndarray:
    """Counts whose gene means stay well away from zero, so zero-mean genes would move the bins."""
    rng = np.random.default_rng(seed)
    lam = rng.uniform(2.0, 30.0, size=n_genes)
    groups = rng.integers(0, 3, size=n_cells)
    fold = rng.uniform(0.3, 3.0, size=(3, n_genes))
    return rng.poisson(lam * fold[groups]).astype(np.float32)


def test_cell_sentences_do_not_depend_on_the_gene_order():
    """Tied expression values were ordered by column, so the same cells with their genes in
    another order made other sentences (another set at the cut, other word order), and so another
    X_semantic_s: on 400 baron-human cells 394 sentences changed. Ties now follow the symbol."""
    from cellmodel.sentences import cell_sentences

    X = sp.csr_matrix(np.array([[1.0, 1.0, 1.0, 2.0], [0.0, 3.0, 3.0, 3.0]], dtype=np.float32))
    symbols = ["CD3E", "ACTB", "MS4A1", "LYZ"]
    order = [2, 0, 3, 1]
    first = cell_sentences(X, symbols, top_n=3)
    again = cell_sentences(X[:, order], [symbols[i] for i in order], top_n=3)
    assert first == again
    assert first[0] == "LYZ ACTB CD3E"


def test_explain_lists_the_same_markers_whatever_the_gene_order():
    """Markers of equal t (genes alike over the cells, common in small clusters of counts) were
    listed in column order (an unstable sort, too), so the same clusters with the genes in
    another order named other genes. Ties follow the gene names now."""
    import anndata as ad

    from cellmodel.explain import explain

    rng = np.random.default_rng(0)
    base = rng.poisson(1.0, size=(40, 6)).astype(np.float32)
    marker = np.zeros((40, 1), dtype=np.float32)
    marker[:20] = 5.0
    # Ten copies of one marker: all tie at the top of cluster A's list.
    X = np.hstack([base, np.repeat(marker, 10, axis=1)])
    names = ["ACTB", "GAPDH", "B2M", "MALAT1", "TMSB4X", "EEF1A1"]
    names += ["LCK", "CD3E", "ZAP70", "CD3D", "IL7R", "CD2", "CD7", "CD28", "CD5", "CD6"]
    obs = pd.DataFrame({"cellmodel_cluster": pd.Categorical(["A"] * 20 + ["B"] * 20)})
    obs.index = obs.index.astype(str)
    listed = []
    for order in (np.arange(16), np.random.default_rng(1).permutation(16)):
        data = ad.AnnData(sp.csr_matrix(X[:, order]), obs=obs, var=pd.DataFrame(index=names))
        data.var_names = [names[i] for i in order]
        report = explain(data, None, top_n=4)
        listed.append([m["gene"] for m in report["clusters"][0]["markers"]])
    assert listed[1] == listed[0] == ["CD2", "CD28", "CD3D", "CD3E"]


def test_a_references_own_view_from_another_encoder_is_not_reused():
    """Out-of-core classify reused the reference's obsm['X_semantic_w'] whenever it was fitted
    on the query's genes, whatever encoder, weighting or gene-vector control made it: another
    space voted as if it were the query's. It is reused only for the same encoder and params."""
    import anndata as ad
    import pytest

    from cellmodel.chunked.classify import reference_view
    from genekb.errors import UsageError

    genes = {"sha256": "same", "gene_ids": np.arange(3)}
    params = {"weighting": "hvg", "gene_vectors": "real"}
    record = {"spec_sha256": "minilm", "params": params, "reference_genes": genes}
    reference = ad.AnnData(np.ones((4, 3), dtype=np.float32))
    reference.obsm["X_semantic_w"] = np.eye(4, 2, dtype=np.float32)
    reference.uns["cellmodel"] = dict(record)
    np.testing.assert_array_equal(reference_view(reference, record, None), np.eye(4, 2))
    for other in ({"spec_sha256": "another"}, {"params": {**params, "gene_vectors": "shuffled"}}):
        reference.uns["cellmodel"] = {**record, **other}
        with pytest.raises(UsageError, match="another encoder or other parameters"):
            reference_view(reference, record, None)


def test_whitening_does_not_depend_on_the_order_of_the_genes_it_is_fitted_on():
    """Whitening (the default post-processing) writes each cell in the principal axes, whose
    signs the SVD chose by the rows' order: the same genes in another order flipped axes of
    every X_semantic_w (max 0.53 on 400 baron-human cells), and two files' views disagreed."""
    from cellmodel.semantic import fit_isotropy

    rng = np.random.default_rng(0)
    vectors = (rng.normal(size=(300, 16)) * np.linspace(3, 0.5, 16)).astype(np.float32)
    probe = rng.normal(size=(5, 16)).astype(np.float32)
    first = fit_isotropy(vectors, "whiten").apply(probe)
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(vectors))
        again = fit_isotropy(vectors[order], "whiten").apply(probe)
        np.testing.assert_allclose(again, first, atol=1e-4)
