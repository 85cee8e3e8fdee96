"""Hostile inputs, CLI contract (11): options that cannot act are refused, cheap refusals come
before the expensive work, the out-of-core classify warns of unseen classes, gene-vector tables
without information are refused, and matrix layouts the readers do not take are named."""

from __future__ import annotations

import anndata as ad
import pytest

from tests.fakes import FakeEmbedding

# --- the out-of-core classify warns of classes its reference cannot predict -----------------


def test_chunked_classify_warns_of_unseen_classes(tmp_path):
    pytest.importorskip("dask")
    from cellmodel.chunked import embed_h5ad
    from cellmodel.chunked.classify import classify_h5ad
    from cellmodel.classify.labels import UnseenClassesWarning
    from cellmodel.datasets.synthetic import write_synthetic_h5ad

    counts = write_synthetic_h5ad(tmp_path / "cells.h5ad", 400, n_genes=120, seed=1)
    genes = list(ad.read_h5ad(counts, backed="r").var_names)
    ev = FakeEmbedding(tmp_path, genes, dim=16)
    query = tmp_path / "query.h5ad"
    embed_h5ad(counts, ev, output=query, chunk_size=150, n_hvg=60)
    whole = ad.read_h5ad(counts)
    missing = sorted(whole.obs["group"].astype(str).unique())[0]
    reference = whole[whole.obs["group"].astype(str) != missing].copy()  # lacks one class
    with pytest.warns(UnseenClassesWarning, match=f"cannot be predicted: {missing}"):
        record = classify_h5ad(
            query, reference, output=tmp_path / "pred.h5ad", reference_label_key="group",
            label_key="group", store=ev, chunk_size=150, workers=1,
        )  # fmt: skip
    assert record["notes"] and missing in record["notes"][0]
