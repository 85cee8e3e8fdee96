"""Hostile matrix values and shapes through the library calls (`cm.pp`, `cm.tl`,
`cellmodel.refine.refine`) and `cellmodel cluster`/`embed`: each works as its clean equivalent
does, or is refused in one line."""

from __future__ import annotations

import re
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
from scanpy import datasets as sc_datasets

import cellmodel as cm
from cellmodel import io as cio
from cellmodel.refine import refine
from genekb.errors import GenekbError, GenekbWarning, UsageError
from genekb.store.store import Store
from tests.conftest import blobs, one_line_error, run_cellmodel

PBMC = Path(sc_datasets.__file__).parent / "10x_pbmc68k_reduced.h5ad"


def _split_entries(X: np.ndarray) -> sp.csr_matrix:
    """`X` as a CSR matrix that stores each row's first entry twice, as two halves: scipy reads
    it as `X`, its stored values are not whole numbers."""
    clean = sp.csr_matrix(X)
    indices, data, indptr = [], [], [0]
    for row in range(clean.shape[0]):
        lo, hi = clean.indptr[row], clean.indptr[row + 1]
        cols, values = clean.indices[lo:hi], clean.data[lo:hi]
        indices += [*cols[:1], *cols]
        data += [*(values[:1] / 2), *(values[:1] / 2), *values[1:]]
        indptr.append(len(indices))
    split = sp.csr_matrix(
        (np.array(data, np.float32), np.array(indices), np.array(indptr)), shape=X.shape
    )
    assert (split != clean).nnz == 0 and split.nnz > clean.nnz
    return split


def test_counts_stored_in_parts_read_as_counts_not_log():
    # Counts stored in halves read as log values ("not whole numbers"), so they were not
    # normalised, and each half was log1p'd and squared on its own.
    cells = blobs(20, counts=True, dim=12)
    clean = cio.expression(cells)
    split = _split_entries(cells.X)
    cells.X = split
    parts = cio.expression(cells)
    assert parts.kind == "counts" == clean.kind
    assert np.allclose(parts.X.toarray(), np.asarray(clean.X), atol=1e-5)
    assert cells.X is split and split.nnz > sp.csr_matrix(split.toarray()).nnz  # left as given


def test_a_chunked_run_refuses_counts_stored_in_parts(tmp_path):
    cells = blobs(20, counts=True, dim=12)
    cells.X = _split_entries(cells.X)
    source, out = tmp_path / "parts.h5ad", tmp_path / "out.h5ad"
    cells.write_h5ad(source)
    result = run_cellmodel("cluster", str(source), "-k", "3", "--chunk-size", "20", "-o", str(out))
    assert "more than once" in one_line_error(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts.h5ad"]


def test_refine_refuses_what_cluster_refuses(tmp_path):
    # refine() checked nothing: a backed AnnData or a list failed inside anndata, seed=-1 inside
    # scikit-learn, copy="no" copied, n_hvg=0 ran on every gene.
    cells = blobs(20, counts=True, dim=12)
    cells.write_h5ad(tmp_path / "cells.h5ad")
    backed = ad.read_h5ad(tmp_path / "cells.h5ad", backed="r")
    wrong = [
        ((backed,), {}, "backed"),
        (([1, 2],), {}, "must be an AnnData"),
        ((cells,), {"seed": -1}, "seed=-1"),
        ((cells,), {"copy": "no"}, "copy='no'"),
        ((cells,), {"n_hvg": 0}, "n_hvg=0"),
        ((cells,), {"n_neighbors": 0}, "n_neighbors=0"),
    ]
    for args, kwargs, words in wrong:
        with pytest.raises(UsageError, match=re.escape(words)):
            refine(*args, **kwargs)
    assert not cells.obsm and not cells.uns


def _counts_with_log_layer():
    """Counts in X, their log1p(CP10k) in layers["log"]."""
    cells = blobs(20, counts=True, dim=12)
    cells.layers["log"] = np.asarray(cio.expression(cells).X)
    return cells


def test_normalize_from_a_layer_keeps_the_counts_x_held():
    # normalize(layer="log") wrote the layer's values over X's counts, kept nowhere.
    cells = _counts_with_log_layer()
    counts = cells.X.copy()
    cm.pp.normalize(cells, layer="log")
    assert np.array_equal(cells.layers["counts"], counts)
    assert np.allclose(cells.X, cells.layers["log"])


def test_normalize_from_a_layer_refuses_to_replace_other_counts():
    cells = _counts_with_log_layer()
    cells.layers["counts"] = cells.X + 1
    before = cells.X.copy()
    with pytest.raises(UsageError, match=r"layers\['counts'\] holds other values"):
        cm.pp.normalize(cells, layer="log")
    assert np.array_equal(cells.X, before)


def test_embed_on_one_gene_says_the_view_reads_that_gene_alone(tmp_path):
    # One gene weighted: a semantic view of zeros (whitened on that gene), without a word.
    cells = ad.read_h5ad(PBMC)
    cells = cells.raw.to_adata()[:60, ["CD3E", "LYZ"]].copy()
    with pytest.warns(GenekbWarning, match=r"only one gene \(CD3E\)"):
        out = cm.tl.embed(cells[:, ["CD3E"]], tmp_path, model="fake", sentence_top_n=0, copy=True)
    assert any("only one gene" in w for w in out.uns["cellmodel"]["gene_match"]["warnings"])
    two = cm.tl.embed(cells, tmp_path, model="fake", sentence_top_n=0, copy=True)
    assert not any("only one gene" in w for w in two.uns["cellmodel"]["gene_match"]["warnings"])


def test_a_few_negative_entries_are_called_damage_not_scaled_data():
    # One -1 (a code for a missing value) in counts was "scaled or centred data": the user was
    # sent to look for a layer of counts that X itself was.
    cells = blobs(20, counts=True, dim=12)
    cells.X[3, 4] = -1
    for kind in ("auto", "counts"):
        with pytest.raises(GenekbError, match=r"negative values in 1 of its 720 entries.*fix"):
            cio.expression(cells, kind=kind)
    cells.X = cells.X - cells.X.mean(axis=0)  # centred: about half negative, as before
    with pytest.raises(GenekbError, match=r"negative values \(scaled or centred data\)"):
        cio.expression(cells)


def test_a_chunked_embed_counts_empty_cells_on_the_expression(tmp_path):
    # Out of core, a cell was "empty" where its raw view was zero: with one gene, whose whitened
    # vector is zero, all 60 cells "expressed none of the genes", against 9 in memory.
    from cellmodel.chunked.embed import embed_h5ad

    cells = ad.read_h5ad(PBMC).raw.to_adata()[:60, ["CD3E"]].copy()
    cells.write_h5ad(tmp_path / "one.h5ad")
    expressing = int((cells.X.toarray()[:, 0] > 0).sum())
    with pytest.warns(GenekbWarning) as caught:
        embed_h5ad(
            tmp_path / "one.h5ad", Store.open(tmp_path / "s", create=True),
            output=tmp_path / "out.h5ad", model="fake", chunk_size=25,
        )  # fmt: skip
    said = [str(w.message) for w in caught if "cells express none" in str(w.message)]
    assert said and said[0].startswith(f"{60 - expressing} of 60 cells"), said
