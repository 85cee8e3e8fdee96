"""Metamorphic checks: the same cells written another way (genes in another order, extra genes no
cell expresses, another dtype or layout, another file format, labels said another way) must give
the same clusters, views, predictions and explanations."""

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


def test_highly_variable_ignores_genes_no_cell_expresses():
    """Extra all-zero genes (another panel, a file padded to a gene list) stretched the Seurat
    mean bins down to zero, so other genes were chosen, and the PCA and clusters moved (ARI 0.91
    on tirosh2016-184 with 50 zero genes). They are no candidates now: the same mask."""
    from cellmodel import io
    from cellmodel.pp.graph import highly_variable

    X = _counts()
    padded = np.hstack([X, np.zeros((X.shape[0], 60), dtype=np.float32)])
    base = highly_variable(io.normalize(sp.csr_matrix(X), "counts"), 20)
    more = highly_variable(io.normalize(sp.csr_matrix(padded), "counts"), 20)
    assert base.sum() == 20
    np.testing.assert_array_equal(more[: X.shape[1]], base)
    assert not more[X.shape[1] :].any()
    dense = highly_variable(np.asarray(io.normalize(padded, "counts")), 20)
    np.testing.assert_array_equal(dense, more)


def test_chunked_highly_variable_ignores_genes_no_cell_expresses():
    """The out-of-core HVG (`seurat_hvg`, from chunk sums) had the same zero-mean stretch, and
    must keep choosing what the in-memory path chooses."""
    from cellmodel import io
    from cellmodel.chunked.stats import chunk_stats, seurat_hvg
    from cellmodel.pp.graph import highly_variable

    X = _counts(seed=1)
    padded = np.hstack([np.zeros((X.shape[0], 60), dtype=np.float32), X])
    X_log = io.normalize(sp.csr_matrix(padded), "counts")
    everything = np.ones(padded.shape[1], dtype=bool)
    chunked = seurat_hvg(chunk_stats(X_log, padded), 20, everything)
    plain_log = io.normalize(sp.csr_matrix(X), "counts")
    plain = seurat_hvg(chunk_stats(plain_log, X), 20, everything[60:])
    np.testing.assert_array_equal(chunked[60:], plain)
    np.testing.assert_array_equal(chunked, highly_variable(X_log, 20))


def test_dense_and_sparse_input_give_the_same_pca():
    """A dense matrix's HVG columns came in Fortran order, whose float32 sums over the cells
    round apart from the sparse path's, so the same file dense or sparse gave another PCA.
    `scale` works in C order now."""
    from cellmodel.pp.graph import structure_features

    X = _counts(200, 300, seed=2)
    sparse = structure_features(sp.csr_matrix(X), kind="counts", n_hvg=100, n_pcs=10)
    dense = structure_features(X, kind="counts", n_hvg=100, n_pcs=10)
    wide = structure_features(X.astype(np.float64), kind="counts", n_hvg=100, n_pcs=10)
    np.testing.assert_array_equal(np.abs(dense), np.abs(sparse))
    np.testing.assert_array_equal(np.abs(wide), np.abs(sparse))


def _renamed(labels: np.ndarray) -> np.ndarray:
    """The same partition under other names, in the reverse name order."""
    classes = sorted(set(labels))
    new = {c: f"z{len(classes) - i:02d}" for i, c in enumerate(classes)}
    return np.array([new[c] for c in labels], dtype=object)


def test_the_training_split_does_not_depend_on_the_label_names():
    """Each class drew its training cells in turn, in its name's order, from one generator:
    the same classes under other names trained on other cells."""
    from cellmodel.classify import split

    labels = np.repeat(np.array(["B cell", "T cell", "NK", "mono"], dtype=object), [30, 25, 20, 15])
    labels = labels[np.random.default_rng(0).permutation(len(labels))]
    for kwargs in ({"train_fraction": 0.3}, {"per_class": 5}):
        first = split(labels, seed=3, **kwargs)
        np.testing.assert_array_equal(split(_renamed(labels), seed=3, **kwargs), first)
        assert split(pd.Categorical(labels), seed=3, **kwargs).tolist() == first.tolist()


def test_classify_does_not_depend_on_the_label_names():
    """With the split fixed, the refinement still took its class codes (votes, pseudo-labels,
    stopping hold-out) and the marker block's columns in name order: the same classes renamed
    gave another refined view and other predictions."""
    import torch

    from cellmodel.classify import classify, split
    from cellmodel.datasets.synthetic import synthetic_counts
    from cellmodel.io import expression
    from cellmodel.pp.graph import structure_features

    adata = synthetic_counts(150, n_genes=80, seed=4)
    labels = np.asarray(adata.obs["group"]).astype(str).astype(object)
    renamed = _renamed(labels)
    back = dict(zip(renamed, labels, strict=True))
    X = structure_features(adata.X, kind="counts", n_hvg=60, n_pcs=10)
    counts = expression(adata).X
    mask = split(labels, train_fraction=0.2, seed=0)
    runs = []
    torch.set_num_threads(1)
    for names in (labels, renamed):
        result = classify(X, names, mask, seed=0, expression=counts, compare=False)
        runs.append(result)
    np.testing.assert_array_equal(runs[1].embedding, runs[0].embedding)
    assert [back[p] for p in runs[1].predictions] == list(runs[0].predictions)


