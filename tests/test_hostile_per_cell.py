"""A hostile user's round on per-cell naming and out-of-core annotate/classify: what a user
brings (a key_added that names their own labels, ...) is refused in one line, before the run."""

from __future__ import annotations

import anndata as ad
import pytest

from genekb.errors import UsageError
from tests.fakes import FakeEmbedding

pytest.importorskip("dask")


@pytest.fixture(scope="module")
def query(tmp_path_factory):
    """A small file embedded out of core, its fake gene vectors, and its counts."""
    from cellmodel.chunked import embed_h5ad
    from cellmodel.datasets.synthetic import write_synthetic_h5ad

    folder = tmp_path_factory.mktemp("hostile_per_cell")
    counts = write_synthetic_h5ad(folder / "cells.h5ad", 120, n_genes=60, seed=3)
    full = ad.read_h5ad(counts)
    ev = FakeEmbedding(folder, list(full.var_names), dim=16)
    path = folder / "query.h5ad"
    embed_h5ad(counts, ev, output=path, chunk_size=50, n_hvg=30)
    return path, ev, full


@pytest.mark.parametrize("key", ["group", "cellmodel_cluster", "", "a/b"])
def test_chunked_classify_refuses_a_key_added_that_overwrites_the_query(query, tmp_path, key):
    """key_added="group" with label_key="group" replaced the query's own labels in the output,
    key_added="a/b" wrote a nested group, "" failed with a TypeError: now refused as in memory,
    before the reference is embedded, and nothing is written."""
    from cellmodel.chunked.classify import classify_h5ad

    path, ev, full = query
    out = tmp_path / "pred.h5ad"
    with pytest.raises(UsageError, match=r"key_added|obs\['group'\]"):
        classify_h5ad(
            path, full[:60].copy(), output=out, reference_label_key="group", label_key="group",
            store=ev, chunk_size=50, workers=1, key_added=key,
        )  # fmt: skip
    assert not out.exists() and not list(tmp_path.iterdir())


def test_chunked_classify_runs_again_under_its_own_key(query, tmp_path):
    """Its own columns (a run's output classified again) are replaced, as a second run should."""
    from cellmodel.chunked.classify import classify_h5ad

    path, ev, full = query
    kw = dict(reference_label_key="group", store=ev, chunk_size=50, workers=1)
    first, second = tmp_path / "one.h5ad", tmp_path / "two.h5ad"
    classify_h5ad(path, full[:60].copy(), output=first, **kw)
    classify_h5ad(first, full[:60].copy(), output=second, **kw)
    assert ad.read_h5ad(second).obs["cellmodel_pred"].notna().all()