def test_the_pca_does_not_depend_on_the_gene_order():
    """The HVG columns entered the PCA (and the fit's count block) in file order, so the same
    file with its genes in another order gave another PCA (max 0.003 on 400 baron-human cells),
    which every later step then fits. They follow the gene names now."""
    import anndata as ad
    import pandas as pd

    from cellmodel.classify.views import expression_pca, joint_expression_pca
    from cellmodel.io import expression
    from cellmodel.pp.graph import structure_features

    X = _counts(200, 300, seed=5)
    adata = ad.AnnData(sp.csr_matrix(X), var=pd.DataFrame(index=[f"G{i:03d}" for i in range(300)]))
    shuffled = adata[:, np.random.default_rng(0).permutation(300)].copy()
    runs = []
    for data in (adata, shuffled):
        expr = expression(data)
        runs.append(structure_features(expr.X, kind="log", n_hvg=100, n_pcs=10, genes=expr.genes))
    np.testing.assert_array_equal(runs[1], runs[0])
    np.testing.assert_array_equal(
        expression_pca(shuffled, n_pcs=10), expression_pca(adata, n_pcs=10)
    )
    # the transfer's PCA, fitted on the reference and applied to the query, alike
    query = adata[:50].copy()
    joint = [joint_expression_pca(ref, query, n_pcs=10) for ref in (adata, shuffled)]
    for one, other in zip(joint[0], joint[1], strict=True):
        np.testing.assert_allclose(np.abs(other), np.abs(one), atol=1e-4)


def test_the_out_of_core_pca_does_not_depend_on_the_gene_order(tmp_path):
    """Out of core, the HVG columns entered the Gram matrix in file order too; they follow the
    gene names now, as in memory, so a file with its genes in another order gives the same
    scores."""
    import anndata as ad

    from cellmodel.chunked import h5
    from cellmodel.chunked.embed import gene_statistics
    from cellmodel.chunked.engine import DaskEngine
    from cellmodel.chunked.structure import structure_scores

    X = _counts(300, 200, seed=7)
    names = [f"G{i:03d}" for i in range(200)]
    order = np.random.default_rng(1).permutation(200)
    runs = []
    for columns in (np.arange(200), order):
        path = tmp_path / f"cells_{len(runs)}.h5ad"
        var = pd.DataFrame(index=[names[c] for c in columns])
        ad.AnnData(sp.csr_matrix(X[:, columns]), var=var).write_h5ad(path)
        ref = h5.pick(path, None)
        ranges = h5.chunk_ranges(300, 120)
        with DaskEngine(workers=1) as engine:
            stats = gene_statistics(engine, ref, "counts", ranges, None)
            scores, _ = structure_scores(
                engine, ref, "counts", ranges, stats, n_hvg=80, n_pcs=8, seed=0,
                genes=list(var.index),
            )  # fmt: skip
        runs.append(scores)
    np.testing.assert_array_equal(runs[1], runs[0])


def test_explain_lists_the_same_markers_whatever_the_gene_order():
    """Markers of equal t (genes alike over the cells, common in small clusters of counts) were
    listed in column order (an unstable sort, too), so the same clusters with the genes in
    another order named other genes. Ties follow the gene names now."""
    import anndata as ad
    import pandas as pd

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
    every X_semantic_w, and two files' views disagreed."""
    from cellmodel.semantic import fit_isotropy

    rng = np.random.default_rng(0)
    vectors = (rng.normal(size=(300, 16)) * np.linspace(3, 0.5, 16)).astype(np.float32)
    probe = rng.normal(size=(5, 16)).astype(np.float32)
    first = fit_isotropy(vectors, "whiten").apply(probe)
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(vectors))
        again = fit_isotropy(vectors[order], "whiten").apply(probe)
        np.testing.assert_allclose(again, first, atol=1e-4)


def test_the_marker_block_names_its_columns_in_their_order():
    """The block's columns follow the classes' first occurrence; the classes and marker lists it
    returns follow the same order, so a caller reading column i as classes[i] reads the right
    class (a script read them by the sorted names and scored the wrong columns)."""
    from cellmodel.classify.views import marker_block
    from cellmodel.datasets.synthetic import synthetic_counts
    from cellmodel.io import expression

    adata = synthetic_counts(150, n_genes=80, seed=6)
    labels = _renamed(np.asarray(adata.obs["group"]).astype(str).astype(object))
    counts = expression(adata).X
    mask = np.ones(len(labels), dtype=bool)
    scores, classes, per_class = marker_block(counts, labels, mask, 10)
    assert list(classes) != sorted(classes)  # the renamed classes first occur out of name order
    for i, name in enumerate(classes):
        mine = scores[labels == name]
        assert int(np.argmax(mine.mean(axis=0))) == i
        assert len(per_class[i]) > 0
